"""PNG: make_thumbnails against Pillow's own decode of the same file, and pyvips.

A PNG has no reduced-scale decode, so the decode is the floor; what make_thumbnails adds is
the first downscale, the small resize, and encoding two PNGs. The table shows each part
(measured with the same Pillow calls the pipeline makes) and the whole, as CPU ms (median of
interleaved runs), with PSNR against full decode + LANCZOS.

Target (24 MP PNG): ours <= 1.15x the decode.

    python benchmarks/bench_png.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from benchmarks.bench_thumbnail import cached_image, encoded, inside, load, photo_like, psnr  # noqa: E402
from lambda_handler.thumbnail import encode, geometry, make_thumbnails  # noqa: E402

SIZES = [(128, 128), (512, 512)]
LANCZOS = Image.Resampling.LANCZOS


def decoded(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def png(im: Image.Image) -> bytes:
    return encoded(im, "PNG", compress_level=encode.PNG_COMPRESS_LEVEL)


def vips(data: bytes) -> list[bytes]:
    import pyvips

    big = pyvips.Image.thumbnail_buffer(data, 512, height=512, size="down").copy_memory()
    return [big.pngsave_buffer(), big.thumbnail_image(128, height=128).pngsave_buffer()]


def median_cpu(runs: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    for run in runs.values():
        run()
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(reps):
        for name, run in runs.items():
            c0 = time.process_time()
            run()
            cpu[name].append((time.process_time() - c0) * 1000)
    return {name: statistics.median(v) for name, v in cpu.items()}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="the 24 MP PNG only")
    args = parser.parse_args()
    cache = Path(
        os.environ.get("RESIZER_BENCH_CACHE", Path(tempfile.gettempdir()) / "resizer-bench")
    )
    cache.mkdir(parents=True, exist_ok=True)
    specs = [("24 MP PNG", (6000, 4000))]
    if not args.quick:
        specs = [("6 MP PNG", (3000, 2000)), *specs]
    started = time.perf_counter()
    rows: list[list[str]] = []
    checks: list[tuple[str, bool]] = []
    for label, (w, h) in specs:
        path = cached_image(
            cache, f"png-{w}x{h}.png", lambda w=w, h=h: encoded(photo_like(w, h, seed=w), "PNG")
        )
        data = path.read_bytes()
        full = decoded(data)
        master = geometry.downscale(full, inside(full.size, (512, 512)), None)
        small = master.resize(inside(master.size, (128, 128)), LANCZOS, reducing_gap=3.0)
        runs: dict[str, Callable[[], object]] = {
            "ours": lambda data=data: make_thumbnails(data, SIZES),
            "decode": lambda data=data: decoded(data),
            "  first downscale": lambda full=full: geometry.downscale(
                full, inside(full.size, (512, 512)), None
            ),
            "  128 px from 512": lambda m=master: m.resize(
                inside(m.size, (128, 128)), LANCZOS, reducing_gap=3.0
            ),
            "  encode both": lambda m=master, s=small: (png(m), png(s)),
            "vips": lambda data=data: vips(data),
        }
        ms = median_cpu(runs, 5)
        refs = {box: full.resize(inside(full.size, box), LANCZOS) for box in SIZES}
        ours = make_thumbnails(data, SIZES)
        q_ours = "/".join(f"{psnr(load(t.data), refs[t.size]):.1f}" for t in reversed(ours))
        big, little = (load(b) for b in vips(data))
        q_vips = f"{psnr(big, refs[(512, 512)]):.1f}/{psnr(little, refs[(128, 128)]):.1f}"
        sizes = f"{ours[1].bytes // 1024} KB / {ours[0].bytes // 1024} KB"
        for name, value in ms.items():
            quality = {"ours": q_ours, "vips": q_vips}.get(name, "")
            rows.append(
                [
                    label if name == "ours" else "",
                    name,
                    f"{value:.0f}",
                    f"{value / ms['decode']:.2f}x",
                    quality,
                    sizes if name == "ours" else "",
                ]
            )
        if label.startswith("24 MP"):
            ratio = ms["ours"] / ms["decode"]
            checks.append((f"{label}: ours {ratio:.2f}x the decode (<= 1.15x)", ratio <= 1.15))
        del full, master, small
        print(f"  measured {label}", file=sys.stderr)
    header = ["image", "method", "CPU ms", "vs decode", "PSNR 512/128 dB", "output 512/128"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print()
    for text, ok in checks:
        print(f"[{'PASS' if ok else 'MISS'}] {text}")
    print(
        f"\nzlib level {encode.PNG_COMPRESS_LEVEL}, first reducing gap "
        f"{geometry.FIRST_REDUCING_GAP}; Pillow {Image.__version__}, {os.cpu_count()} CPUs, "
        f"{time.perf_counter() - started:.0f}s total"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
