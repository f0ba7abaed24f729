"""Emptying a bucket of ours before it is deleted: every version, marker and upload."""

from __future__ import annotations

import functools
from typing import Any

from botocore.exceptions import ClientError

from resizer_cli import retry
from resizer_cli.aws import Target
from resizer_cli.deploy import retries
from resizer_cli.errors import ResizerError, error_code

# DeleteObjects answers 200 and lists the keys it could not delete, each with its own code;
# these are worth another try (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html).
RETRY_KEY_CODES = frozenset(
    {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "OperationAborted"}
)
KEY_ATTEMPTS = 6


def _ignore_missing(fn: Any, *codes: str) -> None:
    try:
        retries.call(fn)
    except ClientError as exc:
        if error_code(exc) not in (*codes, "ResourceNotFoundException", "NoSuchEntity"):
            raise


def _key_error(bucket: str, err: dict[str, Any]) -> ResizerError:
    code = str(err.get("Code", ""))
    hint = (
        "grant s3:DeleteObject and s3:DeleteObjectVersion on it, then re-run teardown"
        if code == "AccessDenied"
        else "re-run teardown: it continues where it stopped"
    )
    return ResizerError(
        f"S3 would not delete {err.get('Key', '?')} from bucket {bucket}: {code} "
        f"{err.get('Message', '')}".rstrip(),
        hint,
    )


def delete_batch(s3: Any, bucket: str, objects: list[dict[str, Any]]) -> None:
    """Delete up to 1000 object versions, retrying the keys S3 could not delete this time."""
    pending = objects
    wait = 0.5
    for attempt in range(1, KEY_ATTEMPTS + 1):
        resp = retries.call(
            functools.partial(
                s3.delete_objects, Bucket=bucket, Delete={"Objects": pending, "Quiet": True}
            )
        )
        errors = resp.get("Errors", [])
        if not errors:
            return
        fatal = [e for e in errors if e.get("Code") not in RETRY_KEY_CODES]
        if fatal or attempt == KEY_ATTEMPTS:
            raise _key_error(bucket, (fatal or errors)[0])
        failed = {(e.get("Key"), e.get("VersionId")) for e in errors}
        pending = [o for o in pending if (o["Key"], o.get("VersionId")) in failed]
        retry.pause(wait)
        wait = min(wait * 2, 8.0)


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
            delete_batch(s3, bucket, chunk)
            removed += len(chunk)
    return removed


def delete_bucket(target: Target, bucket: str) -> int:
    removed = empty_bucket(target, bucket)
    s3 = target.client("s3")
    _ignore_missing(lambda: s3.delete_bucket(Bucket=bucket), "NoSuchBucket")
    return removed
