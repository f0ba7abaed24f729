"""Failed asynchronous invocations kept, as Lambda keeps them in an S3 on-failure destination.

When an event's last attempt fails (the retries configured with PutFunctionEventInvokeConfig
are used up), or it waited in the queue longer than its maximum age, Lambda sends an
invocation record to the function's on-failure destination. For an S3 bucket it is one JSON
object at aws/lambda/async/<function>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>:

    {"version": "1.0", "timestamp": ..., "requestContext": {"requestId", "functionArn",
     "condition": "RetriesExhausted" | "EventAgeExceeded", "approximateInvokeCount"},
     "requestPayload": <the event>, "responseContext": {"statusCode", "executedVersion",
     "functionError"}, "responsePayload": <the error Lambda reported>}

https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html

The runtime builds the record (`invocation_record`); `MotoFailureSink` writes it straight into
the emulator's own S3 backend, in the function's account, as Lambda writes with the function's
role into a bucket of that account. A destination bucket that does not exist there (or any
other kind of destination) is logged as Lambda's DestinationDeliveryFailures would count it.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from resizer_cli.emulator.environment import FunctionSpec, Result
    from resizer_cli.emulator.pool import AsyncItem

log = logging.getLogger("resizer.emulator")
PREFIX = "aws/lambda/async/"
DEFAULT_RETRIES = 2


class FailureSink(Protocol):
    def deliver(self, spec: FunctionSpec, record: dict[str, Any]) -> str | None: ...


def async_settings(fn: Any) -> tuple[int, float | None, str | None]:
    """(retries, maximum event age in s, on-failure destination ARN) of a moto function."""
    retries, max_age, on_failure = DEFAULT_RETRIES, None, None
    for entry in getattr(fn, "event_invoke_config", []) or []:
        config = entry.config
        if "MaximumRetryAttempts" in config:
            retries = int(config["MaximumRetryAttempts"])
        if "MaximumEventAgeInSeconds" in config:
            max_age = float(config["MaximumEventAgeInSeconds"])
        dest = ((config.get("DestinationConfig") or {}).get("OnFailure") or {})
        on_failure = dest.get("Destination") or on_failure
    return retries, max_age, on_failure


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def invocation_record(
    spec: FunctionSpec, item: AsyncItem, result: Result | None, condition: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    when = now or datetime.now(UTC)
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
        "requestContext": {
            "requestId": item.request_id,
            "functionArn": f"{spec.arn}:{spec.version}",
            "condition": condition,
            "approximateInvokeCount": item.attempt + (1 if result is not None else 0),
        },
        "requestPayload": _json_or_text(item.event),
    }
    if result is not None:
        record["responseContext"] = {
            "statusCode": 200,
            "executedVersion": spec.version,
            "functionError": "Unhandled",
        }
        record["responsePayload"] = _json_or_text(result.payload)
    return record


def record_key(function: str, when: datetime) -> str:
    return (f"{PREFIX}{function}/{when:%Y/%m/%d}/{when:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}")


class MotoFailureSink:
    """Writes invocation records into moto's in-process S3 backend."""

    def deliver(self, spec: FunctionSpec, record: dict[str, Any]) -> str | None:
        from moto.s3.models import s3_backends
        from moto.utilities.utils import get_partition

        dest = spec.on_failure
        if not dest:
            return None
        bucket = dest.split(":::", 1)[1] if dest.startswith("arn:") and ":s3:::" in dest else ""
        backend = s3_backends[spec.account][get_partition(spec.region)]
        if not bucket or bucket not in backend.buckets:
            log.warning("could not deliver the failed event %s of %s to %s (the emulator "
                        "delivers to S3 buckets of the function's account only)",
                        record["requestContext"]["requestId"], spec.name, dest)
            return None
        when = datetime.strptime(record["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        key = record_key(spec.name, when)
        backend.put_object(bucket, key, json.dumps(record).encode())
        return key
