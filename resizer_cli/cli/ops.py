"""CLI commands for day-to-day operation: `resizer upload` and `resizer logs`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from resizer_cli.aws import Target
from resizer_cli.cli.common import (
    JsonOpt,
    ProfileOpt,
    RegionOpt,
    SinceOpt,
    StackOpt,
    TargetOpt,
    open_target,
)
from resizer_cli.errors import ResizerError
from resizer_cli.naming import SOURCE_PREFIX
from resizer_cli.ops import logfmt
from resizer_cli.ops import upload as up
from resizer_cli.ops.collect import plan_uploads, read_sources
from resizer_cli.ops.download import check_writable
from resizer_cli.ops.layout import require_deployed, stack_layout
from resizer_cli.ops.logs import LogFollower, LogGroupMissing, parse_since
from resizer_cli.ops.results import FileResult, exit_code, refused_result
from resizer_cli.output import Reporter


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


_STATUS_STYLE = {"ok": "green", "failed": "red", "timeout": "yellow", "superseded": "magenta",
                 "uploaded": "cyan", "sent": "cyan", "removed": "green", "skipped": "dim"}
_SUMMARY = {"timeout": "timed out"}


def open_stack(reporter: Reporter, **flags: str | None) -> Target:
    """The target, without starting an emulator: a stopped one holds no stack (state is lost)."""
    _, target = open_target(reporter, start_emulator=False, **flags)
    require_deployed(target)
    return target


def render_results(reporter: Reporter, results: list[FileResult], source_prefix: str,
                   download: Path | None) -> None:
    table = Table(show_edge=False, pad_edge=False, box=None)
    table.add_column("file", overflow="fold")
    table.add_column("status")
    table.add_column("latency", justify="right")
    table.add_column("thumbnails / reason", overflow="fold")
    for res in results:
        if res.status == "skipped":  # already a warning line each; counted below
            continue
        if res.key is None:
            name = res.file
        else:
            name = res.key[len(source_prefix):] if res.key.startswith(source_prefix) else res.key
        status = Text(res.status, style=_STATUS_STYLE.get(res.status, ""))
        latency = f"{res.latency_ms / 1000:.2f}s" if res.latency_ms is not None else ""
        if res.thumbnails:
            for n, t in enumerate(res.thumbnails):
                detail = Text(f"{t.width}x{t.height}  {_size(t.bytes)}  {t.key}")
                if n == 0:
                    table.add_row(Text(name), status, latency, detail)
                else:
                    table.add_row("", "", "", detail)
            continue
        if res.error:
            reason = f"{res.error_code}: {res.error}" if res.error_code else res.error
        else:
            reason = res.key or ""
        table.add_row(Text(name), status, latency, Text(reason))
    reporter.print(table)
    counts = {s: sum(r.status == s for r in results) for s in _STATUS_STYLE}
    reporter.info(", ".join(f"{n} {_SUMMARY.get(s, s)}" for s, n in counts.items() if n))
    if download is not None and any(r.thumbnails for r in results):
        reporter.info(f"thumbnails saved under {download}")


def _report(reporter: Reporter, results: list[FileResult], json_: bool, source_prefix: str,
            download: Path | None) -> None:
    if json_:
        for res in results:
            reporter.emit_json(res.to_json())
    else:
        render_results(reporter, results, source_prefix, download)


def upload(
    paths: Annotated[
        list[str], typer.Argument(help="Files, folders (recursive) or globs.", metavar="PATH")
    ],
    wait: Annotated[
        bool,
        typer.Option("--wait/--no-wait", help="Wait for each file's thumbnails (default: wait)."),
    ] = True,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds to wait for each file's result.")
    ] = up.DEFAULT_TIMEOUT,
    download: Annotated[
        Path | None, typer.Option("--download", help="Save the thumbnails under this folder.")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Sub-folder under raw/ for the keys.")
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Parallel uploads.")
    ] = up.DEFAULT_CONCURRENCY,
    follow_links: Annotated[
        bool,
        typer.Option("--follow-links",
                     help="Also follow links inside folders that lead outside them."),
    ] = False,
    json_: JsonOpt = False,
    stack: StackOpt = None,
    target: TargetOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Upload images and report the thumbnails made of them.

    \b
    Examples:
      resizer upload photo.jpg
      resizer upload photos/ 'shots/**/*.jpg' --prefix trip/2024
      resizer upload photos/ --download thumbs/ --json
    """
    reporter = Reporter(json_mode=json_)
    # Path mistakes and an unusable --download folder come out before any AWS call.
    sources = read_sources(paths, follow_links=follow_links)
    if not sources.files:
        for refusal in sources.refused:
            reporter.warn(f"skipped {refusal.path}: {refusal.reason}")
        _report(reporter, [refused_result(r) for r in sources.refused], json_, SOURCE_PREFIX,
                None)
        raise ResizerError("nothing to upload: the paths hold no files we can send",
                           "pass image files or folders")
    if download is not None:
        check_writable(download, "--download")
    tgt = open_stack(reporter, stack=stack, target=target, region=region, profile=profile)
    layout = stack_layout(tgt)
    planned = plan_uploads(sources, prefix, layout)
    for refusal in planned.refused:
        reporter.warn(f"skipped {refusal.path}: {refusal.reason}")
    for item in planned.items:
        if not item.is_image:
            reporter.warn(f"{item.path} does not look like an image; uploading it anyway")
    options = up.UploadOptions(
        wait=wait, timeout=timeout, concurrency=concurrency, download=download
    )
    run = (up.run_upload(tgt, layout, planned.items, options, reporter) if planned.items
           else up.UploadRun([]))
    results = run.results + [refused_result(r) for r in planned.refused]
    _report(reporter, results, json_, layout.source_prefix, download)
    if run.failure is not None:
        raise run.failure  # last, after everything that is known
    code = exit_code(results)
    if code:
        raise typer.Exit(code)


