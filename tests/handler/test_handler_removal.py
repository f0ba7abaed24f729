"""Deleted originals take their outputs with them; records carry the settings hash."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from handler_images import encode, photo

from lambda_handler import handler as handler_mod
from lambda_handler.config import Config
from lambda_handler.freshness import is_current, settings_hash
from lambda_handler.handler import RetryableFailure, handler
from lambda_handler.removal import outputs_of
from resizer_cli import faults

# The S3 event shapes and helpers of the main handler tests (pytest imports each test file on
# its own with --import-mode=importlib, so load it by path).
_spec = importlib.util.spec_from_file_location(
    "handler_s3_tests", Path(__file__).with_name("test_handler_s3.py")
)
assert _spec and _spec.loader
_s3_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_s3_tests)
SRC, DST, Context = _s3_tests.SRC, _s3_tests.DST, _s3_tests.Context
s3_event, put, keys_in = _s3_tests.s3_event, _s3_tests.put, _s3_tests.keys_in


s3 = _s3_tests.s3  # the same moto buckets and environment (a fixture)


def _make(s3: Any, key: str) -> str:
    etag = put(s3, key, encode(photo((640, 480)), "JPEG"))
    assert handler(s3_event(SRC, key), Context())["ok"] == 1
    return etag


def test_records_carry_the_settings_hash_and_count_as_current(s3: Any) -> None:
    etag = _make(s3, "raw/a.jpg")
    record = json.loads(s3.get_object(Bucket=DST, Key="results/a.jpg.json")["Body"].read())
    config = Config.from_env({"DEST_BUCKET": DST})
    assert record["settings_hash"] == settings_hash(config)
    assert is_current(record, etag, settings_hash(config))
    assert not is_current(record, "0" * 32, settings_hash(config))  # the bytes changed
    # Every setting that shapes the outputs changes the hash; the bucket name does not.
    for change in ({"sizes": ((64, 64),)}, {"fit": "cover"}, {"output_format": "webp"},
                   {"quality": 70}, {"max_pixels": 10}, {"dest_prefix": "t/"},
                   {"gravity": "smart"}, {"cache_control": "no-cache"}):
        assert settings_hash(dataclasses.replace(config, **change)) != settings_hash(config)
    assert settings_hash(dataclasses.replace(config, dest_bucket="x")) == settings_hash(config)
    # A rejection that would only repeat is current; one that might pass now is not.
    for error, current in (("corrupt", True), ("too_large", True), ("too_slow", False),
                           ("internal", False)):
        rejected = record | {"status": "error", "error": error}
        assert is_current(rejected, etag, settings_hash(config)) is current


def test_a_deleted_original_takes_its_thumbnails_and_record(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _make(s3, "raw/trip/a b.jpg")
    _make(s3, "raw/trip/keep.jpg")
    # Renditions in other formats (an earlier --format) go too; other keys stay.
    for extra in ("thumbnails/128x128/trip/a b.webp", "thumbnails/512x512/trip/a b.avif",
                  "elsewhere/trip/a b.jpg"):
        s3.put_object(Bucket=DST, Key=extra, Body=b"x")
    s3.delete_object(Bucket=SRC, Key="raw/trip/a b.jpg")
    capsys.readouterr()
    summary = handler(s3_event(SRC, "raw/trip/a b.jpg", event="ObjectRemoved:Delete"), Context())
    assert summary["removed"] == 1 and summary["failed"] == 0
    assert keys_in(s3, DST) == {
        "thumbnails/128x128/trip/keep.jpg", "thumbnails/512x512/trip/keep.jpg",
        "results/trip/keep.jpg.json", "elsewhere/trip/a b.jpg",
    }
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["event"] == "removed" and line["key"] == "raw/trip/a b.jpg"
    # Nothing left to delete: the same event again is harmless (Lambda may deliver it twice).
    again = handler(s3_event(SRC, "raw/trip/a b.jpg", event="ObjectRemoved:Delete"), Context())
    assert again["removed"] == 1


def test_a_key_uploaded_again_keeps_its_new_outputs(s3: Any) -> None:
    _make(s3, "raw/back.jpg")  # deleted, then uploaded again before the event ran
    before = keys_in(s3, DST)
    event = s3_event(SRC, "raw/back.jpg", event="ObjectRemoved:DeleteMarkerCreated")
    assert handler(event, Context())["skipped"] == 1
    assert keys_in(s3, DST) == before


def test_deletion_outputs_cover_every_size_and_format_and_only_our_prefixes() -> None:
    config = Config.from_env({"SIZES": "64x64,100x50", "OUTPUT_FORMAT": "jpeg"})
    keys = outputs_of(config, "a/photo.JPEG")
    assert keys == [
        "thumbnails/64x64/a/photo.JPEG", "thumbnails/64x64/a/photo.png",
        "thumbnails/64x64/a/photo.webp", "thumbnails/64x64/a/photo.avif",
        "thumbnails/100x50/a/photo.JPEG", "thumbnails/100x50/a/photo.png",
        "thumbnails/100x50/a/photo.webp", "thumbnails/100x50/a/photo.avif",
        "results/a/photo.JPEG.json",
    ]
    assert all(k.startswith(("thumbnails/", "results/")) for k in keys)


def test_deletion_outputs_include_the_sizes_only_the_http_api_makes() -> None:
    config = Config.from_env({"SIZES": "64x64", "OUTPUT_FORMAT": "jpeg"})
    keys = outputs_of(config, "b.png", ((64, 64), (1024, 1024)))
    assert "thumbnails/1024x1024/b.webp" in keys and "thumbnails/64x64/b.png" in keys
    assert len([k for k in keys if k.startswith("thumbnails/64x64/")]) == 4  # not twice


def test_a_failed_deletion_is_retried_by_lambda(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make(s3, "raw/x.jpg")
    s3.delete_object(Bucket=SRC, Key="raw/x.jpg")
    monkeypatch.setattr(handler_mod, "client_factory", lambda: _s3_tests._throttling_client(s3))
    handler_mod.reset_client()
    faults.install(faults.Fault("s3", "DeleteObjects", "SlowDown", "Please reduce your rate"))
    with pytest.raises(RetryableFailure, match="SlowDown"):
        handler(s3_event(SRC, "raw/x.jpg", event="ObjectRemoved:Delete"), Context())
    assert "results/x.jpg.json" in keys_in(s3, DST)  # kept until the retry succeeds
    retried = handler(s3_event(SRC, "raw/x.jpg", event="ObjectRemoved:Delete"), Context())
    assert retried["removed"] == 1 and keys_in(s3, DST) == set()
