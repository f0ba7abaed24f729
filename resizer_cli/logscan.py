"""Scanning the function's log group with server-side filter patterns (status, stats,
teardown's drain, the demo).

Lambda writes one REPORT line per invocation. CloudWatch filters server-side, so only the
lines wanted cross the network: exact at any volume, without reading every event.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

REPORT_PATTERN = '"REPORT RequestId"'
# A superset of the error lines (terms are case-sensitive); each is then checked exactly.
ERROR_PATTERN = (
    '?ERROR ?error ?Traceback ?"Task timed out" ?"Runtime.ExitError" ?"Runtime.OutOfMemory"'
)
# The error lines plus the handler's per-image lines ("event": "thumbnails", and renditions
# "made" on request): one scan gives stats both the error classes and the images.
ERROR_OR_IMAGE_PATTERN = ERROR_PATTERN + " ?thumbnails ?made"
PAGE_LIMIT = 10_000  # FilterLogEvents' largest page


def is_error_line(message: str) -> bool:
    m = message.lstrip()
    if m.startswith("{"):
        # The handler's structured lines: {"level": "error", "event": "rejected", ...}.
        doc = json_line(m)
        if doc is not None:
            return doc.get("level") == "error" or doc.get("status") == "error"
    return (
        m.startswith("[ERROR]")
        or "Task timed out" in m
        or m.startswith("Traceback")
        or "Runtime.ExitError" in m
        or "Runtime.OutOfMemory" in m
    )


def json_line(message: str) -> dict[str, Any] | None:
    """The handler's JSON log line as a dict, or None for any other line."""
    m = message.lstrip()
    if not m.startswith("{"):
        return None
    try:
        doc = json.loads(m)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


@dataclass
class Scan:
    """One filtered pass over [start_ms, end_ms], page by page, each event once.

    Pages follow nextToken to the end. Events are de-duplicated by eventId: a token that
    resumes at a page boundary may repeat events, and a repeat would make counts inexact.
    `max_pages` (None: no cap) is a safety net for callers that only want "recent".
    """

    logs: Any
    group: str
    start_ms: int
    pattern: str | None  # None: every event
    end_ms: int | None = None
    max_pages: int | None = None
    on_page: Callable[[Scan], None] | None = None
    # How each page is fetched: a caller may wrap it in its retries (deploy.retries.call).
    call: Callable[[Callable[[], Any]], Any] = field(default=lambda fetch: fetch(), repr=False)
    pages: int = field(default=0, init=False)
    events: int = field(default=0, init=False)  # distinct events returned
    duplicates: int = field(default=0, init=False)
    truncated: bool = field(default=False, init=False)
    _seen: set[str] = field(default_factory=set, init=False, repr=False)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "logGroupName": self.group, "startTime": self.start_ms, "limit": PAGE_LIMIT,
        }
        if self.pattern is not None:
            kwargs["filterPattern"] = self.pattern
        if self.end_ms is not None:
            kwargs["endTime"] = self.end_ms
        while True:
            if self.max_pages is not None and self.pages >= self.max_pages:
                self.truncated = True
                return
            resp = self.call(lambda: self.logs.filter_log_events(**kwargs))
            self.pages += 1
            for event in resp.get("events", []):
                eid = event.get("eventId")
                if eid is not None:
                    if eid in self._seen:
                        self.duplicates += 1
                        continue
                    self._seen.add(eid)
                self.events += 1
                yield event
            if self.on_page is not None:
                self.on_page(self)
            token = resp.get("nextToken")
            if not token or token == kwargs.get("nextToken"):
                return
            kwargs["nextToken"] = token


def count_lines(
    logs: Any, group: str, start_ms: int, pattern: str, keep: Callable[[str], bool],
    *, max_pages: int | None = None,
) -> tuple[int, str, bool]:
    """(count of matching lines kept, the last one, whether the page cap cut the scan)."""
    scan = Scan(logs, group, start_ms, pattern, max_pages=max_pages)
    count, last = 0, ""
    for event in scan:
        msg = str(event.get("message", ""))
        if keep(msg):
            count += 1
            last = msg
    return count, last, scan.truncated
