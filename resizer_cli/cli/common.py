"""Options shared by the commands, and the step from flags to a Target."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from resizer_cli import settings as settings_mod
from resizer_cli.aws import Target, connect
from resizer_cli.output import Reporter
from resizer_cli.settings import Settings

StackOpt = Annotated[
    str | None, typer.Option("--stack", help="Stack name (default: the last one set up).")
]
TargetOpt = Annotated[
    str | None, typer.Option("--target", help="local (the emulator, default) or aws.")
]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region.")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="AWS profile.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
SinceOpt = Annotated[
    str, typer.Option("--since", help="Start: 10m, 2h, 1d or ISO-8601 (UTC if no zone).")
]


def load_settings(**flags: Any) -> Settings:
    return settings_mod.load(flags)


def open_target(
    reporter: Reporter, *, start_emulator: bool = True, **flags: Any
) -> tuple[Settings, Target]:
    """Resolve settings and the target, and print where the command acts (always first)."""
    settings = load_settings(**flags)
    target = connect(settings, start_emulator=start_emulator)
    reporter.where(target.describe())
    for note in settings.notes:  # e.g. which region, when a stack is set up in several
        reporter.warn(note)
    return settings, target
