"""Thumbnails from encoded image bytes: a pure function, no S3 and no environment.

Pipeline, chosen for memory and speed (see benchmarks/bench_thumbnail.py):
1. Sniff and open lazily; read the header only.
2. Work out the scale the largest thumbnail needs, ask the JPEG decoder for its DCT draft
   scale (1/2, 1/4, 1/8) and check the decoded size against the pixel and memory limits
   *before* decoding anything.
3. Decode, convert only what cannot be resampled correctly (palette, 1-bit), downscale once
   with LANCZOS, then apply EXIF orientation, 16-bit to 8-bit and ICC to sRGB on the small
   image. Smaller sizes are derived from that first result.
4. Encode each size without metadata.
"""

from __future__ import annotations

import io
import math
import re
import struct
import warnings
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from PIL import Image, ImageFile, JpegImagePlugin, UnidentifiedImageError

from lambda_handler.config import FITS, OUTPUT_FORMATS  # one definition, shared with the CLI

__all__ = [
    "CONTENT_TYPES",
    "EXTENSIONS",
    "FITS",
    "OUTPUT_FORMATS",
    "Rendering",
    "SourceInfo",
    "Thumbnail",
    "ThumbnailError",
    "make_thumbnails",
    "render",
]

CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
}
# First entry is the one we write; the others are accepted as "same format" when naming outputs.
EXTENSIONS = {
    "jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "png": (".png",),
    "webp": (".webp",),
    "avif": (".avif",),
}
# Inputs we decode. Others that Pillow can read (EPS, PSD, ICO, ...) are refused on purpose:
# less attack surface, and nobody expects a thumbnail of them.
INPUT_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "AVIF", "TIFF", "BMP")
# Auto output keeps these formats; everything else becomes JPEG.
_KEEP_FORMAT = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "WEBP": "webp"}

DEFAULT_QUALITY = 85
DEFAULT_MAX_PIXELS = 50_000_000
# Resident memory of the Lambda Python runtime with boto3 and Pillow imported (measured ~55 MB).
DEFAULT_RUNTIME_BASELINE_MB = 64
# JPEGs are decoded at the smallest DCT scale (1/2, 1/4, 1/8) that keeps at least this factor
# above the largest thumbnail; LANCZOS does the rest. Measured against full decode + LANCZOS:
# 52-55 dB for 12-100 MP photos, at 1.1-1.25x the cost of the decode alone. 2.0 would gain
# ~3 dB for some sizes but decode 4x the pixels (over 16 MB) for others. 1.85 rather than 1.9
# caps the worst full-scale decode (a ~1890 px square) at +15.4 MiB peak; near the 1/2-scale
# boundary either value gives 49.8-50 dB.
DRAFT_GAP = 1.85
# Downscale by integer reduction until this factor away from the target, then LANCZOS.
REDUCING_GAP = 3.0
# The first downscale of a decode this big goes in bands of output rows (see _downscale).
BAND_MIN_BYTES = 8 * 2**20
BAND_ROWS = 32
_BANDED_MODES = ("L", "RGB", "CMYK")

