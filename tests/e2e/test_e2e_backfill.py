"""Nothing lost, nothing stale, end to end on the emulator through the installed `resizer`.

One stack for the module, on a brought bucket whose images were put there before `setup`
(so no event ever fired for them). The tests run in order and build on each other: backfill,
a second backfill that sends nothing, a deleted original, a size change with --prune, then an
invocation killed on every attempt, its failure record, `failed` and `retry`.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

STACK = "bfe2e"
BUCKET = "bf-brought-photos"
IMAGES = {
    "raw/a.jpg": ("JPEG", (320, 240)),
    "raw/b.jpg": ("JPEG", (240, 320)),
    "raw/c.png": ("PNG", (300, 200)),
    "raw/sub/d.jpg": ("JPEG", (400, 300)),
    "raw/sub/e.jpg": ("JPEG", (300, 300)),
    "raw/sub/f.jpg": ("JPEG", (200, 100)),
}
HOG = (  # the whole code of the function, as a broken deploy would leave it: killed for memory
    "def handler(event, context):\n"
    "    hog = []\n"
    "    while True:\n"
    "        hog.append(b'x' * (4 << 20))\n"
)


def _encode(fmt: str, size: tuple[int, int], seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (seed * 40 % 256, 120, 200)).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def stack(emulator_module: Any) -> Any:
    s3 = emulator_module.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for seed, (key, (fmt, size)) in enumerate(IMAGES.items()):
        s3.put_object(Bucket=BUCKET, Key=key, Body=_encode(fmt, size, seed))
    s3.put_object(Bucket=BUCKET, Key="raw/broken.jpg", Body=b"\xff\xd8 not a jpeg at all")
    proc = emulator_module.resizer("setup", "--stack", STACK, "--source-bucket", BUCKET,
                                   timeout=600)
    assert proc.returncode == 0, proc.stderr
    return emulator_module


@pytest.fixture
def resizer(run_resizer: Callable[..., Any], emulator: Any, stack: Any) -> Callable[..., Any]:
    def run(*args: str, **kw: Any) -> Any:
        return run_resizer(*args, "--stack", STACK, **kw)

    return run


def _dest(emulator: Any) -> str:
    return next(b["Name"] for b in emulator.client("s3").list_buckets()["Buckets"]
                if b["Name"].startswith(f"{STACK}-thumbs-"))


def _keys(emulator: Any, prefix: str = "") -> set[str]:
    s3 = emulator.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=_dest(emulator), Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def test_backfill_of_a_brought_bucket_then_a_second_run_sends_nothing(resizer, emulator) -> None:
    assert _keys(emulator) == set()  # the images predate the stack: no event ever fired
    proc = resizer("backfill", "--wait", "--json")
    assert proc.returncode == 1, proc.stderr  # broken.jpg is reported as failed
    doc = json.loads(proc.stdout)
    summary = doc["summary"]
    assert (summary["listed"], summary["up_to_date"], summary["sent"]) == (7, 0, 7)
    assert summary["invocations"] == 1 and summary["statuses"] == {"ok": 6, "failed": 1}
    files = {f["key"]: f for f in doc["files"]}
    assert files["raw/broken.jpg"]["error_code"] in ("corrupt", "not_image")
    assert {(t["key"], t["width"], t["height"]) for t in files["raw/sub/f.jpg"]["thumbnails"]
            } == {("thumbnails/128x128/sub/f.jpg", 128, 64),
                  ("thumbnails/512x512/sub/f.jpg", 200, 100)}
    made = _keys(emulator, "thumbnails/")
    assert len(made) == 12 and "thumbnails/512x512/c.png" in made

    again = resizer("backfill", "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)["summary"]
    assert (summary["up_to_date"], summary["sent"], summary["invocations"]) == (7, 0, 0)


def test_a_deleted_original_takes_its_thumbnails_and_record(resizer, emulator) -> None:
    s3 = emulator.client("s3")
    s3.delete_object(Bucket=BUCKET, Key="raw/a.jpg")
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "raw/b.jpg"}]})
    gone = {f"thumbnails/{s}/{n}" for s in ("128x128", "512x512") for n in ("a.jpg", "b.jpg")}
    gone |= {"results/a.jpg.json", "results/b.jpg.json"}
    end = time.monotonic() + 30
    while time.monotonic() < end and _keys(emulator) & gone:
        time.sleep(0.2)
    left = _keys(emulator)
    assert not left & gone
    assert "thumbnails/128x128/c.png" in left and "results/sub/d.jpg.json" in left


def test_a_size_change_is_backfilled_and_prune_removes_the_old_sizes(resizer, emulator) -> None:
    assert resizer("setup", "--sizes", "64x64").returncode == 0
    # First only a folder: the rest keeps its renditions until its turn.
    proc = resizer("backfill", "--prefix", "sub", "--prune", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)["summary"]
    assert (summary["listed"], summary["sent"], summary["pruned"]) == (3, 3, 6)
    assert {k for k in _keys(emulator, "thumbnails/") if "/sub/" in k} == {
        "thumbnails/64x64/sub/d.jpg", "thumbnails/64x64/sub/e.jpg", "thumbnails/64x64/sub/f.jpg"}
    assert "thumbnails/512x512/c.png" in _keys(emulator)

    proc = resizer("backfill", "--prune", "--json")
    assert proc.returncode == 1  # broken.jpg, sent again (new settings), fails again
    summary = json.loads(proc.stdout)["summary"]
    assert (summary["listed"], summary["up_to_date"], summary["sent"]) == (5, 3, 2)
    assert summary["pruned"] == 2
    assert _keys(emulator, "thumbnails/") == {
        "thumbnails/64x64/c.png", "thumbnails/64x64/sub/d.jpg", "thumbnails/64x64/sub/e.jpg",
        "thumbnails/64x64/sub/f.jpg"}


def _hog_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("lambda_handler/__init__.py", "")
        zf.writestr("lambda_handler/handler.py", HOG)
    return buf.getvalue()


def test_an_invocation_killed_on_every_attempt_is_reported_at_once_and_retried(
    resizer, emulator, tmp_path
) -> None:
    lam = emulator.client("lambda")
    function = f"{STACK}-thumbnailer"
    lam.update_function_code(FunctionName=function, ZipFile=_hog_zip())
    lam.update_function_configuration(FunctionName=function, MemorySize=128)
    photo = tmp_path / "hog.jpg"
    photo.write_bytes(_encode("JPEG", (320, 240), 9))

    began = time.monotonic()
    proc = resizer("upload", str(photo), "--timeout", "120", "--json")
    took = time.monotonic() - began
    assert proc.returncode == 1, proc.stderr
    [doc] = [json.loads(line) for line in proc.stdout.splitlines()]
    assert doc["status"] == "failed" and doc["error_code"] == "Runtime.OutOfMemory"
    assert "Runtime exited with error: signal: killed" in doc["error"]
    assert "(3 attempts)" in doc["error"]
    assert took < 60, took  # reported when the record landed, not at the 120 s timeout

    listed = json.loads(resizer("failed", "--json").stdout)
    [entry] = listed["failed"]
    assert (entry["key"], entry["attempts"], entry["error_type"]) == (
        "raw/hog.jpg", 3, "Runtime.OutOfMemory")
    assert entry["record_key"].startswith(f"aws/lambda/async/{function}/")
    assert entry["record_key"] in _keys(emulator, "aws/lambda/async/")

    still = resizer("retry", "--all", "--json")  # still broken: kept
    assert still.returncode == 1
    assert json.loads(still.stdout)["kept"] == 1

    assert resizer("setup").returncode == 0  # puts the real code and memory back
    proc = resizer("retry", "hog.jpg", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    [done] = out["files"]
    assert done["status"] == "ok" and done["thumbnails"][0]["key"] == "thumbnails/64x64/hog.jpg"
    assert out["cleared"] == [entry["record_key"]]
    assert json.loads(resizer("failed", "--json").stdout)["count"] == 0
    assert not _keys(emulator, "aws/lambda/async/")
