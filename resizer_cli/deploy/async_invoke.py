"""The function's asynchronous invocation settings: retries, event age, where failed events go.

S3 invokes the function asynchronously. When every attempt fails (the function was killed for
memory, crashed, or timed out before its own guard) or the event grew too old in Lambda's
queue, Lambda writes an invocation record (`requestContext`, `requestPayload`,
`responseContext`, `responsePayload`) to the on-failure destination. Ours is the destination
bucket: Lambda puts each record under aws/lambda/async/<function>/YYYY/MM/DD/..., beside the
result records `upload --wait` already polls, so a failed file is reported as soon as its
record lands, and `resizer failed` / `resizer retry` read them back. An S3 destination needs
no other resource (an SQS queue would be one more thing to create, tag, secure and tear down)
and keeps the whole event, however large, for as long as the bucket does.
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html

Pure data here (what should be, the plan's actions, one read); the calls live in apply_async.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from resizer_cli.errors import error_code

if TYPE_CHECKING:
    from resizer_cli.aws import Target
    from resizer_cli.deploy.desired import Desired
    from resizer_cli.deploy.inventory import Inventory
    from resizer_cli.deploy.plan import Action

RESOURCE = "async-config"
# Lambda's own default: two more attempts, about 1 and 2 minutes after the first.
MAX_RETRIES = 2
# Lambda's maximum (6 h): an event throttled that long (a paused function, a backfill larger
# than the concurrency) is still kept, as a failure record, when it expires.
MAX_EVENT_AGE_S = 6 * 3600


def desired(d: Desired) -> dict[str, Any]:
    """The PutFunctionEventInvokeConfig parameters (besides FunctionName)."""
    return {
        "MaximumRetryAttempts": MAX_RETRIES,
        "MaximumEventAgeInSeconds": MAX_EVENT_AGE_S,
        "DestinationConfig": {"OnFailure": {"Destination": d.bucket_arn(d.dest_bucket)}},
    }


def _shape(config: dict[str, Any] | None) -> dict[str, Any]:
    """What we compare: AWS answers with empty OnSuccess/OnFailure objects where none is set."""
    config = config or {}
    dest = config.get("DestinationConfig") or {}
    return {
        "retries": config.get("MaximumRetryAttempts"),
        "max_age": config.get("MaximumEventAgeInSeconds"),
        "on_failure": (dest.get("OnFailure") or {}).get("Destination") or None,
        "on_success": (dest.get("OnSuccess") or {}).get("Destination") or None,
    }


def describe(config: dict[str, Any] | None) -> dict[str, Any]:
    """For `status`: the settings in force, None where unset."""
    shape = _shape(config)
    return {
        "retries": shape["retries"],
        "max_event_age_s": shape["max_age"],
        "on_failure": shape["on_failure"],
    }


def actions(d: Desired, inv: Inventory) -> list[Action]:
    from resizer_cli.deploy.plan import Action  # plan imports this module

    want = _shape(desired(d))
    summary = (
        f"{MAX_RETRIES} retries, events kept {MAX_EVENT_AGE_S // 3600} h, failed ones to "
        f"s3://{d.dest_bucket}/{d.failures_prefix}"
    )
    current = inv.event_invoke
    if inv.function is None or current is None:
        return [Action(RESOURCE, d.function, "put", summary)]
    have = _shape(current)
    labels = {"retries": "retries", "max_age": "maximum event age",
              "on_failure": "on-failure destination", "on_success": "on-success destination"}
    changes = [
        f"{labels[k]} {have[k]} → {want[k]}" for k in labels if have[k] != want[k]
    ]
    if not changes:
        return []
    return [Action(RESOURCE, d.function, "put", "; ".join(changes))]


def read(target: Target, function: str) -> dict[str, Any] | None:
    """The function's event invoke configuration; None when it has none (or no function)."""
    lam = target.client("lambda")
    try:
        resp = lam.get_function_event_invoke_config(FunctionName=function)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}
