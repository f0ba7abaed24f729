"""What a file is: the image type its first bytes announce, and the Content-Type to send."""

from __future__ import annotations

import mimetypes
from pathlib import Path

_HEIF_BRANDS = {
    b"heic": "image/heic", b"heix": "image/heic", b"hevc": "image/heic", b"hevx": "image/heic",
    b"heim": "image/heic", b"heis": "image/heic", b"mif1": "image/heif", b"msf1": "image/heif",
    b"avif": "image/avif", b"avis": "image/avif",
}


def sniff_image(head: bytes) -> str | None:
    """The image MIME type the magic bytes announce, or None when they are not an image's."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:2] == b"BM" and len(head) >= 14:
        return "image/bmp"
    if head[4:8] == b"ftyp":
        return _HEIF_BRANDS.get(head[8:12])
    return None


def content_type_for(path: Path, head: bytes) -> tuple[str, bool]:
    """(Content-Type, looks like an image). The bytes win over a misleading extension."""
    sniffed = sniff_image(head)
    if sniffed:
        return sniffed, True
    guessed, _ = mimetypes.guess_type(path.name, strict=False)
    return guessed or "application/octet-stream", False
