"""Carry out a plan, in dependency order, with the retries and waits real AWS needs.

Each action is idempotent on its own, so an apply cut short (Ctrl-C, a failure) is finished by
the next `setup`: it re-reads what exists and plans only what is still missing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from resizer_cli import retry
from resizer_cli.aws import Target
from resizer_cli.deploy import notifications, retries
from resizer_cli.deploy.desired import Desired
from resizer_cli.deploy.plan import Action, Plan
from resizer_cli.errors import ResizerError, error_code, from_boto
from resizer_cli.naming import TAG_KEY
from resizer_cli.output import Reporter, Step

_PAB = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
_SSE = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


class _NotReady(Exception):
    pass


def wait_function_ready(lam: Any, name: str) -> None:
    """Poll until State is Active and LastUpdateStatus Successful (bounded, ~5 minutes)."""

    def probe() -> None:
        c = lam.get_function_configuration(FunctionName=name)
        state, last = c.get("State"), c.get("LastUpdateStatus")
        if state == "Failed" or last == "Failed":
            reason = c.get("LastUpdateStatusReason") or c.get("StateReason") or "no reason given"
            raise ResizerError(f"function {name} failed to deploy: {reason}", "fix it and re-run")
        if state not in (None, "Active") or last not in (None, "Successful"):
            raise _NotReady(f"{state}/{last}")

    try:
        retry.retry_call(
            probe,
            retryable=lambda e: isinstance(e, _NotReady) or retries.is_throttle(e),
            attempts=80,
            delay=1.0,
            backoff=1.2,
            max_delay=5.0,
        )
    except _NotReady as exc:
        raise ResizerError(
            f"function {name} is still updating ({exc})", "wait a minute and re-run"
        ) from None


class Applier:
    def __init__(self, target: Target, desired: Desired, plan: Plan, reporter: Reporter) -> None:
        self.target = target
        self.d = desired
        self.plan = plan
        self.reporter = reporter
        self.layer_arn = plan.layer_arn

    def run(self) -> None:
        for action in self.plan.actions:
            handler = self._handler(action)
            with self.reporter.step(action.title) as step:
                try:
                    handler(action, step)
                except (ClientError, BotoCoreError) as exc:
                    raise translate(exc, action.title) from None
                if not step.detail:
                    step.note(action.detail)

    def _handler(self, action: Action) -> Callable[[Action, Step], None]:
        name = f"_{action.resource}_{action.action}".replace("-", "_")
        fn = getattr(self, name, None)
        if fn is None:
            raise AssertionError(f"no handler for {action.resource} {action.action}")
        return fn

    # --- buckets ---------------------------------------------------------------------------

    def _bucket_create(self, action: Action, step: Step) -> None:
        s3 = self.target.client("s3")
        kwargs: dict[str, Any] = {"Bucket": action.name}
        if self.d.region != "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.d.region}
        try:
            retries.call(lambda: s3.create_bucket(**kwargs))
        except ClientError as exc:
            if error_code(exc) != "BucketAlreadyOwnedByYou":
                raise
        self._configure_bucket(
            action.name, ["public access block", "default encryption", "tags"], {}
        )

    def _bucket_configure(self, action: Action, step: Step) -> None:
        self._configure_bucket(action.name, action.params["missing"], action.params["tags"])

    def _configure_bucket(self, bucket: str, missing: list[str], tags: dict[str, str]) -> None:
        s3 = self.target.client("s3")
        if "public access block" in missing:
            retries.call(
                lambda: s3.put_public_access_block(
                    Bucket=bucket, PublicAccessBlockConfiguration=_PAB
                )
            )
        if "default encryption" in missing:
            retries.call(
                lambda: s3.put_bucket_encryption(
                    Bucket=bucket, ServerSideEncryptionConfiguration=_SSE
                )
            )
        if "tags" in missing:
            merged = {**tags, **self.d.tags}  # put_bucket_tagging replaces: keep the user's tags
            tag_set = [{"Key": k, "Value": v} for k, v in sorted(merged.items())]
            retries.call(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set}))

    # --- log group -------------------------------------------------------------------------

    def _log_group_arn(self) -> str:
        d = self.d
        return f"arn:{d.partition}:logs:{d.region}:{d.account}:log-group:{d.log_group}"

    def _log_group_create(self, action: Action, step: Step) -> None:
        logs = self.target.client("logs")
        try:
            retries.call(lambda: logs.create_log_group(logGroupName=action.name, tags=self.d.tags))
        except ClientError as exc:
            if error_code(exc) != "ResourceAlreadyExistsException":
                raise
            retries.call(
                lambda: logs.tag_resource(resourceArn=self._log_group_arn(), tags=self.d.tags)
            )
        retries.call(
            lambda: logs.put_retention_policy(
                logGroupName=action.name, retentionInDays=self.d.retention_days
            )
        )

    def _log_group_update(self, action: Action, step: Step) -> None:
        logs = self.target.client("logs")
        if "retention" in action.detail:
            retries.call(
                lambda: logs.put_retention_policy(
                    logGroupName=action.name, retentionInDays=self.d.retention_days
                )
            )
        if "tags" in action.detail:
            retries.call(
                lambda: logs.tag_resource(resourceArn=self._log_group_arn(), tags=self.d.tags)
            )

    # --- role ------------------------------------------------------------------------------

    def _role_create(self, action: Action, step: Step) -> None:
        iam = self.target.client("iam")
        try:
            retries.call(
                lambda: iam.create_role(
                    RoleName=action.name,
                    AssumeRolePolicyDocument=json.dumps(self.d.trust_policy),
                    Description=f"resizer stack {self.d.stack}: thumbnail function",
                    Tags=[{"Key": k, "Value": v} for k, v in sorted(self.d.owner_tags.items())],
                )
            )
        except ClientError as exc:
            if error_code(exc) != "EntityAlreadyExists":
                raise

    def _role_update_trust(self, action: Action, step: Step) -> None:
        iam = self.target.client("iam")
        retries.call(
            lambda: iam.update_assume_role_policy(
                RoleName=action.name, PolicyDocument=json.dumps(self.d.trust_policy)
            )
        )

    def _role_tag(self, action: Action, step: Step) -> None:
        iam = self.target.client("iam")
        tags = [{"Key": k, "Value": v} for k, v in sorted(self.d.owner_tags.items())]
        retries.call(lambda: iam.tag_role(RoleName=action.name, Tags=tags))
        if action.params.get("stale"):
            retries.call(
                lambda: iam.untag_role(RoleName=action.name, TagKeys=action.params["stale"])
            )

    def _role_policy_put(self, action: Action, step: Step) -> None:
        iam = self.target.client("iam")
        retries.call(
            lambda: iam.put_role_policy(
                RoleName=self.d.role,
                PolicyName=action.name,
                PolicyDocument=json.dumps(self.d.role_policy),
            )
        )

    def _role_policy_remove_extra(self, action: Action, step: Step) -> None:
        iam = self.target.client("iam")
        role = self.d.role
        for pname in action.params["inline"]:
            retries.call(functools.partial(iam.delete_role_policy, RoleName=role, PolicyName=pname))
        for arn in action.params["attached"]:
            retries.call(functools.partial(iam.detach_role_policy, RoleName=role, PolicyArn=arn))

    # --- layer -----------------------------------------------------------------------------

    def _layer_publish(self, action: Action, step: Step) -> None:
        if self.d.layer_path is None or self.d.layer_sha256 is None:
            raise AssertionError("publishing a layer needs a built layer zip")
        lam = self.target.client("lambda")
        content = self.d.layer_path.read_bytes()
        resp = retries.call(
            lambda: lam.publish_layer_version(
                LayerName=action.name,
                Description=self.d.layer_description,
                Content={"ZipFile": content},
                CompatibleRuntimes=[self.d.runtime],
                CompatibleArchitectures=[self.d.architecture],
            )
        )
        self.layer_arn = resp["LayerVersionArn"]
        step.note(f"version {resp['Version']}")

    def _layer_delete_versions(self, action: Action, step: Step) -> None:
        lam = self.target.client("lambda")
        for version in action.params["versions"]:
            retries.call(
                functools.partial(
                    lam.delete_layer_version, LayerName=action.name, VersionNumber=version
                )
            )

    # --- function --------------------------------------------------------------------------

    def _code(self) -> bytes:
        if self.d.code_path is None:
            raise AssertionError("deploying code needs a built handler bundle")
        return self.d.code_path.read_bytes()

    def _config_kwargs(self) -> dict[str, Any]:
        if self.layer_arn is None:
            raise AssertionError("no layer version to attach")
        return {
            "Runtime": self.d.runtime,
            "Role": self.d.role_arn,
            "Handler": self.d.handler,
            "Timeout": self.d.timeout,
            "MemorySize": self.d.memory,
            "Environment": {"Variables": dict(self.d.environment)},
            "Layers": [self.layer_arn],
        }

    def _function_create(self, action: Action, step: Step) -> None:
        lam = self.target.client("lambda")
        code = self._code()
        kwargs = self._config_kwargs()
        retries.call_create_function(
            lambda: lam.create_function(
                FunctionName=action.name,
                Code={"ZipFile": code},
                Description=f"resizer stack {self.d.stack}: S3 thumbnails",
                Architectures=[self.d.architecture],
                Tags=dict(self.d.owner_tags),
                Publish=False,
                **kwargs,
            )
        )
        wait_function_ready(lam, action.name)

    def _function_update_code(self, action: Action, step: Step) -> None:
        lam = self.target.client("lambda")
        code = self._code()
        wait_function_ready(lam, action.name)
        retries.call(
            lambda: lam.update_function_code(
                FunctionName=action.name, ZipFile=code, Architectures=[self.d.architecture]
            ),
            also=retries.is_update_in_progress,
        )
        wait_function_ready(lam, action.name)

    def _function_update_config(self, action: Action, step: Step) -> None:
        lam = self.target.client("lambda")
        kwargs = self._config_kwargs()
        wait_function_ready(lam, action.name)
        retries.call(
            lambda: lam.update_function_configuration(FunctionName=action.name, **kwargs),
            also=lambda e: retries.is_update_in_progress(e) or retries.is_role_not_ready(e),
            attempts=30,
            delay=2.0,
            max_delay=10.0,
        )
        wait_function_ready(lam, action.name)

    def _function_tag(self, action: Action, step: Step) -> None:
        lam = self.target.client("lambda")
        retries.call(
            lambda: lam.tag_resource(Resource=self.d.function_arn, Tags=dict(self.d.owner_tags))
        )
        if action.params.get("stale"):
            retries.call(
                lambda: lam.untag_resource(
                    Resource=self.d.function_arn, TagKeys=action.params["stale"]
                )
            )

    # --- wiring ----------------------------------------------------------------------------

    def _add_permission(self) -> None:
        lam = self.target.client("lambda")
        retries.call(
            lambda: lam.add_permission(
                FunctionName=self.d.function,
                StatementId=self.d.permission_sid,
                Action="lambda:InvokeFunction",
                Principal="s3.amazonaws.com",
                SourceArn=self.d.bucket_arn(self.d.source_bucket),
                SourceAccount=self.d.account,
            ),
            also=retries.is_update_in_progress,
        )

    def _remove_permission(self) -> None:
        lam = self.target.client("lambda")
        try:
            retries.call(
                lambda: lam.remove_permission(
                    FunctionName=self.d.function, StatementId=self.d.permission_sid
                )
            )
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise

    def _permission_add(self, action: Action, step: Step) -> None:
        try:
            self._add_permission()
        except ClientError as exc:
            if error_code(exc) != "ResourceConflictException":
                raise
            self._permission_replace(action, step)  # a statement with our Sid exists: refresh it

    def _permission_replace(self, action: Action, step: Step) -> None:
        self._remove_permission()
        self._add_permission()

    def _notification_put(self, action: Action, step: Step) -> None:
        s3 = self.target.client("s3")
        d = self.d
        # Re-read right before writing: the plan's copy may be seconds old.
        current = notifications.clean(
            retries.call(lambda: s3.get_bucket_notification_configuration(Bucket=action.name))
        )
        notifications.check_no_overlap(
            action.name, current, d.notification, d.notification_id, d.function_arn
        )
        merged = notifications.merge(current, d.notification, d.notification_id, d.function_arn)
        retries.call_put_notification(
            lambda: s3.put_bucket_notification_configuration(
                Bucket=action.name, NotificationConfiguration=merged
            )
        )

    def _notification_remove(self, action: Action, step: Step) -> None:
        s3 = self.target.client("s3")
        d = self.d
        try:
            current = notifications.clean(
                retries.call(lambda: s3.get_bucket_notification_configuration(Bucket=action.name))
            )
        except ClientError as exc:
            if error_code(exc) in ("NoSuchBucket", "404", "AccessDenied"):
                step.skip("bucket gone or not accessible")
                return
            raise
        if not notifications.find_ours(current, d.notification_id, d.function_arn):
            return
        remaining = notifications.remove(current, d.notification_id, d.function_arn)
        retries.call(
            lambda: s3.put_bucket_notification_configuration(
                Bucket=action.name, NotificationConfiguration=remaining
            )
        )


def translate(exc: BaseException, doing: str) -> ResizerError:
    """A one-line error for a failed AWS call, saying that a re-run continues the job."""
    known = from_boto(exc, doing)
    if known is not None:
        return known
    if isinstance(exc, ClientError):
        msg = exc.response.get("Error", {}).get("Message", "")
        return ResizerError(
            f"{doing}: {error_code(exc)}: {msg}".rstrip(": "),
            "fix the cause and re-run; the command continues where it stopped",
        )
    return ResizerError(f"{doing}: {exc}", "re-run the command")


def tag_filter(tags: dict[str, str], stack: str) -> bool:
    return tags.get(TAG_KEY) == stack
