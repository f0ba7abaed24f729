"""Rendering for the CLI: steps with check marks, progress bars, and --json.

Human output goes to stderr so that stdout stays clean for --json (and for piping). Logic below
the CLI reports through a Reporter; tests pass `Reporter.quiet()`.

Every string is printed literally: the consoles parse no markup and no emoji codes, because
names, paths, keys and AWS messages may contain `[...]` or `:...:`. Styling is explicit, with a
`style=` argument or a `rich.text.Text`. Off a terminal nothing is wrapped or cropped: one
message per line, table rows on one line, so logs and grep work.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

# Wider than anything we print: off a terminal, lines and table cells are never wrapped.
UNWRAPPED_WIDTH = 1_000_000


def make_console(*, stderr: bool) -> Console:
    """A console that prints text literally, and never wraps it when it is not a terminal."""
    console = Console(stderr=stderr, highlight=False, markup=False, emoji=False)
    if not console.is_terminal:
        console.width = UNWRAPPED_WIDTH
        console.soft_wrap = True
    return console


def print_error(message: str) -> None:
    """The one line of an error a user can fix: `error: <what happened> (<what to do>)`."""
    make_console(stderr=True).print(Text.assemble(("error:", "red"), " ", message))


def print_interrupted() -> None:
    make_console(stderr=True).print(
        Text.assemble(("interrupted", "yellow"), ": re-run the same command to finish the job")
    )


class Step:
    """A running step; `note()` adds detail shown after the check mark."""

    def __init__(self) -> None:
        self.detail = ""
        self.skipped = False

    def note(self, detail: str) -> None:
        self.detail = detail

    def skip(self, detail: str = "") -> None:
        self.skipped = True
        self.detail = detail


class ProgressHandle:
    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress = progress
        self._task = task

    def advance(self, amount: float = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, amount)

    def update(self, completed: float | None = None, total: float | None = None) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed, total=total)


class Reporter:
    def __init__(self, *, json_mode: bool = False, quiet: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        # stderr: progress and steps never mix with machine-readable stdout.
        self.console = make_console(stderr=True)
        self.out = make_console(stderr=False)

    @classmethod
    def silent(cls) -> Reporter:
        return cls(quiet=True)

    @property
    def human(self) -> bool:
        return not (self.quiet or self.json_mode)

    def where(self, text: str) -> None:
        """First line of every command: where it acts."""
        if self.human:
            self.console.print(Text(f"→ {text}", style="bold"))

    def info(self, text: str | Text, style: str = "", *, detail: str = "") -> None:
        """A line of human output on stderr, printed literally: `style` colours all of it,
        `detail` follows it dimmed."""
        if self.human:
            line = Text(text, style=style) if isinstance(text, str) else text
            if detail:
                line = Text.assemble(line, " ", (detail, "dim"))
            self.console.print(line)

    def warn(self, text: str | Text) -> None:
        if not self.quiet:
            self.console.print(Text.assemble(("warning:", "yellow"), " ", text))

    def print(self, renderable: Any, style: str = "") -> None:
        """Primary human output (tables) to stdout."""
        if not self.human:
            return
        if self.out.is_terminal:
            self.out.print(renderable, style=style or None)
            return
        # Off a terminal there are no styles to keep; a table's cells are padded to their
        # column's width, so strip what that leaves at the end of each line.
        with self.out.capture() as captured:
            self.out.print(renderable, style=style or None)
        self.out.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
        self.out.file.flush()

    def emit_json(self, obj: Any) -> None:
        """One JSON document (or JSON line) on stdout."""
        if self.json_mode:
            sys.stdout.write(json.dumps(obj, default=str, sort_keys=True) + "\n")
            sys.stdout.flush()

    @contextmanager
    def step(self, title: str) -> Iterator[Step]:
        step = Step()
        if not self.human:
            yield step
            return
        try:
            if self.console.is_terminal:
                with self.console.status(Text(title)):
                    yield step
            else:
                yield step
        except BaseException:
            self.console.print(Text.assemble(("✗", "red"), " ", title))
            raise
        mark = ("·", "dim") if step.skipped else ("✓", "green")
        detail = (" " + step.detail, "dim") if step.detail else ""
        self.console.print(Text.assemble(mark, " ", title, detail))

    @contextmanager
    def progress(
        self, description: str, total: float | None, *, bytes_: bool = False
    ) -> Iterator[ProgressHandle]:
        # A bar only makes sense on a terminal; piped stderr would collect blank lines.
        if not self.human or not self.console.is_terminal:
            yield ProgressHandle(None, None)
            return
        columns: list[Any] = [TextColumn("{task.description}", markup=False), BarColumn()]
        if bytes_:
            columns += [DownloadColumn(), TransferSpeedColumn()]
        else:
            columns += [TextColumn("{task.completed:.0f}/{task.total:.0f}", markup=False)]
        columns.append(TimeRemainingColumn())
        with Progress(*columns, console=self.console, transient=True) as prog:
            task = prog.add_task(description, total=total)
            yield ProgressHandle(prog, task)
