"""CLI commands: `resizer local start|stop|status|env` and `resizer demo` (rendering only)."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from resizer_cli.cli.common import JsonOpt, RegionOpt, StackOpt, load_settings
from resizer_cli.emulator import control
from resizer_cli.ops import logfmt
from resizer_cli.output import Reporter

LOG_LINES_SHOWN = 20

local_app = typer.Typer(
    name="local",
    help="The local emulator. A moto server and our Lambda runtime, on 127.0.0.1 only.",
    no_args_is_help=True,
)


def _uptime(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


@local_app.command("start")
def start(
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Port (default: a free one).")
    ] = None,
    cpu_share: Annotated[
        bool | None,
        typer.Option("--cpu-share/--no-cpu-share",
                     help="Give each function the CPU its memory buys, as Lambda does "
                          "(default: on, or RESIZER_EMULATOR_CPU_SHARE)."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Start the emulator in the background.

    Does nothing if it already runs.

    \b
    Examples:
      resizer local start
      resizer local start --port 4566
      resizer local start --no-cpu-share
    """
    reporter = Reporter(json_mode=json_)
    note = control.stale_note()
    if note:
        reporter.warn(note)
    with reporter.step("start the local emulator") as step:
        url, started = control.start(port, cpu_share)
        if started:
            step.note(url)
        else:
            step.skip(f"already running at {url}")
    state = control.read_state()
    reporter.info(f"state {control.state_path()}, log {control.log_path()}", "dim")
    reporter.emit_json({"endpoint": url, "started": started, "pid": state.pid if state else None,
                        "log": str(control.log_path())})


@local_app.command("stop")
def stop(json_: JsonOpt = False) -> None:
    """Stop the emulator and every function worker it runs.

    Its state is in memory: the stacks it held are gone.

    \b
    Example:
      resizer local stop
    """
    reporter = Reporter(json_mode=json_)
    with reporter.step("stop the local emulator") as step:
        stopped = control.stop()
        if not stopped:
            step.skip("it was not running")
    reporter.emit_json({"stopped": stopped})


@local_app.command("status")
def status(json_: JsonOpt = False) -> None:
    """Endpoint, uptime, functions, invocation and error counts.

    Exits 3 when the emulator is not running.

    \b
    Examples:
      resizer local status
      resizer local status --json
    """
    reporter = Reporter(json_mode=json_)
    note = control.stale_note()
    if note:
        reporter.warn(note)
    info = control.status()
    if info is None:
        reporter.emit_json({"running": False})
        reporter.info("the local emulator is not running (start it with `resizer local start`)")
        raise typer.Exit(3)
    reporter.emit_json({"running": True, **info})
    reporter.info(Text.assemble(
        ("running", "bold"), f" at {info['endpoint']} (pid {info['pid']}, "
        f"up {_uptime(info['uptime_s'])}, functions run with {info['python']})"
    ))
    share = info.get("cpu_share") or {}
    if share.get("enabled"):
        reporter.info(f"CPU follows memory (1,769 MB = 1 core, {share.get('cpus')} here): "
                      f"{share.get('detail') or share.get('mechanism')}")
        if share.get("note"):
            reporter.info(f"  no cgroup: {share['note']}", "dim")
    elif share:
        reporter.info("CPU share off: every function runs at full speed "
                      "(REPORT durations do not follow the memory size)")
    for warning in info.get("warnings", []):
        reporter.warn(warning)
    functions: list[dict[str, Any]] = info.get("functions", [])
    if not functions:
        reporter.info("no function has been invoked yet")
        return
    table = Table(show_edge=False, pad_edge=False, box=None)
    table.add_column("function", overflow="fold")
    for col in ("calls", "errors", "cold", "warm", "busy", "queued"):
        table.add_column(col, justify="right")
    for fn in functions:
        table.add_row(fn["name"], str(fn["invocations"]), str(fn["errors"]),
                      str(fn["cold_starts"]), str(fn["warm_workers"]), str(fn["running"]),
                      str(fn["queued"]))
    reporter.print(table)
    for fn in functions:
        if fn["last_error"]:
            reporter.info(
                Text.assemble(("last error", "red"), f" of {fn['name']}: {fn['last_error']}")
            )


