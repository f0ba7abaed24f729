"""Encoding: which format each thumbnail is written in, and writing it without metadata."""

from __future__ import annotations

import io

from PIL import Image

# Auto output keeps these formats; everything else (GIF, TIFF, BMP, PNM, TGA, AVIF, HEIF)
# becomes JPEG.
_KEEP_FORMAT = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "WEBP": "webp"}
# zlib level for PNG thumbnails. 4 is zlib's first lazy-matching level: on photo-like 512 px
# thumbnails it writes files within 1-7 % of level 6 in a third of the time (23 vs 68 ms),
# which is most of what a PNG costs beyond its decode (benchmarks/bench_png.py).
PNG_COMPRESS_LEVEL = 4


def output_format(source_format: str, requested: str) -> str:
    if requested != "auto":
        return requested
    return _KEEP_FORMAT.get(source_format, "jpeg")


def encode(im: Image.Image, fmt: str, quality: int) -> bytes:
    im.info = {}  # no EXIF, ICC, XMP, comments or transparency keys leak into the output
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.save(buf, "JPEG", quality=quality, optimize=True)
    elif fmt == "png":
        im.save(buf, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    elif fmt == "webp":
        im.save(buf, "WEBP", quality=quality, method=4)
    else:
        im.save(buf, "AVIF", quality=quality, speed=8)
    return buf.getvalue()
