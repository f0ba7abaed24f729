"""Waiting for a Lambda function between changes, as its State and LastUpdateStatus allow.

An idle function becomes Inactive (and passes through Deactivating); it can still be updated
then, and the next invocation reactivates it. So before an update we wait only while an
earlier update is InProgress (or the function is still Pending from its creation); we demand
State == Active only right after CreateFunction. ActiveNonInvocable (e.g. its KMS key
disabled) is reported, not waited on.
https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resizer_cli import retry
from resizer_cli.deploy import retries
from resizer_cli.errors import ResizerError

ATTEMPTS = 80  # with 1 s growing to 5 s apart: about 6 minutes


class _NotReady(Exception):
    pass


def _reason(c: dict[str, Any]) -> str:
    return str(c.get("LastUpdateStatusReason") or c.get("StateReason") or "no reason given")


def _poll(lam: Any, name: str, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    def probe() -> dict[str, Any]:
        c = dict(lam.get_function_configuration(FunctionName=name))
        if c.get("State") == "Deleting":
            raise ResizerError(f"function {name} is being deleted", "re-run when it is gone")
        if not ready(c):
            raise _NotReady(f"{c.get('State')}/{c.get('LastUpdateStatus')}")
        return c

    try:
        return retry.retry_call(
            probe,
            retryable=lambda e: isinstance(e, _NotReady) or retries.is_throttle(e),
            attempts=ATTEMPTS,
            delay=1.0,
            backoff=1.2,
            max_delay=5.0,
        )
    except _NotReady as exc:
        raise ResizerError(
            f"function {name} is still updating ({exc})", "wait a minute and re-run"
        ) from None


def _failed_create(c: dict[str, Any], name: str) -> None:
    if c.get("State") == "Failed":
        # A function that failed to create must be deleted and created again.
        raise ResizerError(
            f"function {name} failed to deploy: {_reason(c)}",
            "fix the cause, delete the function (or run `resizer teardown`) and re-run setup",
        )


def until_updatable(lam: Any, name: str) -> None:
    """Before an update: no update in progress, creation finished; any State but Failed."""

    def ready(c: dict[str, Any]) -> bool:
        _failed_create(c, name)
        return c.get("LastUpdateStatus") != "InProgress" and c.get("State") != "Pending"

    _poll(lam, name, ready)


def until_active(lam: Any, name: str) -> None:
    """After CreateFunction: State Active (Failed is reported with its reason)."""

    def ready(c: dict[str, Any]) -> bool:
        _failed_create(c, name)
        return c.get("State") in (None, "Active")

    _poll(lam, name, ready)


def until_updated(lam: Any, name: str) -> dict[str, Any]:
    """After an update: LastUpdateStatus Successful, whatever the State (Inactive is fine)."""

    def ready(c: dict[str, Any]) -> bool:
        _failed_create(c, name)
        if c.get("LastUpdateStatus") == "Failed":
            raise ResizerError(
                f"function {name} failed to deploy: {_reason(c)}", "fix it and re-run"
            )
        return c.get("LastUpdateStatus") in (None, "Successful")

    return _poll(lam, name, ready)
