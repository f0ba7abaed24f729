"""`resizer stats` over known lines in moto's CloudWatch Logs: every number checked exactly."""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resizer_cli.aws import Target
from resizer_cli.errors import StackNotFound
from resizer_cli.logscan import ERROR_OR_IMAGE_PATTERN, REPORT_PATTERN, Scan
from resizer_cli.ops.pricing import PRICES_AS_OF
from resizer_cli.ops.stats import Window, nearest_rank, stack_stats
from resizer_cli.settings import Settings

HOUR_MS = 3_600_000


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


def rid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def report(n: int, duration: float, billed: int, memory: int, used: int,
           init: float | None = None, tail: str = "") -> str:
    line = (f"REPORT RequestId: {rid(n)}\tDuration: {duration:.2f} ms\tBilled Duration: "
            f"{billed} ms\tMemory Size: {memory} MB\tMax Memory Used: {used} MB\t")
    if init is not None:
        line += f"Init Duration: {init:.2f} ms\t"
    return line + tail


def handler(event: str, **fields: Any) -> str:
    level = "error" if event in ("rejected", "s3_error") else fields.pop("level", "info")
    return json.dumps({"level": level, "event": event, **fields})


# Seven invocations, two of them at 512 MB before a tune to 1,024 MB; two cold starts.
LINES = [
    report(1, 100.00, 286, 1024, 80, init=185.50),
    *[handler("thumbnails", key=f"raw/batch/{i}.jpg") for i in range(3)],  # one batch of 3
    report(2, 50.25, 51, 1024, 90),
    handler("thumbnails", key="raw/d.jpg"),
    handler("rejected", key="raw/big.jpg", error="too_large"),
    report(3, 200.00, 200, 1024, 100),
    f"2026-11-28T12:00:03.000Z {rid(4)} Task timed out after 3.00 seconds",
    report(4, 3000.00, 3000, 1024, 120, tail="Status: timeout"),  # one timeout, two lines
    report(5, 400.00, 550, 512, 60, init=150.00),
    handler("rejected", key="raw/x.tif", error="unsupported"),
    report(6, 10.00, 10, 512, 512),
    f"RequestId: {rid(6)} Error: Runtime exited with error: signal: killed",
    "Runtime.OutOfMemory",  # the emulator's line of its own after the one above
    handler("s3_error", key="raw/e.jpg", error="SlowDown", operation="PutObject"),
    "[ERROR] RetryableFailure: 1 of 1 record(s) failed and will be retried\nTraceback (most "
    "recent call last):\n  File \"/var/task/handler.py\", line 1, in handler",
    report(7, 20.00, 20, 1024, 70),
    handler("http", path="/128x128/a.jpg", status=200, rendition="made"),
    handler("http", path="/128x128/a.jpg", status=200, rendition="stored"),  # not an image
    "START RequestId: x Version: $LATEST",
    "END RequestId: x",
]


def put(target: Target, lines: list[str], ts: int, stream: str = "2026/11/28/[$LATEST]a") -> None:
    logs = target.client("logs")
    group = target.names.log_group
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        logs.create_log_group(logGroupName=group)
    if not logs.describe_log_streams(logGroupName=group,
                                     logStreamNamePrefix=stream)["logStreams"]:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
        {"timestamp": ts + i, "message": m} for i, m in enumerate(lines)])


@pytest.fixture
def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def busy(stack: Target, now_ms: int) -> Target:
    stack.client("lambda").update_function_configuration(
        FunctionName=stack.names.function, MemorySize=1024)
    put(stack, LINES, now_ms - 60_000)
    put(stack, [report(90, 999.0, 999, 1024, 1)], now_ms - 2 * HOUR_MS)  # before the window
    put(stack, [report(91, 999.0, 999, 1024, 1)], now_ms + 60_000)  # after its end
    return stack


def window(now_ms: int) -> Window:
    return Window(now_ms - HOUR_MS, now_ms)


