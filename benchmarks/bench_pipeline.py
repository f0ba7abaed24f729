"""The local pipeline end to end: S3 upload → event → our Lambda runtime → thumbnails.

Measured in one run, on the same images, with the same number of processes:

1. pipeline: upload N images (default 200) to the source bucket of a stack deployed on the
   emulator, with the function's reserved concurrency set to P processes (1, then the CPU
   count; the moto server and the uploader run on the same cores as the P workers);
   throughput in images/s (first PUT to last result record) and latency from each PUT's
   completion to its result record (p50, p95).
2. direct: `lambda_handler.thumbnail.make_thumbnails` on the same bytes and sizes in a
   multiprocessing pool of P processes (no S3, no Lambda), measured just before and just after
   the pipeline and averaged. Target: pipeline ≥ 80 % of this.
3. warm overhead of the runtime per invocation, for a no-op handler: our Runtime called
   in-process (worker IPC + CloudWatch lines), a full `lambda.invoke` over HTTP through moto,
   and, for contrast, a fresh `python -I -S` subprocess per invocation. Target: < 15 ms.

    python benchmarks/bench_pipeline.py [--images 200] [--procs 2] [--invokes 200]

The emulator runs in a throw-away RESIZER_HOME and is stopped at the end; the layer cache is
the usual one (RESIZER_CACHE_DIR or the user cache), so only the first run builds the layer.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import platformdirs
from PIL import Image, ImageDraw, ImageFilter
from rich.console import Console
from rich.table import Table

SIZES = ((128, 128), (512, 512))


def _photo(seed: int, width: int, height: int, fmt: str) -> bytes:
    base = Image.linear_gradient("L").rotate(seed * 37 % 360).resize((width, height))
    noise = Image.effect_noise((width // 4, height // 4), 30 + seed % 20).resize((width, height))
    img = Image.merge("RGB", (base, noise, Image.blend(base, noise, 0.5)))
    draw = ImageDraw.Draw(img)
    for i in range(12):
        x, y = (seed * 97 + i * 131) % width, (seed * 61 + i * 89) % height
        draw.ellipse((x, y, x + width // 6, y + height // 6), fill=(i * 20, 255 - i * 15, 90))
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    buf = io.BytesIO()
    if fmt == "PNG":
        img.resize((width // 2, height // 2)).save(buf, "PNG")
    else:
        img.save(buf, "JPEG", quality=88)
    return buf.getvalue()


def make_images(count: int, width: int = 2400, height: int = 1600) -> list[tuple[str, bytes]]:
    """Realistic uploads: mostly JPEG photos, some PNGs, each one different."""
    images = []
    for i in range(count):
        fmt = "PNG" if i % 8 == 7 else "JPEG"
        ext = "png" if fmt == "PNG" else "jpg"
        images.append((f"img{i:04d}.{ext}", _photo(i, width, height, fmt)))
    return images


# -- direct baseline --------------------------------------------------------------------------

def _direct_one(data: bytes) -> int:
    from lambda_handler.thumbnail import make_thumbnails

    return len(make_thumbnails(data, SIZES))


def direct(images: list[tuple[str, bytes]], procs: int) -> float:
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        pool.map(_direct_one, [images[0][1]] * procs)  # warm up the processes
        began = time.perf_counter()
        pool.map(_direct_one, [data for _, data in images], chunksize=1)
        return len(images) / (time.perf_counter() - began)


# -- pipeline -----------------------------------------------------------------------------------

def _iso_ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def pipeline(
    target: Any, images: list[tuple[str, bytes]], procs: int, tag: str
) -> dict[str, float]:
    from resizer_cli.emulator import control
    from resizer_cli.ops.layout import stack_layout

    names = target.names
    layout = stack_layout(target)
    lam = target.client("lambda")
    lam.put_function_concurrency(FunctionName=names.function, ReservedConcurrentExecutions=procs)
    s3 = target.client("s3")
    # Warm the execution environments, as a steady stream of uploads would have.
    warm = [s3.put_object(Bucket=layout.source_bucket, Key=f"raw/warm/{i}.jpg",
                          Body=images[0][1]) for i in range(procs)]
    assert warm
    control.drain(120)

    put_done: dict[str, float] = {}

    def put(item: tuple[str, bytes]) -> None:
        key = f"raw/bench-{tag}/{item[0]}"
        s3.put_object(Bucket=layout.source_bucket, Key=key, Body=item[1])
        put_done[key] = time.time()

    began = time.time()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, images))
    if not control.drain(600):
        raise SystemExit("the emulator did not finish the invocations within 10 minutes")
    latencies, ends, handler_ms, failed = [], [], [], 0
    for key, done in put_done.items():
        record_key = layout.record_key(key)
        record = json.loads(s3.get_object(Bucket=layout.dest_bucket, Key=record_key)["Body"]
                            .read())
        if record.get("status") != "ok":
            failed += 1
        handler_ms.append(float(record.get("ms") or 0))
        end = _iso_ms(record["time"])
        ends.append(end)
        latencies.append((end - done) * 1000)
    latencies.sort()
    return {
        "throughput": len(images) / (max(ends) - began),
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * (len(latencies) - 1))],
        "failed": failed,
        "handler_ms": statistics.mean(handler_ms),
    }


# -- warm overhead --------------------------------------------------------------------------------

NOOP = "def handler(event, context):\n    return None\n"


class _NullSink:
    def create_stream(self, *args: Any) -> None:
        pass

    def put(self, *args: Any) -> None:
        pass


def overhead_runtime(invokes: int, workdir: Path) -> float:
    """Our Runtime in-process: IPC with a warm worker, limits sampling, log lines."""
    from resizer_cli.emulator.runtime import FunctionSpec, Runtime

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", NOOP)
    code = buf.getvalue()
    spec = FunctionSpec(
        account="123456789012", region="us-east-1", name="noop",
        arn="arn:aws:lambda:us-east-1:123456789012:function:noop", version="$LATEST",
        handler="app.handler", runtime=f"python{sys.version_info[0]}.{sys.version_info[1]}",
        memory_mb=128, timeout_s=3, env={}, code_sha256="noop", layer_arns=(),
        code=lambda: code, layer_code=lambda arn: b"",
    )
    runtime = Runtime(workdir, "http://127.0.0.1:9", _NullSink())
    try:
        runtime.invoke(spec, "{}")
        times = []
        for _ in range(invokes):
            began = time.perf_counter()
            runtime.invoke(spec, "{}")
            times.append((time.perf_counter() - began) * 1000)
        return statistics.median(times)
    finally:
        runtime.shutdown()


def overhead_http(target: Any, invokes: int) -> float:
    """A full synchronous lambda.invoke: boto3 → HTTP → moto → our runtime → worker."""
    lam = target.client("lambda")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", NOOP)
    role = target.client("iam").create_role(
        RoleName="bench-noop", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(FunctionName="bench-noop", Runtime="python3.11", Role=role,
                        Handler="app.handler", Code={"ZipFile": buf.getvalue()})
    lam.invoke(FunctionName="bench-noop", Payload=b"{}")
    times = []
    for _ in range(invokes):
        began = time.perf_counter()
        lam.invoke(FunctionName="bench-noop", Payload=b"{}")["Payload"].read()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def overhead_subprocess(invokes: int, workdir: Path) -> float:
    """The naive alternative: a fresh interpreter per invocation."""
    task = workdir / "noop-task"
    task.mkdir(parents=True, exist_ok=True)
    (task / "app.py").write_text(NOOP)
    script = f"import sys; sys.path.insert(0, {str(task)!r}); import app; app.handler({{}}, None)"
    times = []
    for _ in range(max(10, invokes // 4)):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", script], check=True)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


# -- main -----------------------------------------------------------------------------------------

def private_home(prefix: str) -> Path:
    """A throw-away RESIZER_HOME for this run's emulator; the usual layer cache, so only the
    first run builds the layer; nothing from the caller's AWS setup."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["RESIZER_HOME"] = str(home)
    os.environ.setdefault("RESIZER_CACHE_DIR", platformdirs.user_cache_dir("resizer"))
    for var in ("AWS_ENDPOINT_URL", "RESIZER_FAULTS", "AWS_PROFILE"):
        os.environ.pop(var, None)
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--procs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--invokes", type=int, default=200)
    parser.add_argument(
        "--size", default="2400x1600", help="photo size WxH (phones take 4000x3000, 12 MP)"
    )
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    console = Console(stderr=True)
    home = private_home("resizer-bench-")

    from resizer_cli import settings as settings_mod
    from resizer_cli.aws import connect
    from resizer_cli.deploy.stack import setup_stack
    from resizer_cli.emulator import control
    from resizer_cli.output import Reporter

    try:
        console.print(f"generating {args.images} images …")
        images = make_images(args.images, width, height)
        total_mb = sum(len(d) for _, d in images) / 2**20
        console.print("starting the emulator and deploying the stack …")
        control.start()
        settings = settings_mod.load({"stack": "bench", "target": "local", "memory": 1024})
        target = connect(settings)
        setup_stack(target, Reporter.silent())

        runs = []
        for procs in sorted({1, args.procs}):
            # The direct baseline runs just before and just after the pipeline and the two are
            # averaged: on a shared machine, load that drifts during the run then weighs on
            # both sides of the ratio alike.
            console.print(f"direct make_thumbnails, {procs} process(es) …")
            before = direct(images, procs)
            console.print(f"pipeline: {args.images} uploads, {procs} process(es) …")
            pipe = pipeline(target, images, procs, tag=f"p{procs}")
            console.print(f"direct make_thumbnails again, {procs} process(es) …")
            runs.append((procs, pipe, (before + direct(images, procs)) / 2))
        console.print(f"warm overhead, {args.invokes} invocations …")
        rt = overhead_runtime(args.invokes, home / "bench-runtime")
        http = overhead_http(target, args.invokes)
        fresh = overhead_subprocess(args.invokes, home)
    finally:
        control.stop()

    table = Table(title=f"local pipeline, {args.images} images ({total_mb:.0f} MB), "
                        f"{os.cpu_count()} CPUs")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target / note")
    for procs, pipe, base in runs:
        ratio = pipe["throughput"] / base
        table.add_row(f"pipeline throughput, {procs} proc", f"{pipe['throughput']:.1f} img/s",
                      f"{pipe['failed']} failed")
        table.add_row(f"direct make_thumbnails, {procs} proc", f"{base:.1f} img/s",
                      "same images, same number of processes")
        table.add_row(f"pipeline / direct, {procs} proc", f"{ratio:.0%}",
                      "≥ 80 % " + ("[green]met[/green]" if ratio >= 0.8 else "[red]missed[/red]")
                      + ("" if procs < (os.cpu_count() or 1) else
                         " (moto + uploader share the same cores)"))
        per_image = 1000 * procs / pipe["throughput"]
        table.add_row(f"  handler time per image, {procs} proc", f"{pipe['handler_ms']:.0f} ms",
                      f"its S3 GET/PUTs + thumbnails; direct: {1000 * procs / base:.0f} ms")
        table.add_row(f"  rest per image, {procs} proc",
                      f"{per_image - pipe['handler_ms']:.0f} ms",
                      "upload ramp-up, result PUT, event dispatch, runtime")
        burst = f"all {args.images} uploaded at once: includes queueing"
        table.add_row(f"latency upload → thumbnails p50, {procs} proc", f"{pipe['p50']:.0f} ms",
                      burst)
        table.add_row(f"latency upload → thumbnails p95, {procs} proc", f"{pipe['p95']:.0f} ms",
                      "")
    table.add_row("warm overhead: runtime (in-process)", f"{rt:.2f} ms",
                  "< 15 ms " + ("[green]met[/green]" if rt < 15 else "[red]missed[/red]"))
    table.add_row("warm overhead: lambda.invoke over HTTP", f"{http:.2f} ms",
                  "incl. boto3 + moto request handling")
    table.add_row("fresh subprocess per invocation", f"{fresh:.2f} ms",
                  f"{fresh / rt:.0f}x the warm runtime")
    Console().print(table)


if __name__ == "__main__":
    main()
