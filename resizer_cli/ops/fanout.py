"""Sending work to the function: S3-shaped events, several records per asynchronous invoke.

`resizer backfill` and `resizer retry` do not touch the images themselves: they hand the
function the same records S3 would have sent (`eventName` `ObjectCreated:Backfill`, the key
form-encoded as S3 encodes it), so every object is processed by the deployed code, in Lambda,
with its retries and its on-failure destination. One `Invoke` (InvocationType=Event) carries
up to `batch` records; Lambda queues it and answers 202 at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from botocore.exceptions import ClientError

from resizer_cli.errors import error_code

EVENT_NAME = "ObjectCreated:Backfill"
EVENT_SOURCE = "resizer:backfill"
DEFAULT_BATCH = 10
MAX_BATCH = 100  # ~1.5 KB a record at most: far below Lambda's asynchronous payload limit
# Without a reservation the function shares the account's pool with every other function:
# plan for this many at once unless told (or reserved) otherwise.
DEFAULT_CONCURRENCY = 10


@dataclass(frozen=True)
class SourceObject:
    key: str
    etag: str  # unquoted, lower case
    size: int
    last_modified: datetime


def s3_record(
    bucket: str, region: str, obj: SourceObject, now: datetime, partition: str = "aws"
) -> dict[str, Any]:
    """One record shaped as S3's own (https://docs.aws.amazon.com/AmazonS3/latest/userguide/
    notification-content-structure.html), marked as ours by its source and name."""
    return {
        "eventVersion": "2.1",
        "eventSource": EVENT_SOURCE,
        "awsRegion": region,
        "eventTime": now.astimezone(UTC).isoformat(timespec="milliseconds").replace(
            "+00:00", "Z"),
        "eventName": EVENT_NAME,
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "resizer-backfill",
            "bucket": {"name": bucket, "arn": f"arn:{partition}:s3:::{bucket}"},
            "object": {"key": quote_plus(obj.key, safe="/"), "size": obj.size,
                       "eTag": obj.etag},
        },
    }


def batches(items: Sequence[Any], size: int) -> Iterable[list[Any]]:
    size = max(1, size)
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def concurrency_of(lam: Any, function: str) -> int | None:
    """The function's reserved concurrency, or None when it has none (or we may not ask)."""
    try:
        resp = lam.get_function_concurrency(FunctionName=function)
    except ClientError as exc:
        if error_code(exc) in ("AccessDeniedException", "ResourceNotFoundException"):
            return None
        raise
    value = resp.get("ReservedConcurrentExecutions")
    return int(value) if value is not None else None


def invoke_async(lam: Any, function: str, records: list[dict[str, Any]]) -> str:
    """Queue one event; the request id Lambda gave it."""
    resp = lam.invoke(FunctionName=function, InvocationType="Event",
                      Payload=json.dumps({"Records": records}).encode())
    return str(resp.get("ResponseMetadata", {}).get("RequestId", ""))
