"""`resizer demo` (the README's first command) and the `resizer local` commands' messages."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from PIL import Image


def test_demo_runs_the_pipeline_and_shows_thumbnails_and_logs(emulator, run_resizer,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    proc = run_resizer("demo", "--out", str(out), "--stack", "demo", env={"COLUMNS": "160"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "thumbnails (local copies under" in proc.stdout
    assert "corrupt.jpg" in proc.stdout and "failed" in proc.stdout
    assert "▶ START" in proc.stdout and "● REPORT" in proc.stdout
    assert "Try next" in proc.stderr and "resizer teardown" in proc.stderr
    thumbs = sorted((out / "thumbnails").rglob("*.*"))
    assert len(thumbs) == 8  # 4 good samples x 2 sizes; the corrupt one made none
    for path in thumbs:
        with Image.open(path) as img:
            assert max(img.size) <= 512

    again = run_resizer("demo", "--out", str(out), "--stack", "demo", "--json")
    assert again.returncode == 0, again.stderr  # re-running is safe
    report = json.loads(again.stdout)
    assert report["ok"] is True
    statuses = {Path(r["file"]).name: r["status"] for r in report["results"]}
    assert statuses.pop("corrupt.jpg") == "failed" and set(statuses.values()) == {"ok"}

    status = run_resizer("local", "status", env={"COLUMNS": "160"}, check=True)
    assert "running at" in status.stderr and "demo-thumbnailer" in status.stdout


def test_local_cli_errors_are_one_line(run_resizer, isolated_env) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = run_resizer("local", "start", "--port", str(port))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: port {port} on 127.0.0.1 is already in use (choose another with "
        "`resizer local start --port N`, or omit --port)"
    )
    assert "Traceback" not in proc.stderr

    state = isolated_env / "state" / "emulator.json"
    state.parent.mkdir(exist_ok=True)
    state.write_text(json.dumps({"pid": 999999, "port": 1, "started": 0}))
    proc = run_resizer("local", "status")
    assert proc.returncode == 3
    assert "removed a stale emulator state file (pid 999999 is no longer running)" in proc.stderr
    assert "not running" in proc.stderr and not state.exists()
    assert run_resizer("local", "stop").returncode == 0  # nothing to stop: still fine
