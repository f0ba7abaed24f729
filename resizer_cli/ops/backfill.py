"""`resizer backfill`: thumbnails for objects already in the source prefix, made in Lambda.

1. Compare. One paginated listing of the sources and one of the result records (1,000 keys a
   request). An object with no record, or a record older than the object, is stale without
   further ado; a record at least as new is read (small GETs, in parallel) and the object is
   up to date when the record was made from its bytes (`source_etag`) with the deployed
   settings (`settings_hash`, lambda_handler.freshness). A second run so sends nothing, and an
   interrupted run resumes where it stopped.
2. Send. S3-shaped records, `batch` to an asynchronous invoke (ops.fanout), never more in
   flight than `concurrency` x max(2 x `batch`, 40) records, where concurrency is the
   function's reserved concurrency (or --concurrency, or 10): enough queued work per slot to
   hide the polling delay, little enough that nothing waits long in Lambda's queue. In flight
   ends when the file's result record lands (ops.watch, listing only the window's span of
   keys), or Lambda's record of its failed event does (ops.failures).
3. With `wait`, the tail is waited for, and each file gets upload's verdict; with `prune`
   (which waits), renditions the stack no longer makes are removed (ops.prune).
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_handler.freshness import is_current
from resizer_cli.aws import Target
from resizer_cli.errors import ResizerError, error_code
from resizer_cli.ops import prune
from resizer_cli.ops.access import check_wait_access
from resizer_cli.ops.failures import FailureWatch
from resizer_cli.ops.fanout import (
    DEFAULT_BATCH,
    DEFAULT_CONCURRENCY,
    SourceObject,
    batches,
    concurrency_of,
    invoke_async,
    s3_record,
)
from resizer_cli.ops.layout import StackLayout
from resizer_cli.ops.paused import check_not_paused
from resizer_cli.ops.results import FileResult, apply_failure, apply_record, error_text
from resizer_cli.ops.watch import Clock, Finished, Pending, ResultWatcher, unquote_etag
from resizer_cli.output import Reporter

DEFAULT_TIMEOUT = 300.0  # per file, from the moment it is sent
POLL_START = 0.25
POLL_MAX = 1.0
READERS = 32  # parallel GETs of result records while comparing
SENDERS = 8  # parallel Invoke calls
PER_SLOT = 40  # records queued per concurrent invocation, at least (see the docstring)
SENT = "sent to the function; not waited for (pass --wait for its verdict)"


@dataclass
class BackfillOptions:
    prefix: str = ""  # below the source prefix
    wait: bool = False
    prune: bool = False
    batch: int = DEFAULT_BATCH
    concurrency: int | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass
class Comparison:
    listed: int
    stale: list[SourceObject]
    current: dict[str, dict[str, Any]]  # source key -> its current record ({} when not read)
    started: datetime  # S3's clock when the listing began
    sources: set[str] = field(default_factory=set)
    versions: dict[str, str] = field(default_factory=dict)  # record key -> its listed ETag
    read: int = 0  # records read to decide


@dataclass
class BackfillRun:
    listed: int = 0
    up_to_date: int = 0
    results: list[FileResult] = field(default_factory=list)  # one per object sent
    invocations: int = 0
    concurrency: int = 0
    batch: int = DEFAULT_BATCH
    seconds: float = 0.0  # from the first invoke to the last verdict (or the last send)
    waited: bool = False
    pruned: int | None = None
    prune_kept: int = 0
    failure: ResizerError | None = None

    @property
    def sent(self) -> int:
        return len(self.results)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for res in self.results:
            out[res.status] = out.get(res.status, 0) + 1
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "listed": self.listed, "up_to_date": self.up_to_date, "sent": self.sent,
            "invocations": self.invocations, "batch": self.batch,
            "concurrency": self.concurrency, "seconds": round(self.seconds, 3),
            "images_per_second": round(self.rate, 2), "waited": self.waited,
            "statuses": self.counts(), "pruned": self.pruned,
            "prune_kept_unknown": self.prune_kept,
        }

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "files": [r.to_json() for r in self.results]}


def scope_of(prefix: str, layout: StackLayout) -> str:
    """--prefix as a path below the source prefix (given with or without it)."""
    prefix = prefix.lstrip("/")
    if layout.source_prefix and prefix.startswith(layout.source_prefix):
        prefix = prefix[len(layout.source_prefix):]
    return prefix


def _response_time(page: dict[str, Any]) -> datetime | None:
    date = page.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None


def list_sources(s3: Any, bucket: str, prefix: str) -> tuple[list[SourceObject], datetime]:
    """Every object under the prefix (folder markers aside), and S3's time of the listing."""
    out: list[SourceObject] = []
    started: datetime | None = None
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        started = started or _response_time(page)
        for obj in page.get("Contents", []):
            key = str(obj["Key"])
            if key.endswith("/"):
                continue
            out.append(SourceObject(key, unquote_etag(obj.get("ETag")), int(obj.get("Size", 0)),
                                    obj["LastModified"]))
    return out, started or datetime.now(UTC)


