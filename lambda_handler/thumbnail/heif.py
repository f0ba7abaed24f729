"""HEIC/HEIF through pillow-heif (libheif with libde265), shipped by the layer when enabled.

- libheif applies the container's rotation and mirror (irot/imir) while decoding; the EXIF
  orientation of a HEIF only restates them (a phone writes both), so it is never applied on
  top: pillow-heif resets it to 1 and the pipeline treats HEIF as upright.
- 10- and 12-bit images are converted to 8 bit by libheif, with rounding (full range kept).
- A file with several images (a burst, a collection) gives its primary image.
- There is no reduced-scale decode: the header's size is what gets decoded, so limits.py
  checks it before decoding. `downscaled()` then never builds a full-size Pillow image: it
  reads libheif's RGB buffer in bands of rows (geometry.downscale_rows), which saves the
  4 bytes per pixel a Pillow copy of it would take (a 48 MP photo: 351 -> ~220 MB peak).
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from lambda_handler.thumbnail.geometry import downscale_rows
from lambda_handler.thumbnail.model import ThumbnailError, one_line

# Modes libheif hands over that Pillow can read straight from its buffer.
_BUFFER_MODES = ("L", "RGB", "RGBA")

# Brands of HEVC-coded HEIF (HEIC), and the generic HEIF ones that may hold HEVC or AV1.
_HEVC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_GENERIC_BRANDS = {b"mif1", b"msf1", b"miaf", b"mif2", b"heif"}
_AVIF_BRANDS = {b"avif", b"avis"}
LEFT_OUT = (
    "HEIC/HEIF images need pillow-heif, which this function's layer leaves out "
    "(heic = false); run `resizer setup --heic` to include it"
)


def brands(data: bytes) -> set[bytes]:
    """The ftyp box's major and compatible brands (empty if there is no ftyp box first)."""
    if data[4:8] != b"ftyp" or len(data) < 12:
        return set()
    size = int.from_bytes(data[:4], "big")
    end = min(len(data), size if 16 <= size <= 4096 else 64)
    found = {data[8:12]}
    found.update(data[i : i + 4] for i in range(16, end - 3, 4))
    return found


def is_heif(data: bytes) -> bool:
    """HEIC, or a generic HEIF that does not say it is AVIF (Pillow reads AVIF itself)."""
    found = brands(data)
    if found & _HEVC_BRANDS:
        return True
    return bool(found & _GENERIC_BRANDS) and not found & _AVIF_BRANDS


class HeifSource:
    """The primary image of a HEIF file, opened (header only) and not yet decoded."""

    def __init__(self, heif_file: Any) -> None:
        self._file: Any = heif_file
        width, height = heif_file.size
        self.size: tuple[int, int] = (int(width), int(height))
        self.mode: str = heif_file.mode
        self.images: int = len(heif_file)
        self.bit_depth: int = int(heif_file.info.get("bit_depth") or 8)
        icc = heif_file.info.get("icc_profile")
        self.icc: bytes | None = bytes(icc) if icc else None

    def downscaled(self, size: tuple[int, int]) -> Image.Image:
        """The primary image at `size` (LANCZOS), read from libheif's buffer band by band."""
        if size == self.size or self.mode not in _BUFFER_MODES:
            return self.decode()
        heif_file, self._file = self._file, None
        try:
            buffer = memoryview(heif_file.data)  # the decode happens here
            stride = int(heif_file.stride)
        except (ValueError, RuntimeError, OSError, EOFError, SyntaxError) as exc:
            raise _heif_error(exc, "the HEIF image data is damaged") from exc
        del heif_file
        width, mode = self.size[0], self.mode

        def rows(top: int, bottom: int) -> Image.Image:
            band = buffer[top * stride : bottom * stride]
            # Pillow reads any buffer; its stubs only name bytes-like types.
            return Image.frombuffer(
                mode, (width, bottom - top), band, "raw", mode, stride, 1  # type: ignore[arg-type]
            )

        return downscale_rows(rows, self.size, mode, size)

    def decode(self) -> Image.Image:
        heif_file, self._file = self._file, None  # its pixel buffer goes once copied
        try:
            im = heif_file.to_pillow()
        except (ValueError, RuntimeError, OSError, EOFError, SyntaxError) as exc:
            raise _heif_error(exc, "the HEIF image data is damaged") from exc
        # Pixels come out upright already (see the module note).
        im.info.pop("exif", None)
        im.info.pop("xmp", None)
        return im


def open_heif(data: bytes) -> HeifSource | None:
    """The primary image's header; None for a coding libheif has no decoder for here."""
    try:
        import pillow_heif
    except ImportError:
        raise ThumbnailError("unsupported", LEFT_OUT) from None
    try:
        # Opening reads the boxes and the item properties only; nothing is decoded.
        heif_file = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
    except (ValueError, RuntimeError, OSError, EOFError, SyntaxError) as exc:
        if _no_decoder(exc) and not brands(data) & _HEVC_BRANDS:
            return None  # not HEVC, so maybe AV1: Pillow's AVIF plugin may read it
        raise _heif_error(exc, "the HEIF header is damaged") from exc
    if len(heif_file) == 0:
        raise ThumbnailError("corrupt", "the HEIF file holds no image")
    return HeifSource(heif_file)


def _no_decoder(exc: BaseException) -> bool:
    text = str(exc)
    return "has not been built in" in text or "No decoding plugin" in text


def _heif_error(exc: BaseException, damaged: str) -> ThumbnailError:
    text = one_line(exc).removeprefix("Invalid input: ")
    if "Security limit" in text or "too large" in text.lower():
        return ThumbnailError("too_large", f"libheif refused the image: {text}")
    if _no_decoder(exc):
        return ThumbnailError("unsupported", f"this HEIF's coding is not supported ({text})")
    return ThumbnailError("corrupt", f"{damaged} ({text})")
