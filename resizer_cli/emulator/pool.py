"""A function's pool of warm execution environments, its async queue and its counters."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resizer_cli.emulator.environment import Environment, FunctionSpec


@dataclass
class AsyncItem:
    request_id: str
    resolve: Callable[[], FunctionSpec | None]
    event: str
    attempt: int = 0
    throttles: int = 0  # times it found the function at reserved concurrency 0
    enqueued: float = field(default_factory=time.time)


@dataclass
class Stats:
    invocations: int = 0
    errors: int = 0
    async_failed: int = 0
    retries: int = 0
    cold_starts: int = 0
    timeouts: int = 0
    out_of_memory: int = 0
    throttles: int = 0
    last_error: str = ""


class Pool:
    def __init__(self, key: str, name: str) -> None:
        self.key = key
        self.name = name
        self.fingerprint = ""
        self.runtime = ""
        self.idle: list[Environment] = []
        self.busy: set[Environment] = set()
        self.active = 0
        self.cond = threading.Condition()
        self.queue: collections.deque[AsyncItem] = collections.deque()
        self.consumers = 0
        self.pending = 0  # async items queued or being processed
        self.stats = Stats()
        self.limit = 1
        self.exists: Callable[[], bool] = lambda: True

    def acquire(self, limit: int) -> None:
        with self.cond:
            self.limit = limit
            self.cond.wait_for(lambda: self.active < self.limit)
            self.active += 1

    def release(self) -> None:
        with self.cond:
            self.active -= 1
            self.cond.notify_all()
