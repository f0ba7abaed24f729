"""The function's failed events, as Lambda keeps them in the destination bucket.

Each failed asynchronous invocation (all attempts used up, or too old in Lambda's queue) is one
JSON invocation record at aws/lambda/async/<function>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>
(see resizer_cli.deploy.async_invoke). The keys sort by time, so "what failed since T" is one
listing that starts after T's key. The request payload is the S3 event that failed (several
records for a backfill batch); the response payload is what Lambda said, e.g.
{"errorType": "Runtime.OutOfMemory", "errorMessage": "RequestId: … Error: Runtime exited …"}.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from resizer_cli.errors import error_code

# Lambda writes a record once the last attempt is over; its timestamp (in the key) may lag or
# lead our clock: listings re-read this much before the newest key seen.
TRAILING = timedelta(seconds=60)
_DENIED = ("AccessDenied", "403")
_MISSING = ("NoSuchKey", "404")


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class FailedEvent:
    record_key: str  # where Lambda put the invocation record
    time: str  # its timestamp (ISO 8601, UTC)
    request_id: str
    condition: str  # RetriesExhausted or EventAgeExceeded
    attempts: int
    error_type: str | None
    error_message: str | None
    records: list[dict[str, Any]] = field(default_factory=list)  # the event's S3 records

    @property
    def keys(self) -> list[str]:
        """The source keys of the event, decoded as the function decodes them."""
        out = []
        for record in self.records:
            key = ((record.get("s3") or {}).get("object") or {}).get("key")
            if isinstance(key, str):
                out.append(unquote_plus(key))
        return out

    def etag_of(self, key: str) -> str | None:
        for record in self.records:
            obj = (record.get("s3") or {}).get("object") or {}
            if isinstance(obj.get("key"), str) and unquote_plus(obj["key"]) == key:
                return str(obj.get("eTag") or "").strip('"').lower() or None
        return None

    def record_for(self, key: str) -> dict[str, Any] | None:
        for record in self.records:
            obj = (record.get("s3") or {}).get("object") or {}
            if isinstance(obj.get("key"), str) and unquote_plus(obj["key"]) == key:
                return record
        return None

    @property
    def error(self) -> str:
        """What Lambda said, in one line."""
        if self.error_message:
            return one_line(self.error_message)
        if self.condition == "EventAgeExceeded":
            return "the event waited longer than its maximum age and was not run"
        return self.condition or "failed"

    def to_json(self, key: str | None) -> dict[str, Any]:
        return {
            "key": key, "time": self.time, "attempts": self.attempts,
            "error_type": self.error_type, "error": self.error, "condition": self.condition,
            "request_id": self.request_id, "record_key": self.record_key,
        }


def parse(record_key: str, doc: Any) -> FailedEvent:
    doc = doc if isinstance(doc, dict) else {}
    ctx = doc.get("requestContext") or {}
    payload = doc.get("requestPayload")
    records = payload.get("Records") if isinstance(payload, dict) else None
    response = doc.get("responsePayload")
    error_type = error_message = None
    if isinstance(response, dict):
        error_type = response.get("errorType")
        error_message = response.get("errorMessage")
    elif response is not None:
        error_message = str(response)
    try:
        attempts = int(ctx.get("approximateInvokeCount") or 0)
    except (TypeError, ValueError):
        attempts = 0
    return FailedEvent(
        record_key=record_key,
        time=str(doc.get("timestamp") or ""),
        request_id=str(ctx.get("requestId") or ""),
        condition=str(ctx.get("condition") or ""),
        attempts=attempts,
        error_type=str(error_type) if error_type else None,
        error_message=str(error_message) if error_message else None,
        records=[r for r in records if isinstance(r, dict)] if isinstance(records, list) else [],
    )


def key_at(prefix: str, when: datetime) -> str:
    """The key of a record written at `when` (less its uuid): listings start after it."""
    when = when.astimezone(UTC)
    return f"{prefix}{when:%Y/%m/%d}/{when:%Y-%m-%dT%H.%M.%S}"


def time_of(prefix: str, key: str) -> datetime | None:
    try:
        stamp = key[len(prefix):].split("/")[3][:19]
        return datetime.strptime(stamp, "%Y-%m-%dT%H.%M.%S").replace(tzinfo=UTC)
    except (IndexError, ValueError):
        return None


def list_keys(s3: Any, bucket: str, prefix: str, start_after: str | None = None
              ) -> Iterator[str]:
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if start_after:
        kwargs["StartAfter"] = start_after
    for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
        for obj in page.get("Contents", []):
            yield str(obj["Key"])


def read(s3: Any, bucket: str, key: str) -> FailedEvent | None:
    """One record; None when it is gone (cleared meanwhile)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in _MISSING:
            return None
        raise
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {"requestContext": {"condition": "unreadable invocation record"}}
    return parse(key, doc)


def list_failed(
    s3: Any, bucket: str, prefix: str,
    mapper: Callable[[Callable[[str], FailedEvent | None], list[str]], list[Any]] | None = None,
) -> list[FailedEvent]:
    """Every failed event kept, oldest first."""
    keys = list(list_keys(s3, bucket, prefix))
    reads = (mapper or (lambda fn, xs: [fn(x) for x in xs]))(lambda k: read(s3, bucket, k), keys)
    return [e for e in reads if e is not None]


class FailureWatch:
    """The failure records that land while a watcher waits (for ResultWatcher)."""

    def __init__(self, s3: Any, bucket: str, prefix: str, since: datetime) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.floor = since - TRAILING
        self.seen: set[str] = set()
        self.enabled = bool(prefix)
        self.requests = 0

    def poll(self) -> list[FailedEvent]:
        """Records not seen before, listed from a little before the newest one seen."""
        if not self.enabled:
            return []
        new: list[FailedEvent] = []
        newest = self.floor
        try:
            self.requests += 1
            keys = [k for k in list_keys(self.s3, self.bucket, self.prefix,
                                         key_at(self.prefix, self.floor))
                    if k not in self.seen]
            for key in keys:
                self.requests += 1
                event = read(self.s3, self.bucket, key)
                self.seen.add(key)
                stamp = time_of(self.prefix, key)
                if stamp is not None:
                    newest = max(newest, stamp)
                if event is not None:
                    new.append(event)
        except ClientError as exc:
            if error_code(exc) not in _DENIED:
                raise
            self.enabled = False  # no right to read them: files wait for their timeout
            return new
        self.floor = max(self.floor, newest - TRAILING)
        return new
