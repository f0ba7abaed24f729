"""handler() against moto S3 with real encoded images and realistic S3 events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus, unquote

import boto3
import pytest
from botocore.exceptions import ClientError
from handler_images import (
    animated,
    decode,
    encode,
    fake_heic,
    heic,
    oriented_jpeg,
    photo,
    quadrants,
)
from moto import mock_aws
from moto.server import ThreadedMotoServer
from PIL import Image

from lambda_handler import handler as handler_mod
from lambda_handler.config import ConfigError
from lambda_handler.handler import RetryableFailure, handler
from resizer_cli import faults

SRC, DST = "resizer-src-test", "resizer-thumbs-test"


class Context:
    aws_request_id = "req-123"
    function_name = "resizer-thumbnailer"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in (
        "DEST_BUCKET",
        "SOURCE_PREFIX",
        "DEST_PREFIX",
        "RESULTS_PREFIX",
        "SIZES",
        "FIT",
        "OUTPUT_FORMAT",
        "QUALITY",
        "MAX_PIXELS",
        "CACHE_CONTROL",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEST_BUCKET", DST)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=SRC)
        client.create_bucket(Bucket=DST)
        handler_mod.reset_client()
        yield client
    handler_mod.reset_client()


def s3_event(bucket: str, *keys: str, event: str = "ObjectCreated:Put") -> dict[str, Any]:
    """As S3 sends it: keys form-encoded (space as '+', '+' as '%2B', UTF-8 escaped)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": event,
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key, safe="/"), "size": 1, "sequencer": "0A1"},
                },
            }
            for key in keys
        ]
    }


def put(client: Any, key: str, data: bytes, bucket: str = SRC) -> str:
    return client.put_object(Bucket=bucket, Key=key, Body=data)["ETag"].strip('"')


def get(client: Any, key: str, bucket: str = DST) -> dict[str, Any]:
    return client.get_object(Bucket=bucket, Key=key)


def result_record(client: Any, key: str, bucket: str = DST) -> dict[str, Any]:
    obj = get(client, key, bucket)
    assert obj["ContentType"] == "application/json"
    return json.loads(obj["Body"].read())


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def keys_in(client: Any, bucket: str) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


