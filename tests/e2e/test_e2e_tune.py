"""`resizer tune` on the emulator, through the installed command: one stack for the module.

The emulator gives each worker the CPU share its memory buys (memory/1769 of a core), so a
CPU-bound image is markedly slower at 256 MB than at 1,769 MB. Every test checks that the
memory is what it should be afterwards (GetFunctionConfiguration) and that the sample left
nothing in either bucket.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resizer_cli.ops.demo import photo

CPU_SHARE = True  # the module's emulator gives workers the CPU their memory buys
STACK = "tunes"
FUNCTION = f"{STACK}-thumbnailer"
MEMORY = 512  # setup's default


@pytest.fixture(scope="module")
def stack(emulator_module: Any) -> Iterator[Any]:
    proc = emulator_module.resizer("setup", "--stack", STACK, "--json")
    assert proc.returncode == 0, proc.stderr
    yield emulator_module


@pytest.fixture(scope="module")
def cpu_bound(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A photo-like PNG: no reduced-scale decode, ~150 ms of image work at one core here."""
    path = tmp_path_factory.mktemp("tune") / "landscape-1600x1200.png"
    photo(1600, 1200).save(path, "PNG")
    return path


def _memory(emulator: Any) -> int:
    lam = emulator.client("lambda")
    return int(lam.get_function_configuration(FunctionName=FUNCTION)["MemorySize"])


def _objects(emulator: Any) -> list[str]:
    s3 = emulator.client("s3")
    keys = []
    for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
        if bucket.startswith(f"{STACK}-"):
            keys += [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return keys


def _tune(run_resizer: Any, *args: str, env: dict[str, str] | None = None) -> Any:
    return run_resizer("tune", "--stack", STACK, *args, env=env, timeout=240)


def test_a_cpu_bound_image_is_markedly_slower_at_256_than_at_1769_mb(
    stack: Any, emulator: Any, run_resizer: Any, cpu_bound: Path
) -> None:
    proc = _tune(run_resizer, "--memory", "256,1769", "--runs", "3", "--image", str(cpu_bound),
                 "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    rows = {r["memory_mb"]: r for r in doc["results"]}
    assert set(rows) == {256, 1769}
    for row in rows.values():
        assert row["runs"] == 3 and row["skipped"] is None
        assert row["init_ms"] is not None  # the first invoke after the change was cold
        assert row["duration_ms"] > 0 and row["cost_per_1000_usd"] > 0
    slow, fast = rows[256]["duration_ms"], rows[1769]["duration_ms"]
    assert slow > 2 * fast, (slow, fast)
    assert doc["best"]["memory_mb"] in rows and doc["strategy"] == "balanced"
    assert (doc["original_memory_mb"], doc["memory_mb"], doc["applied"]) == (MEMORY, MEMORY,
                                                                          False)
    assert _memory(emulator) == MEMORY
    assert _objects(emulator) == []


def test_apply_keeps_the_chosen_memory_and_saves_it_for_setup(
    stack: Any, emulator: Any, run_resizer: Any
) -> None:
    proc = _tune(run_resizer, "--memory", "1024", "--runs", "1", "--apply",
                 env={"RESIZER_MEMORY": "2048"})
    assert proc.returncode == 0, proc.stderr
    assert _memory(emulator) == 1024
    saved = next((emulator.home / "state" / "stacks" / STACK).glob("local.*.json"))
    assert json.loads(saved.read_text())["memory"] == 1024
    # The variable would make the next setup put 2048 back: one line says so.
    pins = [ln for ln in proc.stderr.splitlines() if "RESIZER_MEMORY=2048" in ln]
    assert len(pins) == 1 and "setup" in pins[0], proc.stderr
    assert "1024 MB" in proc.stdout + proc.stderr
    assert _objects(emulator) == []
    # Back to the module's starting point for the other tests.
    lam = emulator.client("lambda")
    lam.update_function_configuration(FunctionName=FUNCTION, MemorySize=MEMORY)
    lam.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION)


@pytest.mark.parametrize(("kind", "code"), [("interrupt", 130), ("client_error", 1)])
def test_a_failure_mid_run_puts_the_memory_back(
    stack: Any, emulator: Any, run_resizer: Any, kind: str, code: int
) -> None:
    # The sample's upload, the first size's two invokes, then Ctrl-C (or an AWS error)
    # on the next invoke, while the function is at 1,769 MB.
    fault = {"service": "lambda", "operation": "Invoke", "kind": kind, "after": 2,
             "code": "ServiceException", "message": "Lambda had a bad moment", "status": 500}
    proc = _tune(run_resizer, "--memory", "1024,1769", "--runs", "1",
                 env={"RESIZER_FAULTS": json.dumps([fault])})
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "put the memory back to 512 MB" in proc.stderr
    assert _memory(emulator) == MEMORY
    assert _objects(emulator) == []
