"""Peak memory of the local emulator while it stores and serves one large object.

Uploads one object of --mb MB (default 1024) as a single PutObject and as a multipart upload
(s3transfer, 64 MB parts, 4 at a time), downloads it back (ranged GETs), and prints, per step,
the emulator server's peak RSS (VmHWM, reset before each step), its RSS afterwards, and the
peak as a fraction of the object size. Bodies past 8 MB are kept on disk, so the peak should
not grow with the object.

    python benchmarks/bench_emulator_memory.py [--mb 1024]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import psutil
from boto3.s3.transfer import TransferConfig
from rich.console import Console
from rich.table import Table

MB = 2**20


def _peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM to the current RSS


def _rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / MB


def _make_file(path: Path, size_mb: int) -> None:
    block = os.urandom(MB)
    with open(path, "wb") as fh:
        for i in range(size_mb):
            fh.write(block[i % 251:] + block[: i % 251])  # no two blocks alike


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="object size in MB")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="resizer-bench-memory-"))
    os.environ["RESIZER_HOME"] = str(work / "home")
    from resizer_cli.emulator import control

    console = Console(stderr=True)
    rows: list[tuple[str, float, float, float]] = []
    try:
        source = work / "object.bin"
        console.print(f"writing a {args.mb} MB file …")
        _make_file(source, args.mb)
        conn = control.ensure_connection()
        state = control.read_state()
        assert state is not None
        pid = state.pid
        s3 = boto3.client("s3", **conn.boto3_kwargs())
        s3.create_bucket(Bucket="bench-memory")
        idle = _rss_mb(pid)
        parts = TransferConfig(multipart_threshold=64 * MB, multipart_chunksize=64 * MB,
                               max_concurrency=4)

        def single() -> None:
            with open(source, "rb") as fh:
                s3.put_object(Bucket="bench-memory", Key="single.bin", Body=fh)

        def multipart() -> None:
            s3.upload_file(str(source), "bench-memory", "multipart.bin", Config=parts)

        def download() -> None:
            s3.download_file("bench-memory", "multipart.bin", str(work / "back.bin"),
                             Config=parts)

        steps: list[tuple[str, Callable[[], None]]] = [
            ("PutObject (one request)", single), ("multipart upload", multipart),
            ("download (ranged GETs)", download)]
        for label, step in steps:
            console.print(f"{label} …")
            _reset_peak(pid)
            began = time.perf_counter()
            step()
            took = time.perf_counter() - began
            rows.append((label, took, _peak_mb(pid), _rss_mb(pid)))
        if (work / "back.bin").stat().st_size != source.stat().st_size:
            raise SystemExit("the downloaded object differs in size from the upload")
    finally:
        control.stop()
        shutil.rmtree(work, ignore_errors=True)

    table = Table(title=f"emulator server memory for one {args.mb} MB object "
                        f"(idle RSS {idle:.0f} MB)")
    for col in ("step", "seconds", "MB/s", "peak RSS MB", "RSS after MB", "peak / object"):
        table.add_column(col, justify="left" if col == "step" else "right")
    for label, took, peak, after in rows:
        table.add_row(label, f"{took:.1f}", f"{args.mb / took:.0f}", f"{peak:.0f}",
                      f"{after:.0f}", f"{peak / args.mb:.2f}")
    Console(width=120).print(table)


if __name__ == "__main__":
    sys.exit(main())