_LANCZOS = Image.Resampling.LANCZOS
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class ThumbnailError(Exception):
    """An image that will never make thumbnails, however often it is retried.

    `kind` is a short class: "corrupt" (damaged or truncated), "unsupported" (a format we do
    not decode, e.g. HEIC), "too_large" (over the pixel limit or the function's memory),
    "not_image" (not an image at all) or "internal" (an unexpected failure in the image code).
    The handler adds "too_slow" for work it stopped before the function's timeout.
    `reason` is one line for people.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class Thumbnail:
    size: tuple[int, int]  # the configured box, e.g. (128, 128): names the output
    width: int
    height: int
    format: str  # "jpeg" | "png" | "webp" | "avif"
    content_type: str
    extension: str
    data: bytes = field(repr=False)

    @property
    def bytes(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class SourceInfo:
    format: str  # lower-case Pillow format, e.g. "jpeg", "gif"
    width: int  # as displayed, i.e. after EXIF orientation
    height: int
    mode: str
    animated: bool
    orientation: int
    decoded_width: int  # what was actually decoded (JPEG draft scale)
    decoded_height: int
    estimated_bytes: int  # our estimate of the decode's peak working memory


@dataclass(frozen=True)
class Rendering:
    source: SourceInfo
    thumbnails: list[Thumbnail]


@dataclass(frozen=True)
class _Options:
    fit: str = "inside"
    output_format: str = "auto"
    quality: int = DEFAULT_QUALITY
    max_pixels: int = DEFAULT_MAX_PIXELS
    memory_limit_mb: int | None = None  # None: no memory check (e.g. outside Lambda)
    runtime_baseline_mb: int = DEFAULT_RUNTIME_BASELINE_MB
    longest_side: int = 0  # of all boxes: bounds the resize's intermediate image

    def __post_init__(self) -> None:
        if self.fit not in FITS:
            raise ValueError(f"fit must be one of {FITS}, not {self.fit!r}")
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(
                f"output_format must be one of {OUTPUT_FORMATS}, not {self.output_format!r}"
            )
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be 1-100, not {self.quality}")
        if self.max_pixels < 1:
            raise ValueError(f"max_pixels must be positive, not {self.max_pixels}")


def make_thumbnails(
    data: bytes,
    sizes: Iterable[tuple[int, int]],
    *,
    fit: str = "inside",
    output_format: str = "auto",
    quality: int = DEFAULT_QUALITY,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    memory_limit_mb: int | None = None,
    runtime_baseline_mb: int = DEFAULT_RUNTIME_BASELINE_MB,
) -> list[Thumbnail]:
    """One thumbnail per size, in the order given; raises ThumbnailError for bad images.

    fit "inside" keeps the whole picture within the box; "cover" fills the box and crops the
    centre. Images smaller than a box are never enlarged. output_format "auto" keeps JPEG,
    PNG and WebP and turns anything else into JPEG. max_pixels limits the pixels actually
    decoded (a JPEG is decoded at its draft scale); memory_limit_mb, when given, refuses
    images whose estimated decode would not fit beside the runtime.
    """
    return render(
        data,
        sizes,
        fit=fit,
        output_format=output_format,
        quality=quality,
        max_pixels=max_pixels,
        memory_limit_mb=memory_limit_mb,
        runtime_baseline_mb=runtime_baseline_mb,
    ).thumbnails


def render(
    data: bytes,
    sizes: Iterable[tuple[int, int]],
    *,
    fit: str = "inside",
    output_format: str = "auto",
    quality: int = DEFAULT_QUALITY,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    memory_limit_mb: int | None = None,
    runtime_baseline_mb: int = DEFAULT_RUNTIME_BASELINE_MB,
) -> Rendering:
    """Like make_thumbnails, and also says what the source was (for logs and result records)."""
    boxes = _check_sizes(sizes)
    opts = _Options(
        fit=fit,
        output_format=output_format,
        quality=quality,
        max_pixels=max_pixels,
        memory_limit_mb=memory_limit_mb,
        runtime_baseline_mb=runtime_baseline_mb,
        longest_side=max(max(box) for box in boxes),
    )
    try:
        return _render(data, boxes, opts)
    except ThumbnailError:
        raise
    except Image.DecompressionBombError as exc:
        raise ThumbnailError("too_large", _one_line(exc)) from exc
    except MemoryError as exc:
        raise ThumbnailError("too_large", "ran out of memory while decoding") from exc
    except ValueError as exc:
        # PNG text/ICC chunks that inflate past Pillow's limits raise ValueError.
        text = _one_line(exc)
        kind = "too_large" if "too large" in text.lower() or "memory" in text.lower() else "corrupt"
        raise ThumbnailError(kind, text) from exc
    except (OSError, SyntaxError, EOFError, IndexError, struct.error, zlib.error) as exc:
        raise ThumbnailError("corrupt", f"damaged image data: {_one_line(exc)}") from exc
    except Exception as exc:  # a bug or a Pillow surprise: deterministic, so not worth retrying
        raise ThumbnailError("internal", f"{type(exc).__name__}: {_one_line(exc)}") from exc


# --- opening and limits ---------------------------------------------------------------------

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"heif"}
_AVIF_BRANDS = {b"avif", b"avis"}
_IMAGE_MAGIC = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
)


def _sniff(data: bytes) -> None:
    if not data:
        raise ThumbnailError("not_image", "the file is empty (0 bytes)")
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        compatible = {data[i : i + 4] for i in range(16, min(len(data), 64), 4)}
        if brand not in _AVIF_BRANDS and (brand in _HEIF_BRANDS or compatible & _HEIF_BRANDS):
            raise ThumbnailError(
                "unsupported",
                f"HEIC/HEIF images ({brand.decode('ascii', 'replace')}) are not supported; "
                "convert to JPEG first",
            )


def _looks_like_image(data: bytes) -> bool:
    if data.startswith(_IMAGE_MAGIC):
        return True
    return (data[:4] == b"RIFF" and data[8:12] == b"WEBP") or data[4:8] == b"ftyp"


def _open(data: bytes) -> ImageFile.ImageFile:
    if data.startswith(b"\xff\xd8\xff"):
        # Opened through the JPEG plugin directly: Image.open() would apply Pillow's
        # header-pixel bomb check, but a JPEG is decoded at its draft scale, which our
        # own limit checks instead (a 200 MP phone photo needs ~3 MP decoded).
        try:
            return JpegImagePlugin.JpegImageFile(io.BytesIO(data))
        except (SyntaxError, OSError, EOFError, IndexError, struct.error, ValueError) as exc:
            raise ThumbnailError(
                "corrupt", f"the JPEG header is damaged ({_one_line(exc)})"
            ) from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        if _looks_like_image(data):
            raise ThumbnailError("corrupt", "the image header is damaged") from exc
        raise ThumbnailError(
            "not_image", f"not a recognised image (starts with {data[:8]!r})"
        ) from exc
    if im.format not in INPUT_FORMATS:
        raise ThumbnailError("unsupported", f"{im.format} images are not supported")
    return im


def _bytes_per_pixel(mode: str) -> int:
    # Pillow stores every multi-band mode in 4 bytes per pixel (RGB included).
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def _jpeg_coefficient_bytes(im: ImageFile.ImageFile, full: tuple[int, int]) -> int:
    """A progressive JPEG keeps every DCT coefficient of the full image until the last scan."""
    if not (im.format in ("JPEG", "MPO") and im.info.get("progressive")):
        return 0
    layers = getattr(im, "layer", None) or []
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


def _decode_overhead(im: ImageFile.ImageFile, full: tuple[int, int], pixels: int) -> int:
    """Bytes a decoder holds on top of Pillow's own image buffer."""
    if im.format == "WEBP":
        return pixels * 4  # libwebp decodes into its own RGBA buffer first
    if im.format == "AVIF":
        return pixels * 6  # YUV planes (up to 16-bit) before the RGB conversion
    return _jpeg_coefficient_bytes(im, full)


