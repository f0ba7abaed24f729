"""Deterministic resource names, so teardown finds everything from a fresh clone.

Buckets are globally unique, so their names carry the account and region.
"""

from __future__ import annotations

from dataclasses import dataclass

TAG_KEY = "resizer:stack"
SOURCE_PREFIX = "raw/"
DEST_PREFIX = "thumbnails/"
RESULTS_PREFIX = "results/"


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
        return f"{self.stack}-thumbnailer-role"

    @property
    def policy(self) -> str:
        return f"{self.stack}-thumbnailer-policy"

    @property
    def layer(self) -> str:
        return f"{self.stack}-pillow"

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function}"

    @property
    def source_bucket(self) -> str:
        return self.brought_source_bucket or f"{self.stack}-src-{self.account}-{self.region}"

    @property
    def owns_source_bucket(self) -> bool:
        return self.brought_source_bucket is None

    @property
    def dest_bucket(self) -> str:
        return f"{self.stack}-thumbs-{self.account}-{self.region}"

    @property
    def permission_sid(self) -> str:
        return f"{self.stack}-s3-invoke"

    @property
    def notification_id(self) -> str:
        return f"{self.stack}-resizer-raw"
