"""CLI commands: `resizer layer build` and `resizer layer verify`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from resizer_cli.cli.common import JsonOpt
from resizer_cli.layer import (
    DEFAULT_ARCHITECTURE,
    DEFAULT_RUNTIME,
    LayerError,
    build_layer,
    layer_pins,
    local_target,
    verify_layer,
)
from resizer_cli.output import Reporter

RuntimeOpt = Annotated[
    str | None,
    typer.Option(
        "--runtime", help=f"Lambda Python runtime, python3.10–3.14 (default {DEFAULT_RUNTIME})."
    ),
]
ArchOpt = Annotated[
    str | None,
    typer.Option(
        "--arch", help=f"Lambda architecture: x86_64 or arm64 (default {DEFAULT_ARCHITECTURE})."
    ),
]
HeicOpt = Annotated[
    bool,
    typer.Option("--heic/--no-heic", help="Include pillow-heif for HEIC/HEIF input (default)."),
]
LocalOpt = Annotated[
    bool,
    typer.Option(
        "--local", help="Target this interpreter and machine (what the local emulator imports)."
    ),
]

layer_app = typer.Typer(
    help="Build and check the Pillow Lambda layer.", no_args_is_help=True, add_completion=False
)


def _target_args(runtime: str | None, arch: str | None, local: bool) -> tuple[str, str]:
    if local:
        host = local_target()
        if (runtime and runtime != host.runtime) or (arch and arch != host.architecture):
            raise LayerError(
                f"--local targets this interpreter ({host.runtime} {host.architecture})",
                "drop --runtime/--arch, or drop --local to build for Lambda",
            )
        return host.runtime, host.architecture
    return runtime or DEFAULT_RUNTIME, arch or DEFAULT_ARCHITECTURE


@layer_app.command("build")
def build(
    runtime: RuntimeOpt = None,
    arch: ArchOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also copy the zip here (file or dir).")
    ] = None,
    local: LocalOpt = False,
    heic: HeicOpt = True,
    json_: JsonOpt = False,
) -> None:
    """Build (or take from the cache) the Pillow layer zip.

    For a Lambda runtime and architecture, or for this machine with --local.

    \b
    Examples:
      resizer layer build
      resizer layer build --runtime python3.12 --arch arm64 --output dist/
      resizer layer build --local
    """
    reporter = Reporter(json_mode=json_)
    runtime_, arch_ = _target_args(runtime, arch, local)
    label = f"{runtime_} {arch_}" + (" (local)" if local else "")
    pins = ", ".join(layer_pins(runtime_, arch_, local=local, heic=heic))
    reporter.where(f"Pillow layer for {label}: {pins}")
    artifact = build_layer(
        runtime_, arch_, reporter=reporter, output=output, local=local, heic=heic
    )
    reporter.emit_json({**artifact.to_json(), "local": local})
    reporter.print(f"path    {artifact.path}")
    reporter.print(
        f"size    {artifact.size / 1e6:.1f} MB zipped, "
        f"{artifact.unzipped_size / 1e6:.1f} MB unzipped"
    )
    reporter.print(f"sha256  {artifact.sha256}")


@layer_app.command("verify")
def verify(
    zip_path: Annotated[Path, typer.Argument(help="The layer zip to check.", metavar="ZIP")],
    runtime: RuntimeOpt = None,
    arch: ArchOpt = None,
    local: LocalOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Check that a layer zip will import on a runtime.

    The zip may be built anywhere; it is checked for the runtime and architecture given.

    \b
    Examples:
      resizer layer verify layer.zip
      resizer layer verify layer.zip --runtime python3.13 --arch x86_64
    """
    reporter = Reporter(json_mode=json_)
    runtime_, arch_ = _target_args(runtime, arch, local)
    label = f"{runtime_} {arch_}" + (" (local)" if local else "")
    reporter.where(f"checking {zip_path} as a layer for {label}")
    report = verify_layer(zip_path, runtime_, arch_, local=local)
    reporter.emit_json(report.to_json())
    glibc = f", needs glibc {report.glibc_needed}" if report.glibc_needed else ""
    reporter.print(Text.assemble(
        ("✓", "green"), f" {zip_path.name} is a layer for {label}: {report.files} files, "
        f"{len(report.native_files)} native{glibc}; "
        f"{report.size / 1e6:.1f} MB zipped, {report.unzipped_size / 1e6:.1f} MB unzipped"
    ))
    reporter.print(f"sha256  {report.sha256}")


def register(app: typer.Typer) -> None:
    app.add_typer(layer_app, name="layer")
