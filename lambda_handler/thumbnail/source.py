"""Opening: sniff the bytes, open the header lazily, and say what a decode will hold.

Nothing here decodes pixels except `Source.decode()`, so the pixel and memory limits
(limits.py) are checked from the header first.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from dataclasses import dataclass

from PIL import Image, ImageFile, JpegImagePlugin, PngImagePlugin, UnidentifiedImageError

from lambda_handler.thumbnail.heif import HeifSource, is_heif, open_heif
from lambda_handler.thumbnail.model import ThumbnailError, one_line

# Inputs we decode. Others that Pillow can read (EPS, PSD, ICO, ...) are refused on purpose:
# less attack surface, and nobody expects a thumbnail of them. PPM covers PBM/PGM/PPM/PFM.
INPUT_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "AVIF", "TIFF", "BMP", "PPM", "TGA")
# An ICC profile in a PNG may inflate to this much (Pillow stops at 1 MB, as for text chunks;
# printer and device-link profiles are larger, and a JPEG carries them without complaint).
MAX_ICC_BYTES = 32 * 2**20

_IMAGE_MAGIC = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
)
_PNM_MAGIC = re.compile(rb"^P[1-7Ff]\s")


@dataclass
class Source:
    """An opened image whose pixels are not decoded yet."""

    format: str  # Pillow's name ("JPEG", "PNG", ...) or "HEIF"
    size: tuple[int, int]  # stored size (HEIF: as displayed; its decoder rotates)
    mode: str  # the mode the decode gives
    rawmode: str  # the decoder's raw layout, e.g. "RGB;16B" for a 16-bit PNG
    animated: bool  # several frames or images: the first frame or the primary image is used
    image: ImageFile.ImageFile | None = None  # Pillow's lazy image
    heif: HeifSource | None = None
    icc: bytes | None = None  # a profile read by us rather than by Pillow (large PNG iCCP)
    min_is_white: bool = False  # a 16-bit TIFF with PhotometricInterpretation 0

    @property
    def is_jpeg(self) -> bool:
        return self.format in ("JPEG", "MPO")

    @property
    def progressive(self) -> bool:
        return bool(self.image is not None and self.image.info.get("progressive"))

    def decode(self) -> Image.Image:
        """The pixels, at the draft scale a JPEG was given. The Source lets go of them, so
        that the decode is freed as soon as the pipeline has downscaled it."""
        if self.heif is not None:
            return self.heif.decode()
        im, self.image = self.image, None
        assert im is not None
        im.load()
        if self.icc is not None:
            im.info["icc_profile"] = self.icc
        return im


def open_source(data: bytes) -> Source:
    if not data:
        raise ThumbnailError("not_image", "the file is empty (0 bytes)")
    if is_heif(data):
        opened = open_heif(data)
        if opened is not None:
            return Source(
                format="HEIF",
                size=opened.size,
                mode=opened.mode,
                rawmode=opened.mode,
                animated=opened.images > 1,
                heif=opened,
            )
        # An AV1 image in a generic HEIF container: Pillow's AVIF plugin reads it.
    im, icc = _open_pillow(data)
    tile = getattr(im, "tile", None) or []
    args = tile[0].args if tile else None
    rawmode = args[0] if isinstance(args, tuple) and args else args
    rawmode = rawmode if isinstance(rawmode, str) else im.mode
    # Pillow does not invert min-is-white 16-bit TIFFs (it does for 1- and 8-bit ones).
    tags = getattr(im, "tag_v2", None)
    min_is_white = rawmode.startswith("I;16") and tags is not None and tags.get(262) == 0
    return Source(
        format=im.format or "?",
        size=im.size,
        mode=im.mode,
        rawmode=rawmode,
        animated=bool(getattr(im, "is_animated", False)),
        image=im,
        icc=icc,
        min_is_white=min_is_white,
    )


def _looks_like_image(data: bytes) -> bool:
    if data.startswith(_IMAGE_MAGIC) or _PNM_MAGIC.match(data[:3]):
        return True
    return (data[:4] == b"RIFF" and data[8:12] == b"WEBP") or data[4:8] == b"ftyp"


def _open_pillow(data: bytes) -> tuple[ImageFile.ImageFile, bytes | None]:
    if data.startswith(b"\xff\xd8\xff"):
        # Opened through the JPEG plugin directly: Image.open() would apply Pillow's
        # header-pixel bomb check, but a JPEG is decoded at its draft scale, which our
        # own limit checks instead (a 200 MP phone photo needs ~3 MP decoded).
        try:
            return JpegImagePlugin.JpegImageFile(io.BytesIO(data)), None
        except (SyntaxError, OSError, EOFError, IndexError, struct.error, ValueError) as exc:
            raise ThumbnailError(
                "corrupt", f"the JPEG header is damaged ({one_line(exc)})"
            ) from exc
    icc = None
    try:
        try:
            im = _pillow_open(data)
        except ValueError as exc:
            if not data.startswith(b"\x89PNG") or "MAX_TEXT_CHUNK" not in str(exc):
                raise
            # Maybe only the ICC profile is over Pillow's text limit: read it ourselves and
            # let Pillow open the rest without it. A text chunk that big is still refused.
            found = _png_large_icc(data)
            if found is None:
                raise
            icc, stripped = found
            im = _pillow_open(stripped)
    except UnidentifiedImageError as exc:
        if _looks_like_image(data):
            raise ThumbnailError("corrupt", "the image header is damaged") from exc
        raise ThumbnailError(
            "not_image", f"not a recognised image (starts with {data[:8]!r})"
        ) from exc
    if im.format not in INPUT_FORMATS:
        raise ThumbnailError("unsupported", f"{im.format} images are not supported")
    return im, icc


def _pillow_open(data: bytes) -> ImageFile.ImageFile:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(io.BytesIO(data))


def _png_large_icc(data: bytes) -> tuple[bytes, bytes] | None:
    """(profile, the PNG without its iCCP chunk) when the iCCP chunk is what Pillow refused."""
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if kind == b"iCCP":
            body = data[pos + 8 : pos + 8 + length]
            name_end = body.find(b"\0")
            if name_end < 0 or body[name_end + 1 : name_end + 2] != b"\0":
                return None
            dobj = zlib.decompressobj()
            try:
                icc = dobj.decompress(body[name_end + 2 :], MAX_ICC_BYTES)
            except zlib.error:
                return None
            if dobj.unconsumed_tail or len(icc) <= PngImagePlugin.MAX_TEXT_CHUNK:
                return None  # over our own limit too, or not the chunk Pillow refused
            return icc, data[:pos] + data[end:]
        if kind in (b"IDAT", b"IEND"):
            return None  # the profile must come before the pixels
        pos = end
    return None
