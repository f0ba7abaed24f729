"""The role's statements for failed events kept in S3 and for deletions followed.

- Lambda delivers a failed event to an S3 destination with the function's own role, which
  needs s3:PutObject there and s3:ListBucket on the bucket ("Adding a destination",
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html). The
  PutObject holds only under the function's own aws/lambda/async/<function>/ folder, and, as
  that page advises, only in our account: a squatted bucket of the same name is never written.
- When an original is deleted, the function deletes its thumbnails and result record:
  s3:DeleteObject on those two prefixes of the destination bucket, nothing else.
"""

from __future__ import annotations

from typing import Any


def statements(
    *,
    partition: str,
    account: str,
    dest_bucket: str,
    failures_prefix: str,
    dest_prefix: str,
    results_prefix: str,
) -> list[dict[str, Any]]:
    bucket = f"arn:{partition}:s3:::{dest_bucket}"
    in_account = {"StringEquals": {"aws:ResourceAccount": account}}
    return [
        {
            # As the AWS page's example: both actions in one statement, here narrowed to
            # our bucket and the function's own folder in it.
            "Sid": "KeepFailedEvents",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:ListBucket"],
            "Resource": [bucket, f"{bucket}/{failures_prefix}*"],
            "Condition": in_account,
        },
        {
            "Sid": "FollowDeletions",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject"],
            "Resource": [f"{bucket}/{dest_prefix}*", f"{bucket}/{results_prefix}*"],
            "Condition": in_account,
        },
    ]