@pytest.mark.parametrize(
    "rel",
    [
        "a b/été 2024/a+b c.jpg",
        "plain.jpg",
        "deep/er/nested/folders/x.JPEG",
        "日本/写真 1.jpg",
        "odd/100% sure & (1)=x.jpg",
    ],
)
def test_thumbnails_written_with_headers_metadata_and_result(
    s3: Any, rel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = f"raw/{rel}"
    etag = put(s3, key, encode(photo((1200, 900)), "JPEG"))

    summary = handler(s3_event(SRC, key), Context())

    assert summary == {"ok": 1, "error": 0, "skipped": 0, "failed": 0}
    for (w, h), dims in {(128, 128): (128, 96), (512, 512): (512, 384)}.items():
        obj = get(s3, f"thumbnails/{w}x{h}/{rel}")
        assert obj["ContentType"] == "image/jpeg"
        assert obj["CacheControl"] == "max-age=31536000,public"
        meta = obj["Metadata"]
        assert meta["source-etag"] == etag and meta["source-bucket"] == SRC
        assert meta["source-key"].isascii() and unquote(meta["source-key"]) == key
        assert decode(obj["Body"].read()).size == dims
    record = result_record(s3, f"results/{rel}.json")
    assert record["status"] == "ok" and record["error"] is None and record["reason"] is None
    assert record["source_bucket"] == SRC and record["source_key"] == key
    assert record["source_etag"] == etag and '"' not in record["source_etag"]
    assert record["source_size"] > 0
    assert (record["width"], record["height"], record["format"]) == (1200, 900, "jpeg")
    assert [o["key"] for o in record["outputs"]] == [
        f"thumbnails/128x128/{rel}",
        f"thumbnails/512x512/{rel}",
    ]
    first = record["outputs"][0]
    assert first["width"] == 128 and first["height"] == 96 and first["bytes"] > 0
    assert first["format"] == "jpeg" and first["content_type"] == "image/jpeg"
    assert isinstance(record["ms"], int) and record["time"].endswith("Z")

    (line,) = log_lines(capsys)
    assert line["level"] == "info" and line["event"] == "thumbnails"
    assert line["key"] == key and line["bucket"] == SRC and line["request_id"] == "req-123"
    assert (line["width"], line["height"], line["input_bytes"]) == (
        1200,
        900,
        record["source_size"],
    )
    assert [o["key"] for o in line["outputs"]] == [o["key"] for o in record["outputs"]]
    assert all(o["bytes"] > 0 for o in line["outputs"]) and isinstance(line["ms"], int)


def test_multi_record_event_with_good_and_bad_images(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    good_png = encode(photo((600, 400)), "PNG")
    jpeg = encode(photo((800, 600)), "JPEG")
    files = {
        "raw/anim/cat.gif": animated("GIF", [(255, 0, 0), (0, 0, 255)]),
        "raw/logo.png": good_png,
        "raw/broken.jpg": jpeg[: len(jpeg) // 3],
        "raw/phone/IMG_0001.HEIC": heic(photo((320, 240))),
        "raw/phone/IMG_0002.HEIC": fake_heic(),
        "raw/notes.txt": b"just some text, not an image\n" * 5,
        "other/outside.jpg": jpeg,
        "raw/rotated.jpg": oriented_jpeg(6, quadrants((400, 200))),
    }
    for key, data in files.items():
        put(s3, key, data)

    summary = handler(s3_event(SRC, *files), Context())  # no exception for bad images

    assert summary == {"ok": 4, "error": 3, "skipped": 1, "failed": 0}
    # GIF becomes a JPEG still: the extension changes with the format.
    gif = get(s3, "thumbnails/128x128/anim/cat.jpg")
    assert gif["ContentType"] == "image/jpeg"
    assert decode(gif["Body"].read()).getpixel((10, 10))[0] > 200  # type: ignore[index]
    assert get(s3, "thumbnails/512x512/logo.png")["ContentType"] == "image/png"
    assert decode(get(s3, "thumbnails/128x128/rotated.jpg")["Body"].read()).size == (128, 64)
    assert result_record(s3, "results/anim/cat.gif.json")["format"] == "gif"
    phone = get(s3, "thumbnails/128x128/phone/IMG_0001.jpg")  # HEIC becomes JPEG
    assert phone["ContentType"] == "image/jpeg"
    assert decode(phone["Body"].read()).size == (128, 96)
    assert result_record(s3, "results/phone/IMG_0001.HEIC.json")["format"] == "heif"

    expected = {
        "broken.jpg": "corrupt",
        "phone/IMG_0002.HEIC": "corrupt",
        "notes.txt": "not_image",
    }
    for rel, kind in expected.items():
        record = result_record(s3, f"results/{rel}.json")
        assert record["status"] == "error" and record["error"] == kind, record
        assert record["reason"] and record["outputs"] == []
        assert record["source_key"] == f"raw/{rel}" and record["source_etag"]
    assert not any(k.startswith("thumbnails/") and "broken" in k for k in keys_in(s3, DST))
    assert "results/outside.jpg.json" not in keys_in(s3, DST)

    lines = log_lines(capsys)
    assert len(lines) == len(files)  # one line per record
    errors = {line["key"]: line for line in lines if line["level"] == "error"}
    assert {k: v["error"] for k, v in errors.items()} == {
        f"raw/{rel}": kind for rel, kind in expected.items()
    }
    assert all(line["event"] == "rejected" and line["reason"] for line in errors.values())
    skipped = [line for line in lines if line["event"] == "skipped"]
    assert [line["key"] for line in skipped] == ["other/outside.jpg"]


def test_same_bucket_cannot_loop(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DEST_BUCKET")  # default: write next to the source
    monkeypatch.setenv("SOURCE_PREFIX", "")  # the whole bucket is a source
    put(s3, "holiday/beach.jpg", encode(photo((640, 480)), "JPEG"))

    assert handler(s3_event(SRC, "holiday/beach.jpg"), Context())["ok"] == 1
    written = keys_in(s3, SRC) - {"holiday/beach.jpg"}
    assert written == {
        "thumbnails/128x128/holiday/beach.jpg",
        "thumbnails/512x512/holiday/beach.jpg",
        "results/holiday/beach.jpg.json",
    }
    capsys.readouterr()
    # S3 notifies us of our own writes: every one is ignored and nothing new is written.
    summary = handler(s3_event(SRC, *sorted(written)), Context())
    assert summary == {"ok": 0, "error": 0, "skipped": 3, "failed": 0}
    assert keys_in(s3, SRC) - {"holiday/beach.jpg"} == written
    lines = log_lines(capsys)
    assert [line["reason"] for line in lines] == ["one of our own outputs"] * 3


def test_configuration_from_environment(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIZES", "64x64, 200x100")
    monkeypatch.setenv("FIT", "cover")
    monkeypatch.setenv("OUTPUT_FORMAT", "webp")
    monkeypatch.setenv("QUALITY", "60")
    monkeypatch.setenv("SOURCE_PREFIX", "uploads")
    monkeypatch.setenv("DEST_PREFIX", "thumbs/")
    monkeypatch.setenv("RESULTS_PREFIX", "done/")
    monkeypatch.setenv("CACHE_CONTROL", "max-age=60")
    put(s3, "uploads/x/y.jpg", encode(photo((900, 600)), "JPEG"))

    assert handler(s3_event(SRC, "uploads/x/y.jpg"), Context())["ok"] == 1

    for w, h in ((64, 64), (200, 100)):
        obj = get(s3, f"thumbs/{w}x{h}/x/y.webp")
        assert obj["ContentType"] == "image/webp" and obj["CacheControl"] == "max-age=60"
        im = decode(obj["Body"].read())
        assert im.format == "WEBP" and im.size == (w, h)
    assert result_record(s3, "done/x/y.jpg.json")["status"] == "ok"


def test_pixel_limit_writes_an_error_record(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_PIXELS", "100000")
    put(s3, "raw/big.png", encode(photo((500, 400)), "PNG"))
    assert handler(s3_event(SRC, "raw/big.png"), Context())["error"] == 1
    record = result_record(s3, "results/big.png.json")
    assert record["error"] == "too_large" and "MAX_PIXELS" in record["reason"]


def test_png_too_big_for_the_function_memory(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    put(s3, "raw/huge.png", encode(Image.new("RGB", (5000, 4000), (1, 2, 3)), "PNG"))
    put(s3, "raw/fine.jpg", encode(photo((800, 600)), "JPEG"))
    summary = handler(s3_event(SRC, "raw/huge.png", "raw/fine.jpg"), Context())
    assert summary["error"] == 1 and summary["ok"] == 1
    record = result_record(s3, "results/huge.png.json")
    assert record["error"] == "too_large" and "128 MB" in record["reason"]
    assert "memory" in record["reason"] or "give it at least" in record["reason"]
    line = next(line for line in log_lines(capsys) if line["level"] == "error")
    assert line["key"] == "raw/huge.png" and line["error"] == "too_large"


def test_file_too_big_to_download_is_refused_before_reading(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "70")  # 64 MB baseline + 2x the file
    put(s3, "raw/fat.jpg", encode(photo((200, 200)), "JPEG") + b"\0" * (4 * 2**20))
    handler(s3_event(SRC, "raw/fat.jpg"), Context())
    record = result_record(s3, "results/fat.jpg.json")
    assert record["error"] == "too_large" and "too big for a function" in record["reason"]


def _throttling_client(s3: Any) -> Any:
    client = boto3.client("s3", region_name="us-east-1")

    def inject(model: Any, **_: Any) -> None:
        faults.check("s3", model.name)  # our seam raises the installed ClientError

    client.meta.events.register("before-call.s3", inject)
    return client


def test_throttling_is_raised_after_the_other_records(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = ["raw/one.jpg", "raw/two.jpg", "raw/three.jpg"]
    for key in keys:
        put(s3, key, encode(photo((400, 300)), "JPEG"))
    monkeypatch.setattr(handler_mod, "client_factory", lambda: _throttling_client(s3))
    handler_mod.reset_client()
    faults.install(
        faults.Fault(
            "s3",
            "GetObject",
            code="SlowDown",
            message="Please reduce your request rate.",
            status=503,
            after=1,
            times=1,
        )
    )

    with pytest.raises(RetryableFailure) as info:
        handler(s3_event(SRC, *keys), Context())

    assert isinstance(info.value.__cause__, ClientError)
    assert faults.fired("s3", "GetObject") == 1
    written = keys_in(s3, DST)
    # The first and third records were processed despite the second one failing...
    for rel in ("one.jpg", "three.jpg"):
        assert f"thumbnails/128x128/{rel}" in written and f"results/{rel}.json" in written
    # ...and the throttled one left no result, so the retry will produce it.
    assert not any("two.jpg" in k for k in written)
    lines = log_lines(capsys)
    failure = next(line for line in lines if line["level"] == "error")
    assert failure["event"] == "s3_error" and failure["key"] == "raw/two.jpg"
    assert failure["error"] == "SlowDown" and failure["transient"] is True

    # Lambda's retry (throttling over) completes the event.
    assert handler(s3_event(SRC, *keys), Context())["ok"] == 3
    assert "results/two.jpg.json" in keys_in(s3, DST)


def test_failed_thumbnail_write_is_raised(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    put(s3, "raw/a.jpg", encode(photo((300, 200)), "JPEG"))
    monkeypatch.setattr(handler_mod, "client_factory", lambda: _throttling_client(s3))
    handler_mod.reset_client()
    faults.install(faults.Fault("s3", "PutObject", code="InternalError", status=500))
    with pytest.raises(RetryableFailure):
        handler(s3_event(SRC, "raw/a.jpg"), Context())
    assert "results/a.jpg.json" not in keys_in(s3, DST)  # no "done" without the thumbnails


def test_deleted_object_is_skipped(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert handler(s3_event(SRC, "raw/gone.jpg"), Context())["skipped"] == 1
    (line,) = log_lines(capsys)
    assert line["event"] == "skipped" and "no longer exists" in line["reason"]


def test_test_event_and_non_upload_records(s3: Any) -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": SRC}
    assert handler(test_event, Context()) == {"ok": 0, "error": 0, "skipped": 0, "failed": 0}
    tagged = s3_event(SRC, "raw/a.jpg", event="ObjectTagging:Put")
    assert handler(tagged, Context())["skipped"] == 1
    assert handler({"Records": [{"eventSource": "aws:sqs"}]}, Context())["skipped"] == 1


def test_bad_configuration_raises(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIZES", "big")
    with pytest.raises(ConfigError):
        handler(s3_event(SRC, "raw/a.jpg"), Context())
    (line,) = log_lines(capsys)
    assert line["event"] == "config_error" and "SIZES" in line["reason"]


def test_client_is_made_once_per_container(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    def factory() -> Any:
        made.append(boto3.client("s3", region_name="us-east-1"))
        return made[-1]

    monkeypatch.setattr(handler_mod, "client_factory", factory)
    handler_mod.reset_client()
    for name in ("a", "b"):
        put(s3, f"raw/{name}.jpg", encode(photo((200, 100)), "JPEG"))
        handler(s3_event(SRC, f"raw/{name}.jpg"), Context())
    assert len(made) == 1


def test_default_client_honours_aws_endpoint_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As in the emulator: the real client factory, pointed at a moto server on loopback."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("DEST_BUCKET", "endpoint-thumbs")
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket="endpoint-src")
        client.create_bucket(Bucket="endpoint-thumbs")
        put(
            client, "raw/over the wire.png", encode(photo((300, 200)), "PNG"), bucket="endpoint-src"
        )
        handler_mod.reset_client()

        assert handler(s3_event("endpoint-src", "raw/over the wire.png"), Context())["ok"] == 1

        assert keys_in(client, "endpoint-thumbs") == {
            "thumbnails/128x128/over the wire.png",
            "thumbnails/512x512/over the wire.png",
            "results/over the wire.png.json",
        }
        assert log_lines(capsys)[-1]["event"] == "thumbnails"
    finally:
        handler_mod.reset_client()
        server.stop()


class ShortContext(Context):
    """A context whose function is about to time out."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_work_that_would_outlive_the_timeout_is_stopped_and_recorded(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import signal

    put(s3, "raw/slow.png", encode(photo((4000, 3000)), "PNG"))
    put(s3, "raw/quick.png", encode(photo((64, 48)), "PNG"))
    # 700 ms left: 500 ms are kept for the record, so the image work gets 200 ms.
    summary = handler(s3_event(SRC, "raw/slow.png", "raw/quick.png"), ShortContext(700))
    assert summary == {"ok": 1, "error": 1, "skipped": 0, "failed": 0}
    record = result_record(s3, "results/slow.png.json")
    assert record["status"] == "error" and record["error"] == "too_slow"
    assert "timeout" in record["reason"] and "\n" not in record["reason"]
    assert result_record(s3, "results/quick.png.json")["status"] == "ok"
    line = next(line for line in log_lines(capsys) if line["level"] == "error")
    assert line["key"] == "raw/slow.png" and line["error"] == "too_slow"
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # the alarm is disarmed
    # With no time left at all, nothing is decoded and the record still says why.
    assert handler(s3_event(SRC, "raw/quick.png"), ShortContext(100))["error"] == 1
    assert result_record(s3, "results/quick.png.json")["error"] == "too_slow"
