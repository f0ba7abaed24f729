"""`resizer stats`: what the function did and cost in a window, from its own log lines.

Two filtered scans of the log group (resizer_cli.logscan), aggregated as the pages stream in:

1. REPORT lines (one per invocation): invocations, durations, billed GB-seconds at each line's
   own Memory Size (tune changes it), max memory used, cold starts and their init, and the
   platform's failure classes when the line carries `Status` / `Error Type`.
2. Error lines and the handler's per-image lines: failure classes the REPORT line does not
   carry (`Task timed out`, `Runtime exited`, `[ERROR] Type:`), the handler's own classes
   (rejections by kind, S3 errors), and the images (`thumbnails` and `rejected` lines, one per
   image whatever the batch size; renditions `made` on request).

Result records under results/ are not read: there is one per source key, overwritten when a
key is processed again, and the class needs a GET per record; the log lines count every time.

CloudWatch Logs Insights (`filter @type = "REPORT" | stats ...`) would move less data on AWS,
but moto's start_query only knows fields/sort/limit (no filter, no stats), so it could not be
tested here; and its results arrive when the query ends, not page by page. Not used.

Percentiles are exact, nearest-rank: the smallest value with at least p % of the values at or
below it (sorted[ceil(p/100 * n) - 1]): always a duration that was measured.
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from resizer_cli.aws import Target
from resizer_cli.errors import error_code
from resizer_cli.logscan import ERROR_OR_IMAGE_PATTERN, REPORT_PATTERN, Scan, json_line
from resizer_cli.ops.pricing import Price, price_for
from resizer_cli.ops.reports import Report, parse_report

_RID_RE = re.compile(
    r"\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b", re.IGNORECASE
)
_EXITED_RE = re.compile(r"RequestId: (\S+) Error: Runtime exited")
_UNHANDLED_RE = re.compile(r"^\[ERROR\] ([A-Za-z_][\w.]*): ")
# One class per failed invocation, the most specific one when several lines tell of it.
_PRIORITY = {"timeout": 0, "out_of_memory": 1, "runtime_exit": 2}


def nearest_rank(sorted_values: Any, p: float) -> float | None:
    n = len(sorted_values)
    if n == 0:
        return None
    return float(sorted_values[max(0, math.ceil(p / 100 * n) - 1)])


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass
class _Memory:
    invocations: int = 0
    billed_ms: int = 0
    max_used_mb: float = 0.0


@dataclass
class Aggregate:
    """Streaming totals; only the durations are kept (8 bytes each) for exact percentiles."""

    invocations: int = 0
    durations: array[float] = field(default_factory=lambda: array("d"))
    inits: array[float] = field(default_factory=lambda: array("d"))
    billed_mb_ms: int = 0  # sum of billed ms x memory MB: an integer, so the total is exact
    max_used_mb: float | None = None
    by_memory: dict[int, _Memory] = field(default_factory=dict)
    # request id -> class, for invocation failures (several lines may tell of one).
    failed: dict[str, str] = field(default_factory=dict)
    classes: Counter[str] = field(default_factory=Counter)  # classes counted per line
    images_ok: int = 0
    images_rejected: int = 0
    renditions_made: int = 0
    report_lines: int = 0
    other_lines: int = 0
    _exited: dict[str, str] = field(default_factory=dict)  # log stream -> last exited rid

    # --- REPORT lines ----------------------------------------------------------------------

    def add_report(self, r: Report) -> None:
        self.invocations += 1
        self.durations.append(r.duration_ms or 0.0)
        if r.cold:
            self.inits.append(r.init_ms if r.init_ms is not None else (r.restore_ms or 0.0))
        memory = int(r.memory_mb or 0)
        billed = math.ceil(r.billed_ms or 0.0)
        self.billed_mb_ms += billed * memory
        used = r.max_memory_mb or 0.0
        self.max_used_mb = used if self.max_used_mb is None else max(self.max_used_mb, used)
        row = self.by_memory.setdefault(memory, _Memory())
        row.invocations += 1
        row.billed_ms += billed
        row.max_used_mb = max(row.max_used_mb, used)
        if r.status == "timeout":
            self._fail(r.request_id, "timeout")
        elif r.error_type == "Runtime.OutOfMemory":
            self._fail(r.request_id, "out_of_memory")
        elif r.error_type == "Runtime.ExitError":
            self._fail(r.request_id, "runtime_exit")
        # Other error types (an init error, an unhandled exception) come with their own
        # `[ERROR] Type:` line, counted below: counting the REPORT too would count it twice.

    def _fail(self, request_id: str, cls: str) -> None:
        old = self.failed.get(request_id)
        if old is None or _PRIORITY[cls] < _PRIORITY[old]:
            self.failed[request_id] = cls

    # --- error and image lines -------------------------------------------------------------

    def add_line(self, message: str, stream: str = "") -> None:
        doc = json_line(message)
        if doc is not None:
            self._handler_line(doc)
            return
        m = message.strip()
        if "Task timed out" in m:
            rid = _RID_RE.search(m)
            self._fail(rid.group(1) if rid else f"line:{self.other_lines}", "timeout")
        elif (exited := _EXITED_RE.search(m)) is not None:
            rid_text = exited.group(1)
            self._exited[stream] = rid_text
            self._fail(rid_text, "out_of_memory" if "Runtime.OutOfMemory" in m
                       else "runtime_exit")
        elif m in ("Runtime.OutOfMemory", "Runtime.ExitError"):
            # The error type on a line of its own, after `RequestId: … Runtime exited`.
            rid_text = self._exited.get(stream) or f"line:{stream}:{self.other_lines}"
            self._fail(rid_text, "out_of_memory" if m == "Runtime.OutOfMemory"
                       else "runtime_exit")
        elif (unhandled := _UNHANDLED_RE.match(m)) is not None:
            kind = unhandled.group(1)
            # A platform error type (init timed out, say): its REPORT line tells of it.
            if kind not in ("Runtime.ExitError", "Runtime.OutOfMemory"):
                self.classes[f"unhandled:{kind}"] += 1

    def _handler_line(self, doc: dict[str, Any]) -> None:
        event = doc.get("event")
        if event == "thumbnails":
            self.images_ok += 1
        elif event == "rejected":
            self.images_rejected += 1
            self.classes[f"rejected:{doc.get('error') or 'unknown'}"] += 1
        elif event == "http":
            if doc.get("rendition") == "made":
                self.renditions_made += 1
            if doc.get("level") == "error":
                self.classes[f"http:{doc.get('status')}"] += 1
        elif doc.get("level") == "error" and isinstance(event, str):
            self.classes[event] += 1  # s3_error, internal_error, config_error, skipped

    # --- the result ------------------------------------------------------------------------

    @property
    def images(self) -> int:
        return self.images_ok + self.images_rejected + self.renditions_made

    def errors(self) -> dict[str, int]:
        counts = Counter(self.failed.values())
        counts.update(self.classes)
        return dict(sorted(counts.items()))

    def result(self, price: Price, memory_mb: int | None) -> dict[str, Any]:
        durations = sorted(self.durations)
        inits = sorted(self.inits)
        gb_s = self.billed_mb_ms / 1024 / 1000
        cost = self.invocations * price.request_usd + gb_s * price.gb_second_usd
        images = self.images
        return {
            "invocations": self.invocations,
            "errors": self.errors(),
            "cold_starts": len(inits),
            "init_ms": {"p50": _ms(nearest_rank(inits, 50)), "max": _ms(inits[-1] if inits
                                                                         else None)},
            "duration_ms": {
                "p50": _ms(nearest_rank(durations, 50)),
                "p95": _ms(nearest_rank(durations, 95)),
                "max": _ms(durations[-1] if durations else None),
            },
            "billed_gb_seconds": gb_s,
            "memory_mb": memory_mb,
            "max_memory_used_mb": self.max_used_mb,
            "by_memory": [
                {"memory_mb": mb, "invocations": row.invocations,
                 "billed_gb_seconds": row.billed_ms * mb / 1024 / 1000,
                 "max_memory_used_mb": row.max_used_mb}
                for mb, row in sorted(self.by_memory.items())
            ],
            "images": {"total": images, "ok": self.images_ok, "rejected": self.images_rejected,
                       "made_on_request": self.renditions_made},
            "cost_usd": cost,
            "cost_per_1000_usd": cost / images * 1000 if images else None,
            "price": {"source": price.source, "request_usd": price.request_usd,
                      "gb_second_usd": price.gb_second_usd},
            "scanned": {"report_lines": self.report_lines, "other_lines": self.other_lines},
        }


def aggregate(
    reports: Iterable[dict[str, Any]], others: Iterable[dict[str, Any]],
    agg: Aggregate | None = None,
) -> Aggregate:
    """Feed the two scans' events (filter_log_events events) into an Aggregate."""
    agg = agg or Aggregate()
    for event in reports:
        r = parse_report(str(event.get("message", "")))
        if r is not None:
            agg.report_lines += 1
            agg.add_report(r)
    for event in others:
        message = str(event.get("message", ""))
        if message.startswith("REPORT "):
            continue  # `Status: error` matches the error pattern; counted by the first scan
        agg.other_lines += 1
        agg.add_line(message, str(event.get("logStreamName", "")))
    return agg