def _estimate_bytes(
    im: ImageFile.ImageFile, full: tuple[int, int], decoded: tuple[int, int], longest: int
) -> int:
    pixels = decoded[0] * decoded[1]
    total = pixels * _bytes_per_pixel(im.mode) + _decode_overhead(im, full, pixels)
    if im.mode in ("P", "PA", "1"):
        total += pixels * 4  # converted to RGB(A)/L at full size before resampling
    # LANCZOS resizes rows first: an intermediate as wide as the result, as tall as the decode.
    total += min(decoded[0], longest) * decoded[1] * 4
    return total


def _check_limits(
    im: ImageFile.ImageFile,
    full: tuple[int, int],
    decoded: tuple[int, int],
    data_len: int,
    opts: _Options,
) -> int:
    pixels = decoded[0] * decoded[1]
    width, height = full
    if pixels > opts.max_pixels:
        scale = "" if decoded == (width, height) else f" (decoded at {decoded[0]}x{decoded[1]})"
        raise ThumbnailError(
            "too_large",
            f"{width}x{height}{scale} is {pixels / 1e6:.1f} MP, above the "
            f"{opts.max_pixels / 1e6:.1f} MP limit (MAX_PIXELS)",
        )
    estimate = _estimate_bytes(im, full, decoded, opts.longest_side)
    if opts.memory_limit_mb is not None:
        needed = estimate + data_len + opts.runtime_baseline_mb * 2**20
        if needed > opts.memory_limit_mb * 2**20:
            need_mb = math.ceil(needed / 2**20)
            what = f"{width}x{height} {im.format}"
            if im.info.get("progressive"):
                what += " (progressive)"
            raise ThumbnailError(
                "too_large",
                f"{what} needs about {need_mb} MB to decode but the function has "
                f"{opts.memory_limit_mb} MB; give it at least {_round_memory(need_mb)} MB",
            )
    return estimate


def _round_memory(mb: int) -> int:
    return max(128, math.ceil(mb * 1.15 / 64) * 64)


# --- geometry ------------------------------------------------------------------------------


