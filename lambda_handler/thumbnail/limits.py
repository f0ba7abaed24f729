"""The pixel limit and the memory estimate, both checked from the header before decoding."""

from __future__ import annotations

import math

from lambda_handler.thumbnail.model import Options, ThumbnailError
from lambda_handler.thumbnail.source import Source

# Peak bytes per pixel of a HEIF decode read in bands (heif.py), with pillow-heif 1.8 and
# libheif 1.23: the YUV planes and libheif's RGB output beside them; 10/12-bit images go
# through 16-bit planes. Measured (benchmarks/bench_heic.py): 8-bit RGB 4.8 at 48 MP and 5.1
# at 12 MP (grids of 512 px tiles), 10-bit RGB 8.0 at 12 MP; grey 3.7, RGBA 9.7, 10-bit
# RGBA 13.3 on 3 MP files, whose fixed part (decoder contexts, threads) is the next constant.
_HEIF_BYTES_PER_PIXEL = {"L": 3.0, "RGB": 5.5, "RGBA": 9.0}
_HEIF_HDR_BYTES_PER_PIXEL = {"L": 5.0, "RGB": 8.5, "RGBA": 13.0}
_HEIF_FIXED = 8 * 2**20


def bytes_per_pixel(mode: str) -> int:
    # Pillow stores every multi-band mode in 4 bytes per pixel (RGB included).
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def _jpeg_coefficient_bytes(src: Source, full: tuple[int, int]) -> int:
    """A progressive JPEG keeps every DCT coefficient of the full image until the last scan."""
    if not (src.is_jpeg and src.progressive):
        return 0
    layers = getattr(src.image, "layer", None) or []
    if not layers:
        return full[0] * full[1] * 3 * 2
    h_max = max(layer[1] for layer in layers) or 1
    v_max = max(layer[2] for layer in layers) or 1
    width, height = full
    total = 0
    for _, h, v, _ in layers:
        cw = math.ceil(width * h / h_max)
        ch = math.ceil(height * v / v_max)
        total += math.ceil(cw / 8) * math.ceil(ch / 8) * 64 * 2
    return total


def _decode_bytes(src: Source, full: tuple[int, int], pixels: int) -> int:
    """The decoded image plus what its decoder holds beside it."""
    if src.heif is not None:
        table = _HEIF_HDR_BYTES_PER_PIXEL if src.heif.bit_depth > 8 else _HEIF_BYTES_PER_PIXEL
        return math.ceil(pixels * table.get(src.mode, 14.0)) + _HEIF_FIXED
    total = pixels * bytes_per_pixel(src.mode)
    if src.format == "WEBP":
        total += pixels * 4  # libwebp decodes into its own RGBA buffer first
    elif src.format == "AVIF":
        total += pixels * 6  # YUV planes (up to 16-bit) before the RGB conversion
    return total + _jpeg_coefficient_bytes(src, full)


def _conversion_bytes(src: Source, pixels: int) -> int:
    """Full-size copies colour.resample_mode makes before the first downscale."""
    mode = src.mode
    transparent = src.image is not None and "transparency" in src.image.info
    if mode in ("P", "PA", "1") or (mode in ("L", "RGB") and transparent):
        return pixels * 4  # to RGB(A), LA or L
    if mode.startswith("I;16"):
        if transparent:
            return pixels * 6  # 8-bit grey and its alpha, merged into LA
        if mode != "I;16":
            return pixels * 4  # byte-swapped 16-bit is resampled as 32-bit I
    return 0


def estimate_bytes(src: Source, decoded: tuple[int, int], longest: int) -> int:
    pixels = decoded[0] * decoded[1]
    total = _decode_bytes(src, src.size, pixels) + _conversion_bytes(src, pixels)
    total += len(src.icc or b"")
    # LANCZOS resizes rows first: an intermediate as wide as the result, as tall as the decode.
    total += min(decoded[0], longest) * decoded[1] * 4
    return total


def check_limits(src: Source, decoded: tuple[int, int], data_len: int, opts: Options) -> int:
    """The estimate in bytes; ThumbnailError("too_large") if the image must not be decoded."""
    pixels = decoded[0] * decoded[1]
    width, height = src.size
    if pixels > opts.max_pixels:
        scale = "" if decoded == (width, height) else f" (decoded at {decoded[0]}x{decoded[1]})"
        raise ThumbnailError(
            "too_large",
            f"{width}x{height}{scale} is {pixels / 1e6:.1f} MP, above the "
            f"{opts.max_pixels / 1e6:.1f} MP limit (MAX_PIXELS)",
        )
    estimate = estimate_bytes(src, decoded, opts.longest_side)
    if opts.memory_limit_mb is not None:
        needed = estimate + data_len + opts.runtime_baseline_mb * 2**20
        if needed > opts.memory_limit_mb * 2**20:
            need_mb = math.ceil(needed / 2**20)
            what = f"{width}x{height} {src.format}"
            if src.progressive:
                what += " (progressive)"
            elif src.heif is not None:
                what += " (HEIF has no reduced-scale decode)"
            raise ThumbnailError(
                "too_large",
                f"{what} needs about {need_mb} MB to decode but the function has "
                f"{opts.memory_limit_mb} MB; give it at least {_round_memory(need_mb)} MB",
            )
    return estimate


def _round_memory(mb: int) -> int:
    return max(128, math.ceil(mb * 1.15 / 64) * 64)
