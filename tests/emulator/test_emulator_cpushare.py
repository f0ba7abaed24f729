"""CPU follows memory: the share a memory size buys, the duty cycle and cgroup at work on a real
worker (our Runtime driven in-process), workers never left paused, and the off switch.

Timing checks compare ratios measured in the same test, loosely: the machine is shared.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from resizer_cli.cli import app
from resizer_cli.emulator import control, cpushare
from resizer_cli.emulator.cpushare import CpuShare, init_cores, parse_setting, share_cores
from resizer_cli.emulator.runtime import FunctionSpec, Runtime
from resizer_cli.errors import ResizerError

# A fixed CPU loop; the handler reports its own CPU and wall time.
LOOP = """
import time

def handler(event, context):
    cpu, wall = time.process_time(), time.perf_counter()
    n = 0
    for _ in range(event["n"]):
        n += 1
    if event.get("forever"):
        while True:
            n += 1
    return {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}
"""
N = 2_000_000  # about 0.06 s of CPU here


class NoLogs:
    def create_stream(self, *args: Any) -> None:
        pass

    def put(self, *args: Any) -> None:
        pass


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", LOOP)
    return buf.getvalue()


def spec(memory_mb: int, timeout_s: float = 30) -> FunctionSpec:
    code = _zip()
    return FunctionSpec(
        account="123456789012", region="us-east-1", name=f"loop{memory_mb}",
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:loop{memory_mb}",
        version="$LATEST", handler="app.handler",
        runtime=f"python{sys.version_info[0]}.{sys.version_info[1]}", memory_mb=memory_mb,
        timeout_s=timeout_s, env={}, code_sha256=f"loop{memory_mb}", layer_arns=(),
        code=lambda: code, layer_code=lambda arn: b"",
    )


@contextlib.contextmanager
def runtime(tmp_path: Path, setting: str) -> Iterator[Runtime]:
    rt = Runtime(tmp_path / setting, "http://127.0.0.1:9", NoLogs(), cpu_share=setting)
    try:
        yield rt
    finally:
        rt.shutdown()


def run_loop(rt: Runtime, memory_mb: int, n: int = N) -> tuple[float, float, float]:
    """(CPU s, wall s, REPORT duration s) of one warm run of the loop."""
    rt.invoke(spec(memory_mb), json.dumps({"n": 1}))  # cold start first: init is not measured
    result = rt.invoke(spec(memory_mb), json.dumps({"n": n}))
    assert result.error_type is None, result.payload
    out = json.loads(result.payload)
    report = re.search(r"REPORT .*\tDuration: ([\d.]+) ms", result.log_tail)
    assert report is not None, result.log_tail
    return out["cpu"], out["wall"], float(report.group(1)) / 1000


def state(pid: int) -> str:
    """The process state letter from /proc (T: stopped), '' once it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            letter = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""
    return "" if letter in ("Z", "X") else letter