def test_every_number_from_known_lines(busy: Target, now_ms: int) -> None:
    s = stack_stats(busy, window(now_ms))
    assert s["invocations"] == 7
    assert s["errors"] == {
        "out_of_memory": 1, "rejected:too_large": 1, "rejected:unsupported": 1,
        "s3_error": 1, "timeout": 1, "unhandled:RetryableFailure": 1,
    }
    assert s["cold_starts"] == 2 and s["init_ms"] == {"p50": 150.0, "max": 185.5}
    # Sorted: 10, 20, 50.25, 100, 200, 400, 3000. Nearest rank: p50 = 4th, p95 = 7th.
    assert s["duration_ms"] == {"p50": 100.0, "p95": 3000.0, "max": 3000.0}
    # (286 + 51 + 200 + 3000 + 20) ms at 1 GB + (550 + 10) ms at 0.5 GB = 3.557 + 0.28 GB-s.
    assert s["billed_gb_seconds"] == 3.837
    assert s["by_memory"] == [
        {"memory_mb": 512, "invocations": 2, "billed_gb_seconds": 0.28,
         "max_memory_used_mb": 512.0},
        {"memory_mb": 1024, "invocations": 5, "billed_gb_seconds": 3.557,
         "max_memory_used_mb": 120.0},
    ]
    assert s["memory_mb"] == 1024 and s["max_memory_used_mb"] == 512.0
    assert s["images"] == {"total": 7, "ok": 4, "rejected": 2, "made_on_request": 1}
    cost = 7 * 0.20 / 1_000_000 + 3.837 * 0.0000166667
    assert s["cost_usd"] == pytest.approx(cost, rel=1e-12)
    assert round(s["cost_usd"], 8) == 0.00006535
    assert s["cost_per_1000_usd"] == pytest.approx(cost / 7 * 1000, rel=1e-12)
    assert PRICES_AS_OF in s["price"]["source"]
    assert (s["price"]["architecture"], s["price"]["region"]) == ("x86_64", "us-east-1")


def test_an_overridden_price_and_arm64(busy: Target, now_ms: int) -> None:
    own = Target(Settings(stack="optest", target="aws", region="us-east-1",
                          price_gb_second_usd=0.00001, price_request_usd=0.0))
    s = stack_stats(own, window(now_ms))
    assert s["cost_usd"] == pytest.approx(3.837 * 0.00001, rel=1e-12)
    assert s["price"]["source"] == "set in the settings"
    lam = busy.client("lambda")
    role = lam.get_function_configuration(FunctionName=busy.names.function)["Role"]
    lam.delete_function(FunctionName=busy.names.function)  # moto cannot change it in place
    lam.create_function(FunctionName=busy.names.function, Runtime="python3.12", Role=role,
                        Handler="handler.handler", Code={"ZipFile": _zip()},
                        Architectures=["arm64"], MemorySize=1024)
    arm = stack_stats(busy, window(now_ms))  # the deployed function's architecture, priced
    assert arm["price"]["architecture"] == "arm64"
    assert arm["cost_usd"] == pytest.approx(7 * 0.2e-6 + 3.837 * 0.0000133334, rel=1e-12)


def test_no_invocations_is_a_zero_result(stack: Target, now_ms: int) -> None:
    s = stack_stats(stack, window(now_ms))  # no log group yet: never invoked
    assert (s["invocations"], s["errors"], s["cold_starts"], s["billed_gb_seconds"],
            s["cost_usd"]) == (0, {}, 0, 0.0, 0.0)
    assert s["duration_ms"] == {"p50": None, "p95": None, "max": None}
    assert s["cost_per_1000_usd"] is None and s["max_memory_used_mb"] is None
    put(stack, ["START RequestId: x Version: $LATEST"], now_ms - 1000)
    assert stack_stats(stack, window(now_ms))["invocations"] == 0


def test_no_stack_is_stack_not_found(aws_target: Target, now_ms: int) -> None:
    with pytest.raises(StackNotFound) as err:
        stack_stats(aws_target, window(now_ms))
    assert err.value.exit_code == 3


