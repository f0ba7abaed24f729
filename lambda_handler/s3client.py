"""The function's S3 client and what it needs to know about S3's answers.

Every call names the account that must own the bucket (ExpectedBucketOwner), from the
SOURCE_BUCKET_OWNER / DEST_BUCKET_OWNER variables setup sets, else the function's own
account: a bucket of our name created by another account is refused, never written.
"""

from __future__ import annotations

import functools
import os
from typing import Any

# Error codes that say "try again later"; everything else from S3 is still raised (retrying
# also covers IAM propagation right after setup), but is logged as not transient.
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "SlowDown",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "503",
        "500",
    }
)
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden"})


@functools.cache
def _session() -> Any:
    """One botocore session for every client: its loader keeps the S3 model it parsed."""
    import botocore.session

    return botocore.session.get_session()


def default_client(signature_version: str | None = None) -> Any:
    # botocore, not boto3: the same client, for 20 % less CPU (its import and its session,
    # ~80 ms of a cold start; benchmarks/bench_cold_start.py). Nothing here uses what boto3
    # adds (resources, upload_file...).
    from botocore.config import Config as BotoConfig

    s3: dict[str, str] = {}
    if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3"):
        s3["addressing_style"] = "path"  # emulators answer on one host, not bucket subdomains
    client = _session().create_client(
        "s3",
        config=BotoConfig(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=30,
            s3=s3,
            signature_version=signature_version,
        ),
    )
    # Last on the same event as botocore's own add_expect_header, so it runs after it.
    client.meta.events.register_last("before-call.s3", _no_expect_for_small_bodies)
    return client


# Bodies up to this size are sent at once rather than after a "100 Continue" round trip.
_EXPECT_THRESHOLD = 1024 * 1024


def _no_expect_for_small_bodies(params: dict[str, Any], **_: Any) -> None:
    """botocore asks S3 for "100 Continue" before every PutObject body, whatever its size:
    a round trip per thumbnail and result record. It only pays off for large bodies S3 might
    refuse, not for our few kilobytes."""
    headers = params.get("headers") or {}
    body = params.get("body")
    if "Expect" not in headers or body is None:
        return
    try:
        size = len(body) if isinstance(body, bytes | bytearray) else len(body.getbuffer())
    except (AttributeError, TypeError, ValueError):
        return
    if size <= _EXPECT_THRESHOLD:
        del headers["Expect"]


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or "") or None
    return None


def is_transient(exc: BaseException) -> bool:
    """Throttling, 5xx and network trouble: worth a retry by Lambda."""
    code = error_code(exc)
    if code is not None:
        status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in TRANSIENT_CODES or (isinstance(status, int) and status >= 500)
    try:
        from botocore.exceptions import BotoCoreError
    except ImportError:  # pragma: no cover - boto3 is always there on Lambda
        return False
    return isinstance(exc, BotoCoreError | OSError | TimeoutError)


def expected_owner(variable: str, context: Any) -> dict[str, str]:
    """{"ExpectedBucketOwner": account} for a call to one of the stack's buckets."""
    owner = os.environ.get(variable, "").strip()
    if not owner:  # deployed before setup set it: the function's own account
        parts = str(getattr(context, "invoked_function_arn", "") or "").split(":")
        owner = parts[4] if len(parts) > 4 else ""
    return {"ExpectedBucketOwner": owner} if owner.isdigit() and len(owner) == 12 else {}


def deleted_meanwhile(client: Any, bucket: str, key: str, owner: dict[str, str]) -> bool:
    """After a 403 on GetObject: is the key simply gone? Without s3:ListBucket, S3 answers
    403 rather than 404 for a missing key; our role may list the source prefix, so ask."""
    try:
        listing = client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1, **owner)
    except Exception:
        return False
    return not any(obj.get("Key") == key for obj in listing.get("Contents", []))
