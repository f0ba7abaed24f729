"""IAM documents for the function's role: who may assume it, and the least it may do."""

from __future__ import annotations

from typing import Any

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
    source_prefix: str,
    dest_bucket: str,
    log_group: str,
) -> dict[str, Any]:
    """Read uploads under the prefix, write to the destination, write to our one log group.

    No logs:CreateLogGroup: we create the group (with retention), so the function can never
    recreate an orphan group after teardown.
    """
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "ReadUploads",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:{partition}:s3:::{source_bucket}/{source_prefix}*"],
            },
            {
                "Sid": "WriteThumbnails",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": [f"arn:{partition}:s3:::{dest_bucket}/*"],
            },
            {
                "Sid": "WriteLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [f"arn:{partition}:logs:{region}:{account}:log-group:{log_group}:*"],
            },
        ],
    }


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
        elif isinstance(value, dict):
            out[key] = {k: canonical(v) for k, v in value.items()}
        else:
            out[key] = value
    return out