def list_records(s3: Any, bucket: str, prefix: str) -> dict[str, tuple[datetime, str]]:
    """record key -> (LastModified, ETag as listed)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {str(o["Key"]): (o["LastModified"], str(o.get("ETag", "")))
            for page in pages for o in page.get("Contents", [])}


def read_record(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            return None
        raise
    try:
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def compare(
    s3: Any, layout: StackLayout, scope: str, pool: ThreadPoolExecutor, *, read_all: bool = False
) -> Comparison:
    """Which objects are stale. Read only the records the listings cannot settle, unless
    `read_all` (prune needs every current record's outputs)."""
    sources, started = list_sources(s3, layout.source_bucket, layout.source_prefix + scope)
    records = list_records(s3, layout.dest_bucket, layout.results_prefix + scope)
    # A record written after the function last changed (and after the longest invocation
    # that could still have run the code before) holds the deployed settings hash.
    settled = (layout.function_modified + timedelta(seconds=layout.timeout + 1)
               if layout.function_modified and not read_all else None)
    stale: list[SourceObject] = []
    to_read: list[SourceObject] = []
    current: dict[str, dict[str, Any]] = {}
    for obj in sources:
        listed = records.get(layout.record_key(obj.key))
        written = listed[0] if listed else None
        # Listings give times to the second: a record of the same second may still be ours,
        # or an earlier upload's.
        if written is None or written < obj.last_modified:
            stale.append(obj)
        elif settled is not None and written > obj.last_modified and written > settled:
            current[obj.key] = {}
        else:
            to_read.append(obj)
    reads = list(pool.map(
        lambda o: read_record(s3, layout.dest_bucket, layout.record_key(o.key)), to_read))
    for obj, record in zip(to_read, reads, strict=True):
        if record is not None and is_current(record, obj.etag, layout.settings_hash):
            current[obj.key] = record
        else:
            stale.append(obj)
    stale.sort(key=lambda o: o.key)
    return Comparison(len(sources), stale, current, started, {o.key for o in sources},
                      {key: etag for key, (_, etag) in records.items()}, len(to_read))


def run_backfill(
    target: Target,
    layout: StackLayout,
    options: BackfillOptions,
    reporter: Reporter,
    *,
    clock: Clock = time.monotonic,
) -> BackfillRun:
    wait = options.wait or options.prune
    batch = max(1, options.batch)
    scope = scope_of(options.prefix, layout)
    s3 = target.client("s3", pool_size=READERS + 4)
    lam = target.client("lambda", pool_size=SENDERS + 2)
    check_wait_access(s3, layout, download=False)
    pool = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="resizer-backfill")
    run = BackfillRun(batch=batch, waited=wait)
    try:
        where = f"s3://{layout.source_bucket}/{layout.source_prefix}{scope}"
        with reporter.step(f"compare {where} with the result records") as step:
            cmp = compare(s3, layout, scope, pool, read_all=options.prune)
            run.listed, run.up_to_date = cmp.listed, len(cmp.current)
            step.note(f"{cmp.listed} object(s): {len(cmp.current)} up to date, "
                      f"{len(cmp.stale)} to make")
        if cmp.stale:  # it sends only as fast as results come back: none would
            check_not_paused(target, layout.function, "the backfill",
                             "run the backfill later: nothing was sent")
        reserved = concurrency_of(lam, layout.function)
        run.concurrency = options.concurrency or reserved or DEFAULT_CONCURRENCY
        records = _send_and_watch(target, layout, cmp, run, wait, options.timeout, reporter,
                                  s3, lam, pool, clock)
        if options.prune and run.failure is None:
            _prune(s3, layout, scope, cmp, records, run, reporter)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return run


