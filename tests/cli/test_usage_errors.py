"""Usage mistakes, through the installed `resizer`: Click's own message and exit 2.

Typer 0.26 and later carry their own copy of Click, so this runs on whatever Typer the
project's bounds installed here (the test prints which, in its ids).
"""

from __future__ import annotations

import importlib.metadata
import shlex

import pytest

from resizer_cli.errors import USAGE

TYPER = importlib.metadata.version("typer")

# (arguments, what the error line names). Options of every kind, on every command.
MISTAKES = [
    ("--bogus", "--bogus"),
    ("nosuch", "nosuch"),
    ("setup --bogus", "--bogus"),
    ("setup -y", "-y"),
    ("setup --memory abc", "--memory"),
    ("setup --quality 1.5", "--quality"),
    ("setup --max-pixels 1e9", "--max-pixels"),
    ("setup --dry-run=1", "--dry-run"),
    ("setup extra", "extra"),
    ("status --stack", "--stack"),
    ("status --json=yes", "--json"),
    ("teardown --yes extra", "extra"),
    ("upload", "path"),
    ("upload a.jpg --timeout 0", "--timeout"),
    ("upload a.jpg --timeout soon", "--timeout"),
    ("upload a.jpg --concurrency 65", "--concurrency"),
    ("upload a.jpg --concurrency abc", "--concurrency"),
    ("upload a.jpg --wait=maybe", "--wait"),
    ("upload a.jpg --download", "--download"),
    ("logs --since", "--since"),
    ("logs --follow=yes", "--follow"),
    ("logs --bogus", "--bogus"),
    ("stats --since", "--since"),
    ("demo --out", "--out"),
    ("layer nosuch", "nosuch"),
    ("layer build -o", "-o"),
    ("layer verify", "ZIP"),
    ("layer verify a.zip b.zip", "b.zip"),
    ("local nosuch", "nosuch"),
    ("local start --port 0", "--port"),
    ("local start --port x", "--port"),
    ("local stop --port 1", "--port"),
    ("local status extra", "extra"),
]


@pytest.mark.parametrize(
    ("args", "named"), MISTAKES, ids=[f"typer{TYPER}:{a}" for a, _ in MISTAKES]
)
def test_usage_mistake_is_clicks_message_and_exit_2(run_resizer, args: str, named: str) -> None:
    proc = run_resizer(*shlex.split(args), timeout=60)
    assert proc.returncode == USAGE, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    # Typer releases name an argument as PATHS... or paths: the name is compared in lower case.
    assert lines[-1].startswith("Error: ") and named.lower() in lines[-1].lower(), proc.stderr
    if "Usage: resizer" in proc.stderr:  # Click omits it only for an option missing its value
        assert lines[0].startswith("Usage: resizer") and "--help' for help." in lines[1]
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert "╭" not in proc.stderr  # plain text, not a box drawn to a terminal's width


def test_no_command_shows_the_help(run_resizer) -> None:
    proc = run_resizer(timeout=60)
    assert proc.returncode in (0, USAGE)  # Click 8.2+ exits 2, as for any missing command
    assert "Usage: resizer [OPTIONS] COMMAND" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
