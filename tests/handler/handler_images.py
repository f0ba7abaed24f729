"""Real encoded test images, generated on the fly (kept out of lambda_handler/ on purpose)."""

from __future__ import annotations

import array
import io
import random
import struct
import sys
import zlib
from typing import Any

import pillow_heif
from PIL import Image, ImageCms, ImageDraw, PngImagePlugin

# Pillow's Transpose for each EXIF orientation, as a viewer applies it to the stored pixels.
ORIENT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# ...and the inverse, to store a picture so that the viewer shows it upright.
INVERSE = {
    **ORIENT,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def encode(im: Image.Image, fmt: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def photo(size: tuple[int, int] = (1200, 800), seed: int = 1) -> Image.Image:
    """Photo-like RGB: gradients, shapes and noise (flat colour decodes unrealistically fast)."""
    w, h = size
    rng = random.Random(seed)
    a = Image.linear_gradient("L").resize((w, h))
    b = Image.radial_gradient("L").resize((w, h))
    c = Image.linear_gradient("L").rotate(90).resize((w, h))
    im = Image.merge("RGB", (a, b, c))
    draw = ImageDraw.Draw(im)
    for _ in range(40):
        x, y, s = rng.randrange(w), rng.randrange(h), rng.randrange(max(2, w // 40), max(3, w // 4))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x, y, x + s, y + s), fill=colour)
    noise = Image.merge("RGB", [Image.effect_noise((w, h), 30)] * 3)
    return Image.blend(im, noise, 0.1)


def quadrants(size: tuple[int, int] = (400, 200)) -> Image.Image:
    """Upright picture: red top-left, green top-right, blue bottom-left, white bottom-right."""
    w, h = size
    im = Image.new("RGB", size)
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, w // 2 - 1, h // 2 - 1), fill=RED)
    draw.rectangle((w // 2, 0, w - 1, h // 2 - 1), fill=GREEN)
    draw.rectangle((0, h // 2, w // 2 - 1, h - 1), fill=BLUE)
    draw.rectangle((w // 2, h // 2, w - 1, h - 1), fill=WHITE)
    return im


def oriented_jpeg(orientation: int, upright: Image.Image, fmt: str = "JPEG") -> bytes:
    stored = upright.transpose(INVERSE[orientation]) if orientation in INVERSE else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"  # Make, to check metadata is stripped
    return encode(stored, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def rgb_icc_profile(
    red: tuple[float, float, float],
    green: tuple[float, float, float],
    blue: tuple[float, float, float],
    gamma: float,
    name: str,
) -> bytes:
    """A minimal ICC v2 matrix/TRC display profile (colorants already adapted to D50)."""
    ascii_name = name.encode("ascii") + b"\0"
    desc = (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_name))
        + ascii_name
        + b"\0" * 8
        + b"\0\0\0"
        + b"\0" * 67
    )
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256))
    tags = [
        (b"desc", desc),
        (b"cprt", b"text\0\0\0\0public domain\0"),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(*red)),
        (b"gXYZ", _xyz(*green)),
        (b"bXYZ", _xyz(*blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        while (offset + len(body)) % 4:
            body += b"\0"
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    while len(body) % 4:
        body += b"\0"
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + b"\x02\x10\x00\x00"
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 24
        + b"\0" * 4
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def adobe_rgb_profile() -> bytes:
    return rgb_icc_profile(
        (0.60974, 0.31111, 0.01947),
        (0.20528, 0.62567, 0.06087),
        (0.14919, 0.06322, 0.74457),
        2.2,
        "Test Adobe RGB (1998)",
    )


def srgb_expected(pixel: tuple[int, int, int], icc: bytes) -> tuple[int, int, int]:
    """What a colour-managed viewer shows for `pixel` tagged with `icc`."""
    src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    out = ImageCms.profileToProfile(
        Image.new("RGB", (1, 1), pixel), src, ImageCms.createProfile("sRGB"), outputMode="RGB"
    )
    assert out is not None
    return out.getpixel((0, 0))  # type: ignore[return-value]


def lab_tiff(rgb: tuple[int, int, int], size: tuple[int, int] = (300, 200)) -> bytes:
    to_lab = ImageCms.buildTransform(
        ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"
    )
    lab = ImageCms.applyTransform(Image.new("RGB", size, rgb), to_lab)
    assert lab is not None and lab.mode == "LAB"
    return encode(lab, "TIFF")


def png_raw(
    width: int,
    height: int,
    bit_depth: int,
    color_type: int,
    rows: list[bytes] | None = None,
    extra_chunks: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    idat: bytes | None = None,
) -> bytes:
    """A PNG written by hand: 16-bit variants, forged headers, bomb chunks."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    if idat is None:
        idat = zlib.compress(b"".join(b"\0" + row for row in rows or []))
    body = b"".join(chunk(k, v) for k, v in extra_chunks)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + body
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def png16(width: int, height: int, color_type: int, pixel: tuple[int, ...]) -> bytes:
    row = b"".join(struct.pack(">" + "H" * len(pixel), *pixel) for _ in range(width))
    return png_raw(width, height, 16, color_type, [row] * height)


def grey16_gradient(width: int = 512, height: int = 64) -> bytes:
    row = b"".join(struct.pack(">H", x * 65535 // (width - 1)) for x in range(width))
    return png_raw(width, height, 16, 0, [row] * height)


def stripes_palette(size: tuple[int, int] = (400, 200), transparent_bottom: bool = True) -> bytes:
    """1-px red/blue columns in a palette PNG; the bottom half transparent.

    Resampled correctly (in RGB) the stripes average to purple; NEAREST keeps pure red or blue.
    """
    w, h = size
    im = Image.new("P", size, 0)
    im.putpalette([255, 0, 0, 0, 0, 255, 0, 255, 0] + [0] * (256 * 3 - 9))
    px = im.load()
    assert px is not None
    for y in range(h):
        for x in range(w):
            px[x, y] = 2 if transparent_bottom and y >= h // 2 else x % 2
    return encode(im, "PNG", transparency=2)


def animated(
    fmt: str, colours: list[tuple[int, int, int]], size: tuple[int, int] = (300, 200)
) -> bytes:
    frames = [Image.new("RGB", size, c) for c in colours]
    params: dict[str, Any] = {
        "save_all": True,
        "append_images": frames[1:],
        "duration": 100,
        "loop": 0,
    }
    if fmt == "WEBP":
        params["lossless"] = True
    return encode(frames[0], fmt, **params)


def fake_heic() -> bytes:
    """A HEIC brand and nothing behind it."""
    return struct.pack(">I", 24) + b"ftypheic" + b"\0\0\0\0" + b"mif1heic" + b"\0" * 64


# --- HEIC, made with pillow-heif's encoder (x265): keep them small, encoding is slow --------


def heic(im: Image.Image, quality: int = 90, **params: Any) -> bytes:
    buf = io.BytesIO()
    pillow_heif.from_pillow(im).save(buf, quality=quality, **params)
    return buf.getvalue()


def oriented_heic(orientation: int, upright: Image.Image) -> bytes:
    """A HEIC as a phone writes it: sensor pixels, irot/imir that make them upright, and the
    same orientation restated in EXIF (which a reader must not apply a second time).

    pillow-heif's writer turns the pixels by their EXIF orientation *and* records that turn
    as irot/imir, so it is given the picture turned back twice: the file then stores it
    turned back once (as a sensor would) with a transform that undoes it.
    """
    stored = upright
    if orientation in INVERSE:
        stored = upright.transpose(INVERSE[orientation]).transpose(INVERSE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.info["exif"] = exif.tobytes()
    return heic(stored, quality=95)


def heif_stored_size(data: bytes) -> tuple[int, int]:
    """The coded size from the ispe box (before irot)."""
    at = data.index(b"ispe")
    width, height = struct.unpack_from(">II", data, at + 8)
    return width, height


def heif_grid_claiming(width: int, height: int) -> bytes:
    """A 2x2 grid of 64 px tiles (as phones store big photos) whose grid descriptor and ispe
    claim width x height: the header says a huge image, the tiles cannot fill it, so only a
    check made before decoding can tell "too large" from "damaged"."""
    data = heic(photo((128, 128)), tile_size=64)
    at = data.index(b"idat") + 4  # ImageGrid: version, flags, rows-1, columns-1, width, height
    assert data[at : at + 8] == b"\x00\x00\x01\x01" + struct.pack(">HH", 128, 128)
    data = data[: at + 4] + struct.pack(">HH", width, height) + data[at + 8 :]
    at = data.index(b"ispe")  # the grid's own, first
    return data[: at + 8] + struct.pack(">II", width, height) + data[at + 16 :]


def heic_deep(values: list[tuple[int, int, int]], width: int, bits: int) -> bytes:
    """A 10- or 12-bit HEIC from rows of `bits`-bit RGB values (len(values) = width * height)."""
    shift = 16 - bits  # pillow-heif takes 16-bit samples and keeps the top `bits`
    samples = array.array("H", (v << shift for px in values for v in px))
    if sys.byteorder == "big":
        samples.byteswap()  # pillow-heif wants little-endian
    height = len(values) // width
    previous = pillow_heif.options.SAVE_HDR_TO_12_BIT
    pillow_heif.options.SAVE_HDR_TO_12_BIT = bits == 12
    try:
        heif_file = pillow_heif.from_bytes("RGB;16", (width, height), samples.tobytes())
        buf = io.BytesIO()
        heif_file.save(buf, quality=95)
    finally:
        pillow_heif.options.SAVE_HDR_TO_12_BIT = previous
    return buf.getvalue()


def heic_collection(colours: list[tuple[int, int, int]], primary: int) -> bytes:
    """Several images in one file (a burst), the `primary`-th one marked primary."""
    frames = [Image.new("RGB", (64, 48), c) for c in colours]
    heif_file = pillow_heif.from_pillow(frames[0])
    for frame in frames[1:]:
        heif_file.add_from_pillow(frame)
    buf = io.BytesIO()
    heif_file.save(buf, quality=90, primary_index=primary)
    return buf.getvalue()


def png_with_metadata(im: Image.Image) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret location")
    info.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta>tiff:Orientation="1"</x:xmpmeta>')
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    return encode(im, "PNG", pnginfo=info, exif=exif.tobytes(), icc_profile=adobe_rgb_profile())


def zlib_bomb_png() -> bytes:
    """A small PNG whose zTXt chunk inflates past Pillow's text limit (it raises ValueError)."""
    ztxt = b"Comment\0\0" + zlib.compress(b"A" * (64 * 1024 * 1024), 9)
    return png_raw(8, 8, 8, 0, [b"\0" * 8] * 8, extra_chunks=[(b"zTXt", ztxt)])


def tiff_raw(
    width: int,
    height: int,
    samples: int,
    bits: int,
    pixels: bytes,
    *,
    sample_format: int = 1,
    photometric: int | None = None,
    extra_samples: int | None = None,
    big_endian: bool = False,
) -> bytes:
    """An uncompressed single-strip TIFF written by hand: 16-bit, signed, float, min-is-white,
    big-endian and the other variants Pillow cannot write itself."""
    e = ">" if big_endian else "<"
    if photometric is None:
        photometric = 1 if samples in (1, 2) else 2
    entries: list[tuple[int, int, list[int]]] = [  # (tag, type 3=SHORT 4=LONG, values)
        (256, 4, [width]),
        (257, 4, [height]),
        (258, 3, [bits] * samples),
        (259, 3, [1]),
        (262, 3, [photometric]),
        (273, 4, [0]),  # StripOffsets, patched below
        (277, 3, [samples]),
        (278, 4, [height]),
        (279, 4, [len(pixels)]),
        (284, 3, [1]),
        (339, 3, [sample_format] * samples),
    ]
    if extra_samples is not None:
        entries.append((338, 3, [extra_samples]))
    entries.sort()
    ifd_at = 8
    data_at = ifd_at + 2 + 12 * len(entries) + 4
    ifd, extra = struct.pack(e + "H", len(entries)), b""
    for tag, kind, values in entries:
        payload = struct.pack(e + {3: "H", 4: "I"}[kind] * len(values), *values)
        if len(payload) <= 4:
            ifd += struct.pack(e + "HHI", tag, kind, len(values)) + payload.ljust(4, b"\0")
        else:
            ifd += struct.pack(e + "HHII", tag, kind, len(values), data_at + len(extra))
            extra += payload + b"\0" * (len(payload) % 2)
    ifd += struct.pack(e + "I", 0)
    head = (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(e + "I", ifd_at)
    out = bytearray(head + ifd + extra + pixels)
    index = [tag for tag, _, _ in entries].index(273)
    struct.pack_into(e + "I", out, ifd_at + 2 + 12 * index + 8, data_at + len(extra))
    return bytes(out)


def samples16(values: list[int], big_endian: bool = False) -> bytes:
    return struct.pack((">" if big_endian else "<") + "H" * len(values), *values)


def big_icc_profile(extra_bytes: int = 1_500_000) -> bytes:
    """The test Adobe RGB profile with a large private tag: lcms ignores it, and the profile
    is then over Pillow's 1 MB PNG chunk limit even compressed (the tag is noise)."""
    base = adobe_rgb_profile()
    (count,) = struct.unpack_from(">I", base, 128)
    rng = random.Random(5)
    blob = b"zzzz\0\0\0\0" + bytes(rng.getrandbits(8) for _ in range(extra_bytes))
    # Shift every tag offset by the one new table entry, then append the blob.
    table = b""
    for i in range(count):
        sig, offset, size = struct.unpack_from(">4sII", base, 132 + 12 * i)
        table += struct.pack(">4sII", sig, offset + 12, size)
    body = base[132 + 12 * count :]
    blob_at = 132 + 12 * (count + 1) + len(body)
    table += struct.pack(">4sII", b"zzzz", blob_at, len(blob))
    profile = bytearray(base[:128] + struct.pack(">I", count + 1) + table + body + blob)
    struct.pack_into(">I", profile, 0, len(profile))
    return bytes(profile)
