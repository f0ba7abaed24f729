"""Geometry: sizes and scales, EXIF orientation, the one big downscale, and each box's fit."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence

from PIL import Image

from lambda_handler.thumbnail.crop import smart_offset

# JPEGs are decoded at the smallest DCT scale (1/2, 1/4, 1/8) that keeps at least this factor
# above the largest thumbnail; LANCZOS does the rest. Measured against full decode + LANCZOS:
# 52-55 dB for 12-100 MP photos, at 1.1-1.25x the cost of the decode alone. 2.0 would gain
# ~3 dB for some sizes but decode 4x the pixels (over 16 MB) for others. 1.85 rather than 1.9
# caps the worst full-scale decode (a ~1890 px square) at +15.4 MiB peak; near the 1/2-scale
# boundary either value gives 49.8-50 dB.
DRAFT_GAP = 1.85
# Downscale by integer reduction (a box filter) until this factor away from the target, then
# LANCZOS. The first downscale of a full-size decode (PNG, TIFF, WebP, HEIF...) uses 2.0: on a
# 24 MP PNG it halves that resize (60 -> 30 ms) for 53.7/56.8 dB instead of 55.1/56.1 dB at
# 512/128 px. JPEG draft decodes are under 4x the target, so no reduce() happens for them.
REDUCING_GAP = 3.0
FIRST_REDUCING_GAP = 2.0
# The first downscale of a decode this big goes in bands of output rows (see downscale).
BAND_MIN_BYTES = 8 * 2**20
BAND_ROWS = 32
_BANDED_MODES = ("L", "RGB", "CMYK")

LANCZOS = Image.Resampling.LANCZOS

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(?:="|>)([1-8])')


def check_sizes(sizes: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    boxes = [(int(w), int(h)) for w, h in sizes]
    if not boxes:
        raise ValueError("at least one size is needed")
    for w, h in boxes:
        if w < 1 or h < 1:
            raise ValueError(f"sizes must be positive, not {w}x{h}")
    return boxes


def _scale_for(box: tuple[int, int], oriented: tuple[int, int], fit: str) -> float:
    ow, oh = oriented
    sx, sy = box[0] / ow, box[1] / oh
    return min(1.0, max(sx, sy) if fit == "cover" else min(sx, sy))


def _scaled(
    oriented: tuple[int, int], scale: float, box: tuple[int, int], fit: str
) -> tuple[int, int]:
    ow, oh = oriented
    sw, sh = max(1, round(ow * scale)), max(1, round(oh * scale))
    if fit == "inside":  # rounding must never push the other side past the box
        sw, sh = min(sw, box[0]), min(sh, box[1])
    return sw, sh


def geometry(
    full: tuple[int, int], orientation: int, boxes: Sequence[tuple[int, int]], fit: str
) -> tuple[tuple[int, int], list[float], tuple[int, int]]:
    """Displayed size, each box's scale, and the master's size in stored (unrotated) pixels."""
    swap = orientation in (5, 6, 7, 8)
    oriented = (full[1], full[0]) if swap else full
    scales = [_scale_for(box, oriented, fit) for box in boxes]
    top = max(range(len(boxes)), key=scales.__getitem__)
    master = oriented
    if scales[top] < 1:
        master = _scaled(oriented, scales[top], boxes[top], fit)
    return oriented, scales, ((master[1], master[0]) if swap else master)


def orientation(im: Image.Image) -> int:
    """EXIF orientation 1-8 (or XMP's tiff:Orientation); 1 when absent or malformed."""
    try:
        value = im.getexif().get(0x0112)
    except Exception:  # malformed EXIF: show the pixels as stored
        value = None
    if value is None:
        xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
        if isinstance(xmp, str):
            xmp = xmp.encode("utf-8", "replace")
        if isinstance(xmp, bytes) and (m := _XMP_ORIENTATION.search(xmp)):
            value = int(m.group(1))
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def orient(im: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return im.transpose(method) if method is not None else im


def downscale(
    im: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float] | None
) -> Image.Image:
    """LANCZOS to `size`, in bands of output rows when that is exact.

    Pillow resizes rows first, into an intermediate as wide as the result and as tall as the
    source: for a decode that no draft scale could shrink (a ~1900 px square for a 512 box)
    that is another 25 % of the decode on top of it. Each band's horizontal pass covers only
    the source rows under that band's filter window, and since Pillow clips filter windows at
    the image, not at the box, the bands put together equal the one-pass result.
    """
    gap = None if im.mode.startswith("I;16") else FIRST_REDUCING_GAP  # no reduce() for I;16
    src = box or (0.0, 0.0, float(im.width), float(im.height))
    out_w, out_h = size
    sx, sy = (src[2] - src[0]) / out_w, (src[3] - src[1]) / out_h
    # Banding only where Pillow resizes directly: a reduce() first would align to each band,
    # and LA/RGBA are converted to premultiplied alpha as a whole image per call.
    reduces = gap is not None and max(sx, sy) >= 2 * gap
    small = im.width * im.height * 4 < BAND_MIN_BYTES  # the intermediate does not matter
    if small or reduces or im.mode not in _BANDED_MODES or out_h <= 2 * BAND_ROWS:
        return im.resize(size, LANCZOS, box=box, reducing_gap=gap)
    out = Image.new(im.mode, size)
    for top in range(0, out_h, BAND_ROWS):
        rows = min(BAND_ROWS, out_h - top)
        band_box = (src[0], src[1] + top * sy, src[2], src[1] + (top + rows) * sy)
        out.paste(im.resize((out_w, rows), LANCZOS, box=band_box), (0, top))
    return out


def downscale_rows(
    rows: Callable[[int, int], Image.Image],
    full: tuple[int, int],
    mode: str,
    size: tuple[int, int],
) -> Image.Image:
    """What `downscale` gives for a whole image, from one that exists only as bands of rows.

    `rows(top, bottom)` returns those source rows as an image. Pillow's resize with a
    reducing gap is reduce() by whole factors, then LANCZOS over the reduced image: reduce()
    works on non-overlapping blocks, so bands aligned to the vertical factor reduce exactly as
    the whole would. Without a reduce, each band of output rows gets the source rows under its
    filter window plus a margin, as in `downscale`. Alpha is premultiplied band by band, which
    Pillow does per pixel anyway.
    """
    width, height = full
    out_w, out_h = size
    sx, sy = width / out_w, height / out_h
    fx = int(sx / FIRST_REDUCING_GAP) or 1
    fy = int(sy / FIRST_REDUCING_GAP) or 1
    premultiplied = {"LA": "La", "RGBA": "RGBa"}.get(mode)
    work_mode = premultiplied or mode

    def source(top: int, bottom: int) -> Image.Image:
        band = rows(top, bottom)
        return band.convert(work_mode) if premultiplied else band

    if fx > 1 or fy > 1:
        step = fy * max(1, 256 // fy)  # source rows per band, a multiple of fy
        reduced = Image.new(work_mode, (math.ceil(width / fx), math.ceil(height / fy)))
        for top in range(0, height, step):
            reduced.paste(source(top, min(height, top + step)).reduce((fx, fy)), (0, top // fy))
        box = (0.0, 0.0, width / fx, height / fy)
        out = reduced.resize(size, LANCZOS, box=box)
    else:
        support = 3.0 * max(sy, 1.0)  # LANCZOS reaches 3 lobes, scaled when shrinking
        out = Image.new(work_mode, size)
        for top in range(0, out_h, 4 * BAND_ROWS):
            bottom = min(out_h, top + 4 * BAND_ROWS)
            first = max(0, int(top * sy - support) - 2)
            last = min(height, math.ceil(bottom * sy + support) + 2)
            box = (0.0, top * sy - first, float(width), bottom * sy - first)
            band = source(first, last).resize((out_w, bottom - top), LANCZOS, box=box)
            out.paste(band, (0, top))
    return out.convert(mode) if premultiplied else out


def fit(
    master: Image.Image,
    oriented: tuple[int, int],
    scale: float,
    box: tuple[int, int],
    fit: str,
    gravity: str = "centre",
) -> Image.Image:
    """One size from the master (the largest scaled, oriented, sRGB image)."""
    sw, sh = _scaled(oriented, scale, box, fit)
    mw, mh = master.size
    if fit == "inside":
        if (sw, sh) == (mw, mh):
            return master.copy()
        return master.resize((sw, sh), LANCZOS, reducing_gap=REDUCING_GAP)
    # cover: a crop of the scaled image, at most the box (never enlarged)
    tw, th = min(box[0], sw), min(box[1], sh)
    fx, fy = mw / sw, mh / sh
    if gravity == "smart" and (tw, th) != (sw, sh):
        # Chosen on the master, which is already small: the cost is a few milliseconds.
        x0, y0 = smart_offset(master, (tw * fx, th * fy))
        x0, y0 = x0 / fx, y0 / fy
    else:
        x0, y0 = (sw - tw) / 2, (sh - th) / 2
    if (sw, sh) == (mw, mh):
        left, top = round(x0), round(y0)
        return master.crop((left, top, left + tw, top + th))
    crop = (x0 * fx, y0 * fy, (x0 + tw) * fx, (y0 + th) * fy)
    return master.resize((tw, th), LANCZOS, box=crop, reducing_gap=REDUCING_GAP)
