"""The `resizer` command: argument parsing and rendering only; the work lives below.

Each command group registers itself from its own module. `main` turns every error a user can
cause into one line on stderr and a non-zero exit, never a traceback. The exit codes are the
README's ("Exit codes"); usage mistakes are Click's own message and exit 2.
"""

from __future__ import annotations

import os
import sys

import typer
from botocore.exceptions import BotoCoreError, ClientError

from resizer_cli.cli import api, deploy, layer, local, ops, recovery, stats, tune
from resizer_cli.errors import INTERNAL_ERROR, INTERRUPTED, ResizerError, from_boto
from resizer_cli.output import print_error, print_interrupted

app = typer.Typer(
    name="resizer",
    help="Deploy and run a serverless S3 → Lambda → Pillow thumbnail pipeline "
    "(on AWS, or on the bundled local emulator).\n\n"
    "\b\nExamples:\n"
    "  resizer demo\n"
    "  resizer setup && resizer upload photo.jpg\n"
    "  resizer COMMAND --help",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Click's plain help and usage errors: the same on every Typer release, never boxed or
    # wrapped to a width when stderr is not a terminal.
    rich_markup_mode=None,
    add_completion=False,
)

for module in (deploy, layer, local, ops, api, recovery, stats, tune):
    module.register(app)


def main(argv: list[str] | None = None) -> None:
    # Standalone mode: Typer and Click handle usage errors (exit 2), --help, Exit and Abort
    # themselves, with whichever click copy this Typer carries; they re-raise everything else,
    # so only our own errors (and bugs) reach the handlers below.
    try:
        app(args=argv, prog_name="resizer")
    except SystemExit as exc:
        if exc.code == INTERRUPTED:  # Typer turns Ctrl-C in a command into exit 130
            print_interrupted()
        raise
    except KeyboardInterrupt:
        print_interrupted()
        sys.exit(INTERRUPTED)
    except ResizerError as exc:
        _fail(str(exc), exc.exit_code)
    except (BotoCoreError, ClientError) as exc:
        err = from_boto(exc)
        _fail(str(err) if err else f"AWS error: {exc}")
    except Exception as exc:
        if os.environ.get("RESIZER_DEBUG"):
            raise
        _fail(
            f"internal error: {type(exc).__name__}: {exc} "
            "(set RESIZER_DEBUG=1 for the traceback, and please report it)",
            INTERNAL_ERROR,
        )


def _fail(message: str, code: int = 1) -> None:
    print_error(message)
    sys.exit(code)