@dataclass(frozen=True)
class Window:
    start_ms: int
    end_ms: int


def scan_group(
    logs: Any, group: str, window: Window,
    on_page: Callable[[str, Scan], None] | None = None,
) -> Aggregate:
    """Both scans over the window (end fixed, so lines arriving meanwhile do not count)."""
    def scan(kind: str, pattern: str) -> Scan:
        return Scan(logs, group, window.start_ms, pattern, end_ms=window.end_ms,
                    on_page=(lambda s: on_page(kind, s)) if on_page else None)

    return aggregate(scan("REPORT lines", REPORT_PATTERN),
                     scan("error and image lines", ERROR_OR_IMAGE_PATTERN))


def stack_stats(
    target: Target, window: Window, on_page: Callable[[str, Scan], None] | None = None
) -> dict[str, Any]:
    """The stack's stats over the window: StackNotFound without its function; a zero result
    when its log group does not exist yet (never invoked)."""
    settings = target.settings
    try:
        conf = target.client("lambda").get_function_configuration(
            FunctionName=target.names.function)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise target.stack_not_found() from None
        raise
    architecture = (conf.get("Architectures") or ["x86_64"])[0]
    price = price_for(settings, architecture)
    group = target.names.log_group
    try:
        agg = scan_group(target.client("logs"), group, window, on_page)
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        agg = Aggregate()
    out = agg.result(price, int(conf["MemorySize"]) if conf.get("MemorySize") else None)
    out["price"].update(architecture=architecture, region=settings.region)
    out["window"] = {"start_ms": window.start_ms, "end_ms": window.end_ms,
                     "minutes": round((window.end_ms - window.start_ms) / 60_000, 1)}
    out.update(stack=settings.stack, target=settings.target, function=target.names.function,
               log_group=group)
    return out
