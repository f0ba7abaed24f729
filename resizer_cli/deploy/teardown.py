"""Remove everything `setup` created, and nothing else.

Resources are found by their deterministic names and checked by tag (layers, which cannot be
tagged, by name and description), so teardown works from a fresh clone with no local state.
Anything under one of our names without our tag is left alone and reported. A source bucket
the user brought is found from the tag `setup` puts on the function and the role; only our
notification entry is removed from it, never the bucket or its other rules.

Order: first the triggers (the HTTP API, our notification entry, then the invoke permission),
then a bounded wait for invocations already running, then the function and what it used.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from resizer_cli.aws import Target
from resizer_cli.deploy import (
    apply_async,
    async_invoke,
    drain,
    emptying,
    notifications,
    ownership,
    retries,
    teardown_api,
)
from resizer_cli.deploy.apply import translate
from resizer_cli.deploy.apply_wiring import remove_entry
from resizer_cli.deploy.desired import SOURCE_BUCKET_TAG, SOURCE_OWNER_TAG
from resizer_cli.deploy.inventory import (
    read_bucket,
    read_function,
    read_layer_versions,
    read_log_group,
    read_permissions,
    read_reserved_concurrency,
    read_role,
)
from resizer_cli.deploy.lock import stack_lock
from resizer_cli.deploy.plan import Action, reservation_text
from resizer_cli.deploy.stack import lock_scope
from resizer_cli.errors import ResizerError, error_code
from resizer_cli.naming import Names
from resizer_cli.output import Reporter, Step


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
    skipped: list[str]  # resources with our names that are not ours: left alone


def plan_teardown(target: Target) -> TeardownPlan:
    try:
        return _plan(target)
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, "reading the stack") from None


def _own_buckets(
    target: Target, names: Names, brought: str | None, skipped: list[str]
) -> list[str]:
    out = []
    for bucket_name in (names.own_source_bucket, names.dest_bucket):
        if bucket_name == brought:
            continue  # the user's bucket, even if its name looks like one of ours
        try:
            bucket = read_bucket(target, bucket_name, ours=True)
        except ResizerError:  # 403: another account's, or not ours to read: not ours to delete
            skipped.append(f"bucket {bucket_name} (not accessible, or owned by another account)")
            continue
        if not bucket.exists:
            continue
        why = ownership.describe_tag(bucket.tags, names.stack)
        # An untagged bucket is ours only if this machine was creating it when setup stopped.
        if why is not None and not (
            not bucket.tagged and ownership.was_creating(bucket_name, names.stack)
        ):
            skipped.append(f"bucket {bucket_name} ({why})")
            continue
        out.append(bucket_name)
    return out


def _notification_actions(
    target: Target, source: str, names: Names, fn_arn: str, skipped: list[str], *, ours: bool
) -> list[Action]:
    try:
        bucket = read_bucket(target, source, ours=ours, details=False)
    except ResizerError:
        skipped.append(f"our notification entry on bucket {source} (bucket not accessible)")
        return []
    if not bucket.exists:
        return []
    out = []
    if notifications.find_ours(bucket.notification, names.notification_id, fn_arn):
        out.append(Action("notification", source, "remove", "our entry only"))
    for entry in bucket.notification.get("LambdaFunctionConfigurations", []):
        our_ids = notifications.our_ids(names.notification_id)
        if entry.get("LambdaFunctionArn") == fn_arn and entry.get("Id") not in our_ids:
            skipped.append(
                f"notification rule {entry.get('Id', '(no id)')!r} on bucket {source} "
                "(not ours, though it invokes our function)"
            )
    return out


def _plan(target: Target) -> TeardownPlan:
    settings = target.settings
    names = Names(settings.stack, target.account_id, settings.region)
    fn_arn = target.function_arn
    actions: list[Action] = []
    skipped: list[str] = []

    fn = read_function(target, names.function)
    role = read_role(target, names.role)
    tags = (fn.tags if fn else None) or (role.tags if role else None) or {}
    brought = tags.get(SOURCE_BUCKET_TAG) or settings.source_bucket
    if brought:
        owner = tags.get(SOURCE_OWNER_TAG) or settings.source_bucket_owner or names.account
        target.expect_bucket_owner(brought, owner)
    target.names  # noqa: B018 - registers our own buckets' expected owner

    own_buckets = _own_buckets(target, names, brought, skipped)
    # The triggers go first: nothing new starts while the rest is removed.
    actions += teardown_api.plan(target, names, skipped)
    if brought:
        actions += _notification_actions(target, brought, names, fn_arn, skipped, ours=False)
    elif names.own_source_bucket in own_buckets:
        actions += _notification_actions(
            target, names.own_source_bucket, names, fn_arn, skipped, ours=True
        )

    if fn is not None:
        why = ownership.describe_tag(fn.tags, names.stack)
        if why is None:
            sids = [str(s["Sid"]) for s in read_permissions(target, names.function,
                                                            names.permission_sid)]
            if sids:
                actions.append(
                    Action("permission", names.permission_sid, "remove", ", ".join(sids),
                           {"sids": sids})
                )
            timeout = int(fn.config.get("Timeout") or 3)
            actions.append(
                Action("function", names.function, "drain", "running invocations",
                       {"timeout": timeout})
            )
            if async_invoke.read(target, names.function) is not None:
                # Before the bucket it names goes (Lambda's advice for S3 destinations).
                actions.append(Action(async_invoke.RESOURCE, names.function, "remove",
                                      "failed-event destination"))
            # Deleting the function deletes its reservation too: no step of its own.
            reserved = read_reserved_concurrency(target, names.function)
            gone = "" if reserved is None else (
                f"with its reserved concurrency {reservation_text(reserved)}")
            actions.append(Action("function", names.function, "delete", gone))
        else:
            skipped.append(f"function {names.function} ({why})")

    layers, foreign_layers = read_layer_versions(target, names.layer, names.stack)
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
    if foreign_layers:
        versions = ", ".join(f"v{v.version}" for v in foreign_layers)
        skipped.append(f"layer {names.layer} versions {versions} (not published by resizer)")

    if role is not None:
        why = ownership.describe_tag(role.tags, names.stack)
        if why is None:
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
            skipped.append(f"role {names.role} ({why})")

    lg = read_log_group(target, names.log_group)
    if lg is not None:
        why = ownership.describe_tag(lg.tags, names.stack)
        if why is None:
            actions.append(Action("log-group", names.log_group, "delete"))
        else:
            skipped.append(f"log group {names.log_group} ({why})")

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
        retries.call(fn, also=retries.is_update_in_progress)
    except ClientError as exc:
        if error_code(exc) not in (*codes, "ResourceNotFoundException", "NoSuchEntity"):
            raise


def _run(target: Target, tplan: TeardownPlan, action: Action, step: Step) -> None:
    names = tplan.names
    kind = (action.resource, action.action)
    lam = target.client("lambda")
    if action.resource == "api":
        teardown_api.run(target, action)
    elif kind == ("notification", "remove"):
        if not remove_entry(target, action.name, names.notification_id, tplan.function_arn):
            step.skip("bucket gone or not accessible")
    elif kind == ("permission", "remove"):
        for sid in action.params["sids"]:
            _ignore_missing(
                functools.partial(lam.remove_permission, FunctionName=names.function,
                                  StatementId=sid)
            )
    elif kind == ("function", "drain"):
        step.note(
            drain.wait_for_invocations(
                target, names.function, tplan.function_arn, names.log_group,
                int(action.params["timeout"]),
            )
        )
    elif kind == (async_invoke.RESOURCE, "remove"):
        if not apply_async.remove(target, action.name):
            step.skip("already gone")
    elif kind == ("function", "delete"):
        _ignore_missing(lambda: lam.delete_function(FunctionName=action.name))
    elif kind == ("layer", "delete-versions"):
        for v in action.params["versions"]:
            _ignore_missing(
                functools.partial(lam.delete_layer_version, LayerName=action.name, VersionNumber=v)
            )
    elif kind == ("role", "delete"):
        iam = target.client("iam")
        for p in action.params["inline"]:
            _ignore_missing(
                functools.partial(iam.delete_role_policy, RoleName=action.name, PolicyName=p)
            )
        for a in action.params["attached"]:
            _ignore_missing(
                functools.partial(iam.detach_role_policy, RoleName=action.name, PolicyArn=a)
            )
        _ignore_missing(lambda: iam.delete_role(RoleName=action.name))
    elif kind == ("log-group", "delete"):
        logs = target.client("logs")
        _ignore_missing(lambda: logs.delete_log_group(logGroupName=action.name))
    elif kind == ("bucket", "delete"):
        removed = emptying.delete_bucket(target, action.name)
        ownership.done_creating(action.name)
        step.note(f"{removed} object version(s) and delete marker(s) removed")
    else:
        raise AssertionError(f"no teardown handler for {action.title}")


def teardown_stack(target: Target, reporter: Reporter) -> TeardownResult:
    tplan = plan_teardown(target)
    return run_teardown(target, tplan, reporter)


def run_teardown(target: Target, tplan: TeardownPlan, reporter: Reporter) -> TeardownResult:
    for what in tplan.skipped:
        reporter.warn(f"left alone: {what}")
    if not tplan.actions:
        reporter.info("Nothing to remove: the stack is not deployed")
    else:
        with stack_lock(target.settings.stack, lock_scope(target), "teardown"):
            apply_teardown(target, tplan, reporter)
    return TeardownResult(
        stack=tplan.names.stack,
        target=target.settings.target,
        actions=tplan.actions,
        changed=bool(tplan.actions),
        skipped=tplan.skipped,
    )
