"""Names that look like rich markup, through a real upload and `status` on the emulator.

Every line of human output is literal and whole when stdout/stderr are pipes, with COLUMNS
set narrow on purpose: rows, warnings and step lines are never wrapped or cut.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

Run = Callable[..., subprocess.CompletedProcess[str]]
STACK = "markup"
NARROW = {"RESIZER_STACK": STACK, "COLUMNS": "40"}


@pytest.fixture(scope="module")
def markup_stack(emulator_module: Any) -> Any:
    proc = emulator_module.resizer("setup", "--stack", STACK, timeout=600)
    assert proc.returncode == 0, f"resizer setup failed:\n{proc.stderr}"
    return emulator_module


def test_upload_and_status_print_names_literally(
    run_resizer: Run, emulator: Any, markup_stack: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "in [dim]"  # a name cannot hold "/", so no closing tags here
    folder.mkdir()
    Image.new("RGB", (300, 200), (10, 120, 200)).save(folder / "[bold]b[red] :cat:.jpg")
    (folder / "notes [red].txt").write_text("not an image\n")
    proc = run_resizer("upload", str(folder), "--timeout", "60", env=NARROW)
    assert proc.returncode == 1, proc.stderr  # the text file is rejected by the function
    assert "Traceback" not in proc.stderr
    assert (
        f"warning: {folder / 'notes [red].txt'} does not look like an image; uploading it anyway"
        in proc.stderr.splitlines()
    )
    image_row = next(ln for ln in proc.stdout.splitlines() if "[bold]b[red] :cat:.jpg " in ln)
    assert " ok " in image_row and "thumbnails/128x128/[bold]b[red] :cat:.jpg" in image_row
    text_row = next(line for line in proc.stdout.splitlines() if "notes [red].txt" in line)
    assert " failed " in text_row and "not_image" in text_row

    proc = run_resizer("status", env=NARROW)
    assert proc.returncode == 0, proc.stderr
    [function_row] = [ln for ln in proc.stdout.splitlines() if ln.startswith("│ function ")]
    assert "markup-thumbnailer" in function_row and " yes " in function_row
    assert " MB, " in function_row  # name, exists and details on one row
