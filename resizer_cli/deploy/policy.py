"""IAM documents for the function's role: who may assume it, and the least it may do."""

from __future__ import annotations

from typing import Any

from resizer_cli.deploy import policy_async

VERSION = "2012-10-17"


def trust_policy() -> dict[str, Any]:
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def role_policy(
    *,
    partition: str,
    account: str,
    region: str,
    source_bucket: str,
    source_owner: str,
    source_prefix: str,
    dest_bucket: str,
    log_group: str,
    kms_key: str | None = None,
    s3_service: str = "",
    failures_prefix: str = "",
    dest_prefix: str = "",
    results_prefix: str = "",
) -> dict[str, Any]:
    """Read uploads under the prefix, write to the destination, write to our one log group.

    No logs:CreateLogGroup: we create the group (with retention), so the function can never
    recreate an orphan group after teardown. Every S3 statement holds only in the account
    that must own the bucket (aws:ResourceAccount), so a squatted bucket is never written.
    s3:ListBucket under the prefix lets S3 answer 404 rather than 403 for an upload deleted
    before the function read it (GetObject's "Permissions" section:
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).
    """

    def in_account(owner: str) -> dict[str, Any]:
        return {"StringEquals": {"aws:ResourceAccount": owner}}

    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadUploads",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:{partition}:s3:::{source_bucket}/{source_prefix}*"],
            "Condition": in_account(source_owner),
        },
        {
            "Sid": "SeeDeletedUploads",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [f"arn:{partition}:s3:::{source_bucket}"],
            "Condition": {
                **in_account(source_owner),
                "StringLike": {"s3:prefix": [f"{source_prefix}*"]},
            },
        },
        {
            "Sid": "WriteThumbnails",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [f"arn:{partition}:s3:::{dest_bucket}/*"],
            "Condition": in_account(account),
        },
        {
            "Sid": "WriteLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"arn:{partition}:logs:{region}:{account}:log-group:{log_group}:*"],
        },
    ]
    if kms_key:
        # Objects in an SSE-KMS bucket are decrypted by S3 on the function's behalf: allow
        # that key, and only through S3 in this region.
        statements.append(
            {
                "Sid": "DecryptUploads",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": [kms_key],
                "Condition": {"StringEquals": {"kms:ViaService": s3_service}},
            }
        )
    if failures_prefix:  # failed events kept, deletions followed (see policy_async)
        statements += policy_async.statements(
            partition=partition, account=account, dest_bucket=dest_bucket,
            failures_prefix=failures_prefix, dest_prefix=dest_prefix,
            results_prefix=results_prefix,
        )
    return {"Version": VERSION, "Statement": statements}


def _as_list(value: Any) -> list[Any]:
    return sorted(value) if isinstance(value, list) else [value]


def canonical(doc: Any) -> Any:
    """A form in which two equivalent policy documents compare equal (IAM reorders/unwraps)."""
    if not isinstance(doc, dict):
        return doc
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "Statement":
            stmts = value if isinstance(value, list) else [value]
            out[key] = sorted((canonical(s) for s in stmts), key=lambda s: repr(sorted(s.items())))
        elif key in ("Action", "Resource", "NotAction", "NotResource"):
            out[key] = _as_list(value)
        elif key == "Condition" and isinstance(value, dict):
            out[key] = {
                op: {k: _as_list(v) for k, v in block.items()} if isinstance(block, dict) else block
                for op, block in value.items()
            }
        elif isinstance(value, dict):
            out[key] = {k: canonical(v) for k, v in value.items()}
        else:
            out[key] = value
    return out
