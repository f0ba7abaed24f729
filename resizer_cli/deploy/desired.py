"""What a stack should look like, computed from its settings (pure data)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resizer_cli.deploy import desired_api, notifications, policy
from resizer_cli.deploy.bundle import HANDLER
from resizer_cli.errors import ResizerError
from resizer_cli.naming import (
    DEST_PREFIX,
    FAILURES_PREFIX,
    RESULTS_PREFIX,
    SOURCE_PREFIX,
    TAG_KEY,
    Names,
    dns_suffix,
    partition_for,
)
from resizer_cli.settings import Settings, format_sizes

LOG_RETENTION_DAYS = 14
# Teardown from a fresh clone reads this tag (on the function and the role) to find the
# user's own source bucket, where our notification entry must be removed.
SOURCE_BUCKET_TAG = "resizer:source-bucket"
SOURCE_OWNER_TAG = "resizer:source-bucket-owner"
# On the function while its invocations are paused (reserved concurrency 0) for an
# architecture switch or a teardown's drain; the value is the reserved concurrency it had
# ("" for none), restored unless the stack's settings want another (Desired.reserved_concurrency).
PAUSE_TAG = "resizer:paused"
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def validate_bucket_name(name: str) -> None:
    problem = ""
    if not 3 <= len(name) <= 63:
        problem = f"is {len(name)} characters long (S3 allows 3 to 63)"
    elif not _BUCKET_RE.match(name):
        problem = "may only hold lowercase letters, digits, dots and hyphens"
    elif ".." in name or ".-" in name or "-." in name:
        problem = "has adjacent dots or hyphens"
    else:
        try:
            ipaddress.ip_address(name)
            problem = "looks like an IP address"
        except ValueError:
            pass
    if problem:
        raise ResizerError(
            f"bucket name {name!r} {problem}", "choose a shorter --stack name or another region"
        )


def layer_description(stack: str, sha256: str) -> str:
    return f"resizer:{stack} sha256:{sha256}"


def layer_marker(stack: str) -> str:
    return f"resizer:{stack} "


@dataclass(frozen=True)
class Desired:
    stack: str
    account: str
    region: str
    source_bucket: str
    owns_source_bucket: bool
    source_owner: str  # the account that must own the source bucket
    dest_bucket: str
    log_group: str
    role: str
    policy_name: str
    layer_name: str
    function: str
    permission_prefix: str  # our statements' Sids start with it
    notification_id: str
    runtime: str
    architecture: str
    memory: int
    timeout: int
    # With manages_concurrency: the reservation wanted (None: none; 0 pauses the pipeline).
    # Without it, setup leaves whatever reservation it finds.
    reserved_concurrency: int | None
    manages_concurrency: bool
    environment: dict[str, str]
    code_sha256: str | None  # hex; None = do not compare code (status without a bundle)
    code_path: Path | None
    layer_sha256: str | None  # hex; None = keep whatever layer version we published last
    layer_path: Path | None
    source_prefix: str = SOURCE_PREFIX
    dest_prefix: str = DEST_PREFIX
    results_prefix: str = RESULTS_PREFIX
    retention_days: int = LOG_RETENTION_DAYS
    handler: str = HANDLER
    extra_tags: dict[str, str] = field(default_factory=dict)
    api: desired_api.DesiredApi | None = None  # the HTTP API, with --api

    @property
    def partition(self) -> str:
        # Unknown regions never get here: STS refuses them first (see Target.account_id).
        return partition_for(self.region) or "aws"

    @property
    def permission_sid(self) -> str:
        names = Names(self.stack, self.account, self.region)
        return names.permission_sid_for(self.bucket_arn(self.source_bucket), self.source_owner)

    @property
    def s3_service(self) -> str:
        """S3's endpoint name in this region, as kms:ViaService sees it."""
        return f"s3.{self.region}.{dns_suffix(self.partition)}"

    @property
    def log_group_arn(self) -> str:
        return (
            f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:{self.log_group}"
        )

    @property
    def tags(self) -> dict[str, str]:
        return {TAG_KEY: self.stack}

    @property
    def owner_tags(self) -> dict[str, str]:
        """Tags for the function and role, which also remember a brought source bucket."""
        return {**self.tags, **self.extra_tags}

    @property
    def function_arn(self) -> str:
        return f"arn:{self.partition}:lambda:{self.region}:{self.account}:function:{self.function}"

    @property
    def role_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{self.role}"

    def bucket_arn(self, bucket: str) -> str:
        return f"arn:{self.partition}:s3:::{bucket}"

    @property
    def trust_policy(self) -> dict[str, Any]:
        return policy.trust_policy()

    def role_policy(self, kms_key: str | None = None) -> dict[str, Any]:
        """`kms_key`: the customer-managed key a brought bucket encrypts with, if any."""
        doc = policy.role_policy(
            partition=self.partition,
            account=self.account,
            region=self.region,
            source_bucket=self.source_bucket,
            source_owner=self.source_owner,
            source_prefix=self.source_prefix,
            dest_bucket=self.dest_bucket,
            log_group=self.log_group,
            kms_key=kms_key,
            s3_service=self.s3_service,
            failures_prefix=self.failures_prefix,
            dest_prefix=self.dest_prefix,
            results_prefix=self.results_prefix,
        )
        if self.api is not None:
            doc["Statement"] += desired_api.role_statements(self)
        return doc

    @property
    def notification(self) -> dict[str, Any]:
        return notifications.our_entry(self.notification_id, self.function_arn, self.source_prefix)

    @property
    def notifications(self) -> list[dict[str, Any]]:
        """Our entries: uploads, then deletions."""
        return notifications.our_entries(
            self.notification_id, self.function_arn, self.source_prefix
        )

    @property
    def failures_prefix(self) -> str:
        """Where Lambda keeps the function's failed events, in the destination bucket."""
        return f"{FAILURES_PREFIX}{self.function}/"

    @property
    def layer_description(self) -> str:
        return layer_description(self.stack, self.layer_sha256 or "")


