"""Waiting for the handler's result records: which record answers which upload.

A record answers our upload when it echoes our upload token (or, from other uploaders, our
ETag). A record that does not is either left from an earlier upload or made for a newer one
that overwrote ours (two runs uploading the same key). One HEAD of the source object tells
them apart: if it no longer carries our token, ours was superseded and its own record will
never come, so the file is finished at once instead of at its timeout. The same check runs,
unprompted, for files pending CHECK_AFTER seconds (then at doubling intervals) and at the
deadline: the newer upload's record may be slow to come, or never come.

A file whose event failed in Lambda (every attempt killed, crashed or timed out) has no record
to wait for: with a `FailureWatch`, the invocation record Lambda keeps for it in the same
bucket finishes the file as failed, with Lambda's error, as soon as it lands. Files sent by
`resizer backfill` carry no upload token: their record must echo the deployed settings hash.
A backfill that only paces itself (no `--wait`) asks for no verdicts: a record whose listed
ETag differs from the stale one it replaces finishes its file unread (`listed`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from resizer_cli.errors import error_code
from resizer_cli.ops.failures import FailedEvent, FailureWatch

Clock = Callable[[], float]
# S3 user metadata `resizer upload` sets on each PUT; the handler copies it into its result
# record, so waiting matches this very upload even when identical bytes were uploaded before.
UPLOAD_TOKEN_META = "resizer-upload"
# Below this many pending files one GET each is cheaper than listing.
LIST_MIN_PENDING = 4
# A file still pending this long gets its source object checked, then again after twice as
# long: a busy function may take a while to write the newer upload's record.
CHECK_AFTER = 5.0
CHECKS_PER_POLL = 64


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
    source_key: str | None = None  # where we uploaded it: is our object still there?
    next_check: float | None = None  # when to look at the source object unprompted
    settings_hash: str | None = None  # backfill: the record must be made with these settings

    def matches(self, record: dict[str, Any]) -> bool:
        """Is this record the handler's answer to *this* upload, not an earlier one?"""
        echoed = record.get("upload_token")
        if echoed and self.token:
            # Exact even when the same bytes are uploaded again (same ETag).
            return str(echoed) == self.token
        if self.settings_hash and record.get("settings_hash") != self.settings_hash:
            return False
        return unquote_etag(str(record.get("source_etag", ""))) == self.etag


@dataclass(frozen=True)
class Finished:
    """A file the watcher is done with: `outcome` is record, listed (a new record, unread),
    failed, superseded or timeout."""

    pending: Pending
    outcome: str
    record: dict[str, Any] | None = None
    current_etag: str | None = None  # superseded: the ETag of the object that replaced ours
    failure: FailedEvent | None = None  # failed: Lambda's record of the event


