"""CLI command `resizer tune`: parsing and rendering; the work is ops.tune's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from resizer_cli import settings as settings_mod
from resizer_cli.cli.common import JsonOpt, ProfileOpt, RegionOpt, StackOpt, TargetOpt
from resizer_cli.cli.ops import open_stack
from resizer_cli.errors import ResizerError
from resizer_cli.ops import tune as tn
from resizer_cli.ops import tune_sample
from resizer_cli.ops.layout import stack_layout
from resizer_cli.ops.tuning import STRATEGIES, Row
from resizer_cli.output import Reporter
from resizer_cli.settings.rules import MEMORY_MB

_HINT = "'--memory'"
_DEFAULT_MEMORY = ",".join(map(str, tn.DEFAULT_MEMORY))


def parse_memory_list(text: str) -> list[int]:
    """'256,512,1769' -> [256, 512, 1769]: whole MB within Lambda's limits, ascending, once."""
    sizes: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            raise typer.BadParameter(f"{part!r} is not a whole number of MB", param_hint=_HINT)
        value = int(part)
        if not MEMORY_MB[0] <= value <= MEMORY_MB[1]:
            raise typer.BadParameter(
                f"{value} MB is outside Lambda's {MEMORY_MB[0]}-{MEMORY_MB[1]} MB",
                param_hint=_HINT)
        sizes.append(value)
    if not sizes:
        raise typer.BadParameter("give at least one memory size, e.g. 512,1024",
                                 param_hint=_HINT)
    return sorted(set(sizes))


def _money(usd: float | None) -> str:
    return "" if usd is None else f"${usd:.4f}" if usd >= 0.01 else f"${usd:.6f}"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def render(reporter: Reporter, run: tn.TuneRun) -> None:
    table = Table(show_edge=False, pad_edge=False, box=None)
    for column in ("memory", "duration ms", "billed ms", "$ per 1,000 images", "cold init ms",
                   "max used", ""):
        table.add_column(column, justify="left" if column in ("", "memory") else "right")
    for row in run.rows:
        chosen = run.best is not None and row.memory_mb == run.best.memory_mb
        mark = Text(f"← {run.strategy}", style="bold green") if chosen else Text("")
        used = f"{row.max_memory_used_mb:.0f} MB" if row.max_memory_used_mb else ""
        if row.skipped:
            table.add_row(f"{row.memory_mb} MB", Text("skipped", style="yellow"), "", "", "",
                          "", "")
            continue
        table.add_row(Text(f"{row.memory_mb} MB", style="bold" if chosen else ""),
                      _ms(row.duration_ms), _ms(row.billed_ms), _money(row.cost_per_1000_usd),
                      _ms(row.init_ms), used, mark)
    reporter.print(table)
    runs = max((r.runs for r in run.rows), default=0)
    reporter.info(f"sample: {run.sample}; trimmed mean of {runs} warm run(s) per size; "
                  f"{run.price_source}", "dim")


def _summary(reporter: Reporter, run: tn.TuneRun, best: Row, settings: settings_mod.Settings,
             is_local: bool) -> None:
    reporter.info(f"{run.strategy}: {best.memory_mb} MB ({best.duration_ms:.1f} ms, "
                  f"{_money(best.cost_per_1000_usd)} per 1,000 images)", "bold")
    if run.applied:
        reporter.info(f"memory kept at {best.memory_mb} MB and saved for the next `resizer "
                      "setup`", "green")
    else:
        reporter.info(f"memory put back to {run.original_memory} MB (pass --apply to keep "
                      f"{best.memory_mb} MB)")
    if is_local:
        reporter.info("on the emulator, durations come from the CPU share it gives each "
                      "memory size on this machine: indicative of AWS only", "dim")


def tune(
    memory: Annotated[
        str, typer.Option("--memory", help="Memory sizes to try, in MB, comma-separated.")
    ] = _DEFAULT_MEMORY,
    image: Annotated[
        Path | None,
        typer.Option("--image", help="Image to measure with (default: a generated 12 MP JPEG).")
    ] = None,
    runs: Annotated[
        int, typer.Option("--runs", min=1, max=100, help="Warm invocations per memory size.")
    ] = tn.DEFAULT_RUNS,
    strategy: Annotated[
        str, typer.Option("--strategy", help="cost, speed or balanced: how the size is chosen.")
    ] = tn.DEFAULT_STRATEGY,
    apply: Annotated[
        bool, typer.Option("--apply", help="Keep the chosen memory (and save it for setup).")
    ] = False,
    json_: JsonOpt = False,
    stack: StackOpt = None,
    target: TargetOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Measure the function at several memory sizes and show what each costs.

    For each size, the function's memory is set, and it makes thumbnails of a sample image
    RUNS times (synchronous invokes; a cold start is shown apart). Durations are trimmed
    means (top and bottom 20 % dropped), costs come from the billed durations at list
    price. The memory is put back afterwards, unless --apply.

    \b
    Examples:
      resizer tune
      resizer tune --memory 512,1024,1769 --runs 10 --strategy speed
      resizer tune --image photo.jpg --apply --json
    """
    sizes = parse_memory_list(memory)
    if strategy not in STRATEGIES:
        raise typer.BadParameter(f"{strategy!r} is not one of {', '.join(STRATEGIES)}",
                                 param_hint="'--strategy'")
    # The sample is checked before anything is changed.
    sample = tune_sample.read_image(image) if image is not None else None
    reporter = Reporter(json_mode=json_)
    tgt = open_stack(reporter, stack=stack, target=target, region=region, profile=profile)
    layout = stack_layout(tgt)
    if sample is None:
        with reporter.step("prepare the sample") as step:
            sample = tune_sample.default_sample()
            step.note(sample.description)
    options = tn.TuneOptions(memory=sizes, runs=runs, strategy=strategy, apply=apply)
    run = tn.run_tune(tgt, layout, sample, options, reporter)
    pin = None
    if run.applied and run.best is not None:
        settings = tgt.settings
        settings_mod.update_saved_stack(settings, memory=run.best.memory_mb)
        pinned = settings_mod.pinned("memory", settings.stack)
        if pinned is not None and str(pinned.value).strip() != str(run.best.memory_mb):
            pin = pinned.origin.show(pinned.value)
    doc = run.to_json()
    if pin:
        doc["pinned_by"] = pin
    reporter.emit_json(doc)
    if reporter.human:
        render(reporter, run)
        if run.best is not None:
            _summary(reporter, run, run.best, tgt.settings, tgt.is_local)
    if pin and run.best is not None:
        reporter.warn(f"{pin} pins the memory: the next `resizer setup` puts that back; set "
                      f"it to {run.best.memory_mb} there to keep this size")
    if run.best is None:
        raise ResizerError("no memory size could be measured (see the warnings above)",
                           "fix the cause and re-run `resizer tune`")


def register(app: typer.Typer) -> None:
    app.command("tune")(tune)
