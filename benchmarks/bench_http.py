"""Renditions on the fly through the emulator's HTTP API, against `make_thumbnails` alone.

One run, one photo (default 2400x1600 JPEG), a stack deployed with `--api`:

1. direct: `make_thumbnails` on the photo's bytes for the one box asked for (in this process);
2. stored: GETs of a rendition that exists (the upload path made it): p50/p95 latency over a
   kept-alive connection, and requests/s with C concurrent clients. Target: p50 <= 15 ms;
3. new: GETs of renditions that do not exist yet (one fresh key each, uploaded first, in an
   `--api-sizes` box the upload path does not make): p50/p95, requests/s, and the function's
   own time for each request (the `ms` of its log line: S3 calls and the image work).
   Target: p50 <= the function's own p50 + 20 ms (and, stricter, <= make_thumbnails + 20 ms).

    python benchmarks/bench_http.py [--requests 200] [--new 40] [--clients 4]

The emulator runs in a throw-away RESIZER_HOME and is stopped at the end; the layer cache is
the usual one, so only the first run builds the layer.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.bench_pipeline import _photo, private_home  # noqa: E402

STORED_BOX = (512, 512)  # made by the upload path
NEW_BOX = (640, 640)  # --api-sizes: only ever made on the fly


class Client:
    """One kept-alive HTTP/1.1 connection, as a browser or a CDN keeps one."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                               timeout=60)

    def get(self, url: str, **headers: str) -> tuple[int, float, str]:
        parts = urlsplit(url)
        began = time.perf_counter()
        self.conn.request("GET", f"{parts.path}?{parts.query}", headers=headers)
        resp = self.conn.getresponse()
        resp.read()
        took = (time.perf_counter() - began) * 1000
        return resp.status, took, str(resp.getheader("X-Resizer-Rendition", ""))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * (len(ordered) - 1) + 0.5))]


def direct(data: bytes, box: tuple[int, int], runs: int) -> list[float]:
    from lambda_handler.thumbnail import make_thumbnails

    make_thumbnails(data, [box])
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        make_thumbnails(data, [box])
        times.append((time.perf_counter() - began) * 1000)
    return times


def throughput(urls: list[str], clients: int, base: str) -> tuple[float, int]:
    """Requests/s with `clients` kept-alive connections; and how many were not 200."""
    chunks = [urls[i::clients] for i in range(clients)]

    def run(chunk: list[str]) -> int:
        client = Client(base)
        return sum(client.get(u)[0] != 200 for u in chunk)

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        bad = sum(pool.map(run, chunks))
    return len(urls) / (time.perf_counter() - began), bad


