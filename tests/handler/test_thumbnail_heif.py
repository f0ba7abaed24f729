"""HEIC/HEIF through make_thumbnails, on files made here with pillow-heif's encoder."""

from __future__ import annotations

import io

import pillow_heif
import pytest
from handler_images import (
    BLUE,
    GREEN,
    RED,
    WHITE,
    adobe_rgb_profile,
    decode,
    encode,
    heic,
    heic_collection,
    heic_deep,
    heif_grid_claiming,
    heif_stored_size,
    oriented_heic,
    photo,
    quadrants,
    srgb_expected,
)
from PIL import Image

from lambda_handler.thumbnail import ThumbnailError, make_thumbnails, render

QUADRANTS = {(10, 10): RED, (118, 10): GREEN, (10, 54): BLUE, (118, 54): WHITE}


def close(a: tuple[int, ...], b: tuple[int, ...], tol: int) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def refused(data: bytes, **options: object) -> ThumbnailError:
    with pytest.raises(ThumbnailError) as info:
        make_thumbnails(data, [(128, 128)], **options)  # type: ignore[arg-type]
    assert info.value.reason and "\n" not in info.value.reason
    return info.value


@pytest.mark.parametrize("orientation", range(1, 9))
def test_irot_imir_applied_once_and_exif_orientation_not_again(orientation: int) -> None:
    data = oriented_heic(orientation, quadrants((400, 200)))
    # The file is what a phone writes: sensor pixels (portrait for 5-8), a transform that
    # makes them upright, and EXIF restating it.
    assert heif_stored_size(data) == ((200, 400) if orientation >= 5 else (400, 200))
    exif = Image.Exif()
    exif.load(pillow_heif.open_heif(data).info["exif"])
    assert exif.get(0x0112) == orientation
    result = render(data, [(128, 128)])
    assert (result.source.width, result.source.height) == (400, 200)
    assert result.source.format == "heif" and result.source.orientation == 1
    im = decode(result.thumbnails[0].data)
    assert im.size == (128, 64) and result.thumbnails[0].format == "jpeg"
    for xy, colour in QUADRANTS.items():
        assert close(im.getpixel(xy), colour, 40), (orientation, xy, im.getpixel(xy))  # type: ignore[arg-type]


