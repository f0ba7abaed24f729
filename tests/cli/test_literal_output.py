"""User text is printed literally and on one line, through the installed `resizer`.

Names, paths and values that look like rich markup (`[/x]`, `[bold]`) or emoji codes
(`:cat:`) come out exactly as typed; output to a pipe is never wrapped, whatever COLUMNS says.
"""

from __future__ import annotations

import pytest

# (arguments, the text that must appear as typed, exit code: 2 for a bad flag value)
CASES = [
    (("status", "--stack", "a[/b]"), "a[/b]", 2),
    (("status", "--stack", "[bold]x"), "[bold]x", 2),
    (("logs", "--since", "1[/x]"), "1[/x]", 2),
    (("stats", "--since", "1[/x]"), "1[/x]", 2),
    (("layer", "verify", "x[/y].zip"), "x[/y].zip", 1),
    (("upload", "[bold]:cat:[/bold].jpg"), "[bold]:cat:[/bold].jpg", 1),
    (("status", "--target", "[red]x"), "[red]x", 2),
]


@pytest.mark.parametrize(("args", "text", "code"), CASES, ids=[" ".join(a) for a, _, _ in CASES])
def test_markup_in_user_text_is_printed_as_typed(run_resizer, args, text, code) -> None:
    proc = run_resizer(*args, timeout=60)
    assert proc.returncode == code, proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("error: ") and text in last, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


def test_a_long_error_is_one_line_whatever_the_width(run_resizer, tmp_path) -> None:
    missing = tmp_path.joinpath(*["a-rather-long-folder-name"] * 8, "photo.jpg")
    proc = run_resizer("upload", str(missing), env={"COLUMNS": "30"}, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"error: {missing}: no such file or folder (check the path)"
    ]
