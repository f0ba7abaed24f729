"""How the handler talks to S3 and resamples: fewer round trips, bounded memory, same pixels."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from handler_images import encode, photo
from moto import mock_aws
from PIL import Image, ImageChops, JpegImagePlugin

from lambda_handler import handler as handler_mod
from lambda_handler.thumbnail import geometry


@pytest.fixture
def default_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = handler_mod._default_client()
        client.create_bucket(Bucket="transfer-thumbs")
        sent: list[dict[str, Any]] = []

        def record(request: Any, **_: Any) -> None:
            sent.append(dict(request.headers))

        client.meta.events.register("before-send.s3.PutObject", record)
        yield client, sent


def test_small_puts_are_sent_without_waiting_for_100_continue(
    default_client: tuple[Any, list[dict[str, Any]]],
) -> None:
    client, sent = default_client
    client.put_object(Bucket="transfer-thumbs", Key="thumbnails/a.jpg", Body=b"x" * 40_000)
    client.put_object(Bucket="transfer-thumbs", Key="big.bin", Body=b"y" * (2 * 1024 * 1024))
    small, big = sent
    assert "Expect" not in small
    assert big.get("Expect") in ("100-continue", b"100-continue")  # large bodies keep it
    body = client.get_object(Bucket="transfer-thumbs", Key="thumbnails/a.jpg")["Body"].read()
    assert body == b"x" * 40_000


def _max_difference(a: Image.Image, b: Image.Image) -> int:
    extrema = ImageChops.difference(a, b).getextrema()
    if isinstance(extrema[0], int):  # one band
        return int(extrema[1])
    return max(int(hi) for _, hi in extrema)


def _banded_and_plain(
    im: Image.Image, size: tuple[int, int], box: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[Image.Image, Image.Image]:
    monkeypatch.setattr(geometry, "BAND_MIN_BYTES", 0)  # band even this small test image
    banded = geometry.downscale(im, size, box)
    gap = geometry.FIRST_REDUCING_GAP
    plain = im.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=gap)
    return banded, plain


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_banded_downscale_equals_the_one_pass_resize(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    im = photo((937, 911), seed=3).convert(mode)
    banded, plain = _banded_and_plain(im, (301, 293), None, monkeypatch)
    assert banded.mode == plain.mode and banded.size == plain.size
    # Float rounding of the band boxes may move a rare pixel by one level, never more.
    assert _max_difference(banded, plain) <= 1


def test_banded_downscale_of_a_draft_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(photo((1601, 1203), seed=5), "JPEG", quality=90)
    im = JpegImagePlugin.JpegImageFile(io.BytesIO(data))
    drafted = im.draft(None, (700, 520))
    assert drafted is not None and im.size == (801, 602)
    im.load()
    banded, plain = _banded_and_plain(im, (512, 385), drafted[1], monkeypatch)
    assert _max_difference(banded, plain) <= 1


def test_reducing_and_alpha_images_are_not_banded(monkeypatch: pytest.MonkeyPatch) -> None:
    alpha, huge, plain = photo((900, 900)).convert("RGBA"), photo((3000, 3000)), photo((900, 900))
    monkeypatch.setattr(geometry, "BAND_MIN_BYTES", 0)
    calls: list[tuple[int, int]] = []
    real_resize = Image.Image.resize

    def counting(self: Image.Image, size: Any, *args: Any, **kwargs: Any) -> Image.Image:
        calls.append(tuple(size))
        return real_resize(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", counting)
    geometry.downscale(alpha, (300, 300), None)  # premultiplied as a whole by Pillow
    geometry.downscale(huge, (300, 300), None)  # 10x: reduce() first, aligned to the box
    assert calls and all(size == (300, 300) for size in calls)  # whole, never in bands
    calls.clear()
    geometry.downscale(plain, (300, 300), None)
    assert len(calls) == -(-300 // geometry.BAND_ROWS)
    assert {size[1] for size in calls} <= {geometry.BAND_ROWS, 300 % geometry.BAND_ROWS}


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
@pytest.mark.parametrize(
    ("source", "size"),
    [((2011, 1507), (301, 226)), ((937, 911), (301, 293)), ((1400, 1100), (600, 471))],
)
def test_downscale_from_bands_of_rows_equals_the_whole_image_resize(
    mode: str, source: tuple[int, int], size: tuple[int, int]
) -> None:
    """How HEIF is downscaled without a full-size Pillow copy: from bands of libheif's rows,
    with reduce() (first case) or LANCZOS margins (the others), as the one-pass resize."""
    im = photo(source, seed=11).convert(mode)
    if mode == "RGBA":
        im.putalpha(Image.linear_gradient("L").resize(source))
    asked: list[tuple[int, int]] = []

    def rows(top: int, bottom: int) -> Image.Image:
        asked.append((top, bottom))
        return im.crop((0, top, im.width, bottom))

    banded = geometry.downscale_rows(rows, im.size, mode, size)
    plain = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=geometry.FIRST_REDUCING_GAP)
    assert banded.mode == plain.mode and banded.size == plain.size
    tolerance = 1
    if mode == "RGBA":  # a level of rounding at alpha ~0 is many once unpremultiplied
        banded, plain, tolerance = banded.convert("RGBa"), plain.convert("RGBa"), 2
    assert _max_difference(banded, plain) <= tolerance
    assert len(asked) > 1 and max(b - t for t, b in asked) < source[1]  # never all at once