@pytest.mark.parametrize("bits", [10, 12])
def test_deep_heic_is_scaled_to_8_bit_with_rounding(bits: int) -> None:
    top = (1 << bits) - 1
    width = 256
    levels = [x * top // (width - 1) for x in range(width)]
    data = heic_deep([(v, v, v) for _ in range(16) for v in levels], width, bits)
    assert pillow_heif.open_heif(data).info["bit_depth"] == bits
    out = decode(make_thumbnails(data, [(256, 256)], output_format="png")[0].data)
    assert out.size == (256, 16)
    row = [out.getpixel((x, 8)) for x in range(width)]
    errors = [px[0] - round(v * 255 / top) for px, v in zip(row, levels, strict=True)]  # type: ignore[index]
    assert max(abs(e) for e in errors) <= 2  # HEVC is lossy, even at quality 95
    assert abs(sum(errors) / len(errors)) < 0.5  # scaled and rounded, not truncated or clipped
    assert row[0][0] <= 2 and row[-1][0] >= 253  # type: ignore[index]


def test_mid_grey_10_bit_is_mid_grey() -> None:
    data = heic_deep([(512, 512, 512)] * (64 * 48), 64, 10)
    out = decode(make_thumbnails(data, [(32, 32)])[0].data)
    assert close(out.getpixel((16, 12)), (128, 128, 128), 3)  # type: ignore[arg-type]


def test_alpha_is_kept_where_the_output_has_it() -> None:
    im = Image.new("RGBA", (128, 64), (*RED, 255))
    im.paste((0, 0, 0, 0), (64, 0, 128, 64))
    data = heic(im)
    png = decode(make_thumbnails(data, [(64, 64)], output_format="png")[0].data)
    assert png.mode == "RGBA" and png.getpixel((8, 16))[3] > 240 and png.getpixel((56, 16))[3] < 15  # type: ignore[index]
    jpeg = decode(make_thumbnails(data, [(64, 64)])[0].data)  # auto: JPEG, flattened on white
    assert jpeg.mode == "RGB" and close(jpeg.getpixel((56, 16)), WHITE, 6)  # type: ignore[arg-type]


def test_grey_heic_stays_grey() -> None:
    data = heic(photo((240, 160)).convert("L"))
    result = render(data, [(120, 120)])
    assert result.source.mode == "L"
    out = decode(result.thumbnails[0].data)
    assert out.mode == "L" and out.size == (120, 80)


@pytest.mark.parametrize("primary", [0, 1, 2])
def test_a_burst_gives_its_primary_image(primary: int) -> None:
    colours = [RED, GREEN, BLUE]
    result = render(heic_collection(colours, primary), [(32, 32)])
    assert result.source.animated
    out = decode(result.thumbnails[0].data)
    assert close(out.getpixel((16, 12)), colours[primary], 12)  # type: ignore[arg-type]


def test_icc_profile_is_converted_to_srgb() -> None:
    icc = adobe_rgb_profile()
    raw = (100, 160, 60)
    im = Image.new("RGB", (128, 96), raw)
    im.info["icc_profile"] = icc
    data = heic(im, quality=95)
    assert pillow_heif.open_heif(data).info.get("icc_profile") == icc
    out = decode(make_thumbnails(data, [(64, 64)], output_format="png")[0].data)
    assert close(out.getpixel((32, 24)), srgb_expected(raw, icc), 4)  # type: ignore[arg-type]
    assert "icc_profile" not in out.info


def test_truncated_heic_is_corrupt() -> None:
    data = heic(photo((320, 240)))
    err = refused(data[: len(data) - len(data) // 3])  # the pixel data cut short
    assert err.kind == "corrupt" and "damaged" in err.reason
    err = refused(data[:200])  # inside the header
    assert err.kind == "corrupt" and "HEIF header is damaged" in err.reason


def test_empty_file_is_not_an_image() -> None:
    assert refused(b"").kind == "not_image"


def test_a_200_mp_heic_is_refused_from_its_header_unless_memory_allows() -> None:
    data = heif_grid_claiming(16384, 12288)  # 201 MP, like a 200 MP phone photo
    assert pillow_heif.open_heif(data).size == (16384, 12288)
    err = refused(data)
    assert err.kind == "too_large" and "MAX_PIXELS" in err.reason
    err = refused(data, max_pixels=250_000_000, memory_limit_mb=512)
    assert err.kind == "too_large" and "no reduced-scale decode" in err.reason
    assert "512 MB" in err.reason and "give it at least" in err.reason
    # With the memory, it is decoded; the forged tiles cannot fill it, so libheif says so.
    err = refused(data, max_pixels=250_000_000, memory_limit_mb=4096)
    assert err.kind == "corrupt" and "do not cover" in err.reason


def test_estimate_counts_the_full_size_decode() -> None:
    data = heic(photo((640, 480)))
    result = render(data, [(64, 64)])
    assert (result.source.decoded_width, result.source.decoded_height) == (640, 480)
    assert result.source.estimated_bytes >= 640 * 480 * 5  # libheif's YUV planes and RGB


def test_avif_is_read_by_pillow_even_under_a_generic_heif_brand() -> None:
    data = encode(photo((200, 100)), "AVIF", quality=90)
    assert data[8:12] == b"avif"
    generic = data[:8] + b"mif1" + data[12:]  # major brand mif1, "avif" still compatible
    for variant in (data, generic):
        result = render(variant, [(64, 64)])
        assert result.source.format == "avif"
        assert decode(result.thumbnails[0].data).size == (64, 32)


def test_heic_output_is_a_plain_jpeg_without_metadata() -> None:
    im = photo((300, 200))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    data = heic(im, exif=exif.tobytes(), xmp=b"<x:xmpmeta>secret</x:xmpmeta>")
    thumb = make_thumbnails(data, [(128, 128)])[0]
    out = Image.open(io.BytesIO(thumb.data))
    assert out.format == "JPEG" and len(out.getexif()) == 0
    assert b"TestCam" not in thumb.data and b"secret" not in thumb.data
