"""Steps for the function's IAM role and its one inline policy."""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from resizer_cli.deploy import retries
from resizer_cli.deploy.plan import Action
from resizer_cli.errors import ResizerError, error_code
from resizer_cli.output import Step

if TYPE_CHECKING:
    from resizer_cli.deploy.apply import Context, StepFn


def role_create(ctx: Context, action: Action, step: Step) -> None:
    iam = ctx.target.client("iam")
    d = ctx.d
    try:
        retries.call(
            lambda: iam.create_role(
                RoleName=action.name,
                AssumeRolePolicyDocument=json.dumps(d.trust_policy),
                Description=f"resizer stack {d.stack} in {d.region}: thumbnail function",
                Tags=[{"Key": k, "Value": v} for k, v in sorted(d.owner_tags.items())],
            )
        )
    except ClientError as exc:
        if error_code(exc) != "EntityAlreadyExists":
            raise
        raise ResizerError(
            f"role {action.name} appeared while setup was running",
            "re-run setup: it will say whose it is",
        ) from None


def role_update_trust(ctx: Context, action: Action, step: Step) -> None:
    iam = ctx.target.client("iam")
    retries.call(
        lambda: iam.update_assume_role_policy(
            RoleName=action.name, PolicyDocument=json.dumps(ctx.d.trust_policy)
        )
    )


def role_tag(ctx: Context, action: Action, step: Step) -> None:
    iam = ctx.target.client("iam")
    tags = [{"Key": k, "Value": v} for k, v in sorted(ctx.d.owner_tags.items())]
    retries.call(lambda: iam.tag_role(RoleName=action.name, Tags=tags))
    if action.params.get("stale"):
        retries.call(lambda: iam.untag_role(RoleName=action.name, TagKeys=action.params["stale"]))


def role_policy_put(ctx: Context, action: Action, step: Step) -> None:
    iam = ctx.target.client("iam")
    document = action.params.get("document") or ctx.d.role_policy()
    retries.call(
        lambda: iam.put_role_policy(
            RoleName=ctx.d.role, PolicyName=action.name, PolicyDocument=json.dumps(document)
        )
    )


def role_policy_remove_extra(ctx: Context, action: Action, step: Step) -> None:
    iam = ctx.target.client("iam")
    role = ctx.d.role
    for pname in action.params["inline"]:
        retries.call(functools.partial(iam.delete_role_policy, RoleName=role, PolicyName=pname))
    for arn in action.params["attached"]:
        retries.call(functools.partial(iam.detach_role_policy, RoleName=role, PolicyArn=arn))


STEPS: dict[tuple[str, str], StepFn] = {
    ("role", "create"): role_create,
    ("role", "update-trust"): role_update_trust,
    ("role", "tag"): role_tag,
    ("role-policy", "put"): role_policy_put,
    ("role-policy", "remove-extra"): role_policy_remove_extra,
}