def logs(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events (Ctrl-C to stop).")
    ] = False,
    since: SinceOpt = "10m",
    filter_: Annotated[
        str | None, typer.Option("--filter", help="CloudWatch Logs filter pattern.")
    ] = None,
    format_: Annotated[
        str, typer.Option("--format", help="short, detailed or json (one object per line).")
    ] = "short",
    stack: StackOpt = None,
    target: TargetOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Show the function's logs.

    \b
    Examples:
      resizer logs --since 1h
      resizer logs --follow --filter ERROR
      resizer logs --since 2026-11-28T09:30:00Z --format json
    """
    if format_ not in logfmt.FORMATS:
        raise ResizerError(f"unknown --format {format_!r}", "use short, detailed or json")
    start_ms = parse_since(since)
    json_mode = format_ == "json"
    reporter = Reporter(json_mode=json_mode)
    tgt = open_stack(reporter, stack=stack, target=target, region=region, profile=profile)
    group = tgt.names.log_group
    follower = LogFollower(tgt.client("logs"), group, start_ms, filter_pattern=filter_)

    def show(event: dict[str, object]) -> None:
        if json_mode:
            reporter.emit_json(logfmt.to_json(event))
        else:
            reporter.print(logfmt.render(event, format_))

    def missing() -> None:
        note = f"no invocations yet: log group {group} does not exist"
        if not reporter.quiet:
            reporter.console.print(note + (" (waiting for the first one)" if follow else ""))

    try:
        if follow:
            reporter.info(f"following {group} (Ctrl-C to stop)", "dim")
            follower.follow(show, missing)
        else:
            try:
                for event in follower.fetch_sorted():
                    show(event)
            except LogGroupMissing:
                missing()
    except KeyboardInterrupt:
        # Stopping a follow is how it ends: exit 0, no traceback.
        raise typer.Exit(0) from None


def register(app: typer.Typer) -> None:
    app.command("upload")(upload)
    app.command("logs")(logs)
