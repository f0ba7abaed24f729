"""Before anything is sent: may we read what `--wait` (and `--download`) will read?

Without these rights the uploads would succeed and the run would stop afterwards, with the
files in the bucket and nothing reported about them.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from resizer_cli.errors import ResizerError, error_code
from resizer_cli.ops.layout import StackLayout

_PROBE = ".resizer-access-check"  # never written: reading it only asks S3 whether we may
_DENIED = ("AccessDenied", "403", "AllAccessDisabled")
_NO_WAIT = "grant it to your IAM identity, or pass --no-wait to only upload"


def check_wait_access(s3: Any, layout: StackLayout, *, download: bool) -> None:
    """One line (ResizerError) naming the first missing right: s3:ListBucket, then
    s3:GetObject on the records (and on the thumbnails with --download)."""
    bucket = layout.dest_bucket
    try:
        s3.list_objects_v2(Bucket=bucket, Prefix=layout.results_prefix, MaxKeys=1)
    except ClientError as exc:
        if error_code(exc) in _DENIED:
            raise ResizerError(
                f"waiting for results needs s3:ListBucket on the bucket {bucket}", _NO_WAIT
            ) from None
        if error_code(exc) == "NoSuchBucket":
            raise ResizerError(f"the destination bucket {bucket} does not exist",
                               "run `resizer setup`") from None
        raise
    reads = [(layout.results_prefix, "waiting for results")]
    if download:
        reads.append((layout.dest_prefix, "--download"))
    for prefix, what in reads:
        try:
            s3.get_object(Bucket=bucket, Key=prefix + _PROBE)
        except ClientError as exc:
            # With s3:ListBucket (checked above), a missing key answers 404 to whoever may
            # read it and 403 to whoever may not ("Permissions" in
            # https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).
            if error_code(exc) in ("NoSuchKey", "404"):
                continue
            if error_code(exc) in _DENIED:
                raise ResizerError(
                    f"{what} needs s3:GetObject on {bucket}/{prefix}*", _NO_WAIT
                ) from None
            raise
