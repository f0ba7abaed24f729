"""End to end: the installed `resizer` uploads to a stack on the real emulator, and reads logs.

One stack for the module, set up with `resizer setup` on the module's emulator (the `emulator`
fixtures of tests/e2e/conftest.py start and always stop it). Every command runs as a
subprocess through `run_resizer`.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

Run = Callable[..., subprocess.CompletedProcess[str]]


STACK = "opse2e"


@pytest.fixture(scope="module")
def ops_stack(emulator_module: Any) -> Any:
    """`resizer setup` once for the module, on the module's emulator (tests/e2e/conftest.py)."""
    proc = emulator_module.resizer("setup", "--stack", STACK, timeout=600)
    assert proc.returncode == 0, f"resizer setup failed:\n{proc.stderr}"
    return emulator_module


@pytest.fixture
def resizer(run_resizer: Run, emulator: Any, ops_stack: Any) -> Run:
    def run(*args: str, env: dict[str, str] | None = None, **kw: Any) -> Any:
        return run_resizer(*args, env={"RESIZER_STACK": STACK, **(env or {})}, **kw)

    return run


def _mixed_folder(root: Path) -> Path:
    (root / "nested" / "deeper").mkdir(parents=True)
    Image.new("RGB", (800, 600), (200, 30, 30)).save(root / "a b.jpg", quality=90)
    Image.new("RGBA", (300, 900), (0, 90, 200, 128)).save(root / "c+d.png")
    Image.new("RGB", (640, 480), (20, 160, 40)).save(root / "nested" / "deeper" / "ünï©ødé.jpg")
    good = (root / "a b.jpg").read_bytes()
    (root / "corrupt.jpg").write_bytes(good[: len(good) // 3])  # a truncated JPEG
    return root


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_upload_folder_reports_thumbnails_failure_and_downloads(resizer: Run,
                                                                tmp_path: Path) -> None:
    folder = _mixed_folder(tmp_path / "pics")
    out = tmp_path / "out"
    proc = resizer("upload", str(folder), "--json", "--download", str(out), "--timeout", "90")
    assert proc.returncode == 1, proc.stderr  # the corrupt file fails the run
    docs = {d["key"]: d for d in _lines(proc.stdout)}
    assert set(docs) == {"raw/a b.jpg", "raw/c+d.png", "raw/nested/deeper/ünï©ødé.jpg",
                         "raw/corrupt.jpg"}
    for doc in docs.values():
        assert {"file", "key", "status", "bytes", "etag", "latency_ms", "thumbnails"} <= set(doc)
        assert isinstance(doc["bytes"], int) and doc["etag"] and doc["latency_ms"] >= 0
    bad = docs["raw/corrupt.jpg"]
    assert bad["status"] == "failed" and bad["thumbnails"] == []
    assert bad["error_code"] == "corrupt" and bad["error"]
    expected = {
        "raw/a b.jpg": {("thumbnails/128x128/a b.jpg", 128, 96),
                        ("thumbnails/512x512/a b.jpg", 512, 384)},
        "raw/c+d.png": {("thumbnails/128x128/c+d.png", 43, 128),
                        ("thumbnails/512x512/c+d.png", 171, 512)},
        "raw/nested/deeper/ünï©ødé.jpg": {
            ("thumbnails/128x128/nested/deeper/ünï©ødé.jpg", 128, 96),
            ("thumbnails/512x512/nested/deeper/ünï©ødé.jpg", 512, 384)},
    }
    for key, thumbs in expected.items():
        doc = docs[key]
        assert doc["status"] == "ok", doc
        assert {(t["key"], t["width"], t["height"]) for t in doc["thumbnails"]} == thumbs
        for t in doc["thumbnails"]:
            assert set(t) == {"key", "width", "height", "bytes", "local_path"}
            saved = Path(t["local_path"])
            assert saved == (out / t["key"]).resolve() and saved.stat().st_size == t["bytes"]
            with Image.open(saved) as im:
                assert im.size == (t["width"], t["height"])


def test_upload_human_output_glob_and_reupload_of_the_same_key(resizer: Run,
                                                               tmp_path: Path) -> None:
    src = tmp_path / "glob"
    src.mkdir()
    Image.new("RGB", (1000, 500), "white").save(src / "same.jpg")
    (src / "notes.txt").write_text("not an image")
    proc = resizer("upload", str(src / "*.jpg"), "--prefix", "e2e")
    assert proc.returncode == 0, proc.stderr
    assert "thumbnails/128x128/e2e/same.jpg" in proc.stdout and "128x64" in proc.stdout
    # Same key, new content: the earlier result record must not be taken for this upload.
    Image.new("RGB", (500, 1000), "black").save(src / "same.jpg")
    proc = resizer("upload", str(src / "same.jpg"), "--prefix", "e2e", "--json")
    assert proc.returncode == 0, proc.stderr
    [doc] = _lines(proc.stdout)
    assert {(t["width"], t["height"]) for t in doc["thumbnails"]} == {(64, 128), (256, 512)}
    # Not an image: a warning, uploaded anyway, and the function's verdict reported.
    proc = resizer("upload", str(src / "notes.txt"), "--json")
    assert proc.returncode == 1
    assert "does not look like an image" in proc.stderr
    [doc] = _lines(proc.stdout)
    assert doc["status"] == "failed" and doc["error"]


def test_upload_no_wait_and_user_errors(resizer: Run, tmp_path: Path) -> None:
    f = tmp_path / "x.jpg"
    Image.new("RGB", (50, 50)).save(f)
    proc = resizer("upload", str(f), "--no-wait", "--json")
    assert proc.returncode == 0
    [doc] = _lines(proc.stdout)
    assert doc["status"] == "uploaded" and doc["thumbnails"] == [] and doc["latency_ms"] is None
    proc = resizer("upload", str(tmp_path / "missing.jpg"))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'missing.jpg'}: no such file or folder (check the path)"]
    proc = resizer("upload", str(f), "--stack", "nostack")
    assert proc.returncode == 3 and "resizer setup" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = resizer("logs", "--stack", "nostack")
    assert proc.returncode == 3 and "resizer setup" in proc.stderr


def test_upload_skips_what_is_not_a_file_and_links_leading_out(resizer: Run,
                                                               tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    root.mkdir()
    Image.new("RGB", (400, 300), (20, 90, 200)).save(root / "ok.jpg")
    outside = tmp_path / "private.jpg"
    Image.new("RGB", (40, 30)).save(outside)
    os.mkfifo(root / "pipe.jpg")  # once hung `upload` forever
    (root / "dead.jpg").symlink_to("gone.jpg")
    (root / "loop").symlink_to("loop")
    (root / "out.jpg").symlink_to(outside)
    proc = resizer("upload", str(root), "--json", "--timeout", "60", timeout=120)
    assert proc.returncode == 0, proc.stderr  # skipping on purpose is not failing
    docs = {Path(d["file"]).name: d for d in _lines(proc.stdout)}
    assert docs["ok.jpg"]["status"] == "ok" and len(docs["ok.jpg"]["thumbnails"]) == 2
    assert {n: (d["status"], d["error_code"]) for n, d in docs.items() if n != "ok.jpg"} == {
        "pipe.jpg": ("skipped", "fifo"), "dead.jpg": ("skipped", "broken_link"),
        "loop": ("skipped", "link_loop"), "out.jpg": ("skipped", "link_outside")}
    text = " ".join(proc.stderr.split())
    assert f"warning: skipped {root / 'out.jpg'}: a link to {outside}" in text
    assert "--follow-links" in text and "check its permissions" not in text
    proc = resizer("upload", str(root), "--follow-links", "--no-wait", "--json")
    assert proc.returncode == 0, proc.stderr
    assert {d["key"] for d in _lines(proc.stdout) if d["status"] == "uploaded"} == {
        "raw/ok.jpg", "raw/out.jpg"}
    proc = resizer("upload", str(root / "*" / ".." / "ok.jpg"))
    assert proc.returncode == 1 and "'..' after a wildcard" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2 and "Traceback" not in proc.stderr


def test_demo_into_an_unwritable_place_fails_first_in_one_line(resizer: Run,
                                                               tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = resizer("demo", "--out", str(blocker / "out"))
    assert proc.returncode == 1
    # Before the emulator, the setup or the samples: nothing else was printed.
    assert " ".join(proc.stderr.split()) == (
        f"error: cannot write to --out {blocker / 'out'}: Not a directory "
        "(choose a folder you can write to)")


def test_logs_show_invocations_and_follow_stops_cleanly(resizer: Run, tmp_path: Path) -> None:
    f = tmp_path / "logme.jpg"
    Image.new("RGB", (300, 200)).save(f)
    assert resizer("upload", str(f)).returncode == 0
    proc = resizer("logs", "--since", "10m", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    events = _lines(proc.stdout)
    types = {e["type"] for e in events}
    assert {"start", "end", "report"} <= types
    report = next(e for e in events if e["type"] == "report")
    assert report["duration_ms"] > 0 and report["memory_mb"] > 0
    assert any("logme.jpg" in e["message"] for e in events)
    proc = resizer("logs", "--filter", "logme", "--since", "1h")
    assert proc.returncode == 0 and "logme.jpg" in proc.stdout and "REPORT" not in proc.stdout
    proc = resizer("logs", "--since", "last tuesday")
    assert proc.returncode == 2 and "cannot read --since" in proc.stderr  # a usage mistake
    # Follow until "Ctrl-C" (injected on the third poll): exit 0, no traceback, no repeats.
    faults = [{"service": "logs", "operation": "FilterLogEvents", "kind": "interrupt",
               "after": 2}]
    proc = resizer("logs", "--follow", "--since", "10m", "--format", "json",
                   env={"RESIZER_FAULTS": json.dumps(faults)})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    followed = _lines(proc.stdout)
    ids = [e["event_id"] for e in followed]
    assert len(ids) == len(set(ids)) and len(ids) >= len(events)
