"""An API Gateway payload-2.0 event as the request we serve: `/<W>x<H>/<key below raw/>`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from lambda_handler.config import MAX_SIDE

_BOX = re.compile(r"^(\d{1,5})x(\d{1,5})$")


class BadRequest(Exception):
    """A request we cannot read (400); the message is one line for the caller."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # decoded, as signed: /512x512/holiday/beach.jpg
    box: tuple[int, int]
    rel: str  # the key below the source prefix
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names, as API Gateway sends them

    def header(self, name: str) -> str:
        return self.headers.get(name, "")


def parse(event: dict[str, Any]) -> Request:
    http = event.get("requestContext", {}).get("http", {})
    method = str(http.get("method") or "GET").upper()
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw_query = str(event.get("rawQueryString") or "")
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    # rawPath keeps the percent-encoding of the request line: decoded once, here.
    try:
        path = unquote(str(event.get("rawPath") or "/"), errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("the path is not UTF-8 once percent-decoded") from None
    box_text, _, rel = path.removeprefix("/").partition("/")
    m = _BOX.match(box_text)
    if not m:
        raise BadRequest("the path must be /<W>x<H>/<image key>, e.g. /512x512/photo.jpg")
    box = (int(m.group(1)), int(m.group(2)))
    if not all(1 <= side <= MAX_SIDE for side in box):
        raise BadRequest(f"each side is 1 to {MAX_SIDE} pixels")
    if not rel or rel.endswith("/"):
        raise BadRequest("the path names no image after the size")
    return Request(method, path, box, rel, query, headers)
