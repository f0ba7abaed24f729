"""Sending the files: one s3transfer TransferManager, and the ETag of each PUT."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from s3transfer.subscribers import BaseSubscriber

from resizer_cli.aws import Target
from resizer_cli.ops.watch import Clock, unquote_etag


def transfer_client(target: Target, concurrency: int) -> Any:
    """An S3 client like target.client('s3') but with a connection pool sized for the uploads."""
    return target.client("s3", pool_size=max(10, concurrency + 4))


class EtagRecorder:
    """Captures the ETag S3 returns for each PutObject / CompleteMultipartUpload by key.

    s3transfer does not return it, and it is what matches a result record to our upload.
    """

    def __init__(self, client: Any) -> None:
        self.etags: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        for op in ("PutObject", "CompleteMultipartUpload"):
            client.meta.events.register(f"before-parameter-build.s3.{op}", self._before)
            client.meta.events.register(f"after-call.s3.{op}", self._after)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["resizer_target"] = (params.get("Bucket"), params.get("Key"))

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        where = context.get("resizer_target")
        if where and parsed.get("ETag"):
            with self._lock:
                self.etags[where] = unquote_etag(parsed["ETag"])

    def get(self, bucket: str, key: str) -> str | None:
        with self._lock:
            return self.etags.get((bucket, key))


class DoneSubscriber(BaseSubscriber):
    def __init__(self, index: int, done: queue.Queue[tuple[int, float]],
                 on_bytes: Callable[[int], None], clock: Clock) -> None:
        self.index = index
        self.done = done
        self.on_bytes = on_bytes
        self.clock = clock

    def on_progress(self, future: Any, bytes_transferred: int, **_: Any) -> None:
        self.on_bytes(bytes_transferred)

    def on_done(self, future: Any, **_: Any) -> None:
        self.done.put((self.index, self.clock()))


def head_etag(s3: Any, bucket: str, key: str) -> str | None:
    # Only if the response hook saw nothing (a plugin swallowed it): ask S3 instead.
    try:
        return unquote_etag(s3.head_object(Bucket=bucket, Key=key).get("ETag"))
    except ClientError:
        return None
