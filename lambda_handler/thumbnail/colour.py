"""Colour and mode: what to resample in, 16-bit and float to 8 bit, ICC to sRGB, output modes.

Pillow decodes some images into modes that resample or convert wrongly; each such case is
fixed here, before (full size, only where unavoidable) or after the first downscale:
- palette and 1-bit images would resample with NEAREST: converted to RGB(A)/L first;
- a tRNS transparent colour becomes real alpha (for 16-bit RGB, Pillow keeps the key in 16-bit
  units but the pixels in 8, so the key is scaled to match);
- byte-swapped 16-bit grey (I;16B, e.g. a big-endian TIFF) resamples as garbage: resampled as
  32-bit I instead;
- 16-bit and 32-bit grey are scaled to 8 bit (Pillow's own convert("L") clips at 255); float
  and signed images are stretched over their range;
- a 16-bit min-is-white TIFF comes out of Pillow uninverted;
- 16-bit grey with alpha comes out of Pillow as RGBA: made grey again.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

from PIL import Image, ImageMath, ImageOps

from lambda_handler.thumbnail.source import Source

SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


def resample_mode(im: Image.Image, src: Source) -> Image.Image:
    """Convert only modes that cannot be resampled correctly (palette would use NEAREST)."""
    mode = im.mode
    transparent = "transparency" in im.info
    if mode == "P":
        palette_alpha = im.palette is not None and im.palette.mode == "RGBA"
        return im.convert("RGBA" if transparent or palette_alpha else "RGB")
    if mode == "PA":
        return im.convert("RGBA")
    if mode == "1":
        return im.convert("L")
    if mode in SIXTEEN_BIT:
        if transparent:
            return _grey16_with_alpha(im)
        return im if mode == "I;16" else im.convert("I")
    if mode in ("L", "RGB") and transparent:  # a tRNS colour, or a grey GIF's
        key = im.info["transparency"]
        if mode == "RGB" and src.rawmode.startswith("RGB;16") and isinstance(key, tuple):
            im.info["transparency"] = tuple(v >> 8 for v in key)
        return im.convert(mode + "A" if mode == "L" else "RGBA")
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK", "LAB", "F", "I"):
        return im
    if mode in ("La", "RGBa"):
        return im.convert(mode[:-1] + "A")
    return im.convert("RGB")


def _grey16_with_alpha(im: Image.Image) -> Image.Image:
    """16-bit grey with a tRNS grey level: 8-bit LA, transparent exactly where it matches."""
    key = im.info["transparency"]
    wide = im.convert("I")
    alpha = ImageMath.lambda_eval(lambda a: (a["v"] != key) * 255, v=wide)
    grey = wide.point(lambda v: v * (1 / 257) + 0.5).convert("L")
    out = grey.convert("LA")
    out.putalpha(alpha.convert("L"))
    return out


def value_range(im: Image.Image) -> tuple[float, float]:
    """The range of values that maps to 0-255, taken before resampling (LANCZOS overshoots)."""
    if im.mode not in ("I", "F"):
        return 0.0, 65535.0
    extrema = im.getextrema()  # a single band: (min, max)
    lo, hi = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]
    if im.mode == "F" and lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    if im.mode == "I" and lo >= 0 and hi <= 65535:
        return 0.0, 65535.0  # 16-bit data (PGM, unsigned TIFF) as 16-bit
    return lo, hi  # float or signed data: stretched over what it holds


def to_8bit(im: Image.Image, src: Source, values: tuple[float, float]) -> Image.Image:
    """8-bit L/LA/RGB/RGBA/CMYK/LAB from what was resampled, as the source meant it."""
    if im.mode in SIXTEEN_BIT:
        im = im.convert("I")
        im = im.point(lambda v: v * (1 / 257) + 0.5).convert("L")
    elif im.mode in ("I", "F"):
        lo, span = values[0], (values[1] - values[0]) or 1.0
        # convert("L") clips what LANCZOS overshot past the range.
        im = im.point(lambda v: (v - lo) * (255 / span) + 0.5).convert("L")
    else:
        if src.rawmode.startswith("LA;16") and im.mode == "RGBA":
            return im.convert("LA")  # Pillow decodes 16-bit grey+alpha PNGs as RGBA
        return im
    return ImageOps.invert(im) if src.min_is_white else im


@lru_cache(maxsize=16)
def _icc_transform(icc: bytes, in_mode: str, out_mode: str) -> object | None:
    from PIL import ImageCms

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.buildTransform(profile, _srgb(), in_mode, out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a broken or mismatched profile: browsers ignore it too


@lru_cache(maxsize=1)
def _srgb() -> Any:
    from PIL import ImageCms

    return ImageCms.createProfile("sRGB")


@lru_cache(maxsize=1)
def _lab_transform() -> object:
    from PIL import ImageCms

    return ImageCms.buildTransform(ImageCms.createProfile("LAB"), _srgb(), "LAB", "RGB")


def _apply(transform: object, im: Image.Image) -> Image.Image:
    from PIL import ImageCms

    return ImageCms.applyTransform(im, transform)  # type: ignore[arg-type, return-value]


def to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """8-bit L, LA, RGB or RGBA in sRGB, without any profile attached."""
    alpha = None
    if im.mode in ("LA", "RGBA"):
        alpha = im.getchannel("A")
        im = im.convert(im.mode[:-1])
    if im.mode == "LAB":
        im = _apply(_lab_transform(), im)
    elif icc and im.mode in ("L", "RGB", "CMYK"):
        transform = _icc_transform(icc, im.mode, "RGB")
        if transform is not None:
            grey = im.mode == "L"
            im = _apply(transform, im)
            if grey:
                im = im.convert("L")
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")  # CMYK without a profile, YCbCr, HSV...
    if alpha is not None:
        im = im.convert("RGBA" if im.mode == "RGB" else "LA")
        im.putalpha(alpha)
    return im


def for_output(im: Image.Image, fmt: str) -> Image.Image:
    """Modes each encoder writes: JPEG has no alpha (flatten on white); WebP/AVIF no grey."""
    if fmt == "jpeg":
        if im.mode in ("LA", "RGBA"):
            base = Image.new(im.mode[:-1], im.size, 255 if im.mode == "LA" else (255, 255, 255))
            base.paste(im, mask=im.getchannel("A"))
            return base
        return im
    if fmt in ("webp", "avif"):
        if im.mode == "L":
            return im.convert("RGB")
        if im.mode == "LA":
            return im.convert("RGBA")
    return im
