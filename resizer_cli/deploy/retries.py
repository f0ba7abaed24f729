"""Which AWS errors are worth retrying, and the retry budgets deploy uses.

The decision is made from the error alone, before any sleep (see `resizer_cli.retry`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

from resizer_cli import retry
from resizer_cli.errors import error_code

T = TypeVar("T")

THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "SlowDown",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
    }
)

# A new IAM role takes seconds to propagate; Lambda reports it with these messages.
_ROLE_NOT_READY = re.compile(
    r"role.*cannot be assumed|role.*does not have permissions|InvalidArnException.*valid principal",
    re.IGNORECASE | re.DOTALL,
)
_UNVALIDATED = "Unable to validate the following destination configurations"
_IN_PROGRESS = re.compile(r"update is in progress|cannot be performed at this time", re.IGNORECASE)


def _message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message", ""))
    return ""


def is_throttle(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLE_CODES


def is_role_not_ready(exc: BaseException) -> bool:
    code = error_code(exc)
    return bool(code) and bool(_ROLE_NOT_READY.search(f"{code}: {_message(exc)}"))


def is_destination_unvalidated(exc: BaseException) -> bool:
    return _UNVALIDATED in _message(exc)


def is_update_in_progress(exc: BaseException) -> bool:
    return error_code(exc) == "ResourceConflictException" and bool(
        _IN_PROGRESS.search(_message(exc))
    )


def call(
    fn: Callable[[], T],
    *,
    also: Callable[[BaseException], bool] | None = None,
    attempts: int = 8,
    delay: float = 0.5,
    backoff: float = 2.0,
    max_delay: float = 20.0,
) -> T:
    """Run one AWS call, retrying throttling (and whatever `also` accepts) with backoff."""

    def retryable(exc: BaseException) -> bool:
        return is_throttle(exc) or (also is not None and also(exc))

    return retry.retry_call(
        fn,
        retryable=retryable,
        attempts=attempts,
        delay=delay,
        backoff=backoff,
        max_delay=max_delay,
        jitter=0.2,
    )


def call_create_function(fn: Callable[[], T]) -> T:
    """create_function, waiting out IAM propagation of a new role (30 tries, 5 s apart)."""
    return retry.retry_call(
        fn,
        retryable=lambda e: is_role_not_ready(e) or is_throttle(e) or is_update_in_progress(e),
        attempts=30,
        delay=5.0,
    )
