"""`--help` of every command: plain Click help, no stray `<bool>`, and an example that works."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import Any

import pytest
import typer

from resizer_cli.cli import app


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_every_command_is_covered() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"setup", "status", "teardown", "upload", "logs", "demo", "layer build",
            "layer verify", "local start", "local stop", "local status"} <= names


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_shows_options_and_an_example(run_resizer, path: tuple[str, ...], cmd: Any) -> None:
    proc = run_resizer(*path, "--help", timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith(f"Usage: resizer {' '.join(path)} ")
    assert "<bool>" not in text and "╭" not in text
    prefix = f"resizer {' '.join(path)}"
    examples = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(prefix)]
    assert examples, f"no example in `{prefix} --help`:\n{text}"
    # Each example uses only options the command has (an example that rots fails here).
    known = {opt for param in cmd.params for opt in (*param.opts, *param.secondary_opts)}
    for example in examples:
        used = {tok.split("=")[0] for tok in shlex.split(example) if tok.startswith("-")}
        assert used <= known, (example, used - known)


def test_top_level_help_lists_commands_and_examples(run_resizer) -> None:
    proc = run_resizer("--help", timeout=60)
    assert proc.returncode == 0
    assert "<bool>" not in proc.stdout
    assert "resizer demo" in proc.stdout
    for name in ("setup", "upload", "logs", "layer", "local"):
        assert f"\n  {name} " in proc.stdout