@local_app.command("env")
def env(region: RegionOpt = None, stack: StackOpt = None, json_: JsonOpt = False) -> None:
    """Print shell exports that point any AWS client at the emulator (starting it if needed).

    The credentials are new at each start of the emulator; the region is the stack's
    (default us-east-1).

    \b
    Examples:
      eval "$(resizer local env)" && aws s3 ls
      resizer local env --json
    """
    reporter = Reporter(json_mode=json_)
    note = control.stale_note()
    if note:
        reporter.warn(note)
    settings = load_settings(stack=stack, region=region)
    with reporter.step("start the local emulator") as step:
        url, started = control.start()
        if not started:
            step.skip(f"running at {url}")
    conn = control.ensure_connection(settings.region)
    variables = conn.env()
    if json_:
        reporter.emit_json(variables)
        return
    lines = [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
    # boto3 and the aws-cli read AWS_DEFAULT_REGION, most other SDKs AWS_REGION; a session
    # token left from a real AWS login would be refused by the emulator.
    lines.append(f"export AWS_DEFAULT_REGION={shlex.quote(conn.region)}")
    lines.append("unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN")
    sys.stdout.write("\n".join(lines) + "\n")


def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Where to save the thumbnails.")
    ] = Path("resizer-demo"),
    stack: StackOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run the whole pipeline on this machine.

    Emulator, setup, sample uploads, thumbnails and logs, with no AWS account.

    \b
    Examples:
      resizer demo
      resizer demo --out /tmp/thumbs
    """
    from resizer_cli.ops import demo as demo_mod

    reporter = Reporter(json_mode=json_)
    started = time.monotonic()
    result = demo_mod.run_demo(reporter, out=out, stack=stack)
    if json_:
        reporter.emit_json(result.to_json())
        if result.failure is not None:
            raise result.failure
        return
    table = Table(show_edge=False, pad_edge=False, box=None,
                  title=f"thumbnails (local copies under {out}/)")
    for col in ("source", "status", "latency", "thumbnail", "size", "local copy"):
        table.add_column(col, justify="right" if col in ("latency",) else "left",
                         overflow="fold")
    for row in result.rows:
        table.add_row(*row)
    reporter.print(table)
    fly = result.extra.get("on_the_fly")
    if fly:  # a rendition the upload did not make, fetched over the stack's HTTP API
        reporter.print(Text("\na rendition on the fly (resizer url):", style="bold"))
        reporter.print(Text(fly["url"]))
        reporter.print(Text(f"  {fly['status']} {fly['content_type']}, {fly['bytes']} bytes, "
                            f"{fly['rendition'] or 'not made'} in {fly['ms']:.0f} ms"))
    if result.log_events:
        reporter.print(Text("\nthe invocations in CloudWatch Logs (resizer logs):", style="bold"))
        for event in result.log_events[:LOG_LINES_SHOWN]:
            line = logfmt.render(event, "short")
            line.truncate(max(40, reporter.out.width), overflow="ellipsis")
            reporter.print(line)
        if len(result.log_events) > LOG_LINES_SHOWN:
            reporter.print(Text(f"… {len(result.log_events) - LOG_LINES_SHOWN} more lines",
                                style="dim"))
    reporter.info(f"\ndone in {time.monotonic() - started:.1f} s. Try next:")
    for tip in result.next_steps:
        reporter.info(f"  {tip}")
    if result.failure is not None:
        raise result.failure  # last, after the results known
    if result.failed_unexpectedly:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(local_app, name="local")
    app.command("demo")(demo)
