"""Fetching and following the function's CloudWatch logs without duplicates or gaps.

Each pass calls filter_log_events from `startTime` and follows nextToken to the end. The next
pass does not start at the newest timestamp shown but TRAILING_MS before it, and skips the
eventIds already shown inside that window: CloudWatch ingests late, so an event of another
log stream with an earlier timestamp can arrive after newer ones were shown (and events of
the same millisecond arrive in separate polls). Only the ids inside the window are kept, so
memory stays bounded while following. The clock, the sleep and the client are injected so
tests can drive every path.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from resizer_cli.errors import USAGE, ResizerError, error_code

POLL_INTERVAL = 1.0
MAX_BACKOFF = 10.0
# How late an event may arrive and still be shown. Timestamps are the writer's: PutLogEvents
# accepts events up to 14 days old, so timestamp order is not arrival order, and ingestion
# itself takes seconds, unbounded.
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html
TRAILING_MS = 30_000
THROTTLE_CODES = {
    "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
    "LimitExceededException",
}

_REL_RE = re.compile(r"^(?:(\d+)\s*([smhdw]))+$")
_PART_RE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: datetime | None = None) -> int:
    """`10m`, `2h`, `1d`, `1h30m` or ISO-8601 (naive means UTC) -> epoch milliseconds.

    A start before 1970 (`99999999999d`) means "from the beginning": CloudWatch Logs times
    start at the epoch, so it is clamped to 0 rather than refused.
    """
    value = text.strip().lower()
    now = now or datetime.now(UTC)
    if _REL_RE.match(value):
        # Digits beyond what any duration needs would only overflow: from the beginning.
        parts = _PART_RE.findall(value)
        if any(len(n) > 15 for n, _ in parts):
            return 0
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
        if seconds >= now.timestamp():
            return 0
        return int((now - timedelta(seconds=seconds)).timestamp() * 1000)
    iso = text.strip()
    if iso.endswith(("Z", "z")):
        iso = iso[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        raise ResizerError(
            f"cannot read --since {text!r}",
            "use a duration such as 10m, 2h, 1d, or an ISO-8601 time like 2026-11-28T09:30:00Z",
            exit_code=USAGE,  # only ever a flag's value: a usage mistake
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, int(when.timestamp() * 1000))


def is_throttle(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLE_CODES


def is_missing_group(exc: BaseException) -> bool:
    return error_code(exc) == "ResourceNotFoundException"


class LogGroupMissing(Exception):
    """The log group does not exist yet: the function has not been invoked."""


@dataclass
class LogFollower:
    client: Any
    group: str
    start_ms: int
    filter_pattern: str | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    interval: float = POLL_INTERVAL
    max_backoff: float = MAX_BACKOFF
    trailing_ms: int = TRAILING_MS
    # Dedup state: the newest timestamp shown, and every eventId shown inside the window.
    newest_ms: int = field(default=-1, init=False)
    seen: dict[str, int] = field(default_factory=dict, init=False)
    throttled: int = field(default=0, init=False)
    backoff: float = field(default=0.0, init=False)

    def window_start(self) -> int:
        """Where the next pass starts: a trailing window before the newest event shown."""
        if self.newest_ms < 0:
            return self.start_ms
        return max(self.start_ms, self.newest_ms - self.trailing_ms)

    def _page(self, start: int, token: str | None) -> dict[str, Any]:
        """One page; throttling sleeps with exponential backoff and retries the same page."""
        kwargs: dict[str, Any] = {"logGroupName": self.group, "startTime": start}
        if self.filter_pattern:
            kwargs["filterPattern"] = self.filter_pattern
        if token:
            kwargs["nextToken"] = token
        while True:
            try:
                page = self.client.filter_log_events(**kwargs)
            except ClientError as exc:
                if is_missing_group(exc):
                    raise LogGroupMissing(self.group) from None
                if not is_throttle(exc):
                    raise
                self.throttled += 1
                self.backoff = min(max(self.backoff * 2, self.interval * 2), self.max_backoff)
                self.sleep(self.backoff)
                continue
            self.backoff = 0.0
            return page

    def fetch(self) -> Iterator[dict[str, Any]]:
        """One pass: yield every event not shown before, page by page, oldest first per page."""
        start = self.window_start()
        token: str | None = None
        while True:
            page = self._page(start, token)
            fresh = [e for e in page.get("events", []) if str(e.get("eventId")) not in self.seen]
            fresh.sort(key=lambda e: int(e["timestamp"]))
            for event in fresh:
                ts = int(event["timestamp"])
                # Recorded as it is shown: a pass cut short resumes without repeating it.
                self.seen[str(event.get("eventId"))] = ts
                self.newest_ms = max(self.newest_ms, ts)
                yield event
            next_token = page.get("nextToken")
            if not next_token or next_token == token:
                break
            token = next_token
        # Forget what the next pass can no longer return.
        floor = self.window_start()
        self.seen = {eid: ts for eid, ts in self.seen.items() if ts >= floor}

    def fetch_sorted(self) -> list[dict[str, Any]]:
        """One pass in time order: pages interleave log streams, readers expect a timeline."""
        return sorted(self.fetch(), key=lambda e: int(e["timestamp"]))

    def follow(
        self,
        on_event: Callable[[dict[str, Any]], None],
        on_missing: Callable[[], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        """Poll about once a second until should_stop() (or Ctrl-C, which propagates)."""
        announced = False
        while not should_stop():
            began = self.clock()
            try:
                for event in self.fetch_sorted():
                    on_event(event)
            except LogGroupMissing:
                if not announced and on_missing is not None:
                    on_missing()
                announced = True
            if should_stop():
                break
            # About one poll a second, however long the pass itself took.
            self.sleep(max(0.05, self.interval - (self.clock() - began)))
