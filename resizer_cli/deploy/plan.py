"""Desired vs actual → the list of actions that closes the gap (pure data, no AWS calls).

An empty plan means the stack is up to date. Everything a user must fix (a recursive wiring,
an overlapping notification rule, a missing brought bucket) is refused here, before any change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from resizer_cli.deploy import async_invoke, notifications, ownership, policy
from resizer_cli.deploy.desired import PAUSE_TAG, SOURCE_BUCKET_TAG, Desired
from resizer_cli.deploy.inventory import BucketState, Inventory
from resizer_cli.errors import ResizerError
from resizer_cli.naming import TAG_KEY

PENDING_LAYER = "(new layer version)"
_VERBS = {
    "delete-versions": "delete versions of",
    "update-code": "update code of",
    "update-config": "update configuration of",
    "update-trust": "update trust policy of",
    "remove-extra": "remove extra policies from",
    "remove-stale": "remove stale statements of",
    "pause": "pause invocations of",
    "resume": "resume invocations of",
    "drain": "let running invocations finish in",
    "reserve": "reserve concurrency of",
    "unreserve": "remove the reserved concurrency of",
}


@dataclass(frozen=True)
class Action:
    resource: str  # bucket, log-group, role, role-policy, layer, function, permission, notification
    name: str
    action: str
    detail: str = ""
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def title(self) -> str:
        verb = _VERBS.get(self.action, self.action)
        return f"{verb} {self.resource} {self.name}"

    def to_json(self) -> dict[str, str]:
        return {
            "resource": self.resource,
            "name": self.name,
            "action": self.action,
            "detail": self.detail,
        }


@dataclass
class Plan:
    actions: list[Action]
    layer_arn: str | None  # the existing layer version the function should use; None = publish

    @property
    def empty(self) -> bool:
        return not self.actions


def _bucket_actions(bucket: BucketState, d: Desired, which: str) -> list[Action]:
    if not bucket.exists:
        return [Action("bucket", bucket.name, "create", f"{which}, private, encrypted")]
    missing = []
    if not bucket.public_access_blocked:
        missing.append("public access block")
    if not bucket.encrypted:
        missing.append("default encryption")
    if bucket.tags.get(TAG_KEY) != d.stack:
        missing.append("tags")
    if not missing:
        return []
    return [
        Action(
            "bucket",
            bucket.name,
            "configure",
            ", ".join(missing),
            {"missing": missing, "tags": bucket.tags},
        )
    ]


def _role_actions(inv: Inventory, d: Desired) -> list[Action]:
    role = inv.role
    document = d.role_policy(inv.source.kms_key_arn)
    if role is None:
        detail = "least privilege" + (", kms:Decrypt via S3" if inv.source.kms_key_arn else "")
        return [
            Action("role", d.role, "create", "assumable by Lambda only"),
            Action("role-policy", d.policy_name, "put", detail, {"document": document}),
        ]
    out: list[Action] = []
    if policy.canonical(role.trust_policy) != policy.canonical(d.trust_policy):
        out.append(Action("role", d.role, "update-trust", "trust policy differs"))
    want_tags = d.owner_tags
    if any(role.tags.get(k) != v for k, v in want_tags.items()) or _stale_tags(role.tags, d):
        out.append(
            Action("role", d.role, "tag", "tags differ", {"stale": _stale_tags(role.tags, d)})
        )
    current = role.inline_policies.get(d.policy_name)
    if current is None or policy.canonical(current) != policy.canonical(document):
        out.append(
            Action(
                "role-policy",
                d.policy_name,
                "put",
                "missing" if current is None else "differs",
                {"document": document},
            )
        )
    extra = sorted(n for n in role.inline_policies if n != d.policy_name)
    if extra or role.attached_policies:
        out.append(
            Action(
                "role-policy",
                d.role,
                "remove-extra",
                ", ".join(extra + role.attached_policies),
                {"inline": extra, "attached": list(role.attached_policies)},
            )
        )
    return out


def _stale_tags(tags: dict[str, str], d: Desired) -> list[str]:
    """Our own tag keys that no longer apply (e.g. a source bucket no longer brought)."""
    return sorted(
        k for k in tags if k.startswith("resizer:") and k not in d.owner_tags and k != PAUSE_TAG
    )


def _choose_layer(inv: Inventory, d: Desired) -> str | None:
    if d.layer_sha256 is None:
        return inv.layers[-1].arn if inv.layers else None
    matching = [v for v in inv.layers if v.sha256 == d.layer_sha256]
    return matching[-1].arn if matching else None


def reservation_text(value: int | None) -> str:
    if value is None:
        return "none"
    return "0 (pipeline paused)" if value == 0 else str(value)


def _concurrency_action(have: int | None, d: Desired) -> list[Action]:
    """Put or remove the reservation when it differs from the one the settings want."""
    if not d.manages_concurrency or have == d.reserved_concurrency:
        return []
    if d.reserved_concurrency is None:
        return [Action("function", d.function, "unreserve", f"was {reservation_text(have)}")]
    return [Action("function", d.function, "reserve",
                   f"{reservation_text(d.reserved_concurrency)}, was {reservation_text(have)}",
                   {"value": d.reserved_concurrency})]


def _resume(d: Desired, previous: str, why: str) -> Action:
    """Lift a pause: to the reservation the settings want, else to the one it had before."""
    if d.manages_concurrency:
        restore = d.reserved_concurrency
    else:
        restore = int(previous) if previous.isdigit() else None
    return Action("function", d.function, "resume",
                  f"{why}; reserved concurrency {reservation_text(restore)}",
                  {"value": restore})


def _function_actions(inv: Inventory, d: Desired, layer_arn: str | None) -> list[Action]:
    fn = inv.function
    if fn is None:
        created = Action("function", d.function, "create", f"{d.runtime}, {d.architecture}")
        return [created, *_concurrency_action(None, d)]
    c = fn.config
    out: list[Action] = []
    code_changes = []
    if d.code_sha256 is not None:
        from base64 import b64encode

        want = b64encode(bytes.fromhex(d.code_sha256)).decode()
        if c.get("CodeSha256") != want:
            code_changes.append("handler code changed")
    arch = (c.get("Architectures") or ["x86_64"])[0]
    # A switch (or a teardown's drain) was cut short: the function is still held at 0.
    paused = PAUSE_TAG in fn.tags
    if arch != d.architecture:
        code_changes.append(f"architecture {arch} → {d.architecture}")
        # UpdateFunctionCode switches the architecture, UpdateFunctionConfiguration the
        # layer: nothing may run in between, when the code and its layer disagree.
        if not paused:
            out.append(Action("function", d.function, "pause", "while code and layer switch"))
        paused = True
    if code_changes:
        out.append(Action("function", d.function, "update-code", ", ".join(code_changes)))
    changes = []
    for label, have, want_ in (
        ("runtime", c.get("Runtime"), d.runtime),
        ("handler", c.get("Handler"), d.handler),
        ("memory", c.get("MemorySize"), d.memory),
        ("timeout", c.get("Timeout"), d.timeout),
        ("role", c.get("Role"), d.role_arn),
    ):
        if have != want_:
            changes.append(f"{label} {have} → {want_}")
    env = (c.get("Environment") or {}).get("Variables") or {}
    if env != d.environment:
        keys = sorted(
            k for k in set(env) | set(d.environment) if env.get(k) != d.environment.get(k)
        )
        changes.append(f"environment ({', '.join(keys)})")
    if fn.layers != [layer_arn or PENDING_LAYER]:
        changes.append("layer version")
    if changes:
        out.append(Action("function", d.function, "update-config", "; ".join(changes)))
    if paused:
        why = "code and layer agree" if code_changes else "held by an interrupted run"
        before = fn.reserved_concurrency
        previous = fn.tags.get(PAUSE_TAG, "" if before is None else str(before))
        out.append(_resume(d, previous, why))
    else:
        out += _concurrency_action(fn.reserved_concurrency, d)
    stale = _stale_tags(fn.tags, d)
    if any(fn.tags.get(k) != v for k, v in d.owner_tags.items()) or stale:
        out.append(Action("function", d.function, "tag", "tags differ", {"stale": stale}))
    return out


def _permission_ok(stmt: dict[str, Any] | None, d: Desired) -> bool:
    if stmt is None:
        return False
    cond = stmt.get("Condition", {})
    principal = stmt.get("Principal", {})
    service = principal.get("Service") if isinstance(principal, dict) else principal
    return (
        cond.get("ArnLike", {}).get("AWS:SourceArn") == d.bucket_arn(d.source_bucket)
        and cond.get("StringEquals", {}).get("AWS:SourceAccount") == d.source_owner
        and service == "s3.amazonaws.com"
        and stmt.get("Action") in ("lambda:InvokeFunction", ["lambda:InvokeFunction"])
    )


def _check_brought_bucket(d: Desired, inv: Inventory) -> None:
    if not inv.source.exists:
        raise ResizerError(
            f"the source bucket {d.source_bucket} does not exist",
            "create it first, or drop --source-bucket to let resizer create one",
        )
    if inv.source.region and inv.source.region != d.region:
        # S3 only notifies a function in the bucket's own region.
        # https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventNotifications.html
        raise ResizerError(
            f"the source bucket {d.source_bucket} is in {inv.source.region}, the stack in "
            f"{d.region}: S3 can only notify a function in the bucket's own region",
            f"deploy the stack with --region {inv.source.region}, or bring a bucket in {d.region}",
        )


def plan(d: Desired, inv: Inventory, adopt: Iterable[str] = ()) -> Plan:
    from resizer_cli.deploy import plan_api  # it builds on this module's Action

    notifications.check_no_recursion(
        d.source_bucket, d.dest_bucket, d.source_prefix, d.dest_prefix, d.results_prefix,
        d.failures_prefix,
    )
    if not d.owns_source_bucket:
        _check_brought_bucket(d, inv)
    ownership.check(d, inv, adopt)
    ownership.check_api(d, inv)
    notifications.check_no_overlap(
        d.source_bucket, inv.source.notification, d.notifications, d.notification_id,
        d.function_arn,
    )

    actions: list[Action] = []
    if d.owns_source_bucket:
        actions += _bucket_actions(inv.source, d, "source")
    actions += _bucket_actions(inv.dest, d, "destination")

    lg = inv.log_group
    if lg is None:
        actions.append(
            Action("log-group", d.log_group, "create", f"{d.retention_days}-day retention")
        )
    else:
        fixes = []
        if lg.retention_days != d.retention_days:
            fixes.append(f"retention {lg.retention_days} → {d.retention_days} days")
        if lg.tags.get(TAG_KEY) != d.stack:
            fixes.append("tags")
        if fixes:
            actions.append(Action("log-group", d.log_group, "update", ", ".join(fixes)))

    actions += _role_actions(inv, d)

    layer_arn = _choose_layer(inv, d)
    if layer_arn is None:
        detail = f"sha256 {d.layer_sha256[:12]}" if d.layer_sha256 else "no layer version"
        actions.append(Action("layer", d.layer_name, "publish", detail))

    # A bucket brought before but not any more: take our entry out of it (before the
    # function's tag that remembers it is updated, so an interrupted run still knows).
    previous = inv.function.tags.get(SOURCE_BUCKET_TAG) if inv.function else None
    if previous and previous != d.source_bucket:
        actions.append(Action("notification", previous, "remove", "bucket no longer used"))

    actions += _function_actions(inv, d, layer_arn)
    actions += async_invoke.actions(d, inv)  # needs the function, and the role's new rights

    # Add the new grant before the notification and before any old grant goes.
    current = next((s for s in inv.permissions if s.get("Sid") == d.permission_sid), None)
    if inv.function is None or not _permission_ok(current, d):
        how = "add" if current is None else "replace"
        actions.append(
            Action("permission", d.permission_sid, how, f"s3.amazonaws.com from {d.source_bucket}")
        )
    stale = sorted(str(s.get("Sid")) for s in inv.permissions if s.get("Sid") != d.permission_sid)

    ours = notifications.find_ours(inv.source.notification, d.notification_id, d.function_arn)
    want, left_out = notifications.wanted(
        inv.source.notification, d.notifications, d.notification_id, d.function_arn
    )
    if not notifications.same_entries(ours, want):
        others = sum(len(inv.source.notification.get(k, [])) for k in notifications.KINDS) - len(
            ours
        )
        events = " + ".join(e["Events"][0] for e in want)
        detail = f"{events} on {d.source_prefix}"
        if others:
            detail += f", keeping {others} other rule(s)"
        detail += "".join(f"; {why}" for why in left_out)
        actions.append(Action("notification", d.source_bucket, "put", detail))
    if stale:
        actions.append(
            Action("permission", d.permission_prefix, "remove-stale", ", ".join(stale),
                   {"sids": stale})
        )

    actions += plan_api.actions(d, inv)  # the HTTP API, once the function exists

    keep = layer_arn
    old = [v.version for v in inv.layers if v.arn != keep]
    if old:
        actions.append(
            Action(
                "layer",
                d.layer_name,
                "delete-versions",
                ", ".join(f"v{n}" for n in old),
                {"versions": old},
            )
        )
    return Plan(actions, layer_arn)
