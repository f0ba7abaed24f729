"""`resizer stats` at volume: N invocations' lines in moto's CloudWatch Logs, aggregated.

Each invocation writes START, END and REPORT lines and a handler line; 5 % are cold starts
(Init Duration), 1 % fail (timeouts, out of memory, unhandled exceptions, rejected images),
and a tenth of them ran at 512 MB before a tune to 1,024 MB. Two measurements per N:

- moto: the two filtered scans through boto3 against moto in-process (mock_aws), as stats
  runs them, over the lines the filters let through on AWS (no START/END: moto knows no OR
  patterns, so its error scan returns every event). moto re-filters the whole group for every
  page (quadratic in N), so this column is moto's cost more than ours.
- aggregation: the same pages served from memory, so only our paging, de-duplication,
  parsing and aggregation are timed; peak memory is tracemalloc's, in a second (untimed)
  run of the same.

The numbers are checked (invocations, images, GB-seconds) so a fast wrong run cannot pass.

    python benchmarks/bench_stats.py [--sizes 10000,100000,300000] [--no-moto]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import time
import tracemalloc
from typing import Any

GROUP = "/aws/lambda/bench-thumbnailer"


def _lines(n: int, seed: int = 7) -> tuple[list[str], dict[str, Any]]:
    rnd = random.Random(seed)
    lines: list[str] = []
    expect = {"invocations": n, "images": 0, "mb_ms": 0}
    for i in range(n):
        rid = f"{i:08x}-0000-4000-8000-{rnd.getrandbits(48):012x}"
        memory = 512 if i < n // 10 else 1024
        duration = round(rnd.lognormvariate(5.0, 0.5), 2)
        cold = rnd.random() < 0.05
        init = round(rnd.uniform(150, 400), 2) if cold else None
        billed = max(1, int(-(-(duration + (init or 0)) // 1)))
        fail = rnd.random()
        lines.append(f"START RequestId: {rid} Version: $LATEST")
        tail = ""
        if fail < 0.003:
            lines.append(f"2026-11-28T12:00:00.000Z {rid} Task timed out after 3.00 seconds")
            tail = "Status: timeout"
        elif fail < 0.006:
            lines.append("[ERROR] RetryableFailure: 1 of 1 record(s) failed and will be retried")
        elif fail < 0.01:
            lines.append(json.dumps({"level": "error", "event": "rejected", "key": f"raw/{i}",
                                     "error": "corrupt", "reason": "damaged"}))
            expect["images"] += 1
        else:
            lines.append(json.dumps({"level": "info", "event": "thumbnails", "key": f"raw/{i}",
                                     "outputs": [{"key": f"thumbnails/128x128/{i}.jpg"}]}))
            expect["images"] += 1
        lines.append(f"END RequestId: {rid}")
        report = (f"REPORT RequestId: {rid}\tDuration: {duration:.2f} ms\tBilled Duration: "
                  f"{billed} ms\tMemory Size: {memory} MB\tMax Memory Used: "
                  f"{rnd.randint(60, 140)} MB\t")
        if init is not None:
            report += f"Init Duration: {init:.2f} ms\t"
        lines.append(report + tail)
        expect["mb_ms"] += billed * memory
    return lines, expect


def _check(agg: Any, expect: dict[str, Any]) -> None:
    got = (agg.invocations, agg.images, agg.billed_mb_ms)
    want = (expect["invocations"], expect["images"], expect["mb_ms"])
    if got != want:
        raise SystemExit(f"wrong result: {got} != {want}")


class _Pages:
    """filter_log_events over lines held in memory: the patterns as CloudWatch reads them for
    these lines (a phrase; OR of terms), 10,000 events a page, nextToken an offset."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.cache: dict[str, list[dict[str, Any]]] = {}

    def filter_log_events(self, **kw: Any) -> dict[str, Any]:
        pattern = kw["filterPattern"]
        if pattern not in self.cache:
            if pattern.startswith("?"):
                terms = _terms(pattern)
                self.cache[pattern] = [e for e in self.events
                                       if any(t in e["message"] for t in terms)]
            else:
                phrase = pattern.strip('"')
                self.cache[pattern] = [e for e in self.events if phrase in e["message"]]
        matched = self.cache[pattern]
        start = int(kw.get("nextToken") or 0)
        page = matched[start:start + kw.get("limit", 10_000)]
        out: dict[str, Any] = {"events": page}
        if start + len(page) < len(matched):
            out["nextToken"] = str(start + len(page))
        return out