def function_ms(target: Any, function: str, since_ms: int) -> dict[str, float]:
    """The function's own time per rendition key, from its `http` log lines."""
    logs = target.client("logs")
    kwargs: dict[str, Any] = {"logGroupName": f"/aws/lambda/{function}", "startTime": since_ms,
                              "filterPattern": '"http"'}
    found: dict[str, float] = {}
    while True:
        page = logs.filter_log_events(**kwargs)
        for event in page.get("events", []):
            try:
                doc = json.loads(event["message"])
            except ValueError:
                continue
            if doc.get("event") == "http" and doc.get("key"):
                found[str(doc["key"])] = float(doc["ms"])
        if not page.get("nextToken"):
            return found
        kwargs["nextToken"] = page["nextToken"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="stored GETs per measure")
    parser.add_argument("--new", type=int, default=40, help="new renditions per measure")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients for req/s")
    parser.add_argument("--size", default="2400x1600", help="photo size WxH")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    console = Console(stderr=True)
    private_home("resizer-bench-http-")

    from resizer_cli import settings as settings_mod
    from resizer_cli.aws import connect
    from resizer_cli.deploy.stack import setup_stack
    from resizer_cli.emulator import control
    from resizer_cli.ops.layout import stack_layout
    from resizer_cli.ops.url import rendition_url
    from resizer_cli.output import Reporter

    data = _photo(7, width, height, "JPEG")
    box = f"{NEW_BOX[0]}x{NEW_BOX[1]}"
    try:
        console.print("starting the emulator and deploying the stack with --api …")
        control.start()
        settings = settings_mod.load({"stack": "bench", "target": "local", "memory": 1024,
                                      "api": True, "api_sizes": box})
        target = connect(settings)
        setup_stack(target, Reporter.silent())
        layout = stack_layout(target)
        s3 = target.client("s3")
        keys = [f"raw/bench/{i:04d}.jpg" for i in range(2 * args.new + 1)]
        console.print(f"uploading {len(keys)} copies of the photo ({len(data) / 1024:.0f} KB) …")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket=layout.source_bucket, Key=k,
                                                  Body=data), keys))
        control.drain(600)  # the upload path's thumbnails: the stored renditions

        console.print("direct make_thumbnails …")
        direct_ms = direct(data, NEW_BOX, max(20, args.new))

        stored_url = rendition_url(target, keys[0], f"{STORED_BOX[0]}x{STORED_BOX[1]}").url
        endpoint = urlsplit(stored_url)
        base = f"{endpoint.scheme}://{endpoint.netloc}"
        client = Client(base)
        for _ in range(10):  # warm workers and connections
            client.get(stored_url)
        console.print(f"stored: {args.requests} sequential GETs, then {args.clients} clients …")
        stored = [client.get(stored_url) for _ in range(args.requests)]
        stored_rps, stored_bad = throughput([stored_url] * args.requests, args.clients, base)

        since = int(time.time() * 1000) - 1000
        seq_keys, par_keys = keys[1:args.new + 1], keys[args.new + 1:]
        console.print(f"new: {len(seq_keys)} sequential GETs, then {len(par_keys)} with "
                      f"{args.clients} clients …")
        new = []
        for key in seq_keys:
            new.append((key, client.get(rendition_url(target, key, box).url)))
        par_urls = [rendition_url(target, key, box).url for key in par_keys]
        new_rps, new_bad = throughput(par_urls, args.clients, base)
        time.sleep(0.5)  # the last log lines
        own = function_ms(target, target.names.function, since)
    finally:
        control.stop()

    stored_ms = [t for _, t, _ in stored]
    new_ms = [t for _, (_, t, _) in new]
    own_ms = [own[f"thumbnails/{box}/{k.removeprefix('raw/')}"] for k, _ in new
              if f"thumbnails/{box}/{k.removeprefix('raw/')}" in own]
    made = sum(how == "made" for _, (_, _, how) in new)
    overhead = [t - own.get(f"thumbnails/{box}/{k.removeprefix('raw/')}", t)
                for k, (_, t, _) in new]

    table = Table(title=f"renditions over HTTP through the emulator, {width}x{height} JPEG "
                        f"({len(data) / 1024:.0f} KB), {os.cpu_count()} CPUs")
    table.add_column("measure")
    table.add_column("p50", justify="right")
    table.add_column("p95", justify="right")
    table.add_column("req/s", justify="right")
    table.add_column("target / note")
    s50, n50, o50 = statistics.median(stored_ms), statistics.median(new_ms), (
        statistics.median(own_ms) if own_ms else float("nan"))
    table.add_row(f"make_thumbnails alone, {box}", f"{statistics.median(direct_ms):.1f} ms",
                  f"{pct(direct_ms, 0.95):.1f} ms", "", "in this process, no S3")
    table.add_row(f"stored rendition {STORED_BOX[0]}x{STORED_BOX[1]}", f"{s50:.1f} ms",
                  f"{pct(stored_ms, 0.95):.1f} ms", f"{stored_rps:.0f}",
                  "p50 <= 15 ms " + ("[green]met[/green]" if s50 <= 15 else "[red]missed[/red]")
                  + (f"; {stored_bad} not 200" if stored_bad else ""))
    table.add_row(f"new rendition {box}", f"{n50:.1f} ms", f"{pct(new_ms, 0.95):.1f} ms",
                  f"{new_rps:.1f}", f"{made}/{len(new)} made"
                  + (f"; {new_bad} not 200" if new_bad else ""))
    table.add_row("  the function's own time", f"{o50:.1f} ms",
                  f"{pct(own_ms, 0.95):.1f} ms" if own_ms else "", "",
                  "GET miss, GET original, render, PUT")
    table.add_row("  HTTP + gateway + runtime on top", f"{statistics.median(overhead):.1f} ms",
                  f"{pct(overhead, 0.95):.1f} ms", "",
                  "new p50 <= own p50 + 20 ms "
                  + ("[green]met[/green]" if n50 <= o50 + 20 else "[red]missed[/red]"))
    d50 = statistics.median(direct_ms)
    table.add_row("  new minus make_thumbnails alone", f"{n50 - d50:.1f} ms", "", "",
                  "the S3 calls and the HTTP path; <= 20 ms "
                  + ("[green]met[/green]" if n50 <= d50 + 20 else "[red]missed[/red]"))
    Console(width=130).print(table)


if __name__ == "__main__":
    main()
