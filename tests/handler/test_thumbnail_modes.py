"""Image classes that came out wrong, and their neighbours: 16-bit with transparency, 16-bit
and float TIFF, PNM and TGA, 1-bit, and a PNG whose ICC profile is over 1 MB."""

from __future__ import annotations

import io
import itertools
import struct
import zlib

import pytest
from handler_images import (
    adobe_rgb_profile,
    big_icc_profile,
    decode,
    encode,
    photo,
    png_raw,
    samples16,
    srgb_expected,
    tiff_raw,
)
from PIL import Image

from lambda_handler.thumbnail import ThumbnailError, make_thumbnails, render

W, H = 128, 64  # left half one value, right half another; thumbnails at half size


def halves(left: object, right: object) -> list[object]:
    return [left if x < W // 2 else right for _ in range(H) for x in range(W)]


def thumb(data: bytes, box: tuple[int, int] = (64, 64), **options: object) -> Image.Image:
    return decode(make_thumbnails(data, [box], **options)[0].data)  # type: ignore[arg-type]


def close(a: object, b: object, tol: int) -> bool:
    a_t = a if isinstance(a, tuple) else (a,)
    b_t = b if isinstance(b, tuple) else (b,)
    return len(a_t) == len(b_t) and all(abs(x - y) <= tol for x, y in zip(a_t, b_t, strict=True))


def gradient16(width: int = 512) -> list[int]:
    return [x * 65535 // (width - 1) for x in range(width)]


def assert_ramp(im: Image.Image, rising: bool = True) -> None:
    """A left-to-right ramp over the whole 8-bit range: not flat, not garbage."""
    row = [im.convert("L").getpixel((x, im.height // 2)) for x in range(im.width)]
    steps = [b - a for a, b in itertools.pairwise(row)]
    assert all(s >= -1 for s in steps) if rising else all(s <= 1 for s in steps), row
    lo, hi = (row[0], row[-1]) if rising else (row[-1], row[0])
    assert lo <= 4 and hi >= 251, row  # type: ignore[operator]


# --- PNG, 16-bit with transparency ------------------------------------------------------------


def test_16_bit_grey_png_with_a_trns_grey_level_gets_alpha() -> None:
    rows = [samples16([40000 if x < W // 2 else 1000 for x in range(W)], True)] * H
    data = png_raw(W, H, 16, 0, rows, extra_chunks=[(b"tRNS", struct.pack(">H", 1000))])
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    out = thumb(data)
    assert out.mode == "LA" and out.size == (64, 32)
    assert close(out.getpixel((8, 16)), (round(40000 / 257), 255), 1)
    assert out.getpixel((56, 16))[1] == 0  # type: ignore[index]
    jpeg = thumb(data, output_format="jpeg")  # flattened on white
    assert close(jpeg.getpixel((56, 16)), 255, 2) and close(jpeg.getpixel((8, 16)), 156, 2)


def test_16_bit_grey_png_with_trns_keeps_its_gradient() -> None:
    ramp = gradient16(W)
    ramp[5] = 777  # the transparent level appears once per row
    rows = [samples16(ramp, True)] * H
    data = png_raw(W, H, 16, 0, rows, extra_chunks=[(b"tRNS", struct.pack(">H", 777))])
    out = thumb(data, (W, H))  # no resize: every pixel checked
    assert [out.getpixel((x, 3))[1] for x in range(8)] == [255] * 5 + [0] + [255] * 2  # type: ignore[index]
    grey = [out.getpixel((x, 3))[0] for x in range(W)]  # type: ignore[index]
    assert grey[0] == 0 and grey[-1] == 255
    assert all(abs(g - round(v / 257)) <= 1 for g, v in zip(grey[6:], ramp[6:], strict=True))


def test_16_bit_rgb_png_with_a_trns_colour_gets_alpha_at_that_colour() -> None:
    key = (5000, 6000, 7000)
    # Pillow keeps the key in 16-bit units but the pixels in 8, so a naive comparison never
    # matches: the transparent area came out opaque.
    rows = [b"".join(samples16(list(key if x < W // 2 else (40000, 20000, 1000)), True)
                     for x in range(W))] * H
    data = png_raw(W, H, 16, 2, rows, extra_chunks=[(b"tRNS", struct.pack(">HHH", *key))])
    out = thumb(data)
    assert out.mode == "RGBA"
    assert out.getpixel((8, 16))[3] == 0  # type: ignore[index]
    assert close(out.getpixel((56, 16)), (156, 78, 4, 255), 2)


def test_16_bit_la_png_stays_grey_with_alpha() -> None:
    rows = [b"".join(samples16([40000, 65535] if x < W // 2 else [20000, 30000], True)
                     for x in range(W))] * H
    out = thumb(png_raw(W, H, 16, 4, rows))
    assert out.mode == "LA"  # Pillow decodes it as RGBA; it is grey
    assert close(out.getpixel((8, 16)), (156, 255), 1)
    assert close(out.getpixel((56, 16)), (78, 117), 1)


def test_16_bit_rgba_png_gradient_with_alpha() -> None:
    ramp = gradient16(W)
    rows = [b"".join(samples16([v, v, v, 65535 - v], True) for v in ramp)] * H
    out = thumb(png_raw(W, H, 16, 6, rows), (W, H))
    assert out.mode == "RGBA"
    assert close(out.getpixel((0, 3)), (0, 0, 0, 255), 1)
    assert close(out.getpixel((W - 1, 3)), (255, 255, 255, 0), 1)
    assert_ramp(out.convert("RGB"))


# --- TIFF -------------------------------------------------------------------------------------


@pytest.mark.parametrize("big_endian", [False, True])
def test_16_bit_grey_tiff_of_either_byte_order_keeps_its_gradient(big_endian: bool) -> None:
    # Pillow resamples I;16B (a big-endian TIFF) as garbage; it is resampled as 32-bit here.
    ramp = gradient16()
    data = tiff_raw(512, 64, 1, 16, samples16(ramp * 64, big_endian), big_endian=big_endian)
    result = render(data, [(256, 256)])
    assert result.source.mode == ("I;16B" if big_endian else "I;16")
    out = decode(result.thumbnails[0].data)
    assert out.mode == "L" and out.size == (256, 32)
    assert_ramp(out)


def test_16_bit_rgb_tiff_keeps_its_colours() -> None:
    ramp = gradient16()
    pixels = samples16([c for v in ramp for c in (v, v // 2, 65535 - v)] * 64)
    out = thumb(tiff_raw(512, 64, 3, 16, pixels), (256, 256))
    assert out.mode == "RGB"
    assert close(out.getpixel((0, 16)), (0, 0, 255), 3)
    assert close(out.getpixel((255, 16)), (255, 128, 0), 3)
    assert close(out.getpixel((128, 16)), (128, 64, 127), 4)


def test_16_bit_min_is_white_tiff_is_inverted() -> None:
    data = tiff_raw(512, 64, 1, 16, samples16(gradient16() * 64), photometric=0)
    assert_ramp(thumb(data, (256, 256)), rising=False)


def test_signed_16_bit_tiff_is_stretched_over_its_range() -> None:
    signed = [v - 32768 for v in gradient16()]
    pixels = struct.pack("<" + "h" * 512 * 64, *(signed * 64))
    data = tiff_raw(512, 64, 1, 16, pixels, sample_format=2)
    assert Image.open(io.BytesIO(data)).mode == "I"  # half of it negative
    assert_ramp(thumb(data, (256, 256)))


@pytest.mark.parametrize("scale", [1.0, 4000.0])
def test_32_bit_float_tiff(scale: float) -> None:
    values = [x / 511 * scale for x in range(512)]
    data = tiff_raw(512, 64, 1, 32, struct.pack("<" + "f" * 512 * 64, *(values * 64)),
                    sample_format=3)
    assert Image.open(io.BytesIO(data)).mode == "F"
    assert_ramp(thumb(data, (256, 256)))


def test_8_bit_tiff_is_unchanged() -> None:
    data = tiff_raw(W, H, 1, 8, bytes(halves(200, 10)))  # type: ignore[arg-type]
    out = thumb(data)
    assert close(out.getpixel((8, 16)), 200, 2) and close(out.getpixel((56, 16)), 10, 2)


# --- 1-bit ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "BMP", "GIF", "PPM"])
def test_1_bit_images_are_resampled_in_grey(fmt: str) -> None:
    im = Image.new("1", (W, H), 0)
    for x in range(0, W, 2):  # 1-px stripes: NEAREST would keep them black or white
        im.paste(1, (x, 0, x + 1, H))
    out = thumb(encode(im, fmt))
    assert out.mode == "L" and out.size == (64, 32)
    assert 100 < out.getpixel((32, 16)) < 160  # type: ignore[operator]


# --- PNM and TGA ------------------------------------------------------------------------------


def _pnm(magic: bytes, maxval: int, values: list[int], channels: int) -> bytes:
    fmt = ">" + ("H" if maxval > 255 else "B") * (W * H * channels)
    return magic + f"\n{W} {H}\n{maxval}\n".encode() + struct.pack(fmt, *values)


@pytest.mark.parametrize(
    ("data", "left", "right"),
    [
        (_pnm(b"P5", 255, halves(200, 10), 1), 200, 10),  # type: ignore[arg-type]
        (_pnm(b"P5", 65535, halves(40000, 1000), 1), 156, 4),  # type: ignore[arg-type]
        (_pnm(b"P5", 1023, halves(1023, 512), 1), 255, 128),  # type: ignore[arg-type]
        (_pnm(b"P6", 255, [c for v in halves((200, 50, 10), (0, 0, 250)) for c in v], 3),  # type: ignore[attr-defined]
         (200, 50, 10), (0, 0, 250)),
        (_pnm(b"P6", 65535, [c for v in halves((40000, 20000, 1000), (0, 0, 65535))  # type: ignore[attr-defined]
                             for c in v], 3), (156, 78, 4), (0, 0, 255)),
    ],
)
def test_pgm_and_ppm_are_decoded(data: bytes, left: object, right: object) -> None:
    result = render(data, [(64, 64)])
    assert result.source.format == "ppm" and result.thumbnails[0].format == "jpeg"
    out = decode(result.thumbnails[0].data)
    assert close(out.getpixel((8, 16)), left, 3) and close(out.getpixel((56, 16)), right, 3)


def test_pfm_float_is_decoded() -> None:
    values = [x / (W - 1) for _ in range(H) for x in range(W)]
    data = f"Pf\n{W} {H}\n-1.0\n".encode() + struct.pack("<" + "f" * W * H, *values)
    assert_ramp(thumb(data, (W, W)))


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P"])
@pytest.mark.parametrize("rle", [False, True])
def test_tga_is_decoded(mode: str, rle: bool) -> None:
    im = photo((W, H)).convert(mode)
    data = encode(im, "TGA", compression="tga_rle" if rle else None)
    result = render(data, [(64, 64)], output_format="png")
    assert result.source.format == "tga"
    out = decode(result.thumbnails[0].data)
    ref = im.convert("RGBA" if mode == "RGBA" else "RGB").resize((64, 32), Image.Resampling.LANCZOS)
    assert close(out.convert(ref.mode).getpixel((20, 10)), ref.getpixel((20, 10)), 6)


# --- a PNG with a large ICC profile ---------------------------------------------------------


def test_png_with_an_icc_profile_over_1_mb_is_converted_like_the_jpeg() -> None:
    icc = big_icc_profile()
    assert len(icc) > 1024 * 1024
    raw = (100, 160, 60)
    expected = srgb_expected(raw, adobe_rgb_profile())
    assert srgb_expected(raw, icc) == expected  # the extra tag changes nothing for lcms
    png = encode(Image.new("RGB", (W, H), raw), "PNG", icc_profile=icc)
    jpeg = encode(Image.new("RGB", (W, H), raw), "JPEG", icc_profile=icc, quality=95)
    with pytest.raises(ValueError, match="MAX_TEXT_CHUNK"):
        Image.open(io.BytesIO(png))  # what Pillow alone says
    result = render(png, [(64, 64)])
    assert result.source.estimated_bytes > len(icc)
    assert close(decode(result.thumbnails[0].data).getpixel((32, 16)), expected, 2)
    assert close(thumb(jpeg).getpixel((32, 16)), expected, 5)


def test_an_icc_chunk_inflating_past_our_own_limit_is_still_too_large() -> None:
    bomb = b"icc\0\0" + zlib.compress(bytes(40 * 2**20), 9)  # 40 MB of zeros
    data = png_raw(8, 8, 8, 0, [b"\0" * 8] * 8, extra_chunks=[(b"iCCP", bomb)])
    with pytest.raises(ThumbnailError) as info:
        make_thumbnails(data, [(4, 4)])
    assert info.value.kind == "too_large"
