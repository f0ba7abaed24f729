"""Which format a rendition is made in: the stack's, `?format=`, or (under `auto`) Accept.

Under OUTPUT_FORMAT=auto a request whose Accept lists image/avif (if the layer's Pillow can
write it) or image/webp gets that format; the Accept header is reduced to that one choice,
so caches see few variants, and the answer says `Vary: Accept`. `?format=` forces one of
jpeg, png, webp, avif whatever the stack's setting.
"""

from __future__ import annotations

import functools
import posixpath
from dataclasses import dataclass

from lambda_handler.config import FORMAT_ALIASES, OUTPUT_FORMATS

FORCEABLE = tuple(f for f in OUTPUT_FORMATS if f != "auto")
# A source's format guessed from its name, only to find a stored rendition in one GET; the
# bytes decide when the rendition is made.
_BY_EXTENSION = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG", ".png": "PNG",
    ".webp": "WEBP", ".gif": "GIF", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP",
    ".avif": "AVIF", ".heic": "HEIF", ".heif": "HEIF",
}


class BadFormat(ValueError):
    pass


@dataclass(frozen=True)
class Choice:
    requested: str  # what render() is asked for: "auto" or a format
    vary: bool  # the answer depends on the Accept header


def accepted(accept: str) -> set[str]:
    """The media types an Accept header lists with a quality above zero, lower-case."""
    found: set[str] = set()
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media and quality > 0:
            found.add(media.lower())
    return found


@functools.cache
def can_write_avif() -> bool:
    from PIL import features

    return bool(features.check("avif"))


def choose(stack_format: str, query_format: str | None, accept: str) -> Choice:
    if query_format is not None:
        fmt = FORMAT_ALIASES.get(query_format.strip().lower(), query_format.strip().lower())
        if fmt not in FORCEABLE:
            raise BadFormat(f"format must be one of {', '.join(FORCEABLE)}")
        return Choice(fmt, vary=False)
    if stack_format != "auto":
        return Choice(stack_format, vary=False)
    types = accepted(accept)
    if "image/avif" in types and can_write_avif():
        return Choice("avif", vary=True)
    if "image/webp" in types:
        return Choice("webp", vary=True)
    return Choice("auto", vary=True)


def expected_format(choice: Choice, rel: str) -> str:
    """The format the rendition will have, as far as the name tells (for the stored lookup)."""
    if choice.requested != "auto":
        return choice.requested
    from lambda_handler.thumbnail.encode import output_format

    source = _BY_EXTENSION.get(posixpath.splitext(rel)[1].lower(), "")
    return output_format(source, "auto")
