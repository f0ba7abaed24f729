"""Lambda proxy responses (payload 2.0): images as base64, redirects, 304s and JSON errors.

Lambda's synchronous response is at most 6 MB (6,291,556 bytes) of JSON, and the image
travels in it as base64 (4 bytes for every 3), so a rendition above about 4.7 MB is answered
with a redirect to a presigned GET of the stored object instead.
https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

RESPONSE_LIMIT = 6_291_556
# Room for the JSON around the body: status, headers (ETag, Cache-Control, Location...).
_ENVELOPE = 16 * 1024


def fits_inline(size: int) -> bool:
    return 4 * math.ceil(size / 3) + _ENVELOPE <= RESPONSE_LIMIT


def _vary(headers: dict[str, str], vary: bool) -> dict[str, str]:
    if vary:
        headers["Vary"] = "Accept"
    return headers


def image(
    data: bytes, content_type: str, etag: str, cache_control: str, *, vary: bool,
    source: str,
) -> dict[str, Any]:
    headers = {"Content-Type": content_type, "Cache-Control": cache_control, "ETag": etag,
               "X-Resizer-Rendition": source}
    return {
        "statusCode": 200,
        "headers": _vary(headers, vary),
        "body": base64.b64encode(data).decode("ascii"),
        "isBase64Encoded": True,
    }


def not_modified(etag: str, cache_control: str, *, vary: bool) -> dict[str, Any]:
    headers = {"ETag": etag, "Cache-Control": cache_control}
    return {"statusCode": 304, "headers": _vary(headers, vary), "body": "",
            "isBase64Encoded": False}


def redirect(url: str, max_age: int, *, vary: bool) -> dict[str, Any]:
    # The presigned URL expires: the redirect may be cached only for a part of its life.
    headers = {"Location": url, "Cache-Control": f"private, max-age={max_age}"}
    return {"statusCode": 302, "headers": _vary(headers, vary), "body": "",
            "isBase64Encoded": False}


def error(
    status: int, kind: str, reason: str, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    """A short JSON body: the same error class and reason as a result record's."""
    headers = {"Content-Type": "application/json", "Cache-Control": "no-store", **(extra or {})}
    body = json.dumps({"error": kind, "reason": reason}, ensure_ascii=False)
    return {"statusCode": status, "headers": headers, "body": body, "isBase64Encoded": False}


def etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match against our strong ETag (weak comparison, as RFC 9110 asks for GET)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    ours = etag.removeprefix("W/").strip()
    return any(tag.strip().removeprefix("W/") == ours for tag in if_none_match.split(","))
