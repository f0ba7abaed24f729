"""CLI commands that keep the thumbnails complete: `failed`, `retry` and `backfill`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from resizer_cli.cli.common import JsonOpt, ProfileOpt, RegionOpt, StackOpt, TargetOpt
from resizer_cli.cli.ops import open_stack, render_results
from resizer_cli.errors import ResizerError
from resizer_cli.ops import backfill as bf
from resizer_cli.ops.fanout import DEFAULT_BATCH, MAX_BATCH
from resizer_cli.ops.layout import stack_layout
from resizer_cli.ops.results import exit_code
from resizer_cli.ops.retry import read_failed, run_retry, select
from resizer_cli.output import Reporter


def failed(
    json_: JsonOpt = False,
    stack: StackOpt = None,
    target: TargetOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """List the events the function failed on, as Lambda kept them.

    One row per key: when its event failed, after how many attempts, and Lambda's error.
    `resizer retry` runs them again.

    \b
    Examples:
      resizer failed
      resizer failed --json
    """
    reporter = Reporter(json_mode=json_)
    tgt = open_stack(reporter, stack=stack, target=target, region=region, profile=profile)
    layout = stack_layout(tgt)
    events = read_failed(tgt, layout)
    no_key: list[str | None] = [None]  # an event that holds no S3 record
    rows = [(key, event) for event in events for key in (event.keys or no_key)]
    reporter.emit_json({"count": len(rows), "failed": [e.to_json(k) for k, e in rows]})
    if not reporter.human:
        return
    if not rows:
        reporter.info("No failed events: every event the function got ran through", "green")
        return
    table = Table(show_edge=False, pad_edge=False, box=None)
    for column in ("key", "failed at", "attempts", "error"):
        table.add_column(column, overflow="fold", justify="right" if column == "attempts"
                         else "left")
    for key, event in rows:
        error = f"{event.error_type}: {event.error}" if event.error_type else event.error
        table.add_row(Text(key or "(not an S3 event)"), event.time, str(event.attempts),
                      Text(error))
    reporter.print(table)
    reporter.info(f"{len(rows)} failed key(s) in {len(events)} event(s); "
                  "`resizer retry --all` runs them again")


def retry(
    keys: Annotated[
        list[str] | None,
        typer.Argument(
            help="Source keys to run again (raw/… or below raw/).",
            show_default=False,
            metavar="KEY",
        ),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every failed event.")] = False,
    json_: JsonOpt = False,
    stack: StackOpt = None,
    target: TargetOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Run failed events again, and clear the ones that succeed.

    Each key runs in its own synchronous invoke, so its verdict comes back at once; a
    failure record is deleted when every key it names ran through.

    \b
    Examples:
      resizer retry --all
      resizer retry raw/holiday/beach.jpg
      resizer retry holiday/beach.jpg --json
    """
    if bool(keys) == every:
        raise typer.BadParameter("pass the keys to retry, or --all (not both)")
    reporter = Reporter(json_mode=json_)
    tgt = open_stack(reporter, stack=stack, target=target, region=region, profile=profile)
    layout = stack_layout(tgt)
    events = read_failed(tgt, layout)
    chosen, unknown = select(events, keys or [], every, layout.source_prefix)
    for key in unknown:
        reporter.warn(f"no failed event names {key}")
    skipped = [e for e in events if not e.keys]
    if every and skipped:
        reporter.warn(f"{len(skipped)} failed event(s) hold no S3 record and are left alone "
                      f"(see `resizer failed`)")
    if not chosen:
        if unknown:
            raise ResizerError("nothing to retry: no failed event names "
                               f"{', '.join(unknown)}", "see `resizer failed`")
        reporter.info("Nothing to retry: there are no failed events", "green")
        reporter.emit_json({"files": [], "cleared": [], "kept": 0})
        return
    run = run_retry(tgt, layout, chosen, reporter)
    reporter.emit_json({"files": [r.to_json() for r in run.results], "cleared": run.cleared,
                        "kept": run.kept})
    if reporter.human:
        render_results(reporter, run.results, layout.source_prefix, None)
        reporter.info(f"{len(run.cleared)} failure record(s) cleared, {run.kept} kept")
    code = exit_code(run.results)
    if code:
        raise typer.Exit(code)


def backfill(
    prefix: Annotated[
        str, typer.Option("--prefix", help="Only objects under this folder of raw/.")
    ] = "",
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for every file's verdict.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Then remove renditions the stack no longer makes "
                                     "(implies --wait)."),
    ] = False,
    batch: Annotated[
        int, typer.Option("--batch-size", min=1, max=MAX_BATCH, help="Records per invoke.")
    ] = DEFAULT_BATCH,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, max=10000,
                     help="Invocations to plan for (default: the reserved concurrency, or 10)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds to wait for each file once sent.")
    ] = bf.DEFAULT_TIMEOUT,
    json_: JsonOpt = False,
    stack: StackOpt = None,
    target: TargetOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Make thumbnails for objects already in the source bucket.

    Each object is compared with its result record (its ETag and the settings it was made
    with); what is missing or stale is sent to the function in batches, as fast as its
    concurrency allows. A second run sends nothing; an interrupted one resumes.

    \b
    Examples:
      resizer backfill --wait
      resizer backfill --prefix holiday/2024 --json
      resizer setup --sizes 256x256 && resizer backfill --prune
    """
    reporter = Reporter(json_mode=json_)
    tgt = open_stack(reporter, stack=stack, target=target, region=region, profile=profile)
    layout = stack_layout(tgt)
    options = bf.BackfillOptions(prefix=prefix, wait=wait, prune=prune, batch=batch,
                                 concurrency=concurrency, timeout=timeout)
    run = bf.run_backfill(tgt, layout, options, reporter)
    reporter.emit_json(run.to_json())
    if reporter.human:
        if run.waited and run.results:
            render_results(reporter, run.results, layout.source_prefix, None)
        reporter.info(_summary(run))
    if run.failure is not None:
        raise run.failure
    code = exit_code(run.results)
    if code:
        raise typer.Exit(code)


def _summary(run: bf.BackfillRun) -> str:
    text = (f"{run.listed} object(s): {run.up_to_date} up to date, {run.sent} sent in "
            f"{run.invocations} invocation(s) of up to {run.batch} "
            f"(planned for {run.concurrency} at once)")
    if run.sent:
        verb = "made" if run.waited else "sent"
        text += f"; {run.rate:.1f} images/s {verb}"
    if run.pruned is not None:
        text += f"; {run.pruned} stale rendition(s) and record(s) pruned"
    return text


def register(app: typer.Typer) -> None:
    app.command("failed")(failed)
    app.command("retry")(retry)
    app.command("backfill")(backfill)

