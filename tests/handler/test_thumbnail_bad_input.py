"""make_thumbnails refuses bad input with a ThumbnailError naming the kind and the reason."""

from __future__ import annotations

import struct

import pytest
from handler_images import decode, encode, fake_heic, photo, png_raw, zlib_bomb_png
from PIL import Image

from lambda_handler.thumbnail import ThumbnailError, make_thumbnails, render

SIZES = [(128, 128), (512, 512)]


def refused(data: bytes, **options: object) -> ThumbnailError:
    with pytest.raises(ThumbnailError) as info:
        make_thumbnails(data, SIZES, **options)  # type: ignore[arg-type]
    err = info.value
    assert err.reason and "\n" not in err.reason and len(err.reason) <= 200
    return err


def test_truncated_jpeg_is_corrupt() -> None:
    data = encode(photo((800, 600)), "JPEG")
    err = refused(data[: len(data) // 2])
    assert err.kind == "corrupt" and "truncated" in err.reason


def test_truncated_png_is_corrupt() -> None:
    data = encode(photo((300, 200)), "PNG")
    assert refused(data[: len(data) // 2]).kind == "corrupt"


@pytest.mark.parametrize(
    "data", [b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, b"\xff\xd8\xff\xe0\x00JFIF" + bytes(500)]
)
def test_garbage_after_a_jpeg_header_is_corrupt(data: bytes) -> None:
    err = refused(data)
    assert err.kind == "corrupt" and "JPEG header is damaged" in err.reason


def test_damaged_png_header_is_corrupt() -> None:
    data = bytearray(encode(photo((64, 64)), "PNG"))
    data[12:16] = b"XXXX"  # the IHDR chunk type
    assert refused(bytes(data)).kind == "corrupt"


@pytest.mark.parametrize(
    "data", [b"hello, this is not a picture\n" * 10, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"0" * 200]
)
def test_non_image_is_not_image(data: bytes) -> None:
    err = refused(data)
    assert err.kind == "not_image" and "not a recognised image" in err.reason


def test_empty_file_is_not_image() -> None:
    err = refused(b"")
    assert err.kind == "not_image" and "empty" in err.reason


def test_a_heic_brand_with_nothing_behind_it_is_corrupt() -> None:
    err = refused(fake_heic())
    assert err.kind == "corrupt" and "HEIF header is damaged" in err.reason


def test_formats_we_do_not_decode_are_unsupported() -> None:
    err = refused(encode(photo((64, 64)), "ICO"))
    assert err.kind == "unsupported" and "ICO" in err.reason


def test_pixel_limit_checked_from_the_header_before_decoding() -> None:
    # 9000x6000 = 54 MP with no real pixel data: a decode would fail as corrupt, so
    # "too_large" proves the header was checked first.
    forged = png_raw(9000, 6000, 8, 2, idat=b"\x78\x9c\x03\x00\x00\x00\x00\x01")
    err = refused(forged)
    assert err.kind == "too_large" and "9000x6000" in err.reason and "MAX_PIXELS" in err.reason


def test_pillow_bomb_error_becomes_too_large() -> None:
    forged = png_raw(20000, 20000, 8, 2, idat=b"\x78\x9c\x03\x00\x00\x00\x00\x01")
    assert refused(forged, max_pixels=10**12).kind == "too_large"


def test_png_text_chunk_bomb_is_too_large() -> None:
    err = refused(zlib_bomb_png())
    assert err.kind == "too_large" and "too large" in err.reason.lower()


def test_max_pixels_option() -> None:
    data = encode(photo((200, 150)), "PNG")
    assert refused(data, max_pixels=20_000).kind == "too_large"
    assert len(make_thumbnails(data, SIZES, max_pixels=30_000)) == 2


def _forged_jpeg(width: int, height: int) -> bytes:
    """A baseline JPEG header claiming a huge size, with no scan data after it."""
    real = encode(Image.new("RGB", (16, 16), (90, 120, 150)), "JPEG")
    sof = real.index(b"\xff\xc0")
    return real[: sof + 5] + struct.pack(">HH", height, width) + real[sof + 9 :]


def test_jpeg_pixel_limit_counts_the_draft_scale() -> None:
    # 12000x9000 = 108 MP in the header, 1500x1125 once drafted to 1/8: within the limit.
    # (libjpeg fills the missing scan data with grey, as browsers do.)
    data = _forged_jpeg(12000, 9000)
    result = render(data, SIZES, memory_limit_mb=128)
    assert (result.source.decoded_width, result.source.decoded_height) == (1500, 1125)
    assert [(t.width, t.height) for t in result.thumbnails] == [(128, 96), (512, 384)]
    # Decoded at 1/8 it would still be 6 MP: refused by a lower limit, naming the draft size.
    err = refused(data, max_pixels=1_000_000)
    assert err.kind == "too_large" and "decoded at 1500x1125" in err.reason


def test_jpeg_above_pillow_bomb_limit_passes_our_draft_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pillow's own guard counts header pixels (a 200 MP phone photo would trip it); ours counts
    # what is decoded. Shrink Pillow's guard to show a real JPEG past it still works.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)
    data = encode(photo((800, 600)), "JPEG")
    with pytest.raises(Image.DecompressionBombError):
        Image.open(__import__("io").BytesIO(data))
    assert len(make_thumbnails(data, [(128, 128)])) == 1


def test_png_refused_when_it_would_not_fit_in_memory() -> None:
    data = encode(Image.new("RGB", (4000, 3000), (10, 20, 30)), "PNG")  # 48 MB decoded
    err = refused(data, memory_limit_mb=96)
    assert err.kind == "too_large" and "MB" in err.reason and "96 MB" in err.reason
    assert "at least" in err.reason
    assert len(make_thumbnails(data, SIZES, memory_limit_mb=256)) == 2


def test_palette_png_counts_its_rgb_conversion() -> None:
    im = Image.new("P", (4000, 3000), 1)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    data = encode(im, "PNG")  # 12 MB as palette, +48 MB once converted to RGB
    assert refused(data, memory_limit_mb=110).kind == "too_large"
    assert len(make_thumbnails(data, [(64, 64)], memory_limit_mb=160)) == 1


def test_progressive_jpeg_needs_memory_for_its_coefficients() -> None:
    data = encode(Image.new("L", (6000, 5000), 128), "JPEG", progressive=True)
    # Baseline would be decoded at 1/8 (0.5 MP); progressive keeps 60 MB of coefficients.
    err = refused(data, memory_limit_mb=100)
    assert err.kind == "too_large" and "progressive" in err.reason
    result = render(data, SIZES, memory_limit_mb=256)
    assert result.source.decoded_width < 6000
    baseline = encode(Image.new("L", (6000, 5000), 128), "JPEG")
    assert len(make_thumbnails(baseline, SIZES, memory_limit_mb=100)) == 2


def test_hundred_megapixel_jpeg_passes_the_default_limit() -> None:
    data = encode(Image.new("L", (10000, 10000), 77), "JPEG", quality=70)
    result = render(data, SIZES, memory_limit_mb=256)
    assert (result.source.width, result.source.height) == (10000, 10000)
    assert result.source.decoded_width == 1250  # 1/8
    assert decode(result.thumbnails[1].data).size == (512, 512)


def test_options_are_validated() -> None:
    data = encode(photo((64, 64)), "PNG")
    for bad in ({"fit": "stretch"}, {"output_format": "gif"}, {"quality": 0}, {"max_pixels": 0}):
        with pytest.raises(ValueError):
            make_thumbnails(data, SIZES, **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        make_thumbnails(data, [])
    with pytest.raises(ValueError):
        make_thumbnails(data, [(0, 10)])
