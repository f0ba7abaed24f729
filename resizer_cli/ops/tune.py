"""`resizer tune`: AWS Lambda Power Tuning's measurement, without Step Functions.

For each memory size: UpdateFunctionConfiguration(MemorySize), wait until LastUpdateStatus is
Successful (deploy.waits), then synchronous invokes (RequestResponse, LogType=Tail) on the
sample (ops.tune_sample) until `runs` warm ones are in; the REPORT line of each comes from
LogResult (the last 4 KB of its log). The numbers and the choice are ops.tuning's.

The original memory is put back in a `finally`, whatever stops the run (an error, Ctrl-C),
unless `apply` keeps the chosen one; the sample is removed after that. The stack's lock is
held throughout, so a `setup` on this machine cannot change the function meanwhile.

Lambda's answers we act on (https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html,
https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html):
- an account limited to 3,008 MB (new accounts may be) refuses a larger MemorySize with
  InvalidParameterValueException naming MemorySize: that size is skipped, in one line;
- an invoke of a function whose reserved concurrency is 0 (paused), or of an account out of
  concurrency, fails with TooManyRequestsException (429): one line.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from resizer_cli.aws import Target
from resizer_cli.deploy import retries, waits
from resizer_cli.deploy.lock import stack_lock
from resizer_cli.deploy.stack import lock_scope
from resizer_cli.errors import ResizerError, error_code
from resizer_cli.ops import tune_sample
from resizer_cli.ops.failures import one_line
from resizer_cli.ops.fanout import concurrency_of
from resizer_cli.ops.layout import StackLayout
from resizer_cli.ops.pricing import Price, price_for
from resizer_cli.ops.reports import Report, parse_report
from resizer_cli.ops.tuning import Row, choose, row_of
from resizer_cli.output import Reporter

DEFAULT_MEMORY = (256, 512, 1024, 1769, 3008)
DEFAULT_RUNS = 5  # the trimmed mean then drops the fastest and the slowest
DEFAULT_STRATEGY = "balanced"
EXTRA_ATTEMPTS = 2  # invokes allowed beyond `runs` for cold starts
NOTIFICATION_WAIT_MIN = 20.0  # s, for the upload's own event (plus the function's timeout)


@dataclass
class TuneOptions:
    memory: Sequence[int] = DEFAULT_MEMORY
    runs: int = DEFAULT_RUNS
    strategy: str = DEFAULT_STRATEGY
    apply: bool = False


@dataclass
class TuneRun:
    function: str
    original_memory: int
    strategy: str
    sample: str
    price_source: str
    rows: list[Row] = field(default_factory=list)
    best: Row | None = None
    memory_now: int | None = None
    applied: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "strategy": self.strategy,
            "sample": self.sample,
            "price": self.price_source,
            "original_memory_mb": self.original_memory,
            "memory_mb": self.memory_now,
            "applied": self.applied,
            "results": [r.to_json() for r in self.rows],
            "best": self.best.to_json() if self.best else None,
        }


class MemoryRefused(Exception):
    """Lambda does not allow this memory size here (an account capped at 3,008 MB)."""


def _refuses_memory(exc: BaseException) -> bool:
    message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", ""))
    return error_code(exc) == "InvalidParameterValueException" and "MemorySize" in message


def set_memory(lam: Any, function: str, memory_mb: int) -> None:
    """Change the memory size and wait until the update is done."""
    waits.until_updatable(lam, function)
    try:
        retries.call(
            lambda: lam.update_function_configuration(FunctionName=function,
                                                      MemorySize=memory_mb),
            also=retries.is_update_in_progress,
        )
    except ClientError as exc:
        if _refuses_memory(exc):
            message = exc.response.get("Error", {}).get("Message", "")
            raise MemoryRefused(one_line(str(message), 160)) from None
        raise
    waits.until_updated(lam, function)


def _throttled(function: str) -> ResizerError:
    return ResizerError(
        f"Lambda throttles the invocations of {function} (TooManyRequestsException): its "
        "reserved concurrency is 0 (paused) or the account's concurrency is used up",
        "give the function concurrency again (re-run `resizer setup`), then re-run tune")


@dataclass
class Invocation:
    report: Report | None
    problem: str | None  # why this invocation is no measurement of the image work


def invoke_once(lam: Any, s3: Any, layout: StackLayout, event: bytes, placed_key: str,
                memory_mb: int) -> Invocation:
    try:
        resp = lam.invoke(FunctionName=layout.function, InvocationType="RequestResponse",
                          LogType="Tail", Payload=event)
    except ClientError as exc:
        if error_code(exc) == "TooManyRequestsException":
            raise _throttled(layout.function) from None
        raise
    tail = base64.b64decode(resp.get("LogResult") or "").decode("utf-8", "replace")
    found = [r for r in map(parse_report, tail.splitlines()) if r is not None]
    report = found[-1] if found else None
    try:
        payload = json.loads(resp["Payload"].read() or b"null")
    except ValueError:
        payload = None
    doc = payload if isinstance(payload, dict) else {}
    if resp.get("FunctionError"):
        why = f"{doc.get('errorType') or resp['FunctionError']}: {doc.get('errorMessage', '')}"
        return Invocation(report, f"the function failed at {memory_mb} MB: {one_line(why, 200)}")
    if not doc.get("ok"):
        if doc.get("error"):
            record = tune_sample.read_record(s3, layout, placed_key) or {}
            why = f"{record.get('error')}: {record.get('reason')}" if record else "see its logs"
            return Invocation(report, f"the function rejected the sample at {memory_mb} MB: "
                                      f"{one_line(why, 200)}")
        return Invocation(report, f"the function did not process the sample ({doc or payload})")
    if report is None:
        return Invocation(None, "no REPORT line in the invocation's log tail (LogResult)")
    return Invocation(report, None)


def measure(lam: Any, s3: Any, layout: StackLayout, event: bytes, placed_key: str,
            memory_mb: int, runs: int, price: Price) -> Row:
    """`runs` warm invokes at this size (a cold one is kept apart, as init)."""
    reports: list[Report] = []
    warm = 0
    for _ in range(runs + EXTRA_ATTEMPTS):
        inv = invoke_once(lam, s3, layout, event, placed_key, memory_mb)
        if inv.problem is not None or inv.report is None:
            return Row(memory_mb, skipped=inv.problem)
        reports.append(inv.report)
        warm += not inv.report.cold
        if warm >= runs:
            break
    return row_of(memory_mb, reports, price)


def run_tune(target: Target, layout: StackLayout, sample: tune_sample.Sample,
             options: TuneOptions, reporter: Reporter) -> TuneRun:
    settings = target.settings
    with stack_lock(settings.stack, lock_scope(target), "tune"):
        return _run(target, layout, sample, options, reporter)


def _run(target: Target, layout: StackLayout, sample: tune_sample.Sample,
         options: TuneOptions, reporter: Reporter) -> TuneRun:
    function = layout.function
    # A synchronous invoke must outlast the function's timeout: botocore would invoke again.
    lam = target.client("lambda", read_timeout=layout.timeout + 30 if layout.timeout else None)
    s3 = target.client("s3")
    conf = dict(lam.get_function_configuration(FunctionName=function))
    original = int(conf["MemorySize"])
    if concurrency_of(lam, function) == 0:
        raise _throttled(function)
    price = price_for(target.settings, (conf.get("Architectures") or [None])[0])
    run = TuneRun(function, original, options.strategy, sample.description, price.source,
                  memory_now=original)
    placed: tune_sample.Placed | None = None
    keep = False
    try:
        with reporter.step(f"upload the sample: {sample.description}") as step:
            swept = tune_sample.sweep(s3, layout)
            placed = tune_sample.place(s3, layout, sample)
            wait_s = NOTIFICATION_WAIT_MIN + layout.timeout
            if not tune_sample.notified(s3, layout, placed.key):
                step.note(f"{placed.key}; no S3 event invokes the function for it")
            elif tune_sample.await_notification(s3, layout, placed, wait_s):
                step.note(f"{placed.key}; its S3 event ran")
            else:
                step.note(f"{placed.key}; its S3 event did not run within {wait_s:.0f} s")
            if swept:
                step.note(f"{step.detail}; {swept} left by an interrupted run removed")
        event = placed.event(layout, target.settings.region, target.partition)
        for memory in options.memory:
            with reporter.step(f"{memory} MB: {options.runs} warm run(s)") as step:
                try:
                    if run.memory_now != memory:
                        run.memory_now = None  # unknown until the update is done
                        set_memory(lam, function, memory)
                        run.memory_now = memory
                except MemoryRefused as exc:
                    row = Row(memory, skipped=f"Lambda refuses {memory} MB here: {exc}")
                else:
                    row = measure(lam, s3, layout, event, placed.key, memory, options.runs,
                                  price)
                run.rows.append(row)
                step.note(_note(row))
            if row.skipped:
                reporter.warn(f"{memory} MB skipped: {row.skipped}")
        run.best = choose(run.rows, options.strategy)
        if options.apply and run.best is not None:
            chosen = run.best.memory_mb
            with reporter.step(f"keep {chosen} MB") as step:
                if run.memory_now != chosen:
                    run.memory_now = None
                    set_memory(lam, function, chosen)
                    run.memory_now = chosen
            keep = run.applied = True
    finally:
        # Runs on success, error and Ctrl-C alike; a problem here is warned about at once.
        problems = _finish(lam, s3, layout, run, placed, sample, keep, reporter)
    if problems:
        raise ResizerError(problems[0], "see the warning above")
    return run


def _note(row: Row) -> str:
    if row.skipped:
        return "skipped"
    note = f"{row.duration_ms:.1f} ms"
    if row.init_ms is not None:
        note += f", cold start init {row.init_ms:.0f} ms"
    return note


def _finish(lam: Any, s3: Any, layout: StackLayout, run: TuneRun,
            placed: tune_sample.Placed | None, sample: tune_sample.Sample, keep: bool,
            reporter: Reporter) -> list[str]:
    """Put the memory back (unless kept), then remove the sample, each tried whatever the
    other did; what went wrong is warned about at once. A Ctrl-C meanwhile is raised last."""
    problems: list[str] = []
    interrupt: BaseException | None = None
    original = run.original_memory
    if not keep and run.memory_now != original:
        try:
            with reporter.step(f"put the memory back to {original} MB"):
                set_memory(lam, layout.function, original)
            run.memory_now = original
        except BaseException as exc:
            left = f"{run.memory_now} MB" if run.memory_now else "one of the sizes tried"
            problems.append(
                f"the memory of {layout.function} may be left at {left}, not {original} MB "
                f"({_why(exc)}); re-run `resizer setup` to put the stack's memory back")
            reporter.warn(problems[-1])
            interrupt = None if isinstance(exc, Exception) else exc
    if placed is not None:
        try:
            with reporter.step("remove the sample, its thumbnails and its result record"):
                tune_sample.remove(s3, layout, placed, sample.content_type)
        except BaseException as exc:
            problems.append(
                f"the sample s3://{layout.source_bucket}/{placed.key} or its outputs may be "
                f"left behind ({_why(exc)}); a `resizer tune` an hour later removes them")
            reporter.warn(problems[-1])
            interrupt = interrupt or (None if isinstance(exc, Exception) else exc)
    if interrupt is not None:
        raise interrupt
    return problems


def _why(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, ResizerError):
        return str(exc)
    return f"{type(exc).__name__}: {one_line(str(exc), 160)}"
