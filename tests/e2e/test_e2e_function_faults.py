"""Functions that misbehave, on a stack deployed with `resizer setup`, seen through the CLI.

One stack for the module. Each test swaps the deployed function's code or configuration with
boto3 (as a broken deploy would), uploads with `resizer upload --no-wait` so the S3 event
invokes it asynchronously, and checks what `resizer logs` and `resizer local status` report.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from resizer_cli.layer import build_layer

STACK = "faults"
FUNCTION = "faults-thumbnailer"


@pytest.fixture(scope="module")
def stack(emulator_module) -> Iterator[Any]:
    proc = emulator_module.resizer("setup", "--stack", STACK, "--json")
    assert proc.returncode == 0, proc.stderr
    yield emulator_module


@pytest.fixture
def fn(stack, emulator) -> dict[str, Any]:
    lam = emulator.client("lambda")
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    name = next(n for n in names if n.startswith(STACK))
    return {"name": name, "lambda": lam, "config": lam.get_function_configuration(
        FunctionName=name)}


def handler_zip(code: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("lambda_handler/__init__.py", "")
        zf.writestr("lambda_handler/handler.py", code)
    return buf.getvalue()


def upload_one(run_resizer, tmp_path: Path, name: str) -> str:
    """Upload an image without waiting; returns the ISO time to read logs from."""
    since = datetime.now(UTC).isoformat(timespec="milliseconds")
    path = tmp_path / name
    Image.new("RGB", (320, 240), (10, 120, 200)).save(path)
    proc = run_resizer("upload", str(path), "--stack", STACK, "--no-wait")
    assert proc.returncode == 0, proc.stderr
    return since


def wait_messages(emulator, name: str, since: str, predicate, timeout: float = 60) -> None:
    logs = emulator.client("logs")
    start_ms = int(datetime.fromisoformat(since).timestamp() * 1000)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}",
                                        startTime=start_ms)["events"]
        if predicate([e["message"] for e in events]):
            return
        time.sleep(0.2)
    raise AssertionError("the expected log lines did not arrive")


def cli_logs(run_resizer, since: str) -> list[str]:
    proc = run_resizer("logs", "--stack", STACK, "--format", "json", "--since", since,
                       check=True)
    return [json.loads(line)["message"] for line in proc.stdout.splitlines() if line.strip()]


def fn_status(run_resizer, name: str) -> dict[str, Any]:
    info = json.loads(run_resizer("local", "status", "--json", check=True).stdout)
    found = [f for f in info["functions"] if f["name"] == name]
    return found[0] if found else {"async_failed": 0, "retries": 0}


def count(messages: list[str], prefix: str) -> int:
    return sum(m.startswith(prefix) for m in messages)


def test_a_raising_handler_is_retried_twice_then_reported(fn, emulator, run_resizer,
                                                          tmp_path: Path) -> None:
    fn["lambda"].update_function_code(FunctionName=fn["name"], ZipFile=handler_zip(
        "def handler(event, context):\n"
        "    print('processing', event['Records'][0]['s3']['object']['key'])\n"
        "    raise RuntimeError('storage is flaky today')\n"
    ))
    before = fn_status(run_resizer, fn["name"])
    since = upload_one(run_resizer, tmp_path, "raise.jpg")
    wait_messages(emulator, fn["name"], since, lambda m: count(m, "REPORT") >= 3)
    time.sleep(0.8)  # longer than the next retry delay would be: no fourth attempt
    messages = cli_logs(run_resizer, since)
    starts = [m for m in messages if m.startswith("START")]
    assert len(starts) == 3 and len(set(starts)) == 1  # the same request id, three times
    errors = [m for m in messages if m.startswith("[ERROR] RuntimeError: storage is flaky")]
    assert len(errors) == 3
    after = fn_status(run_resizer, fn["name"])
    assert after["async_failed"] == before["async_failed"] + 1
    assert after["retries"] == before["retries"] + 2


def test_a_handler_that_times_out_is_killed_and_reported(fn, emulator, run_resizer,
                                                         tmp_path: Path) -> None:
    fn["lambda"].update_function_code(FunctionName=fn["name"], ZipFile=handler_zip(
        "import time\n"
        "def handler(event, context):\n"
        "    print('sleeping')\n"
        "    time.sleep(30)\n"
    ))
    fn["lambda"].update_function_configuration(FunctionName=fn["name"], Timeout=1)
    since = upload_one(run_resizer, tmp_path, "slow.jpg")
    wait_messages(emulator, fn["name"], since,
                  lambda m: sum("Task timed out" in x for x in m) >= 3)
    messages = cli_logs(run_resizer, since)
    timeouts = [m for m in messages if re.search(r" Task timed out after 1\.00 seconds$", m)]
    assert len(timeouts) == 3
    assert all("Duration: 1000.00 ms" in m for m in messages if m.startswith("REPORT"))
    assert fn_status(run_resizer, fn["name"])["timeouts"] >= 3


def test_a_handler_over_its_memory_size_is_killed_with_lambdas_report(
    fn, emulator, run_resizer, tmp_path: Path
) -> None:
    fn["lambda"].update_function_code(FunctionName=fn["name"], ZipFile=handler_zip(
        "def handler(event, context):\n"
        "    hog = []\n"
        "    while True:\n"
        "        hog.append(b'x' * (4 * 1024 * 1024))\n"
    ))
    fn["lambda"].update_function_configuration(FunctionName=fn["name"], MemorySize=128,
                                               Timeout=20)
    since = upload_one(run_resizer, tmp_path, "hog.jpg")
    wait_messages(emulator, fn["name"], since,
                  lambda m: m.count("Runtime.OutOfMemory") >= 3)
    messages = cli_logs(run_resizer, since)
    reports = [m for m in messages if m.startswith("REPORT")]
    assert len(reports) == 3
    assert all("Memory Size: 128 MB\tMax Memory Used: 128 MB" in r for r in reports)
    killed = [m for m in messages if m.endswith("Error: Runtime exited with error: signal: killed")]
    assert len(killed) == 3
    assert fn_status(run_resizer, fn["name"])["out_of_memory"] >= 3


def test_a_layer_for_the_wrong_python_fails_to_import_then_setup_repairs_it(
    fn, emulator, run_resizer, tmp_path: Path
) -> None:
    local = fn["config"]["Runtime"]
    other = "python3.13" if local != "python3.13" else "python3.12"
    wrong = build_layer(other, "x86_64", local=False)
    arn = fn["lambda"].publish_layer_version(
        LayerName="pillow-wrong-abi", Content={"ZipFile": wrong.path.read_bytes()},
        CompatibleRuntimes=[other],
    )["LayerVersionArn"]
    run_resizer("setup", "--stack", STACK, check=True)  # the real handler code back
    fn["lambda"].update_function_configuration(FunctionName=fn["name"], Layers=[arn])
    since = upload_one(run_resizer, tmp_path, "abi.jpg")
    wait_messages(emulator, fn["name"], since,
                  lambda m: sum("Runtime.ImportModuleError" in x for x in m) >= 3)
    messages = cli_logs(run_resizer, since)
    errors = [m for m in messages if m.startswith("[ERROR] Runtime.ImportModuleError")]
    assert errors and errors[0].startswith(
        "[ERROR] Runtime.ImportModuleError: Unable to import module 'lambda_handler.handler': "
    )
    assert "PIL" in errors[0] or "_imaging" in errors[0]
    last = fn_status(run_resizer, fn["name"])["last_error"]
    assert last.startswith("Runtime.ImportModuleError: Unable to import module")

    # `resizer setup` sees the drift (layer, code) and puts the deployed stack right again.
    run_resizer("setup", "--stack", STACK, check=True)
    good = tmp_path / "good.jpg"
    Image.new("RGB", (640, 480), (200, 40, 40)).save(good)
    proc = run_resizer("upload", str(good), "--stack", STACK, "--wait", "--timeout", "60",
                       "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout.splitlines()[0])["status"] == "ok"
