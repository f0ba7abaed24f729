"""CLI commands: setup, status, teardown (parsing and rendering only; see resizer_cli.deploy)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from resizer_cli import settings as settings_mod
from resizer_cli.cli.common import (
    JsonOpt,
    ProfileOpt,
    RegionOpt,
    StackOpt,
    TargetOpt,
    load_settings,
    open_target,
)
from resizer_cli.deploy.stack import setup_stack
from resizer_cli.deploy.status import stack_status
from resizer_cli.deploy.teardown import plan_teardown, run_teardown
from resizer_cli.errors import ResizerError, StackNotFound
from resizer_cli.output import Reporter


def _setup(
    stack: StackOpt = None,
    target: TargetOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    sizes: Annotated[
        str | None, typer.Option("--sizes", help="Thumbnail sizes, e.g. 128x128,512x512.")
    ] = None,
    memory: Annotated[int | None, typer.Option("--memory", help="Function memory, MB.")] = None,
    timeout: Annotated[int | None, typer.Option("--timeout", help="Function timeout, s.")] = None,
    reserved_concurrency: Annotated[
        str | None,
        typer.Option("--reserved-concurrency", metavar="N|none",
                     help="Most invocations at once, reserved for the function (0 pauses the "
                     "pipeline; none removes the reservation)."),
    ] = None,
    arch: Annotated[
        str | None, typer.Option("--arch", help="x86_64 (default) or arm64 (AWS only).")
    ] = None,
    runtime: Annotated[
        str | None, typer.Option("--runtime", help="e.g. python3.13 (default on AWS).")
    ] = None,
    output_format: Annotated[
        str | None, typer.Option("--format", help="auto, jpeg, png, webp or avif.")
    ] = None,
    fit: Annotated[str | None, typer.Option("--fit", help="inside or cover.")] = None,
    gravity: Annotated[
        str | None, typer.Option("--gravity", help="Where cover crops: centre or smart.")
    ] = None,
    heic: Annotated[
        bool | None,
        typer.Option("--heic/--no-heic", help="HEIC/HEIF input (pillow-heif in the layer)."),
    ] = None,
    quality: Annotated[int | None, typer.Option("--quality", help="Encoder quality 1-100.")] = None,
    max_pixels: Annotated[
        int | None, typer.Option("--max-pixels", help="Refuse images larger than this.")
    ] = None,
    source_bucket: Annotated[
        str | None,
        typer.Option(
            "--source-bucket", help="Use an existing bucket for uploads (kept on teardown)."
        ),
    ] = None,
    source_bucket_owner: Annotated[
        str | None,
        typer.Option(
            "--source-bucket-owner", help="Account id owning --source-bucket, if not yours."
        ),
    ] = None,
    api: Annotated[
        bool | None,
        typer.Option("--api/--no-api", help="An HTTP API for renditions on the fly (--no-api "
                     "removes it)."),
    ] = None,
    api_sizes: Annotated[
        str | None, typer.Option("--api-sizes", help="Sizes served over HTTP besides --sizes.")
    ] = None,
    api_unsigned: Annotated[
        bool | None,
        typer.Option("--api-unsigned/--api-signed", help="Accept URLs without a signature."),
    ] = None,
    adopt: Annotated[
        list[str] | None,
        typer.Option(
            "--adopt", help="Let the stack manage this untagged resource of its name (repeat)."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Create or update the stack.

    Buckets, log group, role, layer, function and their wiring; a re-run changes only what
    differs.

    \b
    Examples:
      resizer setup
      resizer setup --target aws --region eu-west-1
      resizer setup --stack prod --sizes 128x128,1024x1024 --format webp
      resizer setup --api --api-sizes 1024x1024
      resizer setup --reserved-concurrency 10
      resizer setup --dry-run
    """
    reporter = Reporter(json_mode=json_)
    settings, tgt = open_target(
        reporter,
        stack=stack,
        target=target,
        region=region,
        profile=profile,
        sizes=sizes,
        memory=memory,
        timeout=timeout,
        reserved_concurrency=reserved_concurrency,
        architecture=arch,
        runtime=runtime,
        output_format=output_format,
        fit=fit,
        gravity=gravity,
        heic=heic,
        quality=quality,
        max_pixels=max_pixels,
        source_bucket=source_bucket,
        source_bucket_owner=source_bucket_owner,
        api=api,
        api_sizes=api_sizes,
        api_unsigned=api_unsigned,
    )
    result = setup_stack(tgt, reporter, dry_run=dry_run, adopt=tuple(adopt or ()))
    if not dry_run:
        settings_mod.save_stack(settings)
        if result.changed:
            reporter.info(Text.assemble(
                (f"Stack {settings.stack} is ready", "green"), ": upload images to "
                f"s3://{result.resources['source_bucket']}/raw/ (or `resizer upload`)"
            ))
            if settings.api:
                reporter.info("renditions over HTTP: `resizer url KEY --size WxH` (the "
                              "endpoint is in `resizer status`)")
        if settings.reserved_concurrency == 0:
            reporter.warn("the pipeline is paused (reserved concurrency 0): uploads wait in "
                          "Lambda's queue until `resizer setup --reserved-concurrency none` "
                          "(or a number)")
    reporter.emit_json(result.to_json())