def _check_sizes(sizes: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
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


def _swaps_axes(orientation: int) -> bool:
    return orientation in (5, 6, 7, 8)


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


def _orientation(im: Image.Image) -> int:
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


# --- colour --------------------------------------------------------------------------------


def _resample_mode(im: Image.Image) -> Image.Image:
    """Convert only modes that cannot be resampled correctly (palette would use NEAREST)."""
    mode = im.mode
    if mode == "P":
        palette_alpha = im.palette is not None and im.palette.mode == "RGBA"
        has_alpha = "transparency" in im.info or palette_alpha
        return im.convert("RGBA" if has_alpha else "RGB")
    if mode == "PA":
        return im.convert("RGBA")
    if mode == "1":
        return im.convert("L")
    if mode in ("L", "RGB") and "transparency" in im.info:  # a tRNS colour, or a grey GIF's
        return im.convert(mode + "A" if mode == "L" else "RGBA")
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK", "LAB", "F", *_SIXTEEN_BIT):
        return im
    if mode in ("La", "RGBa"):
        return im.convert(mode[:-1] + "A")
    return im.convert("RGB")


def _to_8bit(im: Image.Image) -> Image.Image:
    if im.mode in _SIXTEEN_BIT:
        # Pillow's own convert("L") clips at 255, turning most 16-bit pixels white.
        return im.convert("I").point(lambda v: v * (1 / 257) + 0.5).convert("L")
    if im.mode == "F":
        extrema = im.getextrema()  # a single band: (min, max)
        lo, hi = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]
        if hi <= 1.0 and lo >= 0.0:
            lo, hi = 0.0, 1.0
        span = (hi - lo) or 1.0
        return im.point(lambda v: (v - lo) * (255 / span) + 0.5).convert("L")
    return im


@lru_cache(maxsize=16)
def _icc_transform(icc: bytes, in_mode: str, out_mode: str) -> object | None:
    from PIL import ImageCms

    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.buildTransform(src, _srgb(), in_mode, out_mode)
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


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """8-bit L, LA, RGB or RGBA in sRGB, without any profile attached."""
    alpha = None
    if im.mode in ("LA", "RGBA"):
        alpha = im.getchannel("A")
        im = im.convert(im.mode[:-1])
    if im.mode == "LAB":
        im = _apply(_lab_transform(), im)
    elif icc and im.mode in ("L", "RGB", "CMYK"):
        out_mode = "RGB"
        transform = _icc_transform(icc, im.mode, out_mode)
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


def _for_output(im: Image.Image, fmt: str) -> Image.Image:
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


# --- the pipeline --------------------------------------------------------------------------


def _output_format(source_format: str, requested: str) -> str:
    if requested != "auto":
        return requested
    return _KEEP_FORMAT.get(source_format, "jpeg")


def _encode(im: Image.Image, fmt: str, quality: int) -> bytes:
    im.info = {}  # no EXIF, ICC, XMP, comments or transparency keys leak into the output
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.save(buf, "JPEG", quality=quality, optimize=True)
    elif fmt == "png":
        im.save(buf, "PNG", compress_level=6)
    elif fmt == "webp":
        im.save(buf, "WEBP", quality=quality, method=4)
    else:
        im.save(buf, "AVIF", quality=quality, speed=8)
    return buf.getvalue()


def _geometry(
    full: tuple[int, int], orientation: int, boxes: Sequence[tuple[int, int]], fit: str
) -> tuple[tuple[int, int], list[float], tuple[int, int]]:
    """Displayed size, each box's scale, and the master's size in stored (unrotated) pixels."""
    swap = _swaps_axes(orientation)
    oriented = (full[1], full[0]) if swap else full
    scales = [_scale_for(box, oriented, fit) for box in boxes]
    top = max(range(len(boxes)), key=scales.__getitem__)
    master = oriented
    if scales[top] < 1:
        master = _scaled(oriented, scales[top], boxes[top], fit)
    return oriented, scales, ((master[1], master[0]) if swap else master)


