"""The pieces of backfill, prune and failure watching, against moto S3 in-process."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from moto import mock_aws

from resizer_cli.ops import prune
from resizer_cli.ops.backfill import compare, scope_of
from resizer_cli.ops.failures import FailureWatch, key_at, parse
from resizer_cli.ops.fanout import EVENT_NAME, SourceObject, batches, s3_record
from resizer_cli.ops.layout import StackLayout
from resizer_cli.ops.retry import by_key, select
from resizer_cli.ops.watch import Pending, ResultWatcher

SRC, DST, HASH = "bf-src", "bf-dst", "feedfacecafebeef"
LAYOUT = StackLayout(SRC, DST, function="fn", failures_prefix="aws/lambda/async/fn/",
                     settings_hash=HASH)


class Counter:
    def __init__(self, client: Any) -> None:
        self.ops: list[str] = []
        client.meta.events.register("before-call.s3.*", self._hook)

    def _hook(self, model: Any, **_: Any) -> None:
        self.ops.append(model.name)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=SRC)
        client.create_bucket(Bucket=DST)
        yield client


def _put(s3: Any, key: str, body: bytes = b"img", bucket: str = SRC) -> str:
    return str(s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]).strip('"')


def _record(s3: Any, rel: str, etag: str, settings: str = HASH, **extra: Any) -> None:
    doc = {"status": "ok", "source_etag": etag, "settings_hash": settings, "outputs": [],
           **extra}
    s3.put_object(Bucket=DST, Key=f"results/{rel}.json", Body=json.dumps(doc).encode())


def test_compare_reads_only_the_records_that_may_still_be_current(s3: Any) -> None:
    _put(s3, "raw/new.jpg")  # never made
    _record(s3, "cur.jpg", _put(s3, "raw/cur.jpg", b"cur"))
    _record(s3, "oldhash.jpg", _put(s3, "raw/oldhash.jpg", b"o"), settings="0000")
    _put(s3, "raw/changed.jpg", b"v2")
    _record(s3, "changed.jpg", "0" * 32)  # made from other bytes
    _record(s3, "reup.jpg", "0" * 32)
    s3.put_object(Bucket=SRC, Key="raw/folder/", Body=b"")  # a folder marker: not an object
    later = _put(s3, "raw/later.jpg", b"l")
    time.sleep(1.05)  # listings give seconds: the upload below is newer than its record
    _put(s3, "raw/reup.jpg", b"again")
    _record(s3, "later.jpg", later)  # in a later second than its object
    counter = Counter(s3)
    with ThreadPoolExecutor(4) as pool:
        cmp = compare(s3, LAYOUT, "", pool)
        assert cmp.listed == 6
        assert sorted(cmp.current) == ["raw/cur.jpg", "raw/later.jpg"]
        assert [o.key for o in cmp.stale] == sorted(
            ["raw/new.jpg", "raw/oldhash.jpg", "raw/changed.jpg", "raw/reup.jpg"])
        # Two listings, and a GET only for the four records as new as their object.
        assert counter.ops.count("ListObjectsV2") == 2 and counter.ops.count("GetObject") == 4
        assert cmp.sources == {"raw/new.jpg", "raw/cur.jpg", "raw/oldhash.jpg",
                               "raw/changed.jpg", "raw/reup.jpg", "raw/later.jpg"}
        assert cmp.started.tzinfo is not None
        # The function has not changed for an hour: a record written after that, and in a
        # later second than its object, holds the deployed settings; it is not even read.
        settled = dataclasses.replace(LAYOUT, timeout=30,
                                      function_modified=datetime.now(UTC) - timedelta(hours=1))
        counter.ops.clear()
        quick = compare(s3, settled, "", pool)
        assert sorted(quick.current) == ["raw/cur.jpg", "raw/later.jpg"]
        assert counter.ops.count("GetObject") == 3 and quick.current["raw/later.jpg"] == {}
        counter.ops.clear()
        full = compare(s3, settled, "", pool, read_all=True)  # prune needs every record
        assert counter.ops.count("GetObject") == 4 and full.current["raw/later.jpg"]


def test_the_scope_is_below_the_source_prefix() -> None:
    assert scope_of("holiday/2024", LAYOUT) == "holiday/2024"
    assert scope_of("/raw/holiday", LAYOUT) == "holiday"
    assert scope_of("", LAYOUT) == ""


def test_records_are_shaped_as_s3_sends_them() -> None:
    obj = SourceObject("raw/a b+c/été.jpg", "abc", 12, datetime.now(UTC))
    record = s3_record("bucket", "eu-west-1", obj, datetime(2026, 1, 2, tzinfo=UTC))
    assert record["eventName"] == EVENT_NAME and EVENT_NAME.startswith("ObjectCreated")
    assert record["eventTime"] == "2026-01-02T00:00:00.000Z"
    assert record["s3"]["object"] == {"key": "raw/a+b%2Bc/%C3%A9t%C3%A9.jpg", "size": 12,
                                      "eTag": "abc"}
    assert unquote_plus(record["s3"]["object"]["key"]) == obj.key  # as the handler reads it
    assert [len(b) for b in batches(list(range(23)), 10)] == [10, 10, 3]


def test_prune_keeps_current_unknown_young_and_foreign_keys(s3: Any) -> None:
    for key in ("thumbnails/128x128/a.jpg", "thumbnails/64x64/a.jpg",
                "thumbnails/128x128/a.webp", "thumbnails/128x128/sub/u.jpg",
                "thumbnails/128x128/sub/u.v2.jpg", "thumbnails/custom/a.jpg",
                "thumbnails/128x128/gone.jpg", "results/a.jpg.json", "results/gone.jpg.json",
                "other/128x128/a.jpg"):
        s3.put_object(Bucket=DST, Key=key, Body=b"x")
    # raw/sub/u.png's event failed: whatever may be its rendition (u.png, u.jpg...) stays.
    args = {"expected": {"thumbnails/128x128/a.jpg"}, "unknown": ["raw/sub/u.png"],
            "sources": {"raw/a.jpg", "raw/sub/u.png"}}
    later = datetime.now(UTC) + timedelta(hours=1)
    plan = prune.plan_prune(s3, LAYOUT, "", started=later, **args)
    assert plan.keys == ["results/gone.jpg.json", "thumbnails/128x128/a.webp",
                         "thumbnails/128x128/gone.jpg", "thumbnails/128x128/sub/u.v2.jpg",
                         "thumbnails/64x64/a.jpg"]
    assert plan.kept_unknown == 1  # sub/u.jpg
    scoped = prune.plan_prune(s3, LAYOUT, "sub/", started=later, **args)
    assert scoped.keys == ["thumbnails/128x128/sub/u.v2.jpg"]
    # Nothing written since the run began is ever touched.
    earlier = datetime.now(UTC) - timedelta(hours=1)
    assert prune.plan_prune(s3, LAYOUT, "", started=earlier, **args).keys == []
    assert prune.delete(s3, DST, plan.keys) == 5
    assert "thumbnails/custom/a.jpg" in {o["Key"] for o in s3.list_objects_v2(
        Bucket=DST)["Contents"]}


def test_prune_keeps_what_the_http_api_serves_for_an_existing_original(s3: Any) -> None:
    # With the HTTP API on, a 1024 box (API_SIZES) and other formats of the upload sizes are
    # made on request: no result record names them, and they are current while the original
    # exists. Renditions of a gone original, or of a box nobody serves any more, still go.
    for key in ("thumbnails/1024x1024/a.jpg", "thumbnails/128x128/a.webp",
                "thumbnails/1024x1024/gone.avif", "thumbnails/2048x2048/a.jpg"):
        s3.put_object(Bucket=DST, Key=key, Body=b"x")
    layout = dataclasses.replace(LAYOUT, sizes=((128, 128),),
                                 http_sizes=((128, 128), (1024, 1024)))
    later = datetime.now(UTC) + timedelta(hours=1)
    plan = prune.plan_prune(s3, layout, "", expected=set(), unknown=[], sources={"raw/a.jpg"},
                            started=later)
    assert plan.keys == ["thumbnails/1024x1024/gone.avif", "thumbnails/2048x2048/a.jpg"]
    # Without the HTTP API the same renditions are stale.
    plain = prune.plan_prune(s3, LAYOUT, "", expected=set(), unknown=[],
                             sources={"raw/a.jpg"}, started=later)
    assert "thumbnails/128x128/a.webp" in plain.keys


def _lambda_record(keys: list[str], error_type: str = "Runtime.OutOfMemory",
                   when: str = "2026-01-02T03:04:05.678Z") -> dict[str, Any]:
    return {
        "version": "1.0", "timestamp": when,
        "requestContext": {"requestId": "req-1", "functionArn": "arn:aws:lambda:::fn:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {"Records": [
            {"eventName": "ObjectCreated:Put",
             "s3": {"bucket": {"name": SRC}, "object": {"key": k.replace(" ", "+"),
                                                         "eTag": "e-" + k}}}
            for k in keys]},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                            "functionError": "Unhandled"},
        "responsePayload": {"errorType": error_type,
                            "errorMessage": "RequestId: req-1 Error: Runtime exited\n  badly"},
    }


def test_failed_events_parse_and_select_by_key() -> None:
    one = parse("k1", _lambda_record(["raw/a b.jpg", "raw/c.jpg"]))
    assert one.keys == ["raw/a b.jpg", "raw/c.jpg"]
    assert (one.attempts, one.error_type, one.condition) == (3, "Runtime.OutOfMemory",
                                                           "RetriesExhausted")
    assert one.error == "RequestId: req-1 Error: Runtime exited badly"
    assert one.etag_of("raw/c.jpg") == "e-raw/c.jpg"
    two = parse("k2", _lambda_record(["raw/c.jpg"], when="2026-01-03T00:00:00.000Z"))
    stray = parse("k3", {"requestPayload": {"not": "s3"}, "requestContext": {}})
    assert stray.keys == [] and stray.error == "failed"
    keyed = by_key([two, one, stray])
    assert [e.record_key for e in keyed["raw/c.jpg"].events] == ["k1", "k2"]
    chosen, unknown = select([one, two], ["c.jpg", "raw/a b.jpg", "nope.jpg"], False, "raw/")
    assert [c.key for c in chosen] == ["raw/c.jpg", "raw/a b.jpg"] and unknown == ["nope.jpg"]
    assert len(select([one, two], [], True, "raw/")[0]) == 2


def _land(s3: Any, when: datetime, doc: dict[str, Any], n: int = 0) -> str:
    key = f"{key_at(LAYOUT.failures_prefix, when)}-{n:08d}-0000-0000-0000-000000000000"
    s3.put_object(Bucket=DST, Key=key, Body=json.dumps(doc).encode())
    return key


def test_failure_watch_reports_each_new_record_once(s3: Any) -> None:
    now = datetime.now(UTC)
    _land(s3, now - timedelta(hours=2), _lambda_record(["raw/old.jpg"]))  # long before
    watch = FailureWatch(s3, DST, LAYOUT.failures_prefix, now)
    _land(s3, now - timedelta(seconds=20), _lambda_record(["raw/a.jpg"]), 1)  # clock skew
    _land(s3, now + timedelta(seconds=1), _lambda_record(["raw/b.jpg"]), 2)
    assert sorted(k for e in watch.poll() for k in e.keys) == ["raw/a.jpg", "raw/b.jpg"]
    assert watch.poll() == []
    _land(s3, now + timedelta(seconds=2), _lambda_record(["raw/c.jpg"]), 3)
    assert [k for e in watch.poll() for k in e.keys] == ["raw/c.jpg"]


def test_the_watcher_fails_files_named_by_a_failed_event_but_not_finished_ones(s3: Any) -> None:
    etag_a, etag_b = _put(s3, "raw/a.jpg", b"a"), _put(s3, "raw/b.jpg", b"b")
    _put(s3, "raw/c.jpg", b"c")
    _record(s3, "a.jpg", etag_a)  # a made it before the batch died on b
    doc = _lambda_record(["raw/a.jpg", "raw/b.jpg", "raw/c.jpg"])
    for rec, etag in zip(doc["requestPayload"]["Records"], [etag_a, etag_b, "other"],
                         strict=True):
        rec["s3"]["object"]["eTag"] = etag
    now = datetime.now(UTC)
    watcher = ResultWatcher(s3, DST, source_bucket=SRC,
                            failures=FailureWatch(s3, DST, LAYOUT.failures_prefix, now))
    far = time.monotonic() + 600
    for i, (rel, etag) in enumerate((("a.jpg", etag_a), ("b.jpg", etag_b), ("c.jpg", "x"))):
        watcher.add(Pending(i, f"results/{rel}.json", etag, time.monotonic(), far,
                            source_key=f"raw/{rel}", settings_hash=HASH))
    _land(s3, now, doc)
    done = {d.pending.source_key: d for d in watcher.poll()}
    assert done["raw/a.jpg"].outcome == "record"
    assert done["raw/b.jpg"].outcome == "failed" and done["raw/b.jpg"].failure is not None
    assert "raw/c.jpg" not in done  # the event held other bytes of c: not this file's failure


def test_the_watcher_lists_only_the_span_of_keys_it_waits_for(s3: Any) -> None:
    for i in range(1200):
        s3.put_object(Bucket=DST, Key=f"results/img{i:05d}.jpg.json", Body=b"{}")
    watcher = ResultWatcher(s3, DST)
    for i in range(600, 610):
        watcher.add(Pending(i, f"results/img{i:05d}.jpg.json", "e", time.monotonic(),
                            time.monotonic() + 60))
    counter = Counter(s3)
    watcher.poll()
    # One page from just before the first key, stopped past the last: not the 1,200 keys.
    assert counter.ops.count("ListObjectsV2") == 1
    assert watcher.listing