def _terms(pattern: str) -> list[str]:
    out, word, quoted = [], "", False
    for ch in pattern:
        if ch == '"':
            quoted = not quoted
        elif ch in " ?" and not quoted:
            if word:
                out.append(word)
            word = ""
        else:
            word += ch
    return [*out, word] if word else out


def _events(lines: list[str], t0: int) -> list[dict[str, Any]]:
    return [{"eventId": str(i), "timestamp": t0 + i // 50, "message": m,
             "logStreamName": f"2026/11/28/[$LATEST]{i % 4}", "ingestionTime": t0}
            for i, m in enumerate(lines)]


def _aggregation_only(lines: list[str], expect: dict[str, Any], t0: int) -> dict[str, float]:
    from resizer_cli.logscan import ERROR_OR_IMAGE_PATTERN, REPORT_PATTERN
    from resizer_cli.ops.stats import Window, scan_group

    client = _Pages(_events(lines, t0))
    for pattern in (REPORT_PATTERN, ERROR_OR_IMAGE_PATTERN):  # the server's work: untimed
        client.filter_log_events(filterPattern=pattern)
    began = time.perf_counter()
    agg = scan_group(client, GROUP, Window(t0, t0 + 10**9))
    agg.result(_price(), 1024)
    took = time.perf_counter() - began
    _check(agg, expect)
    # Memory in a second run: tracemalloc slows allocation, so it stays out of the timing.
    tracemalloc.start()
    scan_group(client, GROUP, Window(t0, t0 + 10**9)).result(_price(), 1024)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    crossed = agg.report_lines + agg.other_lines
    return {"s": took, "events": crossed, "peak_mb": peak / 2**20}


def _price() -> Any:
    from resizer_cli.ops.pricing import list_price

    return list_price("us-east-1", "x86_64")


def _moto(lines: list[str], expect: dict[str, Any], t0: int) -> dict[str, float]:
    import boto3
    from moto import mock_aws

    from resizer_cli.ops.stats import Window, scan_group

    with mock_aws():
        logs = boto3.client("logs", region_name="us-east-1")
        logs.create_log_group(logGroupName=GROUP)
        put_began = time.perf_counter()
        for s in range(4):
            logs.create_log_stream(logGroupName=GROUP, logStreamName=f"s{s}")
        batch = 5_000
        for start in range(0, len(lines), batch):
            chunk = lines[start:start + batch]
            logs.put_log_events(logGroupName=GROUP, logStreamName=f"s{(start // batch) % 4}",
                                logEvents=[{"timestamp": t0 + start + i, "message": m}
                                           for i, m in enumerate(chunk)])
        put_s = time.perf_counter() - put_began
        began = time.perf_counter()
        agg = scan_group(logs, GROUP, Window(t0, t0 + 10**9))
        agg.result(_price(), 1024)
        took = time.perf_counter() - began
    _check(agg, expect)
    return {"s": took, "events": agg.report_lines + agg.other_lines, "put_s": put_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,300000")
    parser.add_argument("--no-moto", action="store_true", help="only the aggregation")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    t0 = int(time.time() * 1000) - 3_600_000
    print(f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}")
    head = (f"{'invocations':>11} {'lines':>9} | {'aggregation s':>13} {'events/s':>10} "
            f"{'peak MB':>8} | {'moto s':>8} {'events/s':>9} {'put s':>7}")
    print(head)
    print("-" * len(head))
    for n in (int(x) for x in args.sizes.split(",")):
        lines, expect = _lines(n)
        a = _aggregation_only(lines, expect, t0)
        row = (f"{n:>11,} {len(lines):>9,} | {a['s']:>13.2f} {a['events'] / a['s']:>10,.0f} "
               f"{a['peak_mb']:>8.1f} | ")
        if args.no_moto:
            print(row + f"{'-':>8} {'-':>9} {'-':>7}", flush=True)
            continue
        # START/END never pass either filter on AWS; moto's error scan would return them.
        m = _moto([x for x in lines if not x.startswith(("START ", "END "))], expect, t0)
        print(row + f"{m['s']:>8.1f} {m['events'] / m['s']:>9,.0f} {m['put_s']:>7.1f}",
              flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss:.0f} MB (moto's store and the generated lines included)")
    print("aggregation: the two scans' pages from memory (patterns applied as CloudWatch "
          "would); moto: the same scans through boto3 against moto in-process, where the "
          "error scan gets every event (moto ignores OR patterns)")


if __name__ == "__main__":
    main()
