"""Lambda entry point: S3 ObjectCreated records in, thumbnails and a result record out.
(An API Gateway request for a rendition goes to lambda_handler.web instead.)

Outcomes per record:
- an image: thumbnails + result record {"status": "ok"}, one JSON log line;
- an image we can never process (corrupt, unsupported, too large, not an image): result
  record {"status": "error"} and one JSON error line, and no exception, because Lambda
  would retry it twice for nothing;
- an S3 failure (throttling, timeout, permissions still propagating...): the other records
  are processed first, then the invocation raises so Lambda retries it. Outputs are
  overwritten with the same bytes, so a retry is harmless;
- a deleted original (ObjectRemoved): its outputs are deleted (lambda_handler.removal).

Every S3 call names the account that must own its bucket (see lambda_handler.s3client).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from lambda_handler import removal
from lambda_handler.config import Config, ConfigError
from lambda_handler.freshness import settings_hash
from lambda_handler.keys import (
    is_own_output,
    key_problem,
    metadata_problem,
    metadata_value,
    output_key,
    relative_key,
    result_key,
)
from lambda_handler.s3client import (
    DENIED_CODES,
    MISSING_CODES,
    deleted_meanwhile,
    error_code,
    expected_owner,
    is_transient,
)
from lambda_handler.s3client import default_client as _default_client
from lambda_handler.thumbnail import (
    DEFAULT_RUNTIME_BASELINE_MB,
    Thumbnail,
    ThumbnailError,
    render,
)
from lambda_handler.web import is_http_event

# The seam: tests point this at a client of their own (e.g. one that throttles).
client_factory: Callable[[], Any] = _default_client
_client: Any = None


def s3_client() -> Any:
    """One client per container: made at init inside Lambda, else on first use."""
    global _client
    if _client is None:
        _client = client_factory()
    return _client


def reset_client() -> None:
    global _client
    _client = None


# Inside Lambda the client (botocore's import and S3's service model: most of a cold start) is
# made at init, as AWS advises ("Initialize SDK clients outside of the function handler"):
# every event needs it, so first use would only move the cost into the first request, and
# init is what provisioned concurrency and SnapStart take off the request path
# (benchmarks/bench_cold_start.py). Elsewhere (tests, the CLI) importing stays cheap.
if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    try:
        s3_client()
    except Exception:  # e.g. a bad endpoint: the first event fails on it and logs why
        reset_client()


_pool: ThreadPoolExecutor | None = None


def _put_pool() -> ThreadPoolExecutor:
    """Threads for concurrent PUTs, made once per container (boto3 clients are thread-safe)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="s3-put")
    return _pool


class RetryableFailure(Exception):
    """Raised after all records were tried, when some failed for reasons worth retrying."""


class _S3Failure(Exception):
    def __init__(self, operation: str, exc: Exception) -> None:
        super().__init__(f"{operation}: {exc}")
        self.operation = operation
        self.exc = exc


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if is_http_event(event):  # API Gateway asks for a rendition (lambda_handler.web)
        from lambda_handler.web.serve import handle

        return handle(event, context)
    request_id = getattr(context, "aws_request_id", None)
    try:
        config = Config.from_env()
    except ConfigError as exc:
        _log("error", "config_error", request_id=request_id, reason=str(exc))
        raise
    records = event.get("Records") if isinstance(event, dict) else None
    summary = {"ok": 0, "error": 0, "skipped": 0, "failed": 0}
    if not records:  # e.g. the s3:TestEvent S3 sends when notifications are configured
        _log("info", "no_records", request_id=request_id)
        return summary
    failures: list[BaseException] = []
    for record in records:
        try:
            outcome = _process(record, config, request_id, context)
            summary[outcome] = summary.get(outcome, 0) + 1  # "removed" only when it happens
        except _S3Failure as exc:
            summary["failed"] += 1
            failures.append(exc.exc)
        except Exception as exc:  # a bug of ours: log it, finish the others, then raise
            summary["failed"] += 1
            failures.append(exc)
            _log(
                "error",
                "internal_error",
                request_id=request_id,
                reason=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(),
            )
    if failures:
        raise RetryableFailure(
            f"{len(failures)} of {len(records)} record(s) failed and will be retried: {failures[0]}"
        ) from failures[0]
    return summary


class _OutOfTime(BaseException):
    """The image work would outlive the function's timeout. A BaseException, like
    KeyboardInterrupt, so the image code's catch-all for unexpected errors lets it through."""


