"""Steps for the Pillow layer, the function and its invoke permission."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from resizer_cli.deploy import pause, retries, waits
from resizer_cli.deploy.desired import PAUSE_TAG
from resizer_cli.deploy.plan import Action
from resizer_cli.errors import ResizerError, error_code
from resizer_cli.output import Step

if TYPE_CHECKING:
    from resizer_cli.deploy.apply import Context, StepFn

# Some regions refuse the field outright (seen in af-south-1, me-central-1, eu-central-2):
# "CompatibleArchitectures are not supported in <region>. Please remove the
# CompatibleArchitectures value from your request and try again". The layer's zip (and so its
# SHA-256 in the description) is per architecture anyway.
_NO_ARCHITECTURES = "CompatibleArchitectures are not supported"


def _no_architectures_here(exc: BaseException) -> bool:
    msg = str(getattr(exc, "response", {}).get("Error", {}).get("Message", ""))
    return error_code(exc) == "InvalidParameterValueException" and _NO_ARCHITECTURES in msg


def layer_publish(ctx: Context, action: Action, step: Step) -> None:
    d = ctx.d
    if d.layer_path is None or d.layer_sha256 is None:
        raise AssertionError("publishing a layer needs a built layer zip")
    lam = ctx.target.client("lambda")
    kwargs: dict[str, Any] = {
        "LayerName": action.name,
        "Description": d.layer_description,
        "Content": {"ZipFile": d.layer_path.read_bytes()},
        "CompatibleRuntimes": [d.runtime],
        "CompatibleArchitectures": [d.architecture],
    }
    try:
        resp = retries.call(lambda: lam.publish_layer_version(**kwargs))
    except ClientError as exc:
        if not _no_architectures_here(exc):
            raise
        del kwargs["CompatibleArchitectures"]
        resp = retries.call(lambda: lam.publish_layer_version(**kwargs))
    ctx.layer_arn = resp["LayerVersionArn"]
    step.note(f"version {resp['Version']}")


def layer_delete_versions(ctx: Context, action: Action, step: Step) -> None:
    lam = ctx.target.client("lambda")
    for version in action.params["versions"]:
        retries.call(
            functools.partial(
                lam.delete_layer_version, LayerName=action.name, VersionNumber=version
            )
        )


def _code(ctx: Context) -> bytes:
    if ctx.d.code_path is None:
        raise AssertionError("deploying code needs a built handler bundle")
    return ctx.d.code_path.read_bytes()


def _config_kwargs(ctx: Context) -> dict[str, Any]:
    d = ctx.d
    if ctx.layer_arn is None:
        raise AssertionError("no layer version to attach")
    return {
        "Runtime": d.runtime,
        "Role": d.role_arn,
        "Handler": d.handler,
        "Timeout": d.timeout,
        "MemorySize": d.memory,
        "Environment": {"Variables": dict(d.environment)},
        "Layers": [ctx.layer_arn],
    }


def _report_state(config: dict[str, Any], step: Step) -> None:
    if config.get("State") == "ActiveNonInvocable":
        step.note(f"deployed, but Lambda cannot invoke it: {config.get('StateReason', '')}")


def function_create(ctx: Context, action: Action, step: Step) -> None:
    lam = ctx.target.client("lambda")
    d = ctx.d
    code = _code(ctx)
    kwargs = _config_kwargs(ctx)
    retries.call_create_function(
        lambda: lam.create_function(
            FunctionName=action.name,
            Code={"ZipFile": code},
            Description=f"resizer stack {d.stack}: S3 thumbnails",
            Architectures=[d.architecture],
            Tags=dict(d.owner_tags),
            Publish=False,
            **kwargs,
        )
    )
    waits.until_active(lam, action.name)


def function_update_code(ctx: Context, action: Action, step: Step) -> None:
    lam = ctx.target.client("lambda")
    code = _code(ctx)
    waits.until_updatable(lam, action.name)
    retries.call(
        lambda: lam.update_function_code(
            FunctionName=action.name, ZipFile=code, Architectures=[ctx.d.architecture]
        ),
        also=retries.is_update_in_progress,
    )
    _report_state(waits.until_updated(lam, action.name), step)


def function_update_config(ctx: Context, action: Action, step: Step) -> None:
    lam = ctx.target.client("lambda")
    kwargs = _config_kwargs(ctx)
    waits.until_updatable(lam, action.name)
    retries.call(
        lambda: lam.update_function_configuration(FunctionName=action.name, **kwargs),
        also=lambda e: retries.is_update_in_progress(e) or retries.is_role_not_ready(e),
        attempts=30,
        delay=2.0,
        max_delay=10.0,
    )
    _report_state(waits.until_updated(lam, action.name), step)


def function_tag(ctx: Context, action: Action, step: Step) -> None:
    lam = ctx.target.client("lambda")
    d = ctx.d
    retries.call(lambda: lam.tag_resource(Resource=d.function_arn, Tags=dict(d.owner_tags)))
    if action.params.get("stale"):
        retries.call(
            lambda: lam.untag_resource(Resource=d.function_arn, TagKeys=action.params["stale"])
        )


def function_pause(ctx: Context, action: Action, step: Step) -> None:
    """Reserved concurrency 0 while code and layer switch (see deploy/pause.py)."""
    pause.hold(ctx.target, action.name, ctx.d.function_arn)


def function_resume(ctx: Context, action: Action, step: Step) -> None:
    """Lift the pause: to the reservation the settings want, or (none wanted) to the one the
    function had before; the plan worked out which. The tag goes last, so a run cut short
    here is resumed again by the next setup."""
    lam = ctx.target.client("lambda")
    d = ctx.d
    put_reservation(ctx, action.name, action.params.get("value"))
    retries.call(lambda: lam.untag_resource(Resource=d.function_arn, TagKeys=[PAUSE_TAG]))


def function_reserve(ctx: Context, action: Action, step: Step) -> None:
    put_reservation(ctx, action.name, int(action.params["value"]))


def function_unreserve(ctx: Context, action: Action, step: Step) -> None:
    put_reservation(ctx, action.name, None)


# Lambda keeps part of the account's concurrency unreserved (100 by default; accounts with a
# lower quota see a lower minimum in the message). moto does not enforce it unless told to.
# https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html
_UNRESERVED_RE = re.compile(r"UnreservedConcurrent\w* below its minimum value of \[(\d+)\]")


def put_reservation(ctx: Context, function: str, value: int | None) -> None:
    """PutFunctionConcurrency (None: DeleteFunctionConcurrency), with the account's refusal
    of too large a value said in one line."""
    lam = ctx.target.client("lambda")
    try:
        if value is None:
            retries.call(lambda: lam.delete_function_concurrency(FunctionName=function),
                         also=retries.is_update_in_progress)
        else:
            retries.call(
                lambda: lam.put_function_concurrency(
                    FunctionName=function, ReservedConcurrentExecutions=value
                ),
                also=retries.is_update_in_progress,
            )
    except ClientError as exc:
        msg = str(exc.response.get("Error", {}).get("Message", ""))
        m = _UNRESERVED_RE.search(msg)
        if error_code(exc) != "InvalidParameterValueException" or m is None:
            raise
        raise ResizerError(
            f"Lambda refused reserved concurrency {value} for {function}: the account must "
            f"keep at least {m.group(1)} executions unreserved in {ctx.d.region}, and this "
            "would leave fewer",
            "pass a smaller --reserved-concurrency (or none), lower other functions' "
            "reservations, or ask AWS for a higher Lambda concurrency quota",
        ) from None


def _add_permission(ctx: Context) -> None:
    lam = ctx.target.client("lambda")
    d = ctx.d
    retries.call(
        lambda: lam.add_permission(
            FunctionName=d.function,
            StatementId=d.permission_sid,
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            SourceArn=d.bucket_arn(d.source_bucket),
            SourceAccount=d.source_owner,
        ),
        also=retries.is_update_in_progress,
    )


def remove_permission(ctx: Context, sid: str) -> None:
    lam = ctx.target.client("lambda")
    try:
        retries.call(
            lambda: lam.remove_permission(FunctionName=ctx.d.function, StatementId=sid),
            also=retries.is_update_in_progress,
        )
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise


def permission_add(ctx: Context, action: Action, step: Step) -> None:
    try:
        _add_permission(ctx)
    except ClientError as exc:
        if error_code(exc) != "ResourceConflictException" or retries.is_update_in_progress(exc):
            raise
        permission_replace(ctx, action, step)  # a statement with this Sid exists: refresh it


def permission_replace(ctx: Context, action: Action, step: Step) -> None:
    # Only a statement with this very Sid whose content was edited by hand: the Sid names the
    # grant, so a changed grant is a new Sid, added before the old one is removed.
    remove_permission(ctx, ctx.d.permission_sid)
    _add_permission(ctx)


def permission_remove_stale(ctx: Context, action: Action, step: Step) -> None:
    for sid in action.params["sids"]:
        remove_permission(ctx, sid)


STEPS: dict[tuple[str, str], StepFn] = {
    ("layer", "publish"): layer_publish,
    ("layer", "delete-versions"): layer_delete_versions,
    ("function", "create"): function_create,
    ("function", "update-code"): function_update_code,
    ("function", "update-config"): function_update_config,
    ("function", "tag"): function_tag,
    ("function", "pause"): function_pause,
    ("function", "resume"): function_resume,
    ("function", "reserve"): function_reserve,
    ("function", "unreserve"): function_unreserve,
    ("permission", "add"): permission_add,
    ("permission", "replace"): permission_replace,
    ("permission", "remove-stale"): permission_remove_stale,
}
