"""Steps for the buckets and the log group."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from resizer_cli.deploy import ownership, retries
from resizer_cli.deploy.plan import Action
from resizer_cli.errors import ResizerError, error_code
from resizer_cli.output import Step

if TYPE_CHECKING:
    from resizer_cli.deploy.apply import Context, StepFn

_PAB = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
_SSE = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
# S3 is eventually consistent about a bucket it has just created: the calls that follow can
# briefly answer NoSuchBucket, or OperationAborted ("a conflicting conditional operation is
# currently in progress"). https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
_JUST_CREATED = frozenset({"NoSuchBucket", "OperationAborted"})


def _settling(exc: BaseException) -> bool:
    return error_code(exc) in _JUST_CREATED


def bucket_create(ctx: Context, action: Action, step: Step) -> None:
    s3 = ctx.target.client("s3")
    kwargs: dict[str, Any] = {"Bucket": action.name}
    if ctx.d.region != "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.d.region}
    # Journal first: if we are cut short between CreateBucket and its tags, the next run on
    # this machine still knows the untagged bucket is ours.
    ownership.note_creating(action.name, ctx.d.stack)
    try:
        retries.call(lambda: s3.create_bucket(**kwargs))
    except ClientError as exc:
        ownership.done_creating(action.name)
        if error_code(exc) == "BucketAlreadyOwnedByYou":
            raise ResizerError(
                f"bucket {action.name} appeared while setup was running",
                "another setup may be running elsewhere; re-run setup when it has finished",
            ) from None
        raise
    _configure(ctx, action.name, ["tags", "public access block", "default encryption"], {},
               settling=True)


def bucket_configure(ctx: Context, action: Action, step: Step) -> None:
    _configure(ctx, action.name, action.params["missing"], action.params["tags"], settling=False)


def _configure(
    ctx: Context, bucket: str, missing: list[str], tags: dict[str, str], *, settling: bool
) -> None:
    s3 = ctx.target.client("s3")
    also = _settling if settling else None
    # Tags first: they are what makes the bucket recognisably ours.
    if "tags" in missing:
        merged = {**tags, **ctx.d.tags}  # put_bucket_tagging replaces: keep the user's tags
        tag_set = [{"Key": k, "Value": v} for k, v in sorted(merged.items())]
        retries.call(
            lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set}), also=also
        )
        ownership.done_creating(bucket)
    if "public access block" in missing:
        retries.call(
            lambda: s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=_PAB),
            also=also,
        )
    if "default encryption" in missing:
        retries.call(
            lambda: s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=_SSE),
            also=also,
        )


def log_group_create(ctx: Context, action: Action, step: Step) -> None:
    logs = ctx.target.client("logs")
    try:
        retries.call(lambda: logs.create_log_group(logGroupName=action.name, tags=ctx.d.tags))
    except ClientError as exc:
        if error_code(exc) != "ResourceAlreadyExistsException":
            raise
        # Created meanwhile (by another run, or by Lambda for a function of that name):
        # not ours to take over.
        raise ResizerError(
            f"log group {action.name} appeared while setup was running",
            "re-run setup: it will say whose it is",
        ) from None
    retries.call(
        lambda: logs.put_retention_policy(
            logGroupName=action.name, retentionInDays=ctx.d.retention_days
        )
    )


def log_group_update(ctx: Context, action: Action, step: Step) -> None:
    logs = ctx.target.client("logs")
    if "retention" in action.detail:
        retries.call(
            lambda: logs.put_retention_policy(
                logGroupName=action.name, retentionInDays=ctx.d.retention_days
            )
        )
    if "tags" in action.detail:
        retries.call(lambda: logs.tag_resource(resourceArn=ctx.d.log_group_arn, tags=ctx.d.tags))


STEPS: dict[tuple[str, str], StepFn] = {
    ("bucket", "create"): bucket_create,
    ("bucket", "configure"): bucket_configure,
    ("log-group", "create"): log_group_create,
    ("log-group", "update"): log_group_update,
}
