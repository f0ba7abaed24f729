"""Every S3 call to a bucket of ours says whose bucket it must be, and how it is encrypted.

Bucket names are predictable, so another account could create one of ours first and grant us
access: without a check our calls would then succeed against *its* bucket. S3 refuses a
request whose `ExpectedBucketOwner` is not the bucket's owner (403), so one botocore hook on
every S3 client adds it for the buckets a stack uses; the upload and operations code needs
no change. (S3's account-regional namespace would make the names unsquattable, but it needs
boto3 >= 1.42.67 and new bucket names; see the README.)

The same hook sends `ServerSideEncryption` (and the KMS key) matching a bucket's default
encryption on every PUT, so a bucket policy that denies unencrypted uploads accepts ours.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

_PUTS = frozenset({"PutObject", "CreateMultipartUpload", "CopyObject"})


class BucketGuard:
    """Expected owners per bucket, shared by every client of one target."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}
        self._sse: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def expect(self, bucket: str, owner: str) -> None:
        with self._lock:
            self._owners[bucket] = owner

    def owner(self, bucket: str) -> str | None:
        with self._lock:
            return self._owners.get(bucket)

    def attach(self, client: Any) -> None:
        def before(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
            self._before(client, params, model, context)

        client.meta.events.register("before-parameter-build.s3", before)

    def _before(
        self, client: Any, params: dict[str, Any], model: Any, context: dict[str, Any]
    ) -> None:
        if context.get("is_presign_request"):
            return  # a URL for someone else's client: it must not depend on our headers
        bucket = params.get("Bucket")
        owner = self.owner(bucket) if isinstance(bucket, str) else None
        if owner is None:
            return
        members = model.input_shape.members if model.input_shape is not None else {}
        if "ExpectedBucketOwner" in members and not params.get("ExpectedBucketOwner"):
            params["ExpectedBucketOwner"] = owner
        if model.name in _PUTS and "ServerSideEncryption" not in params:
            params.update(self._encryption(client, str(bucket)))

    def _encryption(self, client: Any, bucket: str) -> dict[str, Any]:
        with self._lock:
            known = self._sse.get(bucket)
        if known is not None:
            return known
        found: dict[str, Any] = {}
        try:
            conf = client.get_bucket_encryption(Bucket=bucket)
            found = sse_params(conf.get("ServerSideEncryptionConfiguration", {}))
        except (ClientError, BotoCoreError):
            pass  # no default, or we may not read it: send nothing, as before
        with self._lock:
            self._sse[bucket] = found
        return found


def default_rule(config: dict[str, Any]) -> dict[str, Any]:
    """The bucket's ApplyServerSideEncryptionByDefault element, {} when there is none."""
    for rule in config.get("Rules", []):
        default = rule.get("ApplyServerSideEncryptionByDefault")
        if default:
            return {**default, "BucketKeyEnabled": rule.get("BucketKeyEnabled")}
    return {}


def sse_params(config: dict[str, Any]) -> dict[str, Any]:
    """PutObject parameters that ask for exactly the bucket's default encryption."""
    rule = default_rule(config)
    algorithm = rule.get("SSEAlgorithm")
    if not algorithm:
        return {}
    out: dict[str, Any] = {"ServerSideEncryption": algorithm}
    if algorithm.startswith("aws:kms"):
        if rule.get("KMSMasterKeyID"):
            out["SSEKMSKeyId"] = rule["KMSMasterKeyID"]
        if rule.get("BucketKeyEnabled"):
            out["BucketKeyEnabled"] = True
    return out
