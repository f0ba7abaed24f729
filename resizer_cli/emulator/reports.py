"""The log lines and payload tails Lambda writes around an invocation."""

from __future__ import annotations

import math
from typing import Any


def last_4kb(text: str) -> str:
    """LogType=Tail returns the last 4 KB of the invocation's log, as Lambda does."""
    data = text.encode()
    return data[-4096:].decode("utf-8", "ignore") if len(data) > 4096 else text


def error_log(error: dict[str, Any]) -> str:
    """Lambda's Python runtime logs an unhandled error as one multi-line event."""
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}",
             "Traceback (most recent call last):"]
    lines += [frame.rstrip("\n") for frame in error.get("stackTrace") or []]
    return "\n".join(lines)


def report_line(
    request_id: str, duration_ms: float, memory_mb: int, used_mb: int, init_ms: float | None
) -> str:
    # Since August 2025 Lambda bills the init phase of on-demand functions too, so a cold
    # start's Billed Duration includes it. https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/
    billed = max(1, math.ceil(duration_ms + (init_ms or 0.0)))
    parts = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {billed} ms",
        f"Memory Size: {memory_mb} MB",
        f"Max Memory Used: {min(used_mb, memory_mb)} MB",
    ]
    if init_ms is not None:
        parts.append(f"Init Duration: {init_ms:.2f} ms")
    return "\t".join(parts)
