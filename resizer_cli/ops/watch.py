"""Waiting for the handler's result records: which record answers which upload."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from resizer_cli.errors import error_code

Clock = Callable[[], float]
# Below this many pending files one GET each is cheaper than listing.
LIST_MIN_PENDING = 4


def unquote_etag(etag: str | None) -> str:
    return (etag or "").strip().strip('"').lower()


def _common_prefix(keys: list[str]) -> str:
    """Character-wise: an S3 prefix need not end at a slash."""
    first, last = min(keys), max(keys)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


@dataclass
class Pending:
    index: int
    record_key: str
    etag: str
    since: float
    deadline: float
    seen_version: str | None = None  # ETag of a stale record already read: don't read it again
    token: str | None = None  # our upload's UPLOAD_TOKEN_META value, echoed by the handler

    def matches(self, record: dict[str, Any]) -> bool:
        """Is this record the handler's answer to *this* upload, not an earlier one?"""
        echoed = record.get("upload_token")
        if echoed and self.token:
            # Exact even when the same bytes are uploaded again (same ETag).
            return str(echoed) == self.token
        return unquote_etag(str(record.get("source_etag", ""))) == self.etag


class ResultWatcher:
    """Polls the destination bucket for result records matching our uploads.

    With a few pending files it GETs each record; with more it lists under their common
    prefix (one request per 1000 keys) and GETs only records that are new or changed. If the
    listing turns out far larger than what we wait for (an old, busy results/ folder), it falls
    back to per-file GETs.
    """

    def __init__(self, s3: Any, bucket: str, *, clock: Clock = time.monotonic,
                 pool: ThreadPoolExecutor | None = None) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.clock = clock
        self.pool = pool
        self.pending: dict[str, Pending] = {}
        self.listing = True
        self.requests = 0  # for tests and the benchmark: how many S3 calls polling cost

    def add(self, item: Pending) -> None:
        self.pending[item.record_key] = item

    def _changed_keys(self) -> dict[str, str | None]:
        """Record keys worth reading now, with their object ETag when known."""
        if not self.listing or len(self.pending) < LIST_MIN_PENDING:
            return {k: None for k in self.pending}
        prefix = _common_prefix(list(self.pending))
        found: dict[str, str | None] = {}
        listed = 0
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            self.requests += 1
            page = self.s3.list_objects_v2(**kwargs)
            for obj in page.get("Contents", []):
                listed += 1
                pend = self.pending.get(obj["Key"])
                if pend is not None and pend.seen_version != obj.get("ETag"):
                    found[obj["Key"]] = obj.get("ETag")
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                break
        if listed > max(1000, 4 * len(self.pending)):
            self.listing = False
        return found

    def _read(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        try:
            self.requests += 1
            obj = self.s3.get_object(Bucket=self.bucket, Key=key)
            body = obj["Body"].read()
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None, None
            raise
        try:
            record = json.loads(body)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            record = {"status": "error", "error": "unreadable",
                      "reason": "the handler's result record is not a JSON object"}
        return record, obj.get("ETag")

    def poll(self) -> list[tuple[Pending, dict[str, Any] | None]]:
        """One round. Returns finished files: (pending, record), record None on timeout."""
        if not self.pending:
            return []
        keys = self._changed_keys()
        if self.pool is not None and len(keys) > 1:
            reads = list(self.pool.map(self._read, keys))
        else:
            reads = [self._read(k) for k in keys]
        now = self.clock()
        done: list[tuple[Pending, dict[str, Any] | None]] = []
        for key, (record, version) in zip(keys, reads, strict=True):
            pend = self.pending[key]
            if record is None:
                continue
            if pend.matches(record):
                done.append((pend, record))
                del self.pending[key]
            else:
                pend.seen_version = version  # a stale record from an earlier upload
        for key, pend in list(self.pending.items()):
            if now >= pend.deadline:
                done.append((pend, None))
                del self.pending[key]
        return done
