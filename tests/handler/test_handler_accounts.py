"""The function on a real account: whose buckets, a 403 for a deleted upload, S3's key limits.

The S3 client handed to the handler is one of resizer's own (resizer_cli.aws.Target), so the
fault seam can show what moto does not: S3's 403 for a missing key without s3:ListBucket.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import pytest
from handler_images import encode, photo
from moto import mock_aws

from lambda_handler import handler as handler_mod
from lambda_handler.handler import RetryableFailure, handler
from lambda_handler.keys import MAX_KEY_BYTES
from resizer_cli import faults
from resizer_cli.aws import Target
from resizer_cli.faults import Fault
from resizer_cli.settings import Settings

SRC, DST = "acct-src", "acct-thumbs"
SOURCE_OWNER, DEST_OWNER = "444455556666", "123456789012"


class Context:
    aws_request_id = "req-acct"
    function_name = "resizer-thumbnailer"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:resizer-thumbnailer"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("SOURCE_PREFIX", "DEST_PREFIX", "RESULTS_PREFIX", "SIZES", "OUTPUT_FORMAT",
                 "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "SOURCE_BUCKET_OWNER", "DEST_BUCKET_OWNER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEST_BUCKET", DST)
    monkeypatch.setenv("SIZES", "64x64")
    with mock_aws():
        client = Target(Settings(target="aws")).client("s3")
        client.create_bucket(Bucket=SRC)
        client.create_bucket(Bucket=DST)
        monkeypatch.setattr(handler_mod, "client_factory", lambda: client)
        handler_mod.reset_client()
        yield client
    handler_mod.reset_client()


def event(*keys: str) -> dict[str, Any]:
    return {"Records": [
        {"eventName": "ObjectCreated:Put",
         "s3": {"bucket": {"name": SRC}, "object": {"key": quote_plus(key, safe="/")}}}
        for key in keys
    ]}


def calls_of(client: Any) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    client.meta.events.register(
        "before-parameter-build.s3.*",
        lambda params, model, **_: seen.append((model.name, dict(params))),
    )
    return seen


def logged(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]


JPEG = encode(photo((200, 150)), "JPEG")


def test_every_call_names_the_owner_of_its_bucket(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_BUCKET_OWNER", SOURCE_OWNER)
    monkeypatch.setenv("DEST_BUCKET_OWNER", DEST_OWNER)
    s3.put_object(Bucket=SRC, Key="raw/a.jpg", Body=JPEG)
    seen = calls_of(s3)
    assert handler(event("raw/a.jpg"), Context())["ok"] == 1
    owners = {(op, p["Bucket"], p.get("ExpectedBucketOwner")) for op, p in seen}
    assert owners == {("GetObject", SRC, SOURCE_OWNER), ("PutObject", DST, DEST_OWNER)}


def test_without_the_variables_the_functions_own_account_is_expected(s3: Any) -> None:
    s3.put_object(Bucket=SRC, Key="raw/a.jpg", Body=JPEG)
    seen = calls_of(s3)
    handler(event("raw/a.jpg"), Context())
    assert {p.get("ExpectedBucketOwner") for _, p in seen} == {"123456789012"}


def test_a_403_for_an_upload_deleted_meanwhile_is_skipped(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without s3:ListBucket, S3 answers 403 (not 404) for a key that does not exist.
    faults.install(Fault("s3", "GetObject", "AccessDenied", "Access Denied", status=403,
                         params={"Key": "raw/gone.jpg"}))
    assert handler(event("raw/gone.jpg"), Context())["skipped"] == 1
    [line] = logged(capsys)
    assert line["event"] == "skipped" and "no longer exists" in line["reason"]
    assert "Contents" not in s3.list_objects_v2(Bucket=DST)


def test_a_403_for_an_upload_that_exists_is_retried(s3: Any) -> None:
    s3.put_object(Bucket=SRC, Key="raw/locked.jpg", Body=JPEG)
    faults.install(Fault("s3", "GetObject", "AccessDenied", "Access Denied", status=403))
    with pytest.raises(RetryableFailure):  # e.g. permissions still propagating
        handler(event("raw/locked.jpg"), Context())


def _record(s3: Any, rel: str) -> dict[str, Any]:
    return dict(json.loads(s3.get_object(Bucket=DST, Key=f"results/{rel}.json")["Body"].read()))


def test_a_thumbnail_key_over_1024_bytes_gets_an_error_record(s3: Any) -> None:
    # raw/ + rel is a valid source key, results/<rel>.json fits, thumbnails/64x64/<rel> not.
    rel = "d/" * 250 + "x" * (1008 - 500 - 4) + ".jpg"
    assert len(f"results/{rel}.json") <= MAX_KEY_BYTES < len(f"thumbnails/64x64/{rel}")
    s3.put_object(Bucket=SRC, Key=f"raw/{rel}", Body=JPEG)
    assert handler(event(f"raw/{rel}"), Context())["error"] == 1  # not raised: not retried
    record = _record(s3, rel)
    assert record["status"] == "error" and record["error"] == "key_too_long"
    assert "over S3's 1024" in record["reason"]


def test_metadata_over_2_kb_gets_an_error_record(s3: Any) -> None:
    rel = "é" * 340 + ".jpg"  # 684 bytes as a key, ~2 KB once percent-encoded
    s3.put_object(Bucket=SRC, Key=f"raw/{rel}", Body=JPEG)
    assert handler(event(f"raw/{rel}"), Context())["error"] == 1
    record = _record(s3, rel)
    assert record["error"] == "key_too_long" and "metadata" in record["reason"]
    assert not [o for o in s3.list_objects_v2(Bucket=DST).get("Contents", [])
                if o["Key"].startswith("thumbnails/")]


def test_no_record_key_possible_is_said_once_and_not_retried(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rel = "y" * 1015
    seen = calls_of(s3)
    assert handler(event(f"raw/{rel}"), Context())["error"] == 1
    assert seen == []  # not even read: nothing could be written for it
    [line] = logged(capsys)
    assert line["error"] == "key_too_long" and "result record" in line["reason"]
