"""make_thumbnails on real encoded images: every case the issue lists."""

from __future__ import annotations

import pytest
from handler_images import (
    BLUE,
    GREEN,
    RED,
    WHITE,
    adobe_rgb_profile,
    animated,
    decode,
    encode,
    grey16_gradient,
    lab_tiff,
    oriented_jpeg,
    photo,
    png16,
    png_with_metadata,
    quadrants,
    srgb_expected,
    stripes_palette,
)
from PIL import Image

from lambda_handler.thumbnail import make_thumbnails, render

SIZES = [(128, 128), (512, 512)]


def close(a: tuple[int, ...], b: tuple[int, ...], tol: int) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def centre(im: Image.Image) -> tuple[int, ...]:
    return im.getpixel((im.width // 2, im.height // 2))  # type: ignore[return-value]


def test_jpeg_photo_makes_each_size_from_one_draft_decode() -> None:
    data = encode(photo((2400, 1600)), "JPEG", quality=90)
    result = render(data, SIZES)
    small, large = result.thumbnails
    assert (small.width, small.height, large.width, large.height) == (128, 85, 512, 341)
    assert small.size == (128, 128) and large.size == (512, 512)
    assert small.format == large.format == "jpeg"
    assert small.content_type == "image/jpeg" and small.extension == ".jpg"
    # Decoded at the DCT draft scale (1/2 here), not at full size.
    assert (result.source.decoded_width, result.source.decoded_height) == (1200, 800)
    assert (result.source.width, result.source.height) == (2400, 1600)
    for thumb in (small, large):
        im = decode(thumb.data)
        assert im.format == "JPEG" and im.mode == "RGB"
        assert im.size == (thumb.width, thumb.height) and thumb.bytes == len(thumb.data)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    data = oriented_jpeg(orientation, quadrants((400, 200)))
    inside, cover = render(data, [(128, 128)]), render(data, [(64, 64)], fit="cover")
    im = decode(inside.thumbnails[0].data)
    assert im.size == (128, 64)  # upright landscape whatever the stored shape
    assert inside.source.orientation == orientation
    for (x, y), colour in {
        (10, 10): RED,
        (118, 10): GREEN,
        (10, 54): BLUE,
        (118, 54): WHITE,
    }.items():
        assert close(im.getpixel((x, y)), colour, 40), (orientation, (x, y), im.getpixel((x, y)))
    # Cover crops the middle of the *upright* picture: all four quadrants meet in the centre.
    crop = decode(cover.thumbnails[0].data)
    assert crop.size == (64, 64)
    for (x, y), colour in {(6, 6): RED, (58, 6): GREEN, (6, 58): BLUE, (58, 58): WHITE}.items():
        assert close(crop.getpixel((x, y)), colour, 40), (
            orientation,
            (x, y),
            crop.getpixel((x, y)),
        )


def test_orientation_applied_after_the_draft_decode() -> None:
    data = oriented_jpeg(6, photo((1600, 2400)))  # stored 2400x1600, shown portrait
    result = render(data, [(128, 128)])
    # Rotated geometry decides the scale, and the JPEG was still decoded small.
    assert result.source.decoded_width <= 400
    assert decode(result.thumbnails[0].data).size == (85, 128)


def test_orientation_from_png_exif_chunk() -> None:
    data = oriented_jpeg(6, quadrants((400, 200)), fmt="PNG")
    im = decode(make_thumbnails(data, [(128, 128)])[0].data)
    assert im.size == (128, 64)
    assert close(im.getpixel((10, 10)), RED, 10) and close(im.getpixel((118, 54)), WHITE, 10)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_icc_profile_converted_to_srgb(fmt: str) -> None:
    icc = adobe_rgb_profile()
    raw = (100, 160, 60)
    expected = srgb_expected(raw, icc)
    assert abs(expected[0] - raw[0]) > 30  # the test colour really moves
    data = encode(Image.new("RGB", (300, 200), raw), fmt, icc_profile=icc)
    thumb = make_thumbnails(data, [(64, 64)])[0]
    im = decode(thumb.data)
    assert "icc_profile" not in im.info
    assert close(centre(im), expected, 2 if fmt == "PNG" else 5), (centre(im), expected, raw)


def test_broken_icc_profile_is_ignored() -> None:
    data = encode(Image.new("RGB", (50, 50), (10, 200, 30)), "PNG", icc_profile=b"not a profile")
    im = decode(make_thumbnails(data, [(32, 32)])[0].data)
    assert close(centre(im), (10, 200, 30), 1)


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = encode(Image.new("CMYK", (300, 200), (0, 255, 255, 0)), "JPEG", quality=95)
    thumb = make_thumbnails(data, [(64, 64)])[0]
    im = decode(thumb.data)
    assert thumb.format == "jpeg" and im.mode == "RGB"
    assert close(centre(im), RED, 12)


def test_cmyk_tiff_becomes_rgb_jpeg() -> None:
    data = encode(Image.new("CMYK", (300, 200), (255, 0, 0, 0)), "TIFF")
    thumb = make_thumbnails(data, [(64, 64)])[0]
    assert thumb.format == "jpeg" and thumb.extension == ".jpg"
    im = decode(thumb.data)
    assert im.mode == "RGB" and close(centre(im), (0, 255, 255), 12)


def test_lab_tiff_becomes_rgb() -> None:
    thumb = make_thumbnails(lab_tiff((200, 50, 50)), [(64, 64)], output_format="png")[0]
    im = decode(thumb.data)
    assert im.mode == "RGB" and close(centre(im), (200, 50, 50), 4), centre(im)


def test_palette_resampled_in_rgb_and_alpha_kept_in_png() -> None:
    thumb = make_thumbnails(stripes_palette(), [(100, 100)])[0]
    im = decode(thumb.data)
    assert thumb.format == "png" and im.mode == "RGBA" and im.size == (100, 50)
    r, g, b, a = im.getpixel((50, 10))
    # 1-px red/blue stripes average to purple; NEAREST would give pure red or pure blue.
    assert a == 255 and 90 < r < 170 and 90 < b < 170 and g < 10
    assert im.getpixel((50, 45))[3] == 0  # transparent half stays transparent


def test_alpha_flattened_onto_white_for_jpeg() -> None:
    thumb = make_thumbnails(stripes_palette(), [(100, 100)], output_format="jpeg")[0]
    im = decode(thumb.data)
    assert im.mode == "RGB" and close(im.getpixel((50, 45)), WHITE, 3)


def test_gif_with_transparency_becomes_jpeg_on_white() -> None:
    im = Image.new("P", (200, 100), 1)
    im.putpalette([0, 0, 255, 0, 255, 0] + [0] * 762)
    im.paste(0, (0, 0, 100, 100))
    data = encode(im, "GIF", transparency=1)
    thumb = make_thumbnails(data, [(100, 100)])[0]
    out = decode(thumb.data)
    assert thumb.format == "jpeg" and out.size == (100, 50)
    assert close(out.getpixel((10, 25)), BLUE, 12) and close(out.getpixel((90, 25)), WHITE, 12)


@pytest.mark.parametrize("fmt", ["webp", "avif", "png"])
def test_rgba_keeps_alpha_where_the_format_has_it(fmt: str) -> None:
    im = Image.new("RGBA", (200, 200), (255, 0, 0, 255))
    im.paste((0, 0, 0, 0), (100, 0, 200, 200))
    thumb = make_thumbnails(encode(im, "PNG"), [(50, 50)], output_format=fmt)[0]
    out = decode(thumb.data)
    assert thumb.content_type == f"image/{fmt}" and out.mode == "RGBA"
    assert out.getpixel((5, 25))[3] > 240 and out.getpixel((45, 25))[3] < 15


def test_sixteen_bit_grey_png_is_scaled_not_clipped() -> None:
    result = render(png16(64, 64, 0, (40000,)), [(32, 32)])
    out = decode(result.thumbnails[0].data)
    assert result.source.mode.startswith("I;16")
    assert out.mode == "L" and abs(centre(out) - 40000 / 257) <= 1  # type: ignore[operator]


def test_sixteen_bit_gradient_keeps_its_range() -> None:
    out = decode(make_thumbnails(grey16_gradient(), [(256, 256)])[0].data)
    lo, hi = out.getextrema()  # type: ignore[misc]
    assert lo <= 3 and hi >= 252
    assert 110 < out.getpixel((128, 16)) < 145  # type: ignore[operator]


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_sixteen_bit_modes_saved_by_pillow(mode: str) -> None:
    data = encode(Image.new(mode, (100, 100), 20000), "PNG")
    out = decode(make_thumbnails(data, [(50, 50)])[0].data)
    assert abs(centre(out) - 20000 / 257) <= 1  # type: ignore[operator]


def test_mode_i_tiff_is_scaled() -> None:
    data = encode(Image.new("I", (100, 100), 50000), "TIFF")
    thumb = make_thumbnails(data, [(50, 50)])[0]
    out = decode(thumb.data)
    assert thumb.format == "jpeg" and abs(centre(out) - 50000 / 257) <= 2  # type: ignore[operator]


@pytest.mark.parametrize(
    "color_type,pixel,mode",
    [(2, (40000, 20000, 1000), "RGB"), (6, (40000, 20000, 1000, 65535), "RGBA")],
)
def test_sixteen_bit_colour_png(color_type: int, pixel: tuple[int, ...], mode: str) -> None:
    out = decode(make_thumbnails(png16(64, 64, color_type, pixel), [(32, 32)])[0].data)
    expected = tuple(round(v / 257) for v in pixel)
    assert out.mode == mode and close(centre(out), expected, 1)


def test_grey_jpeg_stays_grey() -> None:
    data = encode(photo((600, 400)).convert("L"), "JPEG")
    thumb = make_thumbnails(data, [(128, 128)])[0]
    im = decode(thumb.data)
    assert im.mode == "L" and im.size == (128, 85)


def test_la_png_keeps_grey_and_alpha() -> None:
    im = Image.new("LA", (200, 100), (90, 255))
    im.paste((0, 0), (100, 0, 200, 100))
    out = decode(make_thumbnails(encode(im, "PNG"), [(100, 100)])[0].data)
    assert out.mode == "LA" and close(out.getpixel((10, 25)), (90, 255), 1)
    assert out.getpixel((90, 25))[1] == 0
    flat = decode(make_thumbnails(encode(im, "PNG"), [(100, 100)], output_format="jpeg")[0].data)
    assert flat.mode == "L" and abs(flat.getpixel((90, 25)) - 255) <= 3  # type: ignore[operator]


@pytest.mark.parametrize("fmt,out_format", [("GIF", "jpeg"), ("WEBP", "webp"), ("PNG", "png")])
def test_animation_gives_first_frame_as_a_still(fmt: str, out_format: str) -> None:
    data = animated(fmt, [(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    assert getattr(decode(data), "n_frames", 1) == 3
    result = render(data, [(100, 100)])
    thumb = result.thumbnails[0]
    out = decode(thumb.data)
    assert result.source.animated and thumb.format == out_format
    assert getattr(out, "n_frames", 1) == 1 and not getattr(out, "is_animated", False)
    assert close(centre(out)[:3], RED, 12)


def test_progressive_jpeg() -> None:
    data = encode(photo((1600, 1200)), "JPEG", quality=90, progressive=True)
    assert decode(data).info.get("progressive")
    result = render(data, SIZES)
    assert [(t.width, t.height) for t in result.thumbnails] == [(128, 96), (512, 384)]
    assert result.source.decoded_width == 1600  # 512*2 needs every pixel of a 1600 wide photo
    assert result.source.estimated_bytes > 1600 * 1200 * 4  # coefficient buffer counted
    ref = photo((1600, 1200)).resize((128, 96), Image.Resampling.LANCZOS)
    assert close(centre(decode(result.thumbnails[0].data)), centre(ref), 25)


@pytest.mark.parametrize("fit", ["inside", "cover"])
def test_small_images_are_never_upscaled(fit: str) -> None:
    data = encode(photo((100, 80)), "PNG")
    thumbs = make_thumbnails(data, SIZES, fit=fit)
    assert [(t.width, t.height) for t in thumbs] == [(100, 80), (100, 80)]


def test_cover_fills_the_box_and_inside_fits_it() -> None:
    data = encode(photo((900, 300)), "JPEG")
    inside = make_thumbnails(data, [(128, 128), (300, 100)])
    cover = make_thumbnails(data, [(128, 128), (300, 100)], fit="cover")
    assert [(t.width, t.height) for t in inside] == [(128, 43), (300, 100)]
    assert [(t.width, t.height) for t in cover] == [(128, 128), (300, 100)]


def test_cover_never_upscales_a_short_side() -> None:
    thumb = make_thumbnails(encode(photo((1000, 200)), "PNG"), [(512, 512)], fit="cover")[0]
    assert (thumb.width, thumb.height) == (512, 200)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif"])
def test_forced_output_format(fmt: str) -> None:
    thumb = make_thumbnails(encode(photo((400, 300)), "JPEG"), [(64, 64)], output_format=fmt)[0]
    assert thumb.format == fmt and thumb.content_type == f"image/{fmt}"
    assert decode(thumb.data).format == fmt.upper()


@pytest.mark.parametrize(
    "fmt,expected", [("WEBP", "webp"), ("BMP", "jpeg"), ("AVIF", "jpeg"), ("TIFF", "jpeg")]
)
def test_auto_format_keeps_webp_and_turns_others_into_jpeg(fmt: str, expected: str) -> None:
    result = render(encode(photo((200, 100)), fmt), [(64, 64)])
    assert result.source.format == fmt.lower()
    thumb = result.thumbnails[0]
    assert thumb.format == expected and decode(thumb.data).size == (64, 32)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_metadata_is_stripped(fmt: str) -> None:
    up = photo((400, 300))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x0112] = 1
    sources = [
        encode(
            up,
            "JPEG",
            exif=exif.tobytes(),
            icc_profile=adobe_rgb_profile(),
            comment=b"secret",
            xmp=b"<x:xmpmeta>secret</x:xmpmeta>",
        ),
        png_with_metadata(up),
        encode(
            up,
            "WEBP",
            exif=exif.tobytes(),
            icc_profile=adobe_rgb_profile(),
            xmp=b"<x:xmpmeta>secret</x:xmpmeta>",
        ),
    ]
    for data in sources:
        source_info = decode(data).info
        assert "exif" in source_info and "icc_profile" in source_info
        for thumb in make_thumbnails(data, SIZES, output_format=fmt):
            out = decode(thumb.data)
            leaked = {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "Comment"}
            assert not leaked & set(out.info), (fmt, out.info.keys())
            assert len(out.getexif()) == 0
            assert b"secret" not in thumb.data and b"TestCam" not in thumb.data


def test_sizes_are_returned_in_the_order_given() -> None:
    data = encode(photo((1000, 1000)), "JPEG")
    thumbs = make_thumbnails(data, [(64, 64), (400, 400), (200, 100)])
    assert [(t.width, t.height) for t in thumbs] == [(64, 64), (400, 400), (100, 100)]
    assert [t.size for t in thumbs] == [(64, 64), (400, 400), (200, 100)]


def test_quality_against_full_decode_lanczos() -> None:
    """Draft decode + LANCZOS stays close to the slow full-decode reference."""
    source = photo((2000, 1500), seed=7)
    data = encode(source, "JPEG", quality=92)
    full = decode(data)
    for thumb in make_thumbnails(data, SIZES, output_format="png"):  # lossless: resampling only
        ref = full.resize((thumb.width, thumb.height), Image.Resampling.LANCZOS)
        assert _psnr(decode(thumb.data), ref) > 45


def _psnr(a: Image.Image, b: Image.Image) -> float:
    import math

    from PIL import ImageChops

    hist = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).histogram()
    se = sum(count * (i % 256) ** 2 for i, count in enumerate(hist))
    mse = se / (a.width * a.height * 3)
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


def test_rgb_png_with_transparent_colour_keeps_alpha() -> None:
    im = Image.new("RGB", (200, 100), RED)
    im.paste(GREEN, (100, 0, 200, 100))
    out = decode(make_thumbnails(encode(im, "PNG", transparency=GREEN), [(100, 100)])[0].data)
    assert out.mode == "RGBA" and out.getpixel((10, 10)) == (*RED, 255)
    assert out.getpixel((90, 10))[3] == 0
