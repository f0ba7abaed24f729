"""User-facing errors: one line saying what happened and what to do.

Everything a user can cause is raised as ResizerError; the CLI prints it as a single line and
exits non-zero. `from_boto` turns the botocore failures users hit most into that form.
"""

from __future__ import annotations

import re

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
    UnknownRegionError,
)

# Exit codes, as the README's "Exit codes" lists them (tests/cli/test_exit_codes.py runs each).
FAILED = 1  # an error with a remedy, or a file or job that failed
USAGE = 2  # a usage mistake: Click prints the usage message and exits with it
NOT_FOUND = 3  # no such stack is deployed; for `local status`, the emulator is not running
INTERNAL_ERROR = 70  # a bug (EX_SOFTWARE from sysexits.h)
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


class ResizerError(Exception):
    """An error with a remedy. `str()` is the one line the CLI prints."""

    def __init__(
        self, message: str, hint: str | None = None, *, exit_code: int = FAILED
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class StackNotFound(ResizerError):
    def __init__(self, stack: str, where: str) -> None:
        super().__init__(
            f"no stack '{stack}' is deployed on {where}",
            "run `resizer setup` first",
            exit_code=NOT_FOUND,
        )


_ACTION_RE = re.compile(r"not authorized to perform:? ([a-z0-9-]+:[A-Za-z0-9*]+)")
# AWS names the kind of policy that denies explicitly: "... with an explicit deny in a
# resource-based policy" (a bucket policy), "... in an identity-based policy", "... in a
# service control policy", "... in a permissions boundary" ...
# https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
_EXPLICIT_RE = re.compile(r"explicit deny in (?:an? )?([a-zA-Z -]+?policy|permissions boundary)")


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError, '' for anything else."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def from_boto(exc: BaseException, doing: str = "") -> ResizerError | None:
    """Translate a botocore failure a user can fix; None when it is not one of those."""
    prefix = f"{doing}: " if doing else ""
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return ResizerError(
            f"{prefix}no AWS credentials found",
            "run `aws configure`, set AWS_PROFILE, or use `--target local` for the emulator",
        )
    if isinstance(exc, ProfileNotFound):
        return ResizerError(f"{prefix}{exc}", "check `--profile` against ~/.aws/config")
    if isinstance(exc, TokenRetrievalError):
        return ResizerError(f"{prefix}the SSO token has expired", "run `aws sso login`")
    if isinstance(exc, NoRegionError):
        return ResizerError(f"{prefix}no AWS region is set", "pass `--region` or set AWS_REGION")
    if isinstance(exc, UnknownRegionError):
        return ResizerError(f"{prefix}unknown region: {exc}", "pass a region such as eu-west-1")
    if isinstance(exc, EndpointConnectionError):
        return ResizerError(
            f"{prefix}cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')}",
            "check the region name and your network; for the emulator run `resizer local status`",
        )
    code = error_code(exc)
    if not code:
        return None
    msg = str(exc.response.get("Error", {}).get("Message", ""))  # type: ignore[attr-defined]
    if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
        return ResizerError(
            f"{prefix}your AWS session token has expired", "refresh your credentials and re-run"
        )
    if code in ("InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch"):
        return ResizerError(
            f"{prefix}AWS rejected the credentials ({code})",
            "check the access key, or the region (a token is only valid in enabled regions)",
        )
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        m = _ACTION_RE.search(msg)
        action = m.group(1) if m else _operation_action(exc)
        deny = _EXPLICIT_RE.search(msg)
        if deny:
            where = deny.group(1)
            if "resource" in where:
                where += " (e.g. a bucket policy)"
            return ResizerError(
                f"{prefix}{action} is refused by an explicit deny in a {where}",
                "a Deny wins over any Allow: change that policy, or meet its conditions",
            )
        return ResizerError(
            f"{prefix}access denied for {action}",
            f"grant {action} to your IAM identity, or use another --profile",
        )
    if code == "BucketAlreadyExists":
        bucket = exc.response.get("Error", {}).get("BucketName", "")  # type: ignore[attr-defined]
        return ResizerError(
            f"{prefix}the bucket name {bucket or ''} is taken by another AWS account".replace(
                "  ", " "
            ),
            "choose another --stack name, or bring your own bucket with --source-bucket",
        )
    if code in ("InvalidLocationConstraint", "IllegalLocationConstraintException"):
        return ResizerError(f"{prefix}{msg or code}", "check --region")
    return None


def _operation_action(exc: BaseException) -> str:
    op = getattr(exc, "operation_name", "") or "the operation"
    return op


def is_boto_error(exc: BaseException) -> bool:
    return isinstance(exc, (BotoCoreError, ClientError))
