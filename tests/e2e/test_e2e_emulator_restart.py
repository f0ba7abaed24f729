"""Stopping the emulator leaves nothing running and loses its state; setup restores the stack."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
from PIL import Image


def upload_ok(run_resizer, path: Path) -> dict:
    proc = run_resizer("upload", str(path), "--stack", "rs", "--wait", "--timeout", "60",
                       "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.splitlines()[0])
    assert result["status"] == "ok" and len(result["thumbnails"]) == 2
    return result


def test_restart_then_setup_restores_the_stack(emulator, run_resizer, tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    Image.new("RGB", (800, 600), (90, 160, 60)).save(image)
    run_resizer("setup", "--stack", "rs", check=True)
    upload_ok(run_resizer, image)

    server = psutil.Process(emulator.pid)
    workers = server.children(recursive=True)
    assert workers  # the function's warm execution environment
    run_resizer("local", "stop", check=True)
    for proc in [server, *workers]:
        assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE, proc
    assert run_resizer("local", "status").returncode != 0

    start = run_resizer("local", "start", "--json", check=True)
    assert json.loads(start.stdout)["started"] is True
    emulator.track()
    missing = run_resizer("status", "--stack", "rs")
    assert missing.returncode != 0 and "no stack 'rs'" in missing.stderr
    assert "resizer setup" in missing.stderr

    run_resizer("setup", "--stack", "rs", check=True)
    upload_ok(run_resizer, image)
