"""Bounded retries whose decision is made before sleeping.

`sleep` is a module attribute so tests can replace it; RESIZER_RETRY_SCALE scales every delay
(0 makes them instant in subprocess tests).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

sleep: Callable[[float], None] = time.sleep


def _scale() -> float:
    try:
        return float(os.environ.get("RESIZER_RETRY_SCALE", "1"))
    except ValueError:
        return 1.0


def pause(seconds: float) -> None:
    """Sleep for a polling interval, scaled like every retry delay."""
    sleep(seconds * _scale())


def retry_call(
    fn: Callable[[], T],
    *,
    retryable: Callable[[BaseException], bool],
    attempts: int,
    delay: float,
    backoff: float = 1.0,
    max_delay: float = 30.0,
    jitter: float = 0.0,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Call `fn` up to `attempts` times; retry only errors `retryable` accepts."""
    wait = delay
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            # Decide first: a non-retryable error, or the last attempt, fails now without sleeping.
            if attempt >= attempts or not retryable(exc):
                raise
            pause = min(wait, max_delay) * (1 + random.uniform(0, jitter)) * _scale()
            if on_retry is not None:
                on_retry(attempt, exc, pause)
            sleep(pause)
            wait *= backoff
    raise AssertionError("unreachable")
