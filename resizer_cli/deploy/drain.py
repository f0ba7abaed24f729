"""Before the function is deleted, let the invocations already running finish.

Otherwise an invocation still running writes to a log group teardown has just deleted (on
the emulator it even recreates it). By the time this runs, the notification entry and the
invoke permission are gone, so S3 starts nothing new. What "running" means:
- on the emulator: its own count of queued, running and retrying invocations;
- on AWS: reserved concurrency 0 first (so retries of events Lambda had already queued do not
  start; deploy/pause.py tags it, so a `setup` after a teardown cut short lifts it again),
  then the log group is read: an invocation is running while its `START RequestId` line has
  no `REPORT RequestId` line yet. CloudWatch ingests a few seconds late, so we watch
  at least MARGIN_S, and never longer than the function's timeout plus that margin, after
  which every invocation started before the trigger was removed has ended.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from botocore.exceptions import ClientError

from resizer_cli import retry
from resizer_cli.aws import Target
from resizer_cli.deploy import pause, retries
from resizer_cli.errors import error_code
from resizer_cli.logscan import Scan

POLL_S = 2.0
MARGIN_S = 6.0
PATTERN = '?"START RequestId" ?"REPORT RequestId"'
_LINE = re.compile(r"^(START|REPORT) RequestId: ([0-9A-Za-z-]+)")


def running(logs: Any, group: str, since_ms: int) -> set[str]:
    """Request ids with a START line and no REPORT line since `since_ms`."""
    started: set[str] = set()
    ended: set[str] = set()
    try:
        for event in Scan(logs, group, since_ms, PATTERN, call=retries.call):
            m = _LINE.match(str(event.get("message", "")))
            if m:
                (started if m.group(1) == "START" else ended).add(m.group(2))
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    return started - ended


def _stop_new_invocations(target: Target, function: str, function_arn: str) -> None:
    try:
        pause.hold(target, function, function_arn)  # tagged: an interrupted teardown is undone
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise


def wait_for_invocations(
    target: Target, function: str, function_arn: str, log_group: str, timeout_s: int
) -> str:
    """Block (bounded) until no invocation of `function` runs; return what was seen."""
    if target.is_local:
        from resizer_cli.emulator.control import drain

        if drain(timeout=timeout_s + MARGIN_S):
            return "no invocation running"
        return f"invocations still running after {timeout_s + MARGIN_S:.0f} s: removing anyway"
    _stop_new_invocations(target, function, function_arn)
    logs = target.client("logs")
    since = int((time.time() - timeout_s - MARGIN_S) * 1000)
    at_least = max(1, math.ceil(MARGIN_S / POLL_S))
    at_most = max(at_least, math.ceil((timeout_s + MARGIN_S) / POLL_S))
    seen: set[str] = set()
    for poll in range(1, at_most + 1):
        now = running(logs, log_group, since)
        seen |= now
        if not now and poll >= at_least:
            return f"waited for {len(seen)} running invocation(s)" if seen else "none running"
        if poll < at_most:
            retry.pause(POLL_S)
    return f"{len(now)} invocation(s) still running after {timeout_s + MARGIN_S:.0f} s"