@contextmanager
def _time_guard(context: Any) -> Iterator[None]:
    """Stop the image work shortly before Lambda's timeout, so an error record can still be
    written: a timed-out invocation leaves no trace the uploader can see, and Lambda would
    retry it twice to time out again. Needs SIGALRM and the main thread (as in Lambda)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if (
        remaining is None
        or not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    left = remaining() / 1000
    # Keep time for what follows the alarm: finishing the C call it interrupted (a resize of
    # a large image) and the record's PUT.
    budget = left - min(5.0, max(0.5, left * 0.25))
    if budget <= 0:
        raise _OutOfTime

    def on_alarm(signum: int, frame: Any) -> None:
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _process(
    record: dict[str, Any], config: Config, request_id: str | None, context: Any = None
) -> str:
    try:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
    except (KeyError, TypeError):
        _log("error", "skipped", request_id=request_id, reason="not an S3 record")
        return "skipped"
    event_name = str(record.get("eventName", "ObjectCreated:Put"))
    dest = config.dest_bucket or bucket

    def skip(reason: str) -> str:
        _log("info", "skipped", request_id=request_id, bucket=bucket, key=key, reason=reason)
        return "skipped"

    if event_name.startswith(removal.EVENTS):
        return removal.follow(s3_client(), bucket, key, config, request_id, context,
                              log=_log, failure=_s3_failure)
    if not event_name.startswith(("ObjectCreated", "s3:ObjectCreated")):
        return skip(f"event {event_name} is not an upload")
    if is_own_output(bucket, key, dest, config.dest_prefix, config.results_prefix):
        return skip("one of our own outputs")
    rel = relative_key(key, config.source_prefix)
    if rel is None:
        return skip(f"outside the source prefix {config.source_prefix!r}")

    started = time.perf_counter()
    base = {"request_id": request_id, "bucket": bucket, "key": key}
    source_owner = expected_owner("SOURCE_BUCKET_OWNER", context)
    dest_owner = expected_owner("DEST_BUCKET_OWNER", context) if dest != bucket else source_owner
    record_key = result_key(config.results_prefix, rel)
    problem = key_problem(record_key, "its result record")
    if problem:
        # No record can be written under that key: say so once; a retry would fail the same.
        _log("error", "rejected", **base, error="key_too_long", reason=problem)
        return "error"
    try:
        obj = s3_client().get_object(Bucket=bucket, Key=key, **source_owner)
    except Exception as exc:
        code = error_code(exc)
        if code in MISSING_CODES:
            return skip("the object no longer exists")
        if code in DENIED_CODES and deleted_meanwhile(s3_client(), bucket, key, source_owner):
            return skip("the object no longer exists (S3 answered 403)")
        raise _s3_failure("GetObject", exc, base) from exc
    etag = str(obj.get("ETag", "")).strip('"')
    size = int(obj.get("ContentLength") or 0)
    record_base = {
        "source_bucket": bucket,
        "source_key": key,
        "source_etag": etag,
        "source_size": size,
        # Set by `resizer upload` so it can tell this run's record from an earlier one.
        "upload_token": (obj.get("Metadata") or {}).get("resizer-upload"),
        "settings_hash": settings_hash(config),  # see lambda_handler.freshness
    }

    too_big = _too_big_to_read(size, config)
    if too_big:
        obj["Body"].close()
        err = ThumbnailError("too_large", too_big)
        return _reject(config, dest, rel, record_base, err, started, base, dest_owner)
    try:
        data = obj["Body"].read()
    except Exception as exc:
        raise _s3_failure("GetObject", exc, base) from exc

    try:
        with _time_guard(context):
            rendering = render(
                data,
                config.sizes,
                fit=config.fit,
                gravity=config.gravity,
                output_format=config.output_format,
                quality=config.quality,
                max_pixels=config.max_pixels,
                memory_limit_mb=config.memory_mb,
            )
    except ThumbnailError as err:
        return _reject(config, dest, rel, record_base, err, started, base, dest_owner)
    except _OutOfTime:
        slow = ThumbnailError(
            "too_slow",
            f"making the thumbnails did not finish within the function's timeout "
            f"(stopped after {_ms(started) / 1000:.1f} s); raise the timeout, or the memory "
            "(which also gives the function more CPU)",
        )
        return _reject(config, dest, rel, record_base, slow, started, base, dest_owner)
    del data

    source = rendering.source
    metadata = {
        "source-bucket": metadata_value(bucket),
        "source-key": metadata_value(key),
        "source-etag": metadata_value(etag),
    }
    client = s3_client()
    out_keys = [output_key(config.dest_prefix, t.size, rel, t.format) for t in rendering.thumbnails]
    # S3 refuses keys over 1024 bytes and metadata over 2 KB: a permanent error, so record it
    # rather than let Lambda retry it twice.
    too_long = next(
        (p for p in (key_problem(k, "a thumbnail") for k in out_keys) if p), None
    ) or metadata_problem(metadata)
    if too_long:
        long_key = ThumbnailError("key_too_long", too_long)
        return _reject(config, dest, rel, record_base, long_key, started, base, dest_owner)

    def put_thumbnail(thumb: Thumbnail, out_key: str) -> None:
        client.put_object(
            Bucket=dest,
            Key=out_key,
            Body=thumb.data,
            ContentType=thumb.content_type,
            CacheControl=config.cache_control,
            Metadata=metadata,
            **dest_owner,
        )

    # The sizes are written at the same time: each PUT is mostly waiting for S3. All of them
    # finish before anything is raised, so no write outlives the invocation.
    futures = [_put_pool().submit(put_thumbnail, t, k)
               for t, k in zip(rendering.thumbnails, out_keys, strict=True)]
    wait(futures)
    outputs: list[dict[str, Any]] = []
    for thumb, out_key, future in zip(rendering.thumbnails, out_keys, futures, strict=True):
        put_error = future.exception()
        if put_error is not None:
            raise _s3_failure("PutObject", put_error, base) from put_error  # type: ignore[arg-type]
        outputs.append(
            {
                "key": out_key,
                "width": thumb.width,
                "height": thumb.height,
                "bytes": thumb.bytes,
                "format": thumb.format,
                "content_type": thumb.content_type,
            }
        )
    ms = _ms(started)
    result = {
        "status": "ok",
        **record_base,
        "width": source.width,
        "height": source.height,
        "format": source.format,
        "outputs": outputs,
        "error": None,
        "reason": None,
        "ms": ms,
        "time": _now(),
    }
    _write_result(config, dest, rel, result, base, dest_owner)
    _log(
        "info",
        "thumbnails",
        **base,
        etag=etag,
        input_bytes=size,
        width=source.width,
        height=source.height,
        format=source.format,
        decoded=f"{source.decoded_width}x{source.decoded_height}",
        outputs=[{k: o[k] for k in ("key", "width", "height", "bytes")} for o in outputs],
        ms=ms,
    )
    return "ok"


def _reject(
    config: Config,
    dest: str,
    rel: str,
    record_base: dict[str, Any],
    err: ThumbnailError,
    started: float,
    base: dict[str, Any],
    owner: dict[str, str] | None = None,
) -> str:
    ms = _ms(started)
    result = {
        "status": "error",
        **record_base,
        "width": None,
        "height": None,
        "format": None,
        "outputs": [],
        "error": err.kind,
        "reason": err.reason,
        "ms": ms,
        "time": _now(),
    }
    extra: dict[str, Any] = {}
    if err.kind == "internal" and err.__cause__ is not None:
        extra["traceback"] = "".join(traceback.format_exception(err.__cause__))
    # The record first: if writing it fails, the S3 error is raised and Lambda retries.
    _write_result(config, dest, rel, result, base, owner or {})
    _log(
        "error",
        "rejected",
        **base,
        etag=record_base["source_etag"],
        input_bytes=record_base["source_size"],
        error=err.kind,
        reason=err.reason,
        ms=ms,
        **extra,
    )
    return "error"


def _too_big_to_read(size: int, config: Config) -> str | None:
    """Refuse, before downloading, a file that could not even be held in memory."""
    if config.memory_mb is None:
        return None
    # The bytes, plus at least as much again for the decoded pixels, beside the runtime.
    needed = 2 * size + DEFAULT_RUNTIME_BASELINE_MB * 2**20
    if needed <= config.memory_mb * 2**20:
        return None
    return (
        f"the file is {size / 2**20:.0f} MB, too big for a function with "
        f"{config.memory_mb} MB of memory"
    )


def _write_result(
    config: Config,
    dest: str,
    rel: str,
    result: dict[str, Any],
    base: dict[str, Any],
    owner: dict[str, str],
) -> None:
    try:
        s3_client().put_object(
            Bucket=dest,
            Key=result_key(config.results_prefix, rel),
            Body=json.dumps(result, ensure_ascii=False).encode("utf-8"),
            ContentType="application/json",
            CacheControl="no-cache",
            **owner,
        )
    except Exception as exc:
        raise _s3_failure("PutObject", exc, base) from exc


def _s3_failure(operation: str, exc: Exception, base: dict[str, Any]) -> _S3Failure:
    _log(
        "error",
        "s3_error",
        **base,
        operation=operation,
        error=error_code(exc) or type(exc).__name__,
        reason=str(exc),
        transient=is_transient(exc),
        retry=True,
    )
    return _S3Failure(operation, exc)


def _log(level: str, event: str, **fields: Any) -> None:
    line = {"level": level, "event": event, **{k: v for k, v in fields.items() if v is not None}}
    text = json.dumps(line, ensure_ascii=False, default=str)
    try:
        sys.stdout.write(text + "\n")
    except UnicodeEncodeError:  # a stdout that is not UTF-8
        sys.stdout.write(json.dumps(line, default=str) + "\n")
    sys.stdout.flush()


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
