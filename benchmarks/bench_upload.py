"""Upload throughput of resizer's uploader against `aws s3 cp --recursive`, same run, same server.

Two workloads: many small files (500 x 20 KB) and a few large ones (5 x 50 MB, multipart).
Both tools upload to the local emulator (started with `resizer_cli.emulator.control` in a
throw-away RESIZER_HOME, stopped at the end) with their default settings. The uploader runs
with --no-wait semantics: this measures the transfer, not the thumbnailing.

    python benchmarks/bench_upload.py [--small 500] [--large 5] [--large-mb 50] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _make_files(root: Path, count: int, size: int, name: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    block = os.urandom(min(size, 1 << 20))
    for i in range(count):
        with (root / f"{name}{i:04d}.jpg").open("wb") as fh:
            fh.write(b"\xff\xd8\xff\xe0")
            left = size - 4
            while left > 0:
                chunk = block[: min(left, len(block))]
                fh.write(chunk)
                left -= len(chunk)


def _resizer_upload(endpoint: str, bucket: str, folder: Path, prefix: str) -> float:
    from resizer_cli.aws import Target
    from resizer_cli.ops import upload as up
    from resizer_cli.ops.collect import collect
    from resizer_cli.ops.layout import StackLayout
    from resizer_cli.output import Reporter
    from resizer_cli.settings import Settings

    target = Target(Settings(target="local"), endpoint_url=endpoint)
    layout = StackLayout(source_bucket=bucket, dest_bucket=bucket)
    items = collect([str(folder)], prefix=prefix).items
    began = time.perf_counter()
    results = up.run_upload(target, layout, items, up.UploadOptions(wait=False),
                            Reporter.silent()).results
    took = time.perf_counter() - began
    bad = [r for r in results if r.status != "uploaded"]
    if bad:
        raise SystemExit(f"resizer upload failed: {bad[0].error}")
    return took


def _awscli_upload(endpoint: str, bucket: str, folder: Path, prefix: str) -> float:
    from resizer_cli.emulator import control

    conn = control.connection()
    assert conn is not None
    env = {**os.environ, **conn.env(), "AWS_DEFAULT_REGION": conn.region, "AWS_PAGER": ""}
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        env.pop(var, None)
    cmd = [shutil.which("aws") or "aws", "s3", "cp", "--recursive", "--only-show-errors",
           "--endpoint-url", endpoint, str(folder), f"s3://{bucket}/raw/{prefix}/"]
    began = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"aws s3 cp failed: {proc.stderr.strip()[-400:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--small-kb", type=int, default=20)
    parser.add_argument("--large", type=int, default=5)
    parser.add_argument("--large-mb", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=2, help="best of N per tool")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="resizer-bench-upload-"))
    os.environ["RESIZER_HOME"] = str(work / "home")
    from resizer_cli.emulator import control

    try:
        conn = control.ensure_connection()
        endpoint = conn.endpoint
        import boto3

        s3 = boto3.client("s3", **conn.boto3_kwargs())
        bucket = "bench-upload"
        s3.create_bucket(Bucket=bucket)
        workloads = {
            f"{args.small} x {args.small_kb} KB": (work / "small", args.small,
                                                   args.small_kb * 1024),
            f"{args.large} x {args.large_mb} MB": (work / "large", args.large,
                                                   args.large_mb * 1024 * 1024),
        }
        rows: list[tuple[str, str, int, float, float, float]] = []
        for label, (folder, count, size) in workloads.items():
            _make_files(folder, count, size, "f")
            total_mb = count * size / 1e6
            best: dict[str, float] = {}
            for run in range(args.repeat):
                # Alternate who goes first so neither always gets a warm server.
                order = [("resizer", _resizer_upload), ("aws-cli", _awscli_upload)]
                if run % 2:
                    order.reverse()
                for tool, fn in order:
                    took = fn(endpoint, bucket, folder, f"{tool}-{run}-{folder.name}")
                    best[tool] = min(best.get(tool, took), took)
            for tool in ("resizer", "aws-cli"):
                t = best[tool]
                rows.append((label, tool, count, t, total_mb / t, count / t))
        began = time.perf_counter()
        subprocess.run([shutil.which("aws") or "aws", "--version"], capture_output=True)
        startup = time.perf_counter() - began
        print(f"\nupload throughput to the local emulator ({endpoint}), best of {args.repeat}")
        print(f"{'workload':<18} {'tool':<8} {'files':>6} {'seconds':>8} {'MB/s':>8} "
              f"{'files/s':>8} {'vs aws-cli':>10}")
        for label, tool, count, t, mbs, fps in rows:
            ref = next(r[3] for r in rows if r[0] == label and r[1] == "aws-cli")
            print(f"{label:<18} {tool:<8} {count:>6} {t:>8.2f} {mbs:>8.1f} {fps:>8.1f} "
                  f"{ref / t:>9.2f}x")
        print(f"(resizer runs in-process; the aws-cli times include its own start-up, "
              f"{startup:.2f}s for `aws --version`)")
    finally:
        control.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
