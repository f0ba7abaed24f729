"""End to end: `resizer stats --json` on the real emulator, through the installed command."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

Run = Callable[..., subprocess.CompletedProcess[str]]


def _stats(run_resizer: Run) -> dict[str, Any]:
    proc = run_resizer("stats", "--stack", "stats", "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_stats_after_uploads(run_resizer: Run, emulator: Any, tmp_path: Path) -> None:
    assert run_resizer("setup", "--stack", "stats", timeout=600).returncode == 0
    empty = _stats(run_resizer)
    assert (empty["invocations"], empty["cost_usd"], empty["cost_per_1000_usd"]) == (0, 0.0, None)
    for name, size in (("a.jpg", (900, 600)), ("b.png", (300, 500))):
        Image.new("RGB", size, (30, 120, 200)).save(tmp_path / name)
    proc = run_resizer("upload", str(tmp_path / "a.jpg"), str(tmp_path / "b.png"),
                       "--stack", "stats", timeout=120)
    assert proc.returncode == 0, proc.stderr
    # The result record is written before the REPORT line: give the log a moment.
    deadline = time.monotonic() + 20
    while (s := _stats(run_resizer))["invocations"] < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert s["invocations"] == 2 and s["errors"] == {}
    assert s["images"] == {"total": 2, "ok": 2, "rejected": 0, "made_on_request": 0}
    assert 1 <= s["cold_starts"] <= 2 and s["init_ms"]["max"] > 0
    assert 0 < s["duration_ms"]["p50"] <= s["duration_ms"]["p95"] <= s["duration_ms"]["max"]
    assert s["memory_mb"] == 512 and 0 < s["max_memory_used_mb"] <= 512
    assert s["billed_gb_seconds"] > 0 and s["cost_usd"] > 0
    assert s["cost_per_1000_usd"] == pytest.approx(s["cost_usd"] / 2 * 1000, rel=1e-12)
    proc = run_resizer("stats", "--stack", "nosuch", timeout=60)
    assert proc.returncode == 3 and "no stack 'nosuch'" in proc.stderr
