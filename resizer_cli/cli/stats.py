"""CLI command `resizer stats` (parsing and rendering only; the work is ops.stats)."""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from resizer_cli.cli.common import (
    JsonOpt,
    ProfileOpt,
    RegionOpt,
    SinceOpt,
    StackOpt,
    TargetOpt,
    open_target,
)
from resizer_cli.logscan import Scan
from resizer_cli.ops.logs import parse_since
from resizer_cli.ops.stats import Window, stack_stats
from resizer_cli.output import Reporter


def stats(
    since: SinceOpt = "1h",
    json_: JsonOpt = False,
    stack: StackOpt = None,
    target: TargetOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Invocations, errors, durations, memory and cost of the function, from its REPORT lines.

    \b
    Examples:
      resizer stats
      resizer stats --since 1d --json
      resizer stats --since 2026-11-28T09:30:00Z --stack prod --target aws
    """
    start_ms = parse_since(since)  # a bad value is a usage mistake: exit 2
    end_ms = int(time.time() * 1000)
    reporter = Reporter(json_mode=json_)
    _, tgt = open_target(reporter, start_emulator=False, stack=stack, target=target,
                         region=region, profile=profile)
    live = reporter.human and reporter.console.is_terminal
    status = reporter.console.status("reading the logs") if live else nullcontext()
    with status as spinner:
        def on_page(kind: str, scan: Scan) -> None:
            if spinner is not None:
                spinner.update(f"reading {kind}: {scan.events:,} in {scan.pages:,} pages")

        report = stack_stats(tgt, Window(start_ms, end_ms), on_page)
    reporter.emit_json(report)
    if reporter.human:
        _render(reporter, report)


def _num(value: Any, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "-"
    text = f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"
    return f"{text}{unit}"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.6f}"


def _render(reporter: Reporter, r: dict[str, Any]) -> None:
    table = Table(title=f"{r['function']}, last {r['window']['minutes']:g} min",
                  show_header=False, box=None, pad_edge=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    d, init, img = r["duration_ms"], r["init_ms"], r["images"]
    table.add_row("invocations", _num(r["invocations"]))
    errors = ", ".join(f"{k} {v:,}" for k, v in r["errors"].items()) or "none"
    table.add_row("errors", Text(errors))
    table.add_row("cold starts", f"{r['cold_starts']:,} (init p50 {_num(init['p50'], ' ms')}, "
                  f"max {_num(init['max'], ' ms')})")
    table.add_row("duration", f"p50 {_num(d['p50'], ' ms')}, p95 {_num(d['p95'], ' ms')}, "
                  f"max {_num(d['max'], ' ms')}")
    table.add_row("memory", f"max used {_num(r['max_memory_used_mb'], ' MB', 0)} of "
                  f"{_num(r['memory_mb'], ' MB')} (configured now)")
    if len(r["by_memory"]) > 1:
        for row in r["by_memory"]:
            table.add_row("", f"at {row['memory_mb']} MB: {row['invocations']:,} invocations, "
                          f"max used {row['max_memory_used_mb']:.0f} MB")
    table.add_row("billed", f"{r['billed_gb_seconds']:,.3f} GB-s")
    table.add_row("images", f"{img['total']:,} ({img['ok']:,} ok, {img['rejected']:,} rejected,"
                  f" {img['made_on_request']:,} made on request)")
    table.add_row("cost", f"{_usd(r['cost_usd'])} ({_usd(r['cost_per_1000_usd'])} per 1,000 "
                  "images)")
    p = r["price"]
    table.add_row("price", Text(f"{p['source']}: {p['architecture']} {p['region']}, "
                                f"${p['gb_second_usd']:.10f}/GB-s + "
                                f"${p['request_usd'] * 1e6:.2f}/1M requests"))
    reporter.print(table)
    if not r["invocations"]:
        reporter.info("no invocations in the window", "dim")


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)
