"""End to end, on the module's own emulator: two `resizer upload` runs of the same keys at
once, and the emulator dying while `upload --wait` waits.

The stack's function is wrapped so that a key containing `slowN` waits N seconds before the
real handler runs: the runs then interleave the same way every time instead of by luck.
The last test stops the emulator; it stays last in this module.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from resizer_cli.aws import LOCAL_ACCOUNT
from resizer_cli.deploy.bundle import handler_source
from resizer_cli.naming import Names

STACK = "races"
NAMES = Names(STACK, LOCAL_ACCOUNT, "us-east-1")
_WRAPPER = '''
import re
import time

from lambda_handler import handler as real


def handler(event, context):
    for record in event.get("Records") or []:
        slow = re.search(r"slow(\\d+)", record["s3"]["object"]["key"])
        if slow:
            time.sleep(int(slow.group(1)))
    return real.handler(event, context)
'''


def _wrapped_bundle() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        src = handler_source()
        for path in sorted(src.rglob("*.py")):
            zf.write(path, f"lambda_handler/{path.relative_to(src).as_posix()}")
        zf.writestr("slow_entry.py", _WRAPPER)
    return buf.getvalue()


@pytest.fixture(scope="module")
def slow_stack(emulator_module: Any) -> Any:
    proc = emulator_module.resizer("setup", "--stack", STACK, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lam = emulator_module.client("lambda")
    name = NAMES.function
    lam.update_function_code(FunctionName=name, ZipFile=_wrapped_bundle())
    lam.update_function_configuration(FunctionName=name, Handler="slow_entry.handler")
    return emulator_module


def _upload(*args: str) -> subprocess.Popen[str]:
    exe = shutil.which("resizer")
    assert exe, "the `resizer` command is not installed"
    return subprocess.Popen([exe, "upload", *args, "--stack", STACK, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ), stdin=subprocess.DEVNULL)


def _docs(stdout: str) -> dict[str, dict[str, Any]]:
    return {d["key"]: d for d in map(json.loads, stdout.splitlines())}


def _wait_until(check: Any, what: str, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout:g}s")


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except s3.exceptions.ClientError:
        return False


def test_the_earlier_of_two_runs_of_the_same_keys_is_superseded(slow_stack: Any, emulator: Any,
                                                                tmp_path: Path) -> None:
    folder = tmp_path / "same"
    folder.mkdir()
    for n in range(3):
        Image.new("RGB", (320, 240), (40 * n, 90, 160)).save(folder / f"slow4-{n}.jpg")
    keys = [f"raw/slow4-{n}.jpg" for n in range(3)]
    s3 = emulator.client("s3")
    bucket = NAMES.source_bucket
    first = _upload(str(folder), "--timeout", "60")
    # The second run starts once the first one's objects are in place: its PUTs overwrite
    # them before the function (4 s behind) reads any.
    _wait_until(lambda: all(_exists(s3, bucket, k) for k in keys), "the first run's uploads")
    second = _upload(str(folder), "--timeout", "60")
    out2, err2 = second.communicate(timeout=120)
    out1, err1 = first.communicate(timeout=120)
    assert second.returncode == 0, err2
    assert all(d["status"] == "ok" and len(d["thumbnails"]) == 2
               for d in _docs(out2).values()), out2
    # Superseded, not timed out, and without failing the earlier run.
    assert first.returncode == 0, err1
    earlier = _docs(out1)
    assert set(earlier) == set(keys)
    for doc in earlier.values():
        assert doc["status"] == "superseded" and doc["error_code"] == "superseded", doc
        assert doc["error"].startswith("superseded by a newer upload of this key")
        assert doc["thumbnails"] == [] and doc["latency_ms"] < 30_000


def test_known_results_survive_the_emulator_dying_mid_wait(slow_stack: Any, emulator: Any,
                                                           run_resizer: Any,
                                                           tmp_path: Path) -> None:
    fast, slow = tmp_path / "fast.jpg", tmp_path / "slow30.jpg"
    for path in (fast, slow):
        Image.new("RGB", (300, 200), (200, 60, 20)).save(path)
    proc = _upload(str(fast), str(slow), "--timeout", "90")
    s3 = emulator.client("s3")
    dest = NAMES.dest_bucket
    _wait_until(lambda: _exists(s3, dest, "results/fast.jpg.json"), "fast.jpg's record")
    time.sleep(1.5)  # more than a polling interval: the run has seen it
    run_resizer("local", "stop", check=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    docs = _docs(out)
    assert docs["raw/fast.jpg"]["status"] == "ok"
    assert len(docs["raw/fast.jpg"]["thumbnails"]) == 2
    pending = docs["raw/slow30.jpg"]
    assert pending["status"] == "uploaded" and pending["etag"]
    assert pending["error_code"] == "wait"
    text = " ".join(err.split())  # whatever the wrapping
    assert text.endswith("for the emulator run `resizer local status`)"), err
    assert text.count("error:") == 1
    assert "error: stopped waiting for results: cannot reach http://127.0.0.1" in text
    assert "Traceback" not in err
