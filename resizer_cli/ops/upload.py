"""Upload images to the source bucket and wait for the thumbnails the handler makes of them.

Files go up concurrently through one s3transfer TransferManager (multipart above a threshold),
each with a Content-Type taken from its bytes when they look like an image. "Done" for a file
is the handler's result record `results/<rel>.json` in the destination bucket whose
`source_etag` equals the ETag of *our* PUT, so a record left by an earlier upload of the same
key never counts.

The stages live in their own modules: collect (paths and keys), transfer, watch (result
records), download; this one runs them.
"""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3transfer.manager import TransferConfig, TransferManager

from resizer_cli.aws import Target
from resizer_cli.ops.collect import UploadItem
from resizer_cli.ops.download import download_thumbnails
from resizer_cli.ops.layout import StackLayout
from resizer_cli.ops.results import FileResult, apply_record, error_text
from resizer_cli.ops.transfer import DoneSubscriber, EtagRecorder, head_etag, transfer_client
from resizer_cli.ops.watch import Clock, Pending, ResultWatcher
from resizer_cli.output import Reporter

MB = 1024 * 1024
DEFAULT_CONCURRENCY = 8
DEFAULT_TIMEOUT = 120.0
MULTIPART_THRESHOLD = 16 * MB
MULTIPART_CHUNK = 16 * MB
POLL_START = 0.25
POLL_MAX = 1.0

# S3 user metadata the handler copies into its result record, so waiting matches this very
# upload even when identical bytes (same ETag) were uploaded before.
UPLOAD_TOKEN_META = "resizer-upload"


@dataclass
class UploadOptions:
    wait: bool = True
    timeout: float = DEFAULT_TIMEOUT
    concurrency: int = DEFAULT_CONCURRENCY
    download: Path | None = None
    multipart_threshold: int = MULTIPART_THRESHOLD
    multipart_chunk: int = MULTIPART_CHUNK


def run_upload(
    target: Target,
    layout: StackLayout,
    items: Sequence[UploadItem],
    options: UploadOptions,
    reporter: Reporter,
    *,
    clock: Clock = time.monotonic,
) -> list[FileResult]:
    """Upload every item; with options.wait, also wait for each one's result record."""
    concurrency = max(1, options.concurrency)
    client = transfer_client(target, concurrency)
    recorder = EtagRecorder(client)
    results = [FileResult(file=str(i.path), key=i.key, bytes=i.size) for i in items]
    done_q: queue.Queue[tuple[int, float]] = queue.Queue()
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="resizer-poll")
    watcher = ResultWatcher(client, layout.dest_bucket, clock=clock, pool=pool)
    config = TransferConfig(
        multipart_threshold=options.multipart_threshold,
        multipart_chunksize=options.multipart_chunk,
        max_request_concurrency=concurrency,
        max_submission_concurrency=min(concurrency, 8),
    )
    total = sum(i.size for i in items)
    interval = POLL_START
    next_poll = clock()

    def finish(found: list[tuple[Pending, dict[str, Any] | None]]) -> None:
        for pend, record in found:
            res = results[pend.index]
            res.latency_ms = int((clock() - pend.since) * 1000)
            if record is None:
                res.status = "timeout"
                res.error = f"no result within {options.timeout:g}s"
                res.error_code = "timeout"
            else:
                apply_record(res, record)

    def poll_if_due() -> None:
        nonlocal interval, next_poll
        if not watcher.pending or clock() < next_poll:
            return
        found = watcher.poll()
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
                res.etag = recorder.get(layout.source_bucket, res.key) or head_etag(
                    client, layout.source_bucket, res.key)
                res.uploaded_at = at
                if not options.wait:
                    res.status = "uploaded"
                    continue
                watcher.add(Pending(index, layout.record_key(res.key), res.etag or "", at,
                                    at + options.timeout, token=tokens[index]))
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
        if options.download is not None:
            download_thumbnails(client, layout.dest_bucket, results, options.download, pool)
    except KeyboardInterrupt:
        cancel = True
        raise
    finally:
        manager.shutdown(cancel=cancel)
        pool.shutdown(wait=False, cancel_futures=True)
    return results