class ResultWatcher:
    """Polls the destination bucket for result records matching our uploads.

    With a few pending files it GETs each record; with more it lists under their common
    prefix (one request per 1000 keys) and GETs only records that are new or changed. If the
    listing turns out far larger than what we wait for (an old, busy results/ folder), it falls
    back to per-file GETs.
    """

    def __init__(self, s3: Any, bucket: str, *, source_bucket: str | None = None,
                 clock: Clock = time.monotonic, pool: ThreadPoolExecutor | None = None,
                 failures: FailureWatch | None = None, verdicts: bool = True) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.source_bucket = source_bucket  # None: never check for superseded uploads
        self.clock = clock
        self.pool = pool
        self.failures = failures
        self.verdicts = verdicts  # False: a changed record in a listing is enough
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
        # Only the span of keys we wait for (a backfill waits for a sliding window of a long
        # sorted listing): start just before the first, stop after the last.
        first, last = min(self.pending), max(self.pending)
        found: dict[str, str | None] = {}
        listed = 0
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            elif len(first) > len(prefix):
                kwargs["StartAfter"] = first[:-1]
            self.requests += 1
            page = self.s3.list_objects_v2(**kwargs)
            past = False
            for obj in page.get("Contents", []):
                if obj["Key"] > last:
                    past = True
                    break
                listed += 1
                pend = self.pending.get(obj["Key"])
                if pend is not None and pend.seen_version != obj.get("ETag"):
                    found[obj["Key"]] = obj.get("ETag")
            token = page.get("NextContinuationToken")
            if past or not page.get("IsTruncated") or not token:
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

    def replaced_by(self, pend: Pending) -> str | None:
        """The ETag of the object now at our source key if another upload replaced ours;
        None while ours is there, or when S3 will not say (gone, or no s3:GetObject)."""
        if self.source_bucket is None or not pend.source_key or not (pend.token or pend.etag):
            return None
        try:
            self.requests += 1
            head = self.s3.head_object(Bucket=self.source_bucket, Key=pend.source_key)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "403", "AccessDenied"):
                return None
            raise
        current = unquote_etag(head.get("ETag"))
        if pend.token is None:  # sent by backfill: replaced when its bytes changed
            return None if current == pend.etag else current or "unknown"
        if (head.get("Metadata") or {}).get(UPLOAD_TOKEN_META) == pend.token:
            return None
        return current or "unknown"

    @staticmethod
    def _due(pend: Pending) -> float:
        return pend.since + CHECK_AFTER if pend.next_check is None else pend.next_check

    def _map(self, fn: Callable[[Any], Any], args: list[Any]) -> list[Any]:
        if self.pool is not None and len(args) > 1:
            return list(self.pool.map(fn, args))
        return [fn(a) for a in args]

    def poll(self) -> list[Finished]:
        """One round: the files answered, superseded or timed out since the last one."""
        if not self.pending:
            return []
        # Failure records first: a result record written before one of them is then seen by
        # the listing below, so a file that succeeded is never taken for a failed one.
        failed = self.failures.poll() if self.failures is not None else []
        keys = self._changed_keys()
        done: list[Finished] = []
        if not self.verdicts:
            for key in [k for k, version in keys.items() if version is not None]:
                done.append(Finished(self.pending.pop(key), "listed"))
                del keys[key]
        reads = self._map(self._read, list(keys))
        now = self.clock()
        suspects: list[Pending] = []
        for key, (record, version) in zip(keys, reads, strict=True):
            pend = self.pending[key]
            if record is None:
                continue
            if pend.matches(record):
                done.append(Finished(pend, "record", record))
                del self.pending[key]
            else:
                pend.seen_version = version  # not ours: don't read it again until it changes
                suspects.append(pend)
        if failed:
            done += self._failed(failed)
        expired = [p for p in self.pending.values() if now >= p.deadline]
        due = sorted((p for p in self.pending.values() if now >= self._due(p)),
                     key=self._due)[:CHECKS_PER_POLL]  # a few per round: polling stays quick
        listed = {p.record_key for p in suspects}
        for pend in expired + due:
            if pend.record_key not in listed:
                listed.add(pend.record_key)
                suspects.append(pend)
        for pend, current in zip(suspects, self._map(self.replaced_by, suspects), strict=True):
            if current is not None:
                done.append(Finished(pend, "superseded", current_etag=current))
                del self.pending[pend.record_key]
            else:
                pend.next_check = now + max(CHECK_AFTER, now - pend.since)
        for key, pend in list(self.pending.items()):
            if now >= pend.deadline:
                done.append(Finished(pend, "timeout"))
                del self.pending[key]
        return done

    def _failed(self, events: list[FailedEvent]) -> list[Finished]:
        """Pending files named by failed events (same key, and our bytes when it says)."""
        by_source = {p.source_key: p for p in self.pending.values() if p.source_key}
        done = []
        for event in events:
            for key in event.keys:
                pend = by_source.get(key)
                etag = event.etag_of(key)
                if pend is None or (etag and pend.etag and etag != pend.etag):
                    continue
                done.append(Finished(pend, "failed", failure=event))
                del self.pending[pend.record_key]
                del by_source[key]
        return done
