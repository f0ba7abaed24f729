"""A function's CloudWatch Logs stream, one per execution environment (worker)."""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from resizer_cli.emulator.environment import FunctionSpec

log = logging.getLogger("resizer.emulator")


class LogSink(Protocol):
    def create_stream(self, account: str, region: str, group: str, stream: str) -> None: ...

    def put(
        self, account: str, region: str, group: str, stream: str, events: list[dict[str, Any]]
    ) -> None: ...


class LogStream:
    """One worker's CloudWatch stream; lines are written as they arrive, with their own time."""

    def __init__(self, sink: LogSink, spec: FunctionSpec) -> None:
        self.sink = sink
        self.account = spec.account
        self.region = spec.region
        self.group = spec.log_group
        version = spec.version
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        self.name = f"{day}/[{version}]{uuid.uuid4().hex}"
        self._created = False
        self._lock = threading.Lock()
        self._last_ts = 0
        self.tail: collections.deque[str] | None = None  # current invocation's lines

    def write(self, message: str, ts: int | None = None) -> None:
        if not message:
            return
        with self._lock:
            ts = max(ts or int(time.time() * 1000), self._last_ts)  # PutLogEvents: in order
            self._last_ts = ts
            try:
                if not self._created:
                    self.sink.create_stream(self.account, self.region, self.group, self.name)
                    self._created = True
                self.sink.put(self.account, self.region, self.group, self.name,
                              [{"timestamp": ts, "message": message}])
            except Exception as exc:  # a deleted log group must not break the invocation
                log.warning("cannot write to log group %s: %s", self.group, exc)
            if self.tail is not None:
                self.tail.append(message)
