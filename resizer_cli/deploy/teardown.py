"""Remove everything `setup` created, and nothing else.

Resources are found by their deterministic names and checked by tag (layers, which cannot be
tagged, by name and description), so teardown works from a fresh clone with no local state.
A source bucket the user brought is found from the tag `setup` puts on the function and the
role; only our notification entry is removed from it, never the bucket or its other rules.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from resizer_cli.aws import Target
from resizer_cli.deploy import notifications, retries
from resizer_cli.deploy.apply import translate
from resizer_cli.deploy.desired import SOURCE_BUCKET_TAG, partition_for
from resizer_cli.deploy.inventory import (
    read_bucket,
    read_function,
    read_layers,
    read_log_group,
    read_permission,
    read_role,
)
from resizer_cli.deploy.plan import Action
from resizer_cli.errors import ResizerError, error_code
from resizer_cli.naming import TAG_KEY, Names
from resizer_cli.output import Reporter


@dataclass
class TeardownResult:
    stack: str
    target: str
    actions: list[Action]
    changed: bool
    skipped: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "target": self.target,
            "changed": self.changed,
            "actions": [a.to_json() for a in self.actions],
            "skipped": self.skipped,
        }


@dataclass
class TeardownPlan:
    names: Names  # our own names (source bucket = the one we would create)
    brought_bucket: str | None
    function_arn: str
    actions: list[Action]
    skipped: list[str]  # resources with our names that are not tagged as ours: left alone


def _ours(tags: dict[str, str], stack: str) -> bool:
    return tags.get(TAG_KEY) == stack


def plan_teardown(target: Target) -> TeardownPlan:
    try:
        return _plan(target)
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, "reading the stack") from None


def _plan(target: Target) -> TeardownPlan:
    settings = target.settings
    names = Names(settings.stack, target.account_id, settings.region)
    partition = partition_for(settings.region)
    fn_arn = f"arn:{partition}:lambda:{names.region}:{names.account}:function:{names.function}"
    actions: list[Action] = []
    skipped: list[str] = []

    fn = read_function(target, names.function)
    role = read_role(target, names.role)
    brought = (
        (fn.tags.get(SOURCE_BUCKET_TAG) if fn else None)
        or (role.tags.get(SOURCE_BUCKET_TAG) if role else None)
        or settings.source_bucket
    )

    own_buckets = []
    for bucket_name in (names.source_bucket, names.dest_bucket):
        if bucket_name == brought:
            continue  # the user's bucket, even if its name looks like one of ours
        try:
            bucket = read_bucket(target, bucket_name, ours=True)
        except ResizerError:  # 403: not ours to read, so not ours to delete
            skipped.append(f"bucket {bucket_name} (not accessible)")
            continue
        if not bucket.exists:
            continue
        # create_bucket and put_bucket_tagging are two calls: an untagged bucket with our
        # account- and region-specific name is one an interrupted setup left behind.
        if bucket.tags.get(TAG_KEY, names.stack) != names.stack:
            skipped.append(f"bucket {bucket_name} (tagged for another stack)")
            continue
        own_buckets.append(bucket_name)

    if brought:
        src = read_bucket(target, brought, ours=False)
        if src.exists and notifications.find_ours(src.notification, names.notification_id, fn_arn):
            actions.append(Action("notification", brought, "remove", "our entry only"))

    if fn is not None:
        if _ours(fn.tags, names.stack):
            if read_permission(target, names.function, names.permission_sid):
                actions.append(Action("permission", names.permission_sid, "remove"))
            actions.append(Action("function", names.function, "delete"))
        else:
            skipped.append(f"function {names.function} (not tagged as ours)")

    layers = read_layers(target, names.layer, names.stack)
    if layers:
        actions.append(
            Action(
                "layer",
                names.layer,
                "delete-versions",
                ", ".join(f"v{v.version}" for v in layers),
                {"versions": [v.version for v in layers]},
            )
        )

    if role is not None:
        if _ours(role.tags, names.stack):
            actions.append(
                Action(
                    "role",
                    names.role,
                    "delete",
                    f"{len(role.inline_policies) + len(role.attached_policies)} policy(ies)",
                    {
                        "inline": sorted(role.inline_policies),
                        "attached": list(role.attached_policies),
                    },
                )
            )
        else:
            skipped.append(f"role {names.role} (not tagged as ours)")

    lg = read_log_group(target, names.log_group)
    if lg is not None:
        if _ours(lg.tags, names.stack):
            actions.append(Action("log-group", names.log_group, "delete"))
        else:
            skipped.append(f"log group {names.log_group} (not tagged as ours)")

    for bucket_name in own_buckets:
        actions.append(Action("bucket", bucket_name, "delete", "with every object version"))
    return TeardownPlan(names, brought, fn_arn, actions, skipped)


def apply_teardown(target: Target, tplan: TeardownPlan, reporter: Reporter) -> None:
    for action in tplan.actions:
        with reporter.step(action.title) as step:
            try:
                _run(target, tplan, action, step)
            except (ClientError, BotoCoreError) as exc:
                raise translate(exc, action.title) from None
            if not step.detail:
                step.note(action.detail)


def _ignore_missing(fn: Any, *codes: str) -> None:
    try:
        retries.call(fn)
    except ClientError as exc:
        if error_code(exc) not in (*codes, "ResourceNotFoundException", "NoSuchEntity"):
            raise


def _run(target: Target, tplan: TeardownPlan, action: Action, step: Any) -> None:
    names = tplan.names
    kind = (action.resource, action.action)
    if kind == ("notification", "remove"):
        s3 = target.client("s3")
        current = notifications.clean(
            retries.call(lambda: s3.get_bucket_notification_configuration(Bucket=action.name))
        )
        remaining = notifications.remove(current, names.notification_id, tplan.function_arn)
        retries.call(
            lambda: s3.put_bucket_notification_configuration(
                Bucket=action.name, NotificationConfiguration=remaining
            )
        )
    elif kind == ("permission", "remove"):
        lam = target.client("lambda")
        _ignore_missing(
            lambda: lam.remove_permission(FunctionName=names.function, StatementId=action.name)
        )
    elif kind == ("function", "delete"):
        lam = target.client("lambda")
        _ignore_missing(lambda: lam.delete_function(FunctionName=action.name))
    elif kind == ("layer", "delete-versions"):
        lam = target.client("lambda")
        for v in action.params["versions"]:
            _ignore_missing(
                lambda v=v: lam.delete_layer_version(LayerName=action.name, VersionNumber=v)
            )
    elif kind == ("role", "delete"):
        iam = target.client("iam")
        for p in action.params["inline"]:
            _ignore_missing(lambda p=p: iam.delete_role_policy(RoleName=action.name, PolicyName=p))
        for a in action.params["attached"]:
            _ignore_missing(lambda a=a: iam.detach_role_policy(RoleName=action.name, PolicyArn=a))
        _ignore_missing(lambda: iam.delete_role(RoleName=action.name))
    elif kind == ("log-group", "delete"):
        logs = target.client("logs")
        _ignore_missing(lambda: logs.delete_log_group(logGroupName=action.name))
    elif kind == ("bucket", "delete"):
        removed = empty_bucket(target, action.name)
        s3 = target.client("s3")
        _ignore_missing(lambda: s3.delete_bucket(Bucket=action.name), "NoSuchBucket")
        step.note(f"{removed} object version(s) and delete marker(s) removed")
    else:
        raise AssertionError(f"no teardown handler for {action.title}")


def empty_bucket(target: Target, bucket: str) -> int:
    """Delete every object version, delete marker and unfinished upload; return the count."""
    s3 = target.client("s3")
    removed = 0
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for up in page.get("Uploads", []):
            _ignore_missing(
                lambda u=up: s3.abort_multipart_upload(
                    Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]
                ),
                "NoSuchUpload",
            )
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        batch = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        for i in range(0, len(batch), 1000):
            chunk = batch[i : i + 1000]
            resp = retries.call(
                functools.partial(
                    s3.delete_objects, Bucket=bucket, Delete={"Objects": chunk, "Quiet": True}
                )
            )
            errors = resp.get("Errors", [])
            if errors:
                first = errors[0]
                raise ClientError(
                    {"Error": {"Code": first.get("Code", ""), "Message": first.get("Message", "")}},
                    "DeleteObjects",
                )
            removed += len(chunk)
    return removed


def teardown_stack(target: Target, reporter: Reporter) -> TeardownResult:
    tplan = plan_teardown(target)
    return run_teardown(target, tplan, reporter)


def run_teardown(target: Target, tplan: TeardownPlan, reporter: Reporter) -> TeardownResult:
    for what in tplan.skipped:
        reporter.warn(f"left alone: {what}")
    if not tplan.actions:
        reporter.info("Nothing to remove: the stack is not deployed")
    else:
        apply_teardown(target, tplan, reporter)
    return TeardownResult(
        stack=tplan.names.stack,
        target=target.settings.target,
        actions=tplan.actions,
        changed=bool(tplan.actions),
        skipped=tplan.skipped,
    )
