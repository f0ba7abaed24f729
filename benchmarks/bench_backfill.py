"""`resizer backfill` of a brought bucket through the emulator: images per second.

A source bucket is filled with N images (default 1,000) before the stack exists, so no event
ever fired for them; then, with the function's reserved concurrency set to P (default: the
CPU count):

1. backfill --wait, 10 records per invoke: images/s from the first invoke to the last
   result record, against the most the function could do (P / the handler's own time per
   image, from the records), and the requests `resizer` made per image;
2. a second backfill with nothing to do, once as it runs (listings only: the function has
   not changed since before the records), once reading every record (as --prune does);
3. the same as 1 after a size change (every record stale), 1 record per invoke.

    python benchmarks/bench_backfill.py [--images 1000] [--procs 2] [--size 1200x900]

The emulator runs in a throw-away RESIZER_HOME and is stopped at the end; the layer cache is
the usual one, so only the first run builds the layer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.bench_pipeline import make_images, private_home  # noqa: E402

BUCKET = "bench-brought-photos"


def _count_requests(target: Any) -> Counter[str]:
    seen: Counter[str] = Counter()

    def hook(model: Any, **_: Any) -> None:
        seen[f"{model.service_model.endpoint_prefix}:{model.name}"] += 1

    for key, client in list(target._clients.items()):
        if key.startswith(("s3", "lambda")):
            client.meta.events.register("before-call.*.*", hook)
    return seen


def _backfill(target: Any, batch: int, procs: int, wait: bool = True) -> dict[str, Any]:
    from resizer_cli.ops.backfill import BackfillOptions, run_backfill
    from resizer_cli.ops.layout import stack_layout
    from resizer_cli.output import Reporter

    layout = stack_layout(target)
    # Make the clients run_backfill will use, so their requests are counted too.
    target.client("s3", pool_size=36)
    target.client("lambda", pool_size=10)
    seen = _count_requests(target)
    began = time.perf_counter()
    run = run_backfill(target, layout, BackfillOptions(wait=wait, batch=batch,
                                                        concurrency=procs, timeout=900),
                       Reporter.silent())
    wall = time.perf_counter() - began
    if run.failure is not None:
        raise SystemExit(f"backfill failed: {run.failure}")
    return {"run": run, "wall": wall, "requests": dict(seen)}


def _compare_reading_all(target: Any) -> tuple[float, int]:
    from resizer_cli.ops.backfill import compare
    from resizer_cli.ops.layout import stack_layout

    layout = stack_layout(target)
    s3 = target.client("s3", pool_size=36)
    with ThreadPoolExecutor(32) as pool:
        began = time.perf_counter()
        cmp = compare(s3, layout, "", pool, read_all=True)
        return time.perf_counter() - began, cmp.read


def _handler_ms(target: Any, keys: list[str]) -> float:
    from resizer_cli.ops.layout import stack_layout

    layout = stack_layout(target)
    s3 = target.client("s3", pool_size=36)

    def ms(key: str) -> float:
        body = s3.get_object(Bucket=layout.dest_bucket, Key=layout.record_key(key))["Body"]
        return float(json.loads(body.read()).get("ms") or 0)

    with ThreadPoolExecutor(16) as pool:
        return statistics.mean(pool.map(ms, keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--size", default="1200x900", help="photo size WxH")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    console = Console(stderr=True)
    private_home("resizer-bench-")

    from resizer_cli import settings as settings_mod
    from resizer_cli.aws import connect
    from resizer_cli.deploy.stack import setup_stack
    from resizer_cli.emulator import control
    from resizer_cli.output import Reporter

    try:
        console.print(f"generating {args.images} images of {width}x{height} …")
        images = make_images(args.images, width, height)
        total_mb = sum(len(d) for _, d in images) / 2**20
        console.print("starting the emulator, filling the bucket, deploying the stack …")
        control.start()
        # A short timeout: records written a few seconds after setup are settled (see
        # ops.backfill.compare), so the second backfill is the listings-only one.
        flags: dict[str, Any] = {"stack": "bench", "target": "local", "memory": 1024,
                                 "timeout": 3, "source_bucket": BUCKET}
        target = connect(settings_mod.load(flags))
        s3 = target.client("s3", pool_size=16)
        s3.create_bucket(Bucket=BUCKET)
        keys = [f"raw/brought/{name}" for name, _ in images]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda kv: s3.put_object(Bucket=BUCKET, Key=kv[0], Body=kv[1]),
                          zip(keys, (data for _, data in images), strict=True)))
        setup_stack(target, Reporter.silent())
        target.client("lambda").put_function_concurrency(
            FunctionName=target.names.function, ReservedConcurrentExecutions=args.procs)
        time.sleep(5)

        console.print(f"backfill of {args.images} images, 10 per invoke, {args.procs} at once …")
        batched = _backfill(target, 10, args.procs)
        batched["handler_ms"] = _handler_ms(target, keys)
        console.print("second backfill: nothing to do …")
        noop = _backfill(target, 10, args.procs, wait=False)
        read_all = _compare_reading_all(target)
        console.print("size change, then a backfill with 1 record per invoke …")
        target = connect(settings_mod.load({**flags, "sizes": "96x96,480x480"}))
        setup_stack(target, Reporter.silent())
        single = _backfill(target, 1, args.procs)
        single["handler_ms"] = _handler_ms(target, keys)
    finally:
        control.stop()

    table = Table(title=f"backfill through the emulator: {args.images} images "
                        f"({total_mb:.0f} MB, {width}x{height}), {args.procs} at once, "
                        f"{os.cpu_count()} CPUs")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("note")
    for label, res in (("10 records per invoke", batched), ("1 record per invoke", single)):
        run = res["run"]
        bound = 1000 * args.procs / res["handler_ms"]
        table.add_row(f"backfill, {label}", f"{run.rate:.1f} img/s",
                      f"{run.sent} sent in {run.invocations} invokes, "
                      f"{run.counts().get('ok', 0)} ok, {res['wall']:.1f} s in all")
        table.add_row(f"  share of what the function can do, {label}",
                      f"{run.rate / bound:.0%}",
                      f"{res['handler_ms']:.0f} ms of handler time per image: "
                      f"{bound:.1f} img/s with {args.procs} at once")
        laptop = sum(n for op, n in res["requests"].items() if op.startswith("s3:"))
        table.add_row(f"  requests from resizer per image, {label}",
                      f"{(laptop + run.invocations) / max(1, run.sent):.2f}",
                      "S3 listings and polls, plus the invokes")
    run = noop["run"]
    table.add_row("second backfill (nothing to do)", f"{noop['wall']:.2f} s",
                  f"{run.listed / noop['wall']:.0f} objects compared/s, {run.sent} sent, "
                  f"{noop['requests'].get('s3:GetObject', 0)} records read")
    seconds, read = read_all
    table.add_row("  the same comparison, reading every record", f"{seconds:.2f} s",
                  f"{run.listed / seconds:.0f} objects compared/s, {read} records read "
                  "(as --prune, or records younger than the last deploy)")
    Console().print(table)


if __name__ == "__main__":
    main()
