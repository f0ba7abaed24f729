"""Upload images to the source bucket and wait for the thumbnails the handler makes of them.

Files go up concurrently through one s3transfer TransferManager (multipart above a threshold),
each with a Content-Type taken from its bytes when they look like an image. "Done" for a file
is the handler's result record `results/<rel>.json` in the destination bucket that answers
*our* PUT (its upload token, or ETag), so a record left by an earlier upload of the same key
never counts; one made for a newer upload that overwrote ours ends the wait as `superseded`.

A failure after the uploads started (the endpoint goes away while waiting, rights missing)
does not lose what is known: run_upload returns every file's result with the failure, to be
reported last.

The stages live in their own modules: collect (paths and keys), access (rights checked
first), transfer, watch (result records), download; this one runs them.
"""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from s3transfer.manager import TransferConfig, TransferManager

from resizer_cli.aws import Target
from resizer_cli.errors import ResizerError
from resizer_cli.ops.access import check_wait_access
from resizer_cli.ops.collect import UploadItem
from resizer_cli.ops.download import download_thumbnails
from resizer_cli.ops.failures import FailureWatch
from resizer_cli.ops.layout import StackLayout
from resizer_cli.ops.paused import check_not_paused
from resizer_cli.ops.results import (
    SUPERSEDED,
    FileResult,
    apply_failure,
    apply_record,
    error_text,
)
from resizer_cli.ops.transfer import DoneSubscriber, EtagRecorder, head_etag, transfer_client
from resizer_cli.ops.watch import UPLOAD_TOKEN_META, Clock, Finished, Pending, ResultWatcher
from resizer_cli.output import Reporter

MB = 1024 * 1024
DEFAULT_CONCURRENCY = 8
DEFAULT_TIMEOUT = 120.0
MULTIPART_THRESHOLD = 16 * MB
MULTIPART_CHUNK = 16 * MB
POLL_START = 0.25
POLL_MAX = 1.0
UNKNOWN = "its result is unknown: waiting stopped"


@dataclass
class UploadOptions:
    wait: bool = True
    timeout: float = DEFAULT_TIMEOUT
    concurrency: int = DEFAULT_CONCURRENCY
    download: Path | None = None
    multipart_threshold: int = MULTIPART_THRESHOLD
    multipart_chunk: int = MULTIPART_CHUNK


@dataclass
class UploadRun:
    results: list[FileResult]
    failure: ResizerError | None = None  # what stopped the run late; results hold the rest


