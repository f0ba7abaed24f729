"""`--gravity smart`: the cover crop goes where the subject is, chosen on the small master."""

from __future__ import annotations

import pytest
from handler_images import decode, encode, oriented_jpeg
from PIL import Image, ImageDraw

from lambda_handler.thumbnail import make_thumbnails

RED, BLUE, GREY = (220, 30, 30), (30, 40, 210), (128, 128, 128)


def scene(size: tuple[int, int], subject: tuple[int, int, int, int]) -> Image.Image:
    """A grey, gently shaded background with a red/blue checker (the subject) at `subject`."""
    w, h = size
    shade = Image.linear_gradient("L").resize((w, h)).point(lambda v: 110 + v // 8)
    im = Image.merge("RGB", [shade] * 3)
    draw = ImageDraw.Draw(im)
    x0, y0, x1, y1 = subject
    cell = max(4, (x1 - x0) // 12)
    for y in range(y0, y1, cell):
        for x in range(x0, x1, cell):
            odd = ((x - x0) // cell + (y - y0) // cell) % 2
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=RED if odd else BLUE)
    return im


def subject_share(im: Image.Image) -> float:
    """Fraction of the thumbnail's pixels that are the subject's red or blue."""
    px = im.convert("RGB").load()
    assert px is not None
    hits = 0
    for y in range(im.height):
        for x in range(im.width):
            r, g, b = px[x, y]  # type: ignore[misc]
            hits += (r > 150 and g < 90) or (b > 150 and r < 90)
    return hits / (im.width * im.height)


def crop(data: bytes, box: tuple[int, int], gravity: str) -> Image.Image:
    thumb = make_thumbnails(data, [box], fit="cover", gravity=gravity, output_format="png")[0]
    return decode(thumb.data)


@pytest.mark.parametrize(
    ("size", "subject"),
    [
        ((1200, 400), (20, 40, 360, 380)),  # at the left edge of a landscape
        ((1200, 400), (820, 20, 1180, 380)),  # at the right
        ((400, 1200), (40, 840, 360, 1180)),  # at the bottom of a portrait
        ((1600, 600), (150, 100, 550, 500)),  # off-centre, not at an edge
    ],
)
def test_smart_gravity_keeps_an_off_centre_subject(
    size: tuple[int, int], subject: tuple[int, int, int, int]
) -> None:
    data = encode(scene(size, subject), "PNG")
    smart, centre = crop(data, (200, 200), "smart"), crop(data, (200, 200), "centre")
    assert smart.size == centre.size == (200, 200)
    assert subject_share(centre) < 0.1  # the centre crop misses it
    scale = max(200 / size[0], 200 / size[1])
    x0, y0, x1, y1 = subject
    best = min(1.0, (x1 - x0) * scale / 200) * min(1.0, (y1 - y0) * scale / 200)
    assert subject_share(smart) > 0.85 * best  # all of it, or as much as the box can hold


def test_a_featureless_picture_keeps_the_centre_crop() -> None:
    flat = encode(scene((1200, 400), (0, 0, 0, 0)), "PNG")
    assert crop(flat, (200, 200), "smart").tobytes() == crop(flat, (200, 200), "centre").tobytes()


def test_smart_crop_uses_the_displayed_orientation() -> None:
    upright = scene((400, 1200), (40, 20, 360, 340))  # subject at the top, as displayed
    data = oriented_jpeg(6, upright)  # stored landscape, EXIF says rotate
    smart = crop(data, (150, 150), "smart")
    assert smart.size == (150, 150) and subject_share(smart) > 0.5


def test_each_size_gets_its_own_crop_and_inside_ignores_gravity() -> None:
    data = encode(scene((1200, 400), (20, 40, 360, 380)), "PNG")
    thumbs = make_thumbnails(data, [(64, 64), (300, 100)], fit="cover", gravity="smart")
    small, wide = (decode(t.data) for t in thumbs)
    assert small.size == (64, 64) and wide.size == (300, 100)
    assert subject_share(small) > 0.5
    inside = make_thumbnails(data, [(128, 128)], gravity="smart")[0]
    assert (inside.width, inside.height) == (128, 43)


def test_a_skin_coloured_subject_is_found() -> None:
    im = scene((1200, 400), (0, 0, 0, 0))
    ImageDraw.Draw(im).ellipse((880, 80, 1120, 360), fill=(224, 172, 140))
    out = crop(encode(im, "PNG"), (200, 200), "smart")
    px = out.getpixel((100, 100))
    assert abs(px[0] - 224) < 12 and abs(px[2] - 140) < 12  # type: ignore[index]


def test_gravity_is_validated() -> None:
    with pytest.raises(ValueError):
        make_thumbnails(encode(scene((64, 64), (0, 0, 0, 0)), "PNG"), [(8, 8)], gravity="north")
