"""The numbers of `resizer tune`: trimmed means, a row per memory size, and the choice.

As AWS Lambda Power Tuning computes them: the warm invocations' durations are averaged after
dropping the top and bottom 20 % (int(n x 0.2) from each end, so nothing is dropped below five
runs); a cold start (a REPORT with Init Duration: the first invoke after a memory change) is
kept apart, shown as init, and never mixed in. Cost per invocation is the request price plus
the trimmed mean of the billed durations in GB-seconds (ops.pricing). Strategies: `cost` (the
cheapest; ties go to the faster), `speed` (the fastest; ties go to the cheaper), `balanced`
(Power Tuning's: the least 0.5 x cost/max cost + 0.5 x duration/max duration over the sizes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from resizer_cli.ops.pricing import Price
from resizer_cli.ops.reports import Report

TRIM = 0.2
STRATEGIES = ("cost", "speed", "balanced")
BALANCED_WEIGHT = 0.5  # of cost; duration gets the rest


def trimmed_mean(values: Sequence[float], trim: float = TRIM) -> float:
    """The mean without the int(n x trim) lowest and highest values (Power Tuning's rule)."""
    if not values:
        raise ValueError("no values to average")
    ordered = sorted(values)
    cut = int(len(ordered) * trim)
    kept = ordered[cut:len(ordered) - cut] if cut else ordered
    return sum(kept) / len(kept)


@dataclass(frozen=True)
class Row:
    """One memory size: what its warm runs measured, or why it has no numbers."""

    memory_mb: int
    runs: int = 0  # warm invocations averaged
    duration_ms: float | None = None  # trimmed mean of Duration
    billed_ms: float | None = None  # trimmed mean of Billed Duration
    cost_per_1000_usd: float | None = None
    init_ms: float | None = None  # the cold start's Init Duration, when one was seen
    cold_duration_ms: float | None = None  # that cold invocation's own Duration
    max_memory_used_mb: float | None = None
    skipped: str | None = None  # why this size has no numbers (refused, failed...)

    @property
    def measured(self) -> bool:
        return self.skipped is None and self.duration_ms is not None

    def to_json(self) -> dict[str, Any]:
        def r(value: float | None, digits: int) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "memory_mb": self.memory_mb,
            "runs": self.runs,
            "duration_ms": r(self.duration_ms, 2),
            "billed_ms": r(self.billed_ms, 2),
            "cost_per_1000_usd": (None if self.cost_per_1000_usd is None
                                  else float(f"{self.cost_per_1000_usd:.6g}")),
            "init_ms": r(self.init_ms, 2),
            "cold_duration_ms": r(self.cold_duration_ms, 2),
            "max_memory_used_mb": self.max_memory_used_mb,
            "skipped": self.skipped,
        }


def row_of(memory_mb: int, reports: Sequence[Report], price: Price) -> Row:
    """A size's row from its REPORT lines: cold ones give init, warm ones the averages."""
    cold = [r for r in reports if r.cold]
    warm = [r for r in reports if not r.cold and r.duration_ms is not None]
    init = cold[0].init_ms if cold and cold[0].init_ms is not None else (
        cold[0].restore_ms if cold else None)
    used = [r.max_memory_mb for r in reports if r.max_memory_mb is not None]
    common = {
        "memory_mb": memory_mb,
        "init_ms": init,
        "cold_duration_ms": cold[0].duration_ms if cold else None,
        "max_memory_used_mb": max(used) if used else None,
    }
    if not warm:
        return Row(**common, skipped="no warm invocation to measure")  # type: ignore[arg-type]
    duration = trimmed_mean([r.duration_ms or 0.0 for r in warm])
    billed = trimmed_mean([r.billed_ms if r.billed_ms is not None else (r.duration_ms or 0.0)
                           for r in warm])
    return Row(runs=len(warm), duration_ms=duration, billed_ms=billed,
               cost_per_1000_usd=1000 * price.of(billed, memory_mb),
               **common)  # type: ignore[arg-type]


def choose(rows: Sequence[Row], strategy: str) -> Row | None:
    """The row the strategy picks among the measured ones (None when none was measured)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}")
    measured = [r for r in rows if r.measured]
    if not measured:
        return None
    if strategy == "cost":
        return min(measured, key=lambda r: (r.cost_per_1000_usd, r.duration_ms, r.memory_mb))
    if strategy == "speed":
        return min(measured, key=lambda r: (r.duration_ms, r.cost_per_1000_usd, r.memory_mb))
    return min(measured, key=lambda r: (balanced_score(r, measured), r.memory_mb))


def balanced_score(row: Row, rows: Sequence[Row]) -> float:
    """Power Tuning's balanced score: lower is better."""
    max_cost = max(r.cost_per_1000_usd or 0.0 for r in rows) or 1.0
    max_duration = max(r.duration_ms or 0.0 for r in rows) or 1.0
    return (BALANCED_WEIGHT * (row.cost_per_1000_usd or 0.0) / max_cost
            + (1 - BALANCED_WEIGHT) * (row.duration_ms or 0.0) / max_duration)
