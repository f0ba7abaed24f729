"""HEIC decode time and peak memory, and what make_thumbnails adds, at 12 MP and 48 MP.

The images are generated (photo-like, as bench_thumbnail.py makes them) and written the way
phones write them: HEVC in a grid of 512 px tiles, 8-bit 4:2:0, plus a 10-bit variant. x265
is slow, so they are encoded once and cached (RESIZER_BENCH_CACHE, default $TMP/resizer-bench).

  decode  pillow-heif open + to_pillow (libheif decodes, Pillow copies), nothing else
  ours    make_thumbnails(data, [(128, 128), (512, 512)])
  vips    pyvips thumbnail_buffer, where its libheif has an HEVC decoder (pyvips-binary's
          has none: its libheif carries only AV1; the row says so)

Times are medians of interleaved runs, CPU time of this process (libheif decodes tiles in
threads, so wall time can be lower on 2 cores); "RSS +MB" is the peak RSS growth of one call in
a fresh subprocess; "est. MB" is make_thumbnails' own estimate, which must not be below it.

    python benchmarks/bench_heic.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pillow_heif  # noqa: E402

from benchmarks.bench_thumbnail import cached_image, child, photo_like, rss_growth, timings  # noqa: E402
from lambda_handler import thumbnail  # noqa: E402

SIZES = [(128, 128), (512, 512)]
METHODS = ("decode", "ours", "vips")


def encode_heic(width: int, height: int, bits: int) -> bytes:
    im = photo_like(width, height, seed=width)
    previous = pillow_heif.options.SAVE_HDR_TO_12_BIT
    try:
        if bits == 8:
            heif_file = pillow_heif.from_pillow(im)
        else:  # 16-bit samples; pillow-heif keeps the top 10 (or 12) bits
            pillow_heif.options.SAVE_HDR_TO_12_BIT = bits == 12
            raw = im.tobytes()
            wide = bytearray(len(raw) * 2)
            wide[1::2] = raw  # little-endian v * 256
            heif_file = pillow_heif.from_bytes("RGB;16", im.size, bytes(wide))
        buf = io.BytesIO()
        heif_file.save(buf, quality=60, tile_size=512)  # ~ a phone's file size per MP
        return buf.getvalue()
    finally:
        pillow_heif.options.SAVE_HDR_TO_12_BIT = previous


def run_decode(data: bytes) -> None:
    pillow_heif.open_heif(data).to_pillow()


def run_ours(data: bytes) -> None:
    thumbnail.make_thumbnails(data, SIZES)


def run_vips(data: bytes) -> None:
    import pyvips

    big = pyvips.Image.thumbnail_buffer(data, 512, height=512, size="down").copy_memory()
    big.thumbnail_image(128, height=128, size="down").jpegsave_buffer(Q=85)
    big.jpegsave_buffer(Q=85)


RUNNERS: dict[str, Callable[[bytes], object]] = {
    "decode": run_decode,
    "ours": run_ours,
    "vips": run_vips,
}


def vips_problem(data: bytes) -> str | None:
    try:
        run_vips(data)
    except Exception as exc:
        text = " ".join(str(exc).split())
        if "has not been built in" in text or "HEVC" in text:
            return "n/a: this libvips' libheif has no HEVC decoder"
        return f"n/a: {text[:60]}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="12 MP only")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, runners=RUNNERS)
        return 0
    started = time.perf_counter()
    cache = Path(
        os.environ.get("RESIZER_BENCH_CACHE", Path(tempfile.gettempdir()) / "resizer-bench")
    )
    cache.mkdir(parents=True, exist_ok=True)
    specs = [("12 MP HEIC", (4032, 3024), 8), ("12 MP HEIC 10-bit", (4032, 3024), 10)]
    if not args.quick:
        specs.append(("48 MP HEIC", (8064, 6048), 8))
    rows: list[list[str]] = []
    checks: list[tuple[str, bool]] = []
    for label, (w, h), bits in specs:
        path = cached_image(
            cache, f"{w}x{h}-{bits}bit-t512.heic", lambda w=w, h=h, b=bits: encode_heic(w, h, b)
        )
        data = path.read_bytes()
        problem = vips_problem(data)
        runners = {m: RUNNERS[m] for m in METHODS if m != "vips" or problem is None}
        measured = timings(data, 3 if w * h > 30e6 else 5, runners, skip_warmup=())
        rss = {m: rss_growth(m, path, script=__file__) for m in runners}
        estimate = rss["ours"][1]
        for m in METHODS:
            if m not in measured:
                rows.append(["", m, "-", "-", "-", "-", "", problem or ""])
                continue
            wall, cpu = measured[m]
            rows.append(
                [
                    f"{label} ({len(data) / 1e6:.1f} MB)" if m == "decode" else "",
                    m,
                    f"{wall:.0f}",
                    f"{cpu:.0f}",
                    f"{cpu / measured['decode'][1]:.2f}x",
                    f"{rss[m][0]:.1f}",
                    f"{estimate:.1f}" if m == "ours" else "",
                    "",
                ]
            )
        checks.append(
            (
                f"{label}: estimate {estimate:.0f} MB >= measured peak {rss['ours'][0]:.0f} MB",
                estimate >= rss["ours"][0],
            )
        )
        print(f"  measured {label}", file=sys.stderr)
    header = ["image", "method", "wall ms", "CPU ms", "vs decode", "RSS +MB", "est. MB", ""]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths[:-1]))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print()
    for text, ok in checks:
        print(f"[{'PASS' if ok else 'MISS'}] {text}")
    info = pillow_heif.libheif_info()
    print(
        f"\npillow-heif {pillow_heif.__version__}, libheif {info['libheif']}, "
        f"{os.cpu_count()} CPUs, {time.perf_counter() - started:.0f}s total"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