def wait_for(predicate: Any, timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def test_the_share_memory_buys_capped_at_six_cores_and_the_machine() -> None:
    assert share_cores(1769, cpus=8) == 1.0
    assert share_cores(128, cpus=8) == pytest.approx(0.0724, abs=1e-4)
    assert share_cores(512, cpus=8) == pytest.approx(0.289, abs=1e-3)
    assert share_cores(10240, cpus=64) == pytest.approx(5.79, abs=0.01)
    assert share_cores(20480, cpus=64) == 6.0  # Lambda's maximum
    assert share_cores(10240, cpus=2) == 2.0  # never more than this machine has
    assert share_cores(3008, cpus=1) == 1.0
    # Init gets at least half a core (our choice), but never more than the machine.
    assert init_cores(128, cpus=8) == 0.5
    assert init_cores(3008, cpus=8) == share_cores(3008, cpus=8)
    assert init_cores(128, cpus=1) == 0.5
    assert [parse_setting(v) for v in (None, "", "1", "on", "0", "off", "duty-cycle",
                                       "cgroup", "bogus")] == [
        "on", "on", "on", "on", "off", "off", "duty-cycle", "cgroup", "on"]


def test_a_small_worker_under_the_duty_cycle_gets_about_its_share(tmp_path: Path) -> None:
    with runtime(tmp_path, "0") as free:
        assert free.status()["cpu_share"] == {"enabled": False, "mechanism": "off",
                                              "cpus": cpushare.machine_cpus()}
        _, free_wall, _ = run_loop(free, 128)
    with runtime(tmp_path, "duty-cycle") as rt:
        assert rt.status()["cpu_share"]["mechanism"] == "duty-cycle"
        cpu, wall, report = run_loop(rt, 128)
    target = share_cores(128)
    assert cpu / wall < 3 * target, (cpu, wall, target)
    assert wall >= 2 * free_wall, (wall, free_wall)
    assert report == pytest.approx(wall, rel=0.2, abs=0.02)  # REPORT shows the slow time


def test_the_cgroup_quota_where_one_can_be_made(tmp_path: Path) -> None:
    with runtime(tmp_path, "cgroup") as rt:
        info = rt.status()["cpu_share"]
        if info["mechanism"] != "cgroup":
            pytest.skip(f"no usable cgroup here: {info.get('note')}")
        group = Path(info["detail"].split(" ", 2)[2])
        assert group.is_dir()
        cpu, wall, _ = run_loop(rt, 128)
    assert cpu / wall < 3 * share_cores(128), (cpu, wall)
    assert wait_for(lambda: not group.exists()), "the emulator's cgroup was left behind"


def test_a_paused_worker_is_resumed_on_detach_and_on_close() -> None:
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        share = CpuShare("duty-cycle")
        share.attach(spinner.pid, 128)
        share.init_done(spinner.pid)  # 0.07 core: paused even on a busy machine
        assert wait_for(lambda: state(spinner.pid) == "T"), "the duty cycle never paused it"
        share.detach(spinner.pid)
        assert wait_for(lambda: state(spinner.pid) in ("R", "S"))
        time.sleep(0.1)
        assert state(spinner.pid) != "T"  # and it stays resumed
        share.attach(spinner.pid, 128)
        share.init_done(spinner.pid)
        assert wait_for(lambda: state(spinner.pid) == "T")
        share.close()
        assert wait_for(lambda: state(spinner.pid) in ("R", "S"))
    finally:
        spinner.kill()
        spinner.wait()


def test_a_throttled_worker_is_never_left_paused_by_a_timeout_or_a_shutdown(
    tmp_path: Path,
) -> None:
    with runtime(tmp_path, "duty-cycle") as rt:
        result = rt.invoke(spec(128, timeout_s=1), json.dumps({"n": 1, "forever": True}))
        assert result.error_type == "Sandbox.Timedout"
        assert rt.worker_pids() == []

        done: list[Any] = []
        thread = threading.Thread(target=lambda: done.append(
            rt.invoke(spec(128), json.dumps({"n": 1, "forever": True}))))
        thread.start()
        assert wait_for(lambda: any(state(p) == "T" for p in rt.worker_pids()))
        [pid] = rt.worker_pids()
        rt.shutdown()  # what `resizer local stop` does
        thread.join(10)
        assert not thread.is_alive(), "the invocation hung on a paused worker"
        assert wait_for(lambda: state(pid) == ""), "the worker outlived the emulator"


def test_the_off_switch_flag_and_status(tmp_path: Path, run_resizer: Any) -> None:
    started = run_resizer("local", "start", "--no-cpu-share", "--json", check=True)
    try:
        assert json.loads(started.stdout)["started"] is True
        status = control.status()
        assert status is not None
        assert status["cpu_share"] == {"enabled": False, "mechanism": "off",
                                       "cpus": cpushare.machine_cpus()}
        human = CliRunner().invoke(app, ["local", "status"])
        assert human.exit_code == 0 and "CPU share off" in human.output
        with pytest.raises(ResizerError, match="already running with CPU share off"):
            control.start(cpu_share=True)
        assert control.start(cpu_share=False)[1] is False  # the same setting: nothing to do
    finally:
        control.stop()