def desired_state(
    settings: Settings,
    names: Names,
    *,
    architecture: str,
    code_sha256: str | None = None,
    code_path: Path | None = None,
    layer_sha256: str | None = None,
    layer_path: Path | None = None,
) -> Desired:
    buckets = [names.dest_bucket] + ([names.source_bucket] if names.owns_source_bucket else [])
    for bucket in buckets:
        validate_bucket_name(bucket)
    if not names.owns_source_bucket and names.source_bucket == names.dest_bucket:
        raise ResizerError(
            f"--source-bucket {names.source_bucket} is the stack's own destination bucket",
            "bring a bucket that resizer does not manage",
        )
    brought_owner = None if names.owns_source_bucket else settings.source_bucket_owner
    source_owner = brought_owner or names.account
    env = {
        "DEST_BUCKET": names.dest_bucket,
        "SOURCE_PREFIX": SOURCE_PREFIX,
        "DEST_PREFIX": DEST_PREFIX,
        "RESULTS_PREFIX": RESULTS_PREFIX,
        "SIZES": format_sizes(settings.sizes),
        "FIT": settings.fit,
        "OUTPUT_FORMAT": settings.output_format,
        "QUALITY": str(settings.quality),
        "MAX_PIXELS": str(settings.max_pixels),
        # The function sends these as ExpectedBucketOwner: a squatted bucket is refused.
        "SOURCE_BUCKET_OWNER": source_owner,
        "DEST_BUCKET_OWNER": names.account,
    }
    if settings.gravity != "centre":  # unset means centre, so default stacks keep their env
        env["GRAVITY"] = settings.gravity
    env.update(desired_api.environment(settings, names))
    extra = {} if names.owns_source_bucket else {SOURCE_BUCKET_TAG: names.source_bucket}
    if brought_owner:
        extra[SOURCE_OWNER_TAG] = brought_owner
    return Desired(
        stack=names.stack,
        account=names.account,
        region=names.region,
        source_bucket=names.source_bucket,
        owns_source_bucket=names.owns_source_bucket,
        source_owner=source_owner,
        dest_bucket=names.dest_bucket,
        log_group=names.log_group,
        role=names.role,
        policy_name=names.policy,
        layer_name=names.layer,
        function=names.function,
        permission_prefix=names.permission_sid,
        notification_id=names.notification_id,
        runtime=settings.effective_runtime,
        architecture=architecture,
        memory=settings.memory,
        timeout=settings.timeout,
        reserved_concurrency=(
            settings.reserved_concurrency if isinstance(settings.reserved_concurrency, int)
            else None
        ),
        manages_concurrency=settings.reserved_concurrency is not None,
        environment=env,
        code_sha256=code_sha256,
        code_path=code_path,
        layer_sha256=layer_sha256,
        layer_path=layer_path,
        extra_tags=extra,
        api=desired_api.build(settings, names),
    )
