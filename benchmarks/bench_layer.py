"""Layer build benchmark: cold build vs cached build, and the layer's size.

    python benchmarks/bench_layer.py [--targets python3.13:x86_64,python3.12:arm64,local]
                                     [--repeat 5] [--pip-cache]

Each cold build runs in a fresh cache directory (and, unless --pip-cache, with pip's own HTTP
cache off, so the wheel really comes from the index). Compare the ratio cold/cached within one
run; absolute seconds depend on the network and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

from rich.console import Console
from rich.table import Table

from resizer_cli.layer import build as layer_build
from resizer_cli.layer import download, verify_layer

PIP_SECONDS: list[float] = []


def _time_pip() -> None:
    """Wrap our pip seam once, so the table can say how much of a cold build is pip."""
    real = download.run_pip

    def timed(args: list[str]) -> tuple[int, str]:
        start = time.perf_counter()
        try:
            return real(args)
        finally:
            PIP_SECONDS.append(time.perf_counter() - start)

    download.run_pip = timed  # type: ignore[assignment]


def bench(target: str, repeat: int) -> dict[str, object]:
    local = target == "local"
    runtime, arch = ("", "") if local else target.split(":")
    with tempfile.TemporaryDirectory(prefix="bench-layer-") as cache:
        os.environ["RESIZER_CACHE_DIR"] = cache
        PIP_SECONDS.clear()
        start = time.perf_counter()
        art = layer_build.build_layer(runtime, arch, local=local)
        cold = time.perf_counter() - start
        pip_cold, pip_calls = sum(PIP_SECONDS), len(PIP_SECONDS)
        cached: list[float] = []
        for _ in range(repeat):
            start = time.perf_counter()
            layer_build.build_layer(runtime, arch, local=local)
            cached.append(time.perf_counter() - start)
        start = time.perf_counter()
        verify_layer(art.path, art.runtime, art.architecture, local=local)
        verify = time.perf_counter() - start
        return {
            "target": f"{art.runtime} {art.architecture}" + (" (local)" if local else ""),
            "cold": cold,
            "pip": pip_cold,
            "cached": statistics.median(cached),
            "verify": verify,
            "zipped": art.size,
            "unzipped": art.unzipped_size,
            "pip_calls_when_cached": len(PIP_SECONDS) - pip_calls,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", default="python3.13:x86_64,python3.12:arm64,local")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pip-cache", action="store_true", help="let pip use its HTTP cache")
    args = parser.parse_args()
    if not args.pip_cache:
        os.environ["PIP_NO_CACHE_DIR"] = "1"
    _time_pip()

    table = Table(title=f"Pillow layer build (median of {args.repeat} cached builds)")
    for col in (
        "target",
        "cold s",
        "(pip s)",
        "cached s",
        "cold/cached",
        "verify s",
        "zipped MB",
        "unzipped MB",
        "pip runs (cached)",
    ):
        table.add_column(col, justify="left" if col == "target" else "right")
    for target in args.targets.split(","):
        r = bench(target.strip(), args.repeat)
        table.add_row(
            str(r["target"]),
            f"{r['cold']:.2f}",
            f"{r['pip']:.2f}",
            f"{r['cached']:.3f}",
            f"{r['cold'] / r['cached']:.0f}x",  # type: ignore[operator]
            f"{r['verify']:.3f}",
            f"{r['zipped'] / 1e6:.2f}",  # type: ignore[operator]
            f"{r['unzipped'] / 1e6:.2f}",  # type: ignore[operator]
            str(r["pip_calls_when_cached"]),
        )
    Console(width=150).print(table)
    print(f"python {sys.version.split()[0]} on {platform.machine()}, {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
