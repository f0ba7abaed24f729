"""`resizer failed` and `resizer retry`: the failed events, and running them again.

A retry sends each key's record (as the failed event held it) to the function in its own
synchronous invoke: one poison image in a backfill batch no longer takes the others down, and
the verdict comes back at once, with Lambda's error if it fails again (a synchronous invoke is
not retried by Lambda, nor sent to the on-failure destination). A failure record is deleted
once every key it names has run through; one whose keys fail again is kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from resizer_cli.aws import Target
from resizer_cli.errors import ResizerError
from resizer_cli.ops.backfill import read_record
from resizer_cli.ops.failures import FailedEvent, list_failed, one_line
from resizer_cli.ops.layout import StackLayout
from resizer_cli.ops.results import FileResult, apply_record, error_text
from resizer_cli.output import Reporter

MAX_PARALLEL = 8


@dataclass
class FailedKey:
    key: str
    events: list[FailedEvent]  # oldest first; every event that names the key

    @property
    def latest(self) -> FailedEvent:
        return self.events[-1]


@dataclass
class RetryRun:
    results: list[FileResult] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)  # failure records deleted
    kept: int = 0  # failure records kept (a key of theirs still fails, or was not retried)
    skipped: list[str] = field(default_factory=list)  # events that are not S3 events


def read_failed(target: Target, layout: StackLayout) -> list[FailedEvent]:
    s3 = target.client("s3", pool_size=20)
    with ThreadPoolExecutor(16, thread_name_prefix="resizer-failed") as pool:
        return list_failed(s3, layout.dest_bucket, layout.failures_prefix,
                           lambda fn, xs: list(pool.map(fn, xs)))


def by_key(events: Sequence[FailedEvent]) -> dict[str, FailedKey]:
    out: dict[str, FailedKey] = {}
    for event in sorted(events, key=lambda e: (e.time, e.record_key)):
        for key in dict.fromkeys(event.keys):
            out.setdefault(key, FailedKey(key, [])).events.append(event)
    return out


def select(
    events: Sequence[FailedEvent], keys: Sequence[str], every: bool, source_prefix: str
) -> tuple[list[FailedKey], list[str]]:
    """(the failed keys chosen, the KEYs given that name no failed event)."""
    known = by_key(events)
    if every:
        return list(known.values()), []
    chosen, unknown = [], []
    for given in dict.fromkeys(keys):
        found = known.get(given) or known.get(source_prefix + given.lstrip("/"))
        if found is None:
            unknown.append(given)
        elif found not in chosen:
            chosen.append(found)
    return chosen, unknown


def _retry_one(
    lam: Any, s3: Any, layout: StackLayout, item: FailedKey
) -> tuple[FileResult, bool]:
    """The key's verdict, and whether the function ran it through (even to a rejection)."""
    record = item.latest.record_for(item.key) or {}
    obj = (record.get("s3") or {}).get("object") or {}
    res = FileResult(file=item.key, key=item.key, bytes=obj.get("size"),
                     etag=str(obj.get("eTag") or "") or None)
    began = time.monotonic()
    resp = lam.invoke(FunctionName=layout.function, InvocationType="RequestResponse",
                      Payload=json.dumps({"Records": [record]}).encode())
    res.latency_ms = int((time.monotonic() - began) * 1000)
    try:
        payload = json.loads(resp["Payload"].read() or b"null")
    except ValueError:
        payload = None
    if resp.get("FunctionError"):
        doc = payload if isinstance(payload, dict) else {}
        res.status = "failed"
        res.error_code = str(doc.get("errorType") or resp["FunctionError"])
        res.error = one_line(str(doc.get("errorMessage") or "the function failed again"))
        return res, False
    summary = payload if isinstance(payload, dict) else {}
    if summary.get("ok") or summary.get("error"):
        found = read_record(s3, layout.dest_bucket, layout.record_key(item.key))
        if found is not None:
            apply_record(res, found)  # a rejection (a corrupt image...) is an answer too
            return res, True
        res.status, res.error = "ok", "done (its result record is not readable)"
    elif summary.get("removed"):
        res.status, res.error = "removed", "its original is gone: outputs deleted"
    else:
        res.status, res.error_code = "skipped", "skipped"
        res.error = "the function skipped it (the object no longer exists?)"
    return res, True


def run_retry(
    target: Target, layout: StackLayout, chosen: Sequence[FailedKey], reporter: Reporter
) -> RetryRun:
    run = RetryRun()
    # Outlast the function's own timeout: a read timeout would make botocore invoke again.
    lam = target.client("lambda", pool_size=MAX_PARALLEL + 2,
                        read_timeout=layout.timeout + 30 if layout.timeout else None)
    s3 = target.client("s3")
    results: dict[str, FileResult] = {}
    done: set[str] = set()
    with reporter.progress(f"retrying {len(chosen)} failed key(s)", len(chosen)) as bar:
        pool = ThreadPoolExecutor(MAX_PARALLEL, thread_name_prefix="resizer-retry")
        try:
            futures = {item.key: pool.submit(_retry_one, lam, s3, layout, item)
                       for item in chosen}
            for key, future in futures.items():
                try:
                    results[key], ran = future.result()
                    if ran:
                        done.add(key)
                except (BotoCoreError, ClientError) as exc:
                    results[key] = FileResult(file=key, key=key, bytes=None, status="failed",
                                              error=f"could not invoke: {error_text(exc)}",
                                              error_code="invoke")
                bar.advance(1)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    run.results = [results[item.key] for item in chosen]
    events = {e.record_key: e for item in chosen for e in item.events}
    for record_key, event in sorted(events.items()):
        if event.keys and all(k in done for k in event.keys):
            try:
                s3.delete_object(Bucket=layout.dest_bucket, Key=record_key)
            except ClientError as exc:
                raise ResizerError(
                    f"could not clear the failure record {record_key}: {error_text(exc)}",
                    "grant s3:DeleteObject on it, or delete it yourself") from None
            run.cleared.append(record_key)
        else:
            run.kept += 1
    return run
