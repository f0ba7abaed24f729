"""The CPU share each memory size gets in the emulator, by each mechanism available here.

For each memory size, runs a CPU-bound loop (about --cpu seconds of CPU at full speed) in a real
emulator worker (our Runtime driven in-process, as tests/emulator do) and prints: the target
share (memory/1769 cores, capped at six and at this machine's CPUs), the share achieved (the
worker's CPU seconds over wall seconds), the REPORT duration, the cold start's REPORT init
duration, and the slowdown against the same loop with the CPU share off, measured in the same
run. The loop is one thread, so above 1,769 MB it cannot use more than one core, as on Lambda.

    python benchmarks/bench_cpu_share.py [--cpu 0.2] [--memory 128,256,512,1024,1769,3008,10240]
        [--mechanism cgroup,duty-cycle]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

LOOP = """
import time

def handler(event, context):
    cpu, wall = time.process_time(), time.perf_counter()
    n = 0
    for _ in range(event["n"]):
        n += 1
    return {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}
"""


class _NullSink:
    def create_stream(self, *args: Any) -> None:
        pass

    def put(self, *args: Any) -> None:
        pass


def _spec(memory_mb: int, code: bytes) -> Any:
    from resizer_cli.emulator.runtime import FunctionSpec

    return FunctionSpec(
        account="123456789012", region="us-east-1", name=f"loop{memory_mb}",
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:loop{memory_mb}",
        version="$LATEST", handler="app.handler",
        runtime=f"python{sys.version_info[0]}.{sys.version_info[1]}", memory_mb=memory_mb,
        timeout_s=300, env={}, code_sha256=f"loop{memory_mb}", layer_arns=(),
        code=lambda: code, layer_code=lambda arn: b"",
    )


def _field(tail: str, name: str) -> float:
    match = re.search(rf"REPORT .*\t{name}: ([\d.]+) ms", tail)
    return float(match.group(1)) if match else float("nan")


class Bench:
    """One Runtime with one CPU share setting, kept for the whole run (its workers stay warm)."""

    def __init__(self, setting: str, work: Path) -> None:
        from resizer_cli.emulator.runtime import Runtime

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("app.py", LOOP)
        self.code = buf.getvalue()
        self.runtime = Runtime(work / setting, "http://127.0.0.1:9", _NullSink(),
                               cpu_share=setting)
        self.info = self.runtime.status()["cpu_share"]
        self.label = self.info.get("detail", "").split(" /")[0] if self.info["mechanism"] == \
            "cgroup" else self.info["mechanism"]

    def run(self, memory: int, n: int) -> dict[str, Any]:
        cold = self.runtime.invoke(_spec(memory, self.code), json.dumps({"n": 1}))
        result = self.runtime.invoke(_spec(memory, self.code), json.dumps({"n": n}))
        out = json.loads(result.payload)
        return {"memory": memory, "cpu": out["cpu"], "wall": out["wall"],
                "report_ms": _field(result.log_tail, "Duration"),
                "init_ms": _field(cold.log_tail, "Init Duration")}

    def close(self) -> None:
        self.runtime.shutdown()


def _calibrate(seconds: float) -> int:
    """How many turns of the loop take `seconds` of CPU here, timed by the loop itself."""
    namespace: dict[str, Any] = {}
    exec(LOOP, namespace)
    took = min(namespace["handler"]({"n": 1_000_000}, None)["cpu"] for _ in range(3))
    return int(1_000_000 * seconds / max(took, 1e-6))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", type=float, default=0.2,
                        help="CPU seconds of the loop at full speed")
    parser.add_argument("--memory", default="128,256,512,1024,1769,3008,10240")
    parser.add_argument("--mechanism", default="cgroup,duty-cycle",
                        help="which to measure (each is skipped where it is not available)")
    args = parser.parse_args()
    sizes = [int(m) for m in args.memory.split(",")]

    from resizer_cli.emulator.cpushare import machine_cpus, share_cores

    console = Console(stderr=True)
    work = Path(tempfile.mkdtemp(prefix="resizer-bench-cpu-"))
    n = _calibrate(args.cpu)
    benches: list[Bench] = []
    rows: list[tuple[Bench, dict[str, Any], dict[str, Any]]] = []
    free = Bench("0", work)
    try:
        for mechanism in args.mechanism.split(","):
            bench = Bench(mechanism, work)
            if bench.info["mechanism"] != mechanism:
                console.print(f"{mechanism} is not available here: "
                              f"{bench.info.get('note', '')}")
                bench.close()
                continue
            benches.append(bench)
        for memory in sizes:
            for bench in benches:
                console.print(f"{memory} MB, {bench.label} …")
                # The unthrottled loop right before: what this machine gives one thread now.
                rows.append((bench, free.run(memory, n), bench.run(memory, n)))
    finally:
        for bench in benches:
            bench.close()
        free.close()
        shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()[0]
    table = Table(title=f"CPU share by memory size ({machine_cpus()} CPUs here, load "
                        f"{load:.1f}; a one-thread loop of {args.cpu:.2f} CPU s)")
    for col in ("mechanism", "memory MB", "target cores", "achieved cores", "achieved/target",
                "REPORT ms", "init ms", "off: cores", "off: REPORT ms", "slowdown"):
        table.add_column(col, justify="left" if col == "mechanism" else "right")
    for bench, off, row in sorted(rows, key=lambda r: (r[0].label, r[2]["memory"])):
        target = share_cores(row["memory"])
        achieved = row["cpu"] / row["wall"]
        table.add_row(bench.label, str(row["memory"]), f"{target:.3f}", f"{achieved:.3f}",
                      f"{achieved / min(target, 1.0):.2f}", f"{row['report_ms']:.0f}",
                      f"{row['init_ms']:.0f}", f"{off['cpu'] / off['wall']:.2f}",
                      f"{off['report_ms']:.0f}", f"{row['wall'] / off['wall']:.1f}x")
    Console(width=150).print(table)
    console.print("achieved/target compares with min(target, 1): one thread uses one core at "
                  "most; 'off' is the same loop with the CPU share off, run just before")


if __name__ == "__main__":
    sys.exit(main())
