"""The `resizer` command: argument parsing and rendering only; the work lives below.

Each command group registers itself from its own module. `main` turns every error a user can
cause into one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import os
import sys

import click
import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from resizer_cli.cli import deploy, layer, local, ops
from resizer_cli.errors import ResizerError, from_boto

app = typer.Typer(
    name="resizer",
    help="Deploy and run a serverless S3 → Lambda → Pillow thumbnail pipeline "
    "(on AWS, or on the bundled local emulator).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for module in (deploy, layer, local, ops):
    module.register(app)


def _fail(message: str, code: int = 1) -> None:
    Console(stderr=True, highlight=False).print(f"[red]error:[/red] {message}", soft_wrap=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    try:
        result = app(args=argv, standalone_mode=False)
    except ResizerError as exc:
        _fail(str(exc), exc.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        Console(stderr=True).print(
            "[yellow]interrupted[/yellow]: re-run the same command to finish the job"
        )
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (BotoCoreError, ClientError) as exc:
        err = from_boto(exc)
        _fail(str(err) if err else f"AWS error: {exc}")
    except Exception as exc:
        if os.environ.get("RESIZER_DEBUG"):
            raise
        _fail(
            f"internal error: {type(exc).__name__}: {exc} "
            "(set RESIZER_DEBUG=1 for the traceback, and please report it)",
            70,
        )
    else:
        if result == 130:  # typer (non-standalone) turns Ctrl-C into a returned 130
            Console(stderr=True).print(
                "[yellow]interrupted[/yellow]: re-run the same command to finish the job"
            )
        if isinstance(result, int) and result:
            sys.exit(result)
