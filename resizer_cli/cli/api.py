"""CLI command: `resizer url` (parsing and rendering only; see resizer_cli.ops.url)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from resizer_cli.cli.common import (
    JsonOpt,
    ProfileOpt,
    RegionOpt,
    StackOpt,
    TargetOpt,
    open_target,
)
from resizer_cli.ops.url import rendition_url
from resizer_cli.output import Reporter


def url(
    key: Annotated[
        str, typer.Argument(help="The image's key, with or without raw/.", metavar="KEY")
    ],
    size: Annotated[
        str, typer.Option("--size", help="WxH: one of the stack's sizes or --api-sizes.")
    ],
    expires: Annotated[
        str | None, typer.Option("--expires", help="Valid for 30m, 1h, 7d… (default: always).")
    ] = None,
    format_: Annotated[
        str | None, typer.Option("--format", help="jpeg, png, webp or avif (default: the "
                                 "stack's, or what the browser accepts).")
    ] = None,
    json_: JsonOpt = False,
    stack: StackOpt = None,
    target: TargetOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Print a working URL of a rendition made on the fly (setup --api).

    \b
    Examples:
      resizer url raw/holiday/beach.jpg --size 512x512
      resizer url holiday/beach.jpg --size 1024x1024 --expires 1h --format webp
      curl -sO "$(resizer url beach.jpg --size 128x128)"
    """
    reporter = Reporter(json_mode=json_)
    _, tgt = open_target(
        reporter, start_emulator=False, stack=stack, target=target, region=region,
        profile=profile,
    )
    result = rendition_url(tgt, key, size, expires=expires, fmt=format_)
    if json_:
        reporter.emit_json(result.to_json())
    else:
        sys.stdout.write(result.url + "\n")


def register(app: typer.Typer) -> None:
    app.command("url")(url)
