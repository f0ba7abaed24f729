"""Deterministic resource names, so teardown finds everything from a fresh clone.

Buckets are globally unique, so their names carry the account and region. IAM is global too,
so the role carries the region: one stack name in two regions gets two roles that never
touch each other. Partitions (aws, aws-cn, aws-us-gov, aws-eusc, the iso partitions) come
from botocore's own partition data, not from a list of ours.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Any

TAG_KEY = "resizer:stack"
SOURCE_PREFIX = "raw/"
DEST_PREFIX = "thumbnails/"
RESULTS_PREFIX = "results/"
# Where Lambda writes the records of failed asynchronous invocations in an S3 on-failure
# destination: aws/lambda/async/<function-name>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>, a layout
# Lambda fixes. https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
FAILURES_PREFIX = "aws/lambda/async/"


@functools.cache
def _partitions() -> list[dict[str, Any]]:
    import botocore.loaders

    data = botocore.loaders.create_loader().load_data("partitions")
    return list(data.get("partitions", []))


def partition_for(region: str) -> str | None:
    """The partition id of a region (`aws`, `aws-cn`, `aws-us-gov`, ...), None if unknown."""
    parts = _partitions()
    for part in parts:
        if region in part.get("regions", {}):
            return str(part["id"])
    for part in parts:
        if re.match(part.get("regionRegex", "$^"), region):
            return str(part["id"])
    return None


def dns_suffix(partition: str) -> str:
    """amazonaws.com, amazonaws.com.cn, amazonaws.eu, c2s.ic.gov, ..."""
    return aws_domains(partition)[0]


def aws_domains(partition: str) -> tuple[str, ...]:
    """The partition's endpoint domains: its DNS suffix, then its dual-stack one."""
    for part in _partitions():
        if part["id"] == partition:
            out = part.get("outputs", {})
            names = (out.get("dnsSuffix"), out.get("dualStackDnsSuffix"))
            return tuple(str(n) for n in names if n) or ("amazonaws.com",)
    return ("amazonaws.com",)


@dataclass(frozen=True)
class Names:
    stack: str
    account: str
    region: str
    brought_source_bucket: str | None = None

    @property
    def function(self) -> str:
        return f"{self.stack}-thumbnailer"

    @property
    def role(self) -> str:
        return f"{self.stack}-thumbnailer-{self.region}"

    @property
    def legacy_role(self) -> str:
        """The role name before roles carried the region (left alone: maybe shared)."""
        return f"{self.stack}-thumbnailer-role"

    @property
    def policy(self) -> str:
        return f"{self.stack}-thumbnailer-policy"

    @property
    def layer(self) -> str:
        return f"{self.stack}-pillow"

    @property
    def failures_prefix(self) -> str:
        """Where the function's failed events land in the destination bucket."""
        return f"{FAILURES_PREFIX}{self.function}/"

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function}"

    @property
    def own_source_bucket(self) -> str:
        return f"{self.stack}-src-{self.account}-{self.region}"

    @property
    def source_bucket(self) -> str:
        return self.brought_source_bucket or self.own_source_bucket

    @property
    def owns_source_bucket(self) -> bool:
        return self.brought_source_bucket is None

    @property
    def dest_bucket(self) -> str:
        return f"{self.stack}-thumbs-{self.account}-{self.region}"

    @property
    def permission_sid(self) -> str:
        """The prefix of our statements in the function's resource policy."""
        return f"{self.stack}-s3-invoke"

    def permission_sid_for(self, source_arn: str, source_account: str) -> str:
        # The Sid names its content, so a changed grant is a new statement added before the
        # old one is removed: S3's invokes are never denied in between.
        digest = hashlib.sha256(f"{source_arn}|{source_account}".encode()).hexdigest()[:10]
        return f"{self.permission_sid}-{digest}"

    @property
    def notification_id(self) -> str:
        return f"{self.stack}-resizer-raw"