def _send_and_watch(
    target: Target, layout: StackLayout, cmp: Comparison, run: BackfillRun, wait: bool,
    timeout: float, reporter: Reporter, s3: Any, lam: Any, pool: ThreadPoolExecutor,
    clock: Clock,
) -> dict[str, dict[str, Any]]:
    """Send the stale objects at the function's pace; the records they got, by source key."""
    run.results = [FileResult(file=o.key, key=o.key, bytes=o.size, etag=o.etag)
                   for o in cmp.stale]
    got: dict[str, dict[str, Any]] = {}
    if not cmp.stale:
        return got
    failures = FailureWatch(s3, layout.dest_bucket, layout.failures_prefix, cmp.started)
    watcher = ResultWatcher(s3, layout.dest_bucket, source_bucket=layout.source_bucket,
                            clock=clock, pool=pool, failures=failures, verdicts=wait)
    window = run.concurrency * max(2 * run.batch, PER_SLOT)
    todo = collections.deque(batches(list(range(len(cmp.stale))), run.batch))
    region = target.settings.region
    began = clock()
    interval = POLL_START

    def finish(found: list[Finished], advance: Callable[[float], None]) -> None:
        for done in found:
            res = run.results[done.pending.index]
            res.latency_ms = int((clock() - done.pending.since) * 1000)
            if done.outcome == "listed":  # made; its verdict was not asked for
                res.status, res.error, res.error_code = "sent", SENT, "sent"
            elif done.outcome == "record" and done.record is not None:
                apply_record(res, done.record)
                got[res.key or ""] = done.record
            elif done.outcome == "failed" and done.failure is not None:
                apply_failure(res, done.failure)
            elif done.outcome == "superseded":
                res.status, res.error_code = "superseded", "superseded"
                res.error = f"the object changed while it was sent (now ETag {done.current_etag})"
            else:
                res.status, res.error_code = "timeout", "timeout"
                res.error = f"no result within {timeout:g}s of being sent"
            advance(1)

    def send(indices: list[int]) -> None:
        now = datetime.now(UTC)
        records = [s3_record(layout.source_bucket, region, cmp.stale[i], now,
                             target.partition) for i in indices]
        invoke_async(lam, layout.function, records)

    with reporter.progress(f"backfilling {len(cmp.stale)} object(s)", len(cmp.stale)) as bar:
        try:
            while todo or watcher.pending:
                room = window - len(watcher.pending)
                ready = []
                while todo and room >= len(todo[0]):
                    room -= len(todo[0])
                    ready.append(todo.popleft())
                if ready:
                    list(pool.map(send, ready))
                    sent_at = clock()
                    for indices in ready:
                        run.invocations += 1
                        for i in indices:
                            obj = cmp.stale[i]
                            run.results[i].status = "sent"
                            record_key = layout.record_key(obj.key)
                            watcher.add(Pending(i, record_key, obj.etag, sent_at,
                                                sent_at + timeout, source_key=obj.key,
                                                settings_hash=layout.settings_hash,
                                                seen_version=cmp.versions.get(record_key)))
                if not todo and not wait:
                    break
                time.sleep(interval)
                found = watcher.poll()
                finish(found, bar.advance)
                interval = POLL_START if found else min(interval * 1.5, POLL_MAX)
        except (BotoCoreError, ClientError) as exc:
            run.failure = ResizerError(
                f"backfill stopped: {error_text(exc)}",
                "re-run the same command: what is done is skipped")
        finally:
            run.seconds = clock() - began
    for res in run.results:
        if res.status == "sent":  # in flight when we stopped watching
            res.error, res.error_code = SENT, "sent"
        elif res.status == "pending":  # the run stopped before sending it
            res.status, res.error, res.error_code = "skipped", "not sent: the run stopped", "stop"
    return got


def _prune(
    s3: Any, layout: StackLayout, scope: str, cmp: Comparison,
    made: dict[str, dict[str, Any]], run: BackfillRun, reporter: Reporter,
) -> None:
    records = {**cmp.current, **made}
    expected = {str(o.get("key")) for r in records.values() for o in (r.get("outputs") or [])}
    unknown = [res.key or "" for res in run.results if (res.key or "") not in made]
    with reporter.step("prune renditions the stack no longer makes") as step:
        plan = prune.plan_prune(s3, layout, scope, expected=expected, unknown=unknown,
                                sources=cmp.sources, started=cmp.started)
        run.pruned = prune.delete(s3, layout.dest_bucket, plan.keys)
        run.prune_kept = plan.kept_unknown
        note = f"{run.pruned} removed"
        if plan.kept_unknown:
            note += f", {plan.kept_unknown} kept (their file has no current record)"
        step.note(note)