def _status(
    stack: StackOpt = None,
    target: TargetOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Show what is deployed, any drift, and recent invocations.

    \b
    Examples:
      resizer status
      resizer status --stack prod --json
    """
    reporter = Reporter(json_mode=json_)
    _, tgt = open_target(
        reporter, start_emulator=False, stack=stack, target=target, region=region, profile=profile
    )
    report = stack_status(tgt)
    reporter.emit_json(report)
    if reporter.human:
        _render_status(reporter, report)


def _yes_no(value: bool) -> Text:
    return Text("yes", style="green") if value else Text("missing", style="red")


def _render_status(reporter: Reporter, report: dict[str, Any]) -> None:
    table = Table(title=f"stack {report['stack']} ({report['target']})", show_lines=False)
    table.add_column("resource")
    table.add_column("name", overflow="fold")
    table.add_column("exists")
    table.add_column("details")
    res = report["resources"]
    for key in ("source_bucket", "dest_bucket", "log_group", "role", "function", "permission"):
        item = res[key]
        details = ""
        if key == "source_bucket" and not item["owned"]:
            details = "brought (kept on teardown)"
        if key == "log_group" and item["exists"]:
            details = f"retention {item['retention_days']} days"
        if key == "function" and item["exists"]:
            details = (
                f"{item['runtime']}, {item['architecture']}, {item['memory']} MB, "
                f"{item['timeout']} s, {item['state']}"
            )
            reserved = item.get("reserved_concurrency")
            if reserved == 0:
                details += ", PAUSED (reserved concurrency 0)"
            elif reserved is not None:
                details += f", reserved concurrency {reserved}"
        table.add_row(key.replace("_", " "), item["name"], _yes_no(item["exists"]), details)
    note = res["notification"]
    events = " + ".join(note.get("events") or []) or "s3:ObjectCreated:*"
    table.add_row("notification", note["name"], _yes_no(note["exists"]), f"{events} raw/")
    if "async_config" in res:
        ac = res["async_config"]
        table.add_row("async config", ac["name"], _yes_no(ac["exists"]),
                      f"{ac['retries']} retries, failed events to {ac['on_failure']}"
                      if ac["exists"] else "")
    versions = res["layer"]["versions"]
    layer_detail = ", ".join(
        f"v{v['version']}{' (in use)' if v['in_use'] else ''} sha256 {(v['sha256'] or '?')[:12]}"
        for v in versions
    )
    table.add_row("layer", res["layer"]["name"], _yes_no(bool(versions)), layer_detail)
    api = res.get("api") or {}
    if api.get("exists") or api.get("wanted"):
        signing = "signed URLs" if api.get("signed") else "unsigned URLs"
        detail = f"{api['endpoint']} ({signing})" if api.get("exists") else ""
        table.add_row("http api", api["name"], _yes_no(bool(api.get("exists"))), detail)
    reporter.print(table)
    code = report["code"]
    reporter.print(
        f"code: deployed {code['deployed_sha256'] or '-'}, local {code['local_sha256']} "
        f"({'up to date' if code['up_to_date'] else 'differs'})"
    )
    if report["in_sync"]:
        reporter.print("No drift: the stack matches its settings.", "green")
    else:
        reporter.print("Drift (run `resizer setup` to repair):", "yellow")
        for item in report["drift"]:
            reporter.print(
                f"  • {item['action']} {item['resource']} {item['name']}: {item['detail']}"
            )
        for problem in report["problems"]:
            reporter.print(f"  • {problem}")
    recent = report["recent"]
    reporter.print(
        f"last {recent['window_minutes']} min: {recent['invocations']} invocation(s), "
        f"{recent['errors']} error line(s)"
        + (f" — last: {recent['last_error']}" if recent.get("last_error") else "")
    )


def _teardown(
    stack: StackOpt = None,
    target: TargetOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    source_bucket: Annotated[
        str | None,
        typer.Option("--source-bucket", help="The brought bucket, if the function is gone."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Remove everything setup created.

    Never a bucket you brought, nor its other rules.

    \b
    Examples:
      resizer teardown
      resizer teardown --stack prod --yes
    """
    if not yes and not sys.stdin.isatty():
        raise ResizerError(
            "teardown needs confirmation and there is no terminal to ask",
            "pass --yes to remove the stack without asking",
        )
    reporter = Reporter(json_mode=json_)
    flags = {"stack": stack, "target": target, "region": region, "profile": profile}
    try:
        settings, tgt = open_target(
            reporter, start_emulator=False, source_bucket=source_bucket, **flags
        )
    except StackNotFound:
        settings = load_settings(**flags)
        if settings.target != "local":
            raise
        # A stopped emulator holds nothing (in any region): as a re-run, a no-op.
        settings_mod.forget_stack(settings.stack, "local")
        reporter.info("Nothing to remove: the local emulator is not running, so it holds no stack")
        reporter.emit_json(
            {"stack": settings.stack, "target": "local", "changed": False, "actions": [],
             "skipped": []}
        )
        return
    tplan = plan_teardown(tgt)
    if tplan.actions and not yes:
        reporter.console.print(f"This removes from stack {settings.stack}:")
        for action in tplan.actions:
            reporter.console.print(f"  • {action.action} {action.resource} {action.name}")
        if not typer.confirm("Proceed?", default=False, err=True):
            raise ResizerError("teardown cancelled; nothing was removed")
    result = run_teardown(tgt, tplan, reporter)
    settings_mod.forget_stack(settings.stack, settings.target, settings.region)
    reporter.emit_json(result.to_json())


def register(app: typer.Typer) -> None:
    app.command("setup")(_setup)
    app.command("status")(_status)
    app.command("teardown")(_teardown)