def run_upload(
    target: Target,
    layout: StackLayout,
    items: Sequence[UploadItem],
    options: UploadOptions,
    reporter: Reporter,
    *,
    clock: Clock = time.monotonic,
) -> UploadRun:
    """Upload every item; with options.wait, also wait for each one's result record."""
    concurrency = max(1, options.concurrency)
    client = transfer_client(target, concurrency)
    if options.wait:
        check_wait_access(client, layout, download=options.download is not None)
        check_not_paused(target, layout.function, "waiting for thumbnails",
                         "pass --no-wait: the uploads' events wait in Lambda's queue (up to "
                         "6 hours) and run once it is lifted")
    recorder = EtagRecorder(client)
    results = [FileResult(file=str(i.path), key=i.key, bytes=i.size) for i in items]
    item_keys = [i.key for i in items]
    done_q: queue.Queue[tuple[int, float]] = queue.Queue()
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="resizer-poll")
    # Lambda's records of failed events land in the same bucket: a file whose event failed
    # is reported then, with Lambda's error, instead of at its timeout.
    failures = FailureWatch(client, layout.dest_bucket, layout.failures_prefix,
                            datetime.now(UTC))
    watcher = ResultWatcher(client, layout.dest_bucket, source_bucket=layout.source_bucket,
                            clock=clock, pool=pool, failures=failures)
    config = TransferConfig(
        multipart_threshold=options.multipart_threshold,
        multipart_chunksize=options.multipart_chunk,
        max_request_concurrency=concurrency,
        max_submission_concurrency=min(concurrency, 8),
    )
    total = sum(i.size for i in items)
    interval = POLL_START
    next_poll = clock()
    failure: ResizerError | None = None

    def finish(found: list[Finished]) -> None:
        for done in found:
            res = results[done.pending.index]
            res.latency_ms = int((clock() - done.pending.since) * 1000)
            if done.outcome == "timeout":
                res.status = "timeout"
                res.error = f"no result within {options.timeout:g}s"
                res.error_code = "timeout"
            elif done.outcome == "failed" and done.failure is not None:
                apply_failure(res, done.failure)
            elif done.outcome == "superseded":
                res.status = "superseded"
                res.error = f"{SUPERSEDED} (it now holds ETag {done.current_etag})"
                res.error_code = "superseded"
            elif done.record is not None:
                apply_record(res, done.record)

    def unknown(res: FileResult) -> None:
        res.status = "uploaded"
        res.error = UNKNOWN
        res.error_code = "wait"

    def poll_if_due() -> None:
        nonlocal interval, next_poll, failure
        if not watcher.pending or clock() < next_poll:
            return
        try:
            found = watcher.poll()
        except (BotoCoreError, ClientError) as exc:
            failure = ResizerError(f"stopped waiting for results: {error_text(exc)}")
            for pend in watcher.pending.values():
                unknown(results[pend.index])
            watcher.pending.clear()
            return
        finish(found)
        interval = POLL_START if found else min(interval * 1.5, POLL_MAX)
        next_poll = clock() + interval

    manager = TransferManager(client, config)
    cancel = False
    try:
        with reporter.progress(f"uploading {len(items)} file(s)", total, bytes_=True) as bar:
            futures: dict[int, Any] = {}
            tokens: dict[int, str] = {}
            for index, item in enumerate(items):
                sub = DoneSubscriber(index, done_q, bar.advance, clock)
                tokens[index] = uuid.uuid4().hex
                futures[index] = manager.upload(
                    str(item.path), layout.source_bucket, item.key,
                    extra_args={
                        "ContentType": item.content_type,
                        "Metadata": {UPLOAD_TOKEN_META: tokens[index]},
                    },
                    subscribers=[sub],
                )
            left = len(futures)
            while left:
                try:
                    index, at = done_q.get(timeout=max(0.01, next_poll - clock())
                                           if watcher.pending else 0.5)
                except queue.Empty:
                    poll_if_due()
                    continue
                left -= 1
                res = results[index]
                try:
                    futures[index].result()
                except Exception as exc:
                    res.status = "failed"
                    res.error = f"upload failed: {error_text(exc)}"
                    res.error_code = "upload"
                    continue
                res.etag = recorder.get(layout.source_bucket, item_keys[index]) or head_etag(
                    client, layout.source_bucket, item_keys[index])
                res.uploaded_at = at
                if not options.wait:
                    res.status = "uploaded"
                    continue
                if failure is not None:
                    unknown(res)
                    continue
                watcher.add(Pending(index, layout.record_key(item_keys[index]), res.etag or "",
                                    at, at + options.timeout, token=tokens[index],
                                    source_key=item_keys[index]))
                if len(watcher.pending) == 1:
                    next_poll = min(next_poll, clock() + POLL_START)
                poll_if_due()
        if watcher.pending:
            waiting = len(watcher.pending)
            with reporter.progress("waiting for thumbnails", waiting) as bar:
                while watcher.pending:
                    wait_for = next_poll - clock()
                    if wait_for > 0:
                        time.sleep(wait_for)
                    poll_if_due()
                    bar.update(completed=waiting - len(watcher.pending))
        # After a late failure the endpoint is likely gone: no downloads to wait out.
        if options.download is not None and failure is None:
            download_thumbnails(client, layout.dest_bucket, results, options.download, pool)
    except KeyboardInterrupt:
        cancel = True
        raise
    finally:
        manager.shutdown(cancel=cancel)
        pool.shutdown(wait=False, cancel_futures=True)
    return UploadRun(results, failure)