def test_filters_page_and_dedupe(busy: Target, now_ms: int) -> None:
    """Only filtered lines cross, in pages; a page that repeats events counts them once."""
    put(busy, [report(100 + i, 1.0, 1, 1024, 1) for i in range(25)], now_ms - 30_000,
        stream="2026/11/28/[$LATEST]b")
    real = busy.client("logs")
    calls: list[dict[str, Any]] = []

    class SmallPages:
        """moto's pages, 10 events each, and each page after the first repeats the last
        event of the one before (what a resumed token may do)."""

        def filter_log_events(self, **kw: Any) -> dict[str, Any]:
            calls.append(kw)
            page = real.filter_log_events(**{**kw, "limit": 10})
            if "nextToken" in kw:
                page["events"] = [calls[-2]["last"], *page["events"]]
            kw["last"] = page["events"][-1] if page["events"] else None
            return page

    scan = Scan(SmallPages(), busy.names.log_group, now_ms - HOUR_MS, REPORT_PATTERN,
                end_ms=now_ms)
    messages = [e["message"] for e in scan]
    assert len(messages) == 7 + 25 and all(m.startswith("REPORT ") for m in messages)
    assert scan.pages == 4 and scan.duplicates == 3
    assert {c["filterPattern"] for c in calls} == {REPORT_PATTERN}
    assert all(c["endTime"] == now_ms for c in calls)
    s = stack_stats(busy, window(now_ms))
    assert s["invocations"] == 7 + 25
    assert ERROR_OR_IMAGE_PATTERN.startswith(REPORT_PATTERN) is False


def test_nearest_rank() -> None:
    values = sorted([15.0, 20.0, 35.0, 40.0, 50.0])
    assert [nearest_rank(values, p) for p in (5, 30, 40, 50, 100)] == [15, 20, 20, 35, 50]
    assert nearest_rank([], 50) is None


FIELD = st.sampled_from(["Duration", "Billed Duration", "Memory Size", "Max Memory Used",
                         "Init Duration", "Status", "Error Type", "Other"])
VALUE = st.one_of(st.floats(0, 1e6).map(lambda v: f"{v:.2f} ms"),
                  st.text(" .:1aZ", max_size=8).filter(lambda v: v.strip() != ""))


@settings(max_examples=100, deadline=None)
@given(rid_=st.text("ab1- ", max_size=6), fields=st.lists(st.tuples(FIELD, VALUE), max_size=7),
       end=st.sampled_from(["", "\t", "\t\n"]))
def test_the_fast_report_parser_reads_as_the_general_one(rid_: str, fields: list[Any],
                                                         end: str) -> None:
    from resizer_cli.ops.reports import _parse_loose, parse_report

    line = "\t".join([f"REPORT RequestId: {rid_}", *(f"{n}: {v}" for n, v in fields)]) + end
    assert parse_report(line) == _parse_loose(line)


def test_init_failures_count_once() -> None:
    """The emulator's init failures: an `[ERROR]` line, then a REPORT with the error type."""
    from resizer_cli.ops.stats import aggregate

    def ev(m: str) -> dict[str, Any]:
        return {"message": m, "logStreamName": "s"}

    reports = [report(1, 0.0, 800, 512, 40, init=800.0,
                      tail="Status: error\tError Type: Runtime.ImportModuleError"),
               report(2, 0.0, 10000, 512, 40, init=10000.0,
                      tail="Status: error\tError Type: Runtime.ExitError")]
    others = ["[ERROR] Runtime.ImportModuleError: Unable to import module 'handler'",
              "[ERROR] Runtime.ExitError: Init phase timed out after 10.00 seconds",
              *reports]  # REPORT lines with `Status: error` match the error pattern too
    agg = aggregate(map(ev, reports), map(ev, others))
    assert agg.errors() == {"runtime_exit": 1, "unhandled:Runtime.ImportModuleError": 1}
    assert (agg.invocations, len(agg.inits), agg.other_lines) == (2, 2, 2)
