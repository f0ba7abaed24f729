"""The URL signature: HMAC-SHA256 over the path (and the expiry), URL-safe base64.

The signed text is the decoded path, e.g. `/512x512/holiday/beach.jpg`, followed by
`?expires=<unix seconds>` when the URL expires. The README shows the same in plain Python;
`resizer url` calls `sign` below. The query's `format` is not signed: it picks one of a few
formats of the same rendition.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def message(path: str, expires: int | None) -> bytes:
    text = path if expires is None else f"{path}?expires={expires}"
    return text.encode("utf-8")


def sign(secret: str, path: str, expires: int | None = None) -> str:
    digest = hmac.new(secret.encode("utf-8"), message(path, expires), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def problem(
    secret: str, path: str, signature: str | None, expires: str | None, now: float
) -> str | None:
    """Why the request's signature does not hold; None when it does."""
    if not signature:
        return "the URL is not signed"
    when: int | None = None
    if expires is not None:
        if not expires.isdigit() or len(expires) > 12:
            return "expires is not a time"
        when = int(expires)
    expected = sign(secret, path, when)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        return "the signature does not match"
    if when is not None and now > when:
        return "the URL has expired"
    return None
