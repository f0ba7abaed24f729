"""On-the-fly renditions over HTTP: the function's answer to API Gateway (payload 2.0) events.

One module per stage: config (the HTTP settings), signing (the URL signature, shared with
`resizer url`), request (path and query), negotiate (the output format), respond (proxy
responses), rendition (stored or made), serve (the order of the checks). Nothing here imports
Pillow until an image has to be made.
"""

from __future__ import annotations

from typing import Any


def is_http_event(event: Any) -> bool:
    """A payload-2.0 HTTP event (an S3 event has Records instead). Here, not in request.py,
    so that the handler's init imports nothing of web/ but this."""
    return (
        isinstance(event, dict)
        and "rawPath" in event
        and isinstance(event.get("requestContext"), dict)
        and "http" in event["requestContext"]
    )
