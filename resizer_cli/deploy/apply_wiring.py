"""Steps for our entry in the source bucket's notification configuration.

S3 re-validates *every* destination of a bucket's configuration on each PUT, and names the
ones it could not validate in the error (ArgumentName1/ArgumentValue1, ...). Right after
AddPermission our own function can be one of them for a while (retried); a broken foreign
destination will never heal, so it fails at once, named. Removing only our entry passes
SkipDestinationValidation, so a broken foreign rule cannot keep our entry in place.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/how-to-enable-disable-notification-intro.html
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from resizer_cli.deploy import notifications, retries
from resizer_cli.deploy.plan import Action
from resizer_cli.errors import ResizerError, error_code
from resizer_cli.output import Step

if TYPE_CHECKING:
    from resizer_cli.deploy.apply import Context, StepFn

_ARGUMENT = re.compile(r"^ArgumentName(\d*)$")


def unvalidated_destinations(exc: BaseException) -> dict[str, str]:
    """{destination ARN: S3's reason} from an "Unable to validate" error."""
    if not isinstance(exc, ClientError):
        return {}
    err = exc.response.get("Error", {})
    out: dict[str, str] = {}
    for key, value in err.items():
        m = _ARGUMENT.match(str(key))
        if m and value:
            out[str(value)] = str(err.get(f"ArgumentValue{m.group(1)}", ""))
    return out


def _put(ctx: Context, bucket: str, config: dict[str, Any]) -> None:
    s3 = ctx.target.client("s3")
    ours = ctx.d.function_arn

    def only_ours_unvalidated(exc: BaseException) -> bool:
        if not retries.is_destination_unvalidated(exc):
            return False
        foreign = {arn: why for arn, why in unvalidated_destinations(exc).items() if arn != ours}
        if foreign:
            named = "; ".join(f"{arn} ({why})" if why else arn for arn, why in foreign.items())
            raise ResizerError(
                f"S3 refuses any change to the notifications of bucket {bucket} because "
                f"another rule's destination is broken: {named}",
                "fix or remove that rule (resizer never changes it), then re-run",
            )
        return True  # ours (or unnamed): the invoke permission may still be propagating

    retries.call(
        lambda: s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=config
        ),
        also=only_ours_unvalidated,
        attempts=10,
        delay=1.0,
        max_delay=16.0,
    )


def notification_put(ctx: Context, action: Action, step: Step) -> None:
    s3 = ctx.target.client("s3")
    d = ctx.d
    # Re-read right before writing: the plan's copy may be seconds old.
    current = notifications.clean(
        retries.call(lambda: s3.get_bucket_notification_configuration(Bucket=action.name))
    )
    notifications.check_no_overlap(
        action.name, current, d.notifications, d.notification_id, d.function_arn
    )
    want, _ = notifications.wanted(current, d.notifications, d.notification_id, d.function_arn)
    merged = notifications.merge(current, want, d.notification_id, d.function_arn)
    _put(ctx, action.name, merged)


def remove_entry(target: Any, bucket: str, notification_id: str, function_arn: str) -> bool:
    """Take our entry out of a bucket's configuration; False when the bucket is gone."""
    s3 = target.client("s3")
    try:
        current = notifications.clean(
            retries.call(lambda: s3.get_bucket_notification_configuration(Bucket=bucket))
        )
    except ClientError as exc:
        if error_code(exc) in ("NoSuchBucket", "404", "AccessDenied", "403"):
            return False
        raise
    if not notifications.find_ours(current, notification_id, function_arn):
        return True
    remaining = notifications.remove(current, notification_id, function_arn)
    retries.call(
        lambda: s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=remaining, SkipDestinationValidation=True
        )
    )
    return True


def notification_remove(ctx: Context, action: Action, step: Step) -> None:
    if not remove_entry(ctx.target, action.name, ctx.d.notification_id, ctx.d.function_arn):
        step.skip("bucket gone or not accessible")


STEPS: dict[tuple[str, str], StepFn] = {
    ("notification", "put"): notification_put,
    ("notification", "remove"): notification_remove,
}
