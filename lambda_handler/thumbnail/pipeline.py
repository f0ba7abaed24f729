"""The stages in order, chosen for memory and speed (see benchmarks/bench_thumbnail.py).

1. Open lazily and read the header only (source.py; HEIF in heif.py).
2. Work out the scale the largest thumbnail needs, ask the JPEG decoder for its DCT draft
   scale (1/2, 1/4, 1/8) and check the decoded size against the pixel and memory limits
   *before* decoding anything (limits.py).
3. Decode, convert only what cannot be resampled correctly (colour.py), downscale once with
   LANCZOS, then apply EXIF orientation, 16-bit to 8-bit and ICC to sRGB on the small image
   (geometry.py, colour.py). Smaller sizes, and their crops, are derived from that result.
4. Encode each size without metadata (encode.py).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence

from PIL import Image

from lambda_handler.thumbnail import colour, encode, geometry
from lambda_handler.thumbnail.limits import check_limits
from lambda_handler.thumbnail.model import (
    CONTENT_TYPES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_QUALITY,
    DEFAULT_RUNTIME_BASELINE_MB,
    EXTENSIONS,
    Options,
    Rendering,
    SourceInfo,
    Thumbnail,
    ThumbnailError,
    one_line,
)
from lambda_handler.thumbnail.source import open_source


def make_thumbnails(
    data: bytes,
    sizes: Iterable[tuple[int, int]],
    *,
    fit: str = "inside",
    gravity: str = "centre",
    output_format: str = "auto",
    quality: int = DEFAULT_QUALITY,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    memory_limit_mb: int | None = None,
    runtime_baseline_mb: int = DEFAULT_RUNTIME_BASELINE_MB,
) -> list[Thumbnail]:
    """One thumbnail per size, in the order given; raises ThumbnailError for bad images.

    fit "inside" keeps the whole picture within the box; "cover" fills the box and crops it,
    at the centre or (gravity "smart") around the picture's subject. Images smaller than a box
    are never enlarged. output_format "auto" keeps JPEG, PNG and WebP and turns anything else
    into JPEG. max_pixels limits the pixels actually decoded (a JPEG is decoded at its draft
    scale); memory_limit_mb, when given, refuses images whose estimated decode would not fit
    beside the runtime.
    """
    return render(
        data,
        sizes,
        fit=fit,
        gravity=gravity,
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
    gravity: str = "centre",
    output_format: str = "auto",
    quality: int = DEFAULT_QUALITY,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    memory_limit_mb: int | None = None,
    runtime_baseline_mb: int = DEFAULT_RUNTIME_BASELINE_MB,
) -> Rendering:
    """Like make_thumbnails, and also says what the source was (for logs and result records)."""
    boxes = geometry.check_sizes(sizes)
    opts = Options(
        fit=fit,
        gravity=gravity,
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
        raise ThumbnailError("too_large", one_line(exc)) from exc
    except MemoryError as exc:
        raise ThumbnailError("too_large", "ran out of memory while decoding") from exc
    except ValueError as exc:
        # PNG text/ICC chunks that inflate past Pillow's limits raise ValueError.
        text = one_line(exc)
        kind = "too_large" if "too large" in text.lower() or "memory" in text.lower() else "corrupt"
        raise ThumbnailError(kind, text) from exc
    except (OSError, SyntaxError, EOFError, IndexError, struct.error, zlib.error) as exc:
        raise ThumbnailError("corrupt", f"damaged image data: {one_line(exc)}") from exc
    except Exception as exc:  # a bug or a Pillow surprise: deterministic, so not worth retrying
        raise ThumbnailError("internal", f"{type(exc).__name__}: {one_line(exc)}") from exc


def _render(data: bytes, boxes: Sequence[tuple[int, int]], opts: Options) -> Rendering:
    src = open_source(data)
    full = src.size

    draft_box: tuple[float, float, float, float] | None = None
    orientation = 1  # HEIF: its decoder applies irot/imir, and EXIF only restates them
    if src.is_jpeg and src.image is not None:
        # The draft scale depends on the rotated geometry, so read EXIF from the header.
        orientation = geometry.orientation(src.image)
        _, _, master_raw = geometry.geometry(full, orientation, boxes, opts.fit)
        if master_raw != full:
            request = (
                max(1, int(master_raw[0] * geometry.DRAFT_GAP)),
                max(1, int(master_raw[1] * geometry.DRAFT_GAP)),
            )
            drafted = src.image.draft(None, request)
            if drafted is not None:
                draft_box = drafted[1]
    decoded = src.image.size if src.image is not None else full
    estimate = check_limits(src, decoded, len(data), opts)

    if src.heif is not None:
        # Straight from libheif's buffer to the master size (L, RGB or RGBA, 8-bit, upright).
        mode, icc = src.mode, src.heif.icc
        oriented, scales, master_raw = geometry.geometry(full, orientation, boxes, opts.fit)
        work = src.heif.downscaled(master_raw)
        values = colour.value_range(work)
    else:
        im = src.decode()
        mode = im.mode
        if not src.is_jpeg:
            orientation = geometry.orientation(im)  # PNG may keep eXIf after the pixel data
        oriented, scales, master_raw = geometry.geometry(full, orientation, boxes, opts.fit)
        icc = im.info.get("icc_profile")
        work = colour.resample_mode(im, src)
        del im  # a converted copy no longer needs the decode beside it
        values = colour.value_range(work)
        if work.size != master_raw:
            work = geometry.downscale(work, master_raw, draft_box)
    # From here on only master-sized images: the full decode is gone.
    work = geometry.orient(work, orientation)
    master = colour.to_8bit(work, src, values)
    master = colour.to_srgb(master, icc if isinstance(icc, bytes) else None)
    del work

    fmt = encode.output_format(src.format, opts.output_format)
    thumbs: list[Thumbnail] = []
    for box, scale in zip(boxes, scales, strict=True):
        out = geometry.fit(master, oriented, scale, box, opts.fit, opts.gravity)
        out = colour.for_output(out, fmt)
        thumbs.append(
            Thumbnail(
                size=box,
                width=out.width,
                height=out.height,
                format=fmt,
                content_type=CONTENT_TYPES[fmt],
                extension=EXTENSIONS[fmt][0],
                data=encode.encode(out, fmt, opts.quality),
            )
        )
    source = SourceInfo(
        format=src.format.lower(),
        width=oriented[0],
        height=oriented[1],
        mode=mode,
        animated=src.animated,
        orientation=orientation,
        decoded_width=decoded[0],
        decoded_height=decoded[1],
        estimated_bytes=estimate,
    )
    return Rendering(source=source, thumbnails=thumbs)
