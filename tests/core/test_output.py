"""The Reporter: literal text, explicit styles, nothing wrapped off a terminal."""

from __future__ import annotations

import pytest
from rich.table import Table
from rich.text import Text

from resizer_cli.output import Reporter, print_error

MARKUP = "a[/b] [bold]c[/bold] :cat: [red]"
LONG = " ".join(f"word{i}" for i in range(80))  # ~560 characters


@pytest.fixture(autouse=True)
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")  # a width rich would otherwise honour


def test_every_method_prints_user_text_literally(capsys: pytest.CaptureFixture[str]) -> None:
    rep = Reporter()
    rep.where(MARKUP)
    rep.info(MARKUP)
    rep.info(MARKUP, "dim", detail=MARKUP)
    rep.warn(MARKUP)
    with rep.step(MARKUP) as step:
        step.note(MARKUP)
    with pytest.raises(RuntimeError), rep.step(MARKUP):
        raise RuntimeError
    rep.print(MARKUP)
    print_error(MARKUP)
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"→ {MARKUP}",
        MARKUP,
        f"{MARKUP} {MARKUP}",
        f"warning: {MARKUP}",
        f"✓ {MARKUP} {MARKUP}",
        f"✗ {MARKUP}",
        f"error: {MARKUP}",
    ]
    assert out.splitlines() == [MARKUP]


def test_nothing_is_wrapped_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    rep = Reporter()
    rep.warn(LONG)
    rep.info(Text(LONG, style="bold"))
    table = Table(box=None, title=f"title {MARKUP}")
    table.add_column("file", overflow="fold")
    table.add_column("reason")
    name = "photos/a[/b]/[bold]" + "x" * 200 + ".jpg"
    table.add_row(name, LONG)
    table.add_row("short.jpg", "ok")
    rep.print(table)
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"warning: {LONG}", LONG]
    lines = out.splitlines()
    assert lines[0].strip() == f"title {MARKUP}"
    assert lines[1].split() == ["file", "reason"]
    assert lines[2].rstrip().split(maxsplit=1) == [name, LONG]
    assert lines[3].split() == ["short.jpg", "ok"] and len(lines) == 4


def test_quiet_and_json_modes_print_no_human_text(capsys: pytest.CaptureFixture[str]) -> None:
    Reporter.silent().warn("hidden")
    rep = Reporter(json_mode=True)
    rep.info("hidden")
    rep.warn("shown: warnings go to stderr even with --json")
    rep.emit_json({"a": "[/b]"})
    out, err = capsys.readouterr()
    assert out == '{"a": "[/b]"}\n'
    assert err == "warning: shown: warnings go to stderr even with --json\n"