def _render(data: bytes, boxes: Sequence[tuple[int, int]], opts: _Options) -> Rendering:
    _sniff(data)
    im = _open(data)
    source_format = im.format or "?"
    is_jpeg = source_format in ("JPEG", "MPO")
    animated = bool(getattr(im, "is_animated", False))  # we keep the first frame
    full = im.size

    draft_box: tuple[float, float, float, float] | None = None
    orientation = 1
    if is_jpeg:
        # The draft scale depends on the rotated geometry, so read EXIF from the header.
        orientation = _orientation(im)
        _, _, master_raw = _geometry(full, orientation, boxes, opts.fit)
        if master_raw != full:
            request = (
                max(1, int(master_raw[0] * DRAFT_GAP)),
                max(1, int(master_raw[1] * DRAFT_GAP)),
            )
            drafted = im.draft(None, request)
            if drafted is not None:
                draft_box = drafted[1]
    decoded = im.size
    estimate = _check_limits(im, full, decoded, len(data), opts)

    im.load()
    if not is_jpeg:
        orientation = _orientation(im)  # PNG may keep eXIf after the pixel data
    oriented, scales, master_raw = _geometry(full, orientation, boxes, opts.fit)
    icc = im.info.get("icc_profile")

    mode = im.mode
    work = _resample_mode(im)
    del im  # a converted copy no longer needs the decode beside it
    if work.size != master_raw:
        work = _downscale(work, master_raw, draft_box)
    # From here on only master-sized images: the full decode is gone.
    if orientation in _TRANSPOSE:
        work = work.transpose(_TRANSPOSE[orientation])
    master = _to_srgb(_to_8bit(work), icc if isinstance(icc, bytes) and icc else None)
    del work

    fmt = _output_format(source_format, opts.output_format)
    thumbs: list[Thumbnail] = []
    for box, scale in zip(boxes, scales, strict=True):
        out = _for_output(_fit(master, oriented, scale, box, opts.fit), fmt)
        thumbs.append(
            Thumbnail(
                size=box,
                width=out.width,
                height=out.height,
                format=fmt,
                content_type=CONTENT_TYPES[fmt],
                extension=EXTENSIONS[fmt][0],
                data=_encode(out, fmt, opts.quality),
            )
        )
    source = SourceInfo(
        format=source_format.lower(),
        width=oriented[0],
        height=oriented[1],
        mode=mode,
        animated=animated,
        orientation=orientation,
        decoded_width=decoded[0],
        decoded_height=decoded[1],
        estimated_bytes=estimate,
    )
    return Rendering(source=source, thumbnails=thumbs)


def _downscale(
    im: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float] | None
) -> Image.Image:
    """LANCZOS to `size`, in bands of output rows when that is exact.

    Pillow resizes rows first, into an intermediate as wide as the result and as tall as the
    source: for a decode that no draft scale could shrink (a ~1900 px square for a 512 box)
    that is another 25 % of the decode on top of it. Each band's horizontal pass covers only
    the source rows under that band's filter window, and since Pillow clips filter windows at
    the image, not at the box, the bands put together equal the one-pass result.
    """
    gap = None if im.mode.startswith("I;16") else REDUCING_GAP  # no reduce() for I;16
    src = box or (0.0, 0.0, float(im.width), float(im.height))
    out_w, out_h = size
    sx, sy = (src[2] - src[0]) / out_w, (src[3] - src[1]) / out_h
    # Banding only where Pillow resizes directly: a reduce() first would align to each band,
    # and LA/RGBA are converted to premultiplied alpha as a whole image per call.
    reduces = gap is not None and max(sx, sy) >= 2 * gap
    small = im.width * im.height * 4 < BAND_MIN_BYTES  # the intermediate does not matter
    if small or reduces or im.mode not in _BANDED_MODES or out_h <= 2 * BAND_ROWS:
        return im.resize(size, _LANCZOS, box=box, reducing_gap=gap)
    out = Image.new(im.mode, size)
    for top in range(0, out_h, BAND_ROWS):
        rows = min(BAND_ROWS, out_h - top)
        band_box = (src[0], src[1] + top * sy, src[2], src[1] + (top + rows) * sy)
        out.paste(im.resize((out_w, rows), _LANCZOS, box=band_box), (0, top))
    return out


def _fit(
    master: Image.Image,
    oriented: tuple[int, int],
    scale: float,
    box: tuple[int, int],
    fit: str,
) -> Image.Image:
    """One size from the master (the largest scaled, oriented, sRGB image)."""
    sw, sh = _scaled(oriented, scale, box, fit)
    mw, mh = master.size
    if fit == "inside":
        if (sw, sh) == (mw, mh):
            return master.copy()
        return master.resize((sw, sh), _LANCZOS, reducing_gap=REDUCING_GAP)
    # cover: centre crop of the scaled image, at most the box (never enlarged)
    tw, th = min(box[0], sw), min(box[1], sh)
    x0, y0 = (sw - tw) / 2, (sh - th) / 2
    if (sw, sh) == (mw, mh):
        left, top = round(x0), round(y0)
        return master.crop((left, top, left + tw, top + th))
    fx, fy = mw / sw, mh / sh
    crop = (x0 * fx, y0 * fy, (x0 + tw) * fx, (y0 + th) * fy)
    return master.resize((tw, th), _LANCZOS, box=crop, reducing_gap=REDUCING_GAP)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
