"""Speed, memory and quality of lambda_handler.thumbnail.make_thumbnails.

Compares, in the same run and on the same generated images (smooth gradients, shapes and
sensor-like noise, so decoding costs what a photo costs):
  ours   make_thumbnails(data, [(128, 128), (512, 512)])
  naive  full decode, then LANCZOS resize to each size, then encode
  floor  the decode alone at the DCT draft scale ours uses (no resize, no encode)
  vips   pyvips thumbnail_buffer at 512, thumbnail_image to 128, encode both
Times are medians of interleaved runs, as wall time and as CPU time of this process; the
ratios and targets use CPU time, which other load on a shared machine disturbs far less (and
which is what a Lambda with one vCPU or less pays for; vips may use a second thread).
"RSS +MB" is the peak RSS growth of one call in a fresh subprocess (VmHWM after minus before,
the file already read). "est. MB" is make_thumbnails' own estimate of its decode memory.
PSNR compares each method's 512 px and 128 px results, before lossy encoding, with full
decode + LANCZOS. naive and vips encode to the same format as ours (PNG stays PNG).

Targets (24 MP baseline JPEG): ours <= 1.1x floor, >= 4x faster than naive, and no slower
than vips with >= 5 dB more PSNR; peak RSS growth <= 16 MB for baseline JPEGs up to 100 MP;
>= 50 dB PSNR. (PNG has its own script, bench_png.py; HEIC, bench_heic.py.)

    python benchmarks/bench_thumbnail.py [--quick] [--photo PATH ...]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageChops, ImageDraw, ImageFilter  # noqa: E402

from lambda_handler import thumbnail  # noqa: E402

SIZES = [(128, 128), (512, 512)]
LANCZOS = Image.Resampling.LANCZOS
METHODS = ("ours", "floor", "naive", "vips")


# --- test images ----------------------------------------------------------------------------


def photo_like(width: int, height: int, seed: int) -> Image.Image:
    """Smooth content drawn at 1/4 scale and enlarged, plus full-resolution noise."""
    rng = random.Random(seed)
    sw, sh = max(8, width // 4), max(8, height // 4)
    base = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize((sw, sh)),
            Image.radial_gradient("L").resize((sw, sh)),
            Image.linear_gradient("L").rotate(90).resize((sw, sh)),
        ),
    )
    draw = ImageDraw.Draw(base)
    for _ in range(120):
        x, y = rng.randrange(sw), rng.randrange(sh)
        r = rng.randrange(max(2, sw // 60), max(3, sw // 6))
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x, y, x + r, y + r), fill=colour)
        else:
            draw.rectangle((x, y, x + r, y + r // 2), fill=colour)
    base = base.filter(ImageFilter.GaussianBlur(1.5))
    big = base.resize((width, height), Image.Resampling.BICUBIC)
    noise = Image.merge("RGB", [Image.effect_noise((width, height), 48 + 8 * i) for i in range(3)])
    return Image.blend(big, noise, 0.2)


def cached_image(cache: Path, name: str, make: Callable[[], bytes]) -> Path:
    path = cache / name
    if not path.exists():
        started = time.perf_counter()
        data = make()
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.rename(path)
        print(
            f"  generated {name} ({len(data) / 2**20:.1f} MB)"
            f" in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
    return path


def encoded(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def make_cases(quick: bool, photos: list[Path]) -> list[tuple[str, Path]]:
    cache = Path(
        os.environ.get("RESIZER_BENCH_CACHE", Path(tempfile.gettempdir()) / "resizer-bench")
    )
    cache.mkdir(parents=True, exist_ok=True)
    print(f"images cached in {cache}", file=sys.stderr)
    specs: list[tuple[str, str, tuple[int, int], dict[str, object]]] = [
        ("24 MP baseline JPEG", "JPEG", (6000, 4000), {"quality": 90}),
        ("24 MP progressive JPEG", "JPEG", (6000, 4000), {"quality": 90, "progressive": True}),
        ("6 MP PNG", "PNG", (3000, 2000), {}),
    ]
    if not quick:
        specs[1:1] = [
            ("12 MP baseline JPEG", "JPEG", (4000, 3000), {"quality": 90}),
            ("100 MP baseline JPEG", "JPEG", (12240, 8160), {"quality": 88}),
        ]
        # Worst case for memory: just under 2x the draft request (512 x DRAFT_GAP) on both
        # sides, so no DCT scaling applies and the whole square is decoded.
        side = 2 * int(512 * thumbnail.DRAFT_GAP) - 1
        specs.insert(3, ("3.6 MP square JPEG", "JPEG", (1900, 1900), {"quality": 90}))
        specs.insert(4, (f"{side}px square JPEG (worst)", "JPEG", (side, side), {"quality": 90}))
        specs.append(("24 MP PNG", "PNG", (6000, 4000), {}))
    cases = []
    for label, fmt, (w, h), params in specs:
        key = hashlib.sha1(json.dumps([fmt, w, h, params], sort_keys=True).encode()).hexdigest()[
            :10
        ]
        name = f"{w}x{h}-{key}.{fmt.lower()}"

        def make(
            w: int = w, h: int = h, fmt: str = fmt, params: dict[str, object] = params
        ) -> bytes:
            return encoded(photo_like(w, h, seed=w), fmt, **params)

        cases.append((label, cached_image(cache, name, make)))
    for path in photos:  # real photos only when asked for (--photo): nothing else to install
        cases.append((f"photo {path.name}", path))
    return cases


# --- the methods ----------------------------------------------------------------------------


def draft_request(im: Image.Image) -> tuple[int, int]:
    w, h = im.size
    scale = min(1.0, min(512 / w, 512 / h))
    return int(w * scale * thumbnail.DRAFT_GAP), int(h * scale * thumbnail.DRAFT_GAP)


def inside(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    scale = min(1.0, box[0] / size[0], box[1] / size[1])
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def run_ours(data: bytes) -> list[bytes]:
    return [t.data for t in thumbnail.make_thumbnails(data, SIZES)]


def run_floor(data: bytes) -> list[bytes]:
    im = Image.open(io.BytesIO(data))
    if im.format == "JPEG":
        im.draft(None, draft_request(im))
    im.load()
    return []


def run_naive(data: bytes) -> list[bytes]:
    im = Image.open(io.BytesIO(data))
    im.load()
    fmt = "PNG" if im.format == "PNG" else "JPEG"
    out = []
    for box in SIZES:
        small = im.resize(inside(im.size, box), LANCZOS)
        params = {"quality": 85} if fmt == "JPEG" else {}
        out.append(encoded(small if fmt == "PNG" else small.convert("RGB"), fmt, **params))
    return out


def run_vips(data: bytes) -> list[bytes]:
    import pyvips

    big = pyvips.Image.thumbnail_buffer(data, 512, height=512, size="down").copy_memory()
    small = big.thumbnail_image(128, height=128, size="down")
    if data.startswith(b"\x89PNG"):
        return [big.pngsave_buffer(), small.pngsave_buffer()]
    return [big.jpegsave_buffer(Q=85), small.jpegsave_buffer(Q=85)]


RUNNERS: dict[str, Callable[[bytes], object]] = {
    "ours": run_ours,
    "floor": run_floor,
    "naive": run_naive,
    "vips": run_vips,
}


# --- quality --------------------------------------------------------------------------------


def psnr(a: Image.Image, b: Image.Image) -> float:
    a, b = a.convert("RGB"), b.convert("RGB")
    if a.size != b.size:
        b = b.resize(a.size, LANCZOS)
    hist = ImageChops.difference(a, b).histogram()
    se = sum(count * (i % 256) ** 2 for i, count in enumerate(hist))
    mse = se / (a.width * a.height * 3)
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


def quality(data: bytes) -> dict[str, str]:
    """PSNR (dB) at 512 and 128 px against full decode + LANCZOS, before lossy encoding."""
    full = Image.open(io.BytesIO(data))
    full.load()
    full = full.convert("RGB")
    refs = {box: full.resize(inside(full.size, box), LANCZOS) for box in SIZES}
    del full
    ours = thumbnail.make_thumbnails(data, SIZES, output_format="png")
    results = {"ours": "/".join(f"{psnr(load(t.data), refs[t.size]):.1f}" for t in reversed(ours))}
    try:
        import pyvips

        big = pyvips.Image.thumbnail_buffer(data, 512, height=512, size="down").copy_memory()
        small = big.thumbnail_image(128, height=128, size="down")
        vals = [
            psnr(load(img.pngsave_buffer()), refs[box])
            for img, box in ((big, SIZES[1]), (small, SIZES[0]))
        ]
        results["vips"] = "/".join(f"{v:.1f}" for v in vals)
    except Exception as exc:  # pyvips is optional for this script
        results["vips"] = f"n/a ({type(exc).__name__})"
    return results


def load(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


# --- measuring ------------------------------------------------------------------------------


def timings(
    data: bytes,
    reps: int,
    runners: dict[str, Callable[[bytes], object]] | None = None,
    skip_warmup: tuple[str, ...] = ("naive",),
) -> dict[str, tuple[float, float]]:
    """Median (wall ms, CPU ms) per method; methods interleaved so load drift hits all alike."""
    runners = runners or RUNNERS
    for method, run in runners.items():
        if method not in skip_warmup:  # naive caches nothing, and costs seconds on 100 MP
            run(data)  # warm-up: imports, caches
    wall: dict[str, list[float]] = {m: [] for m in runners}
    cpu: dict[str, list[float]] = {m: [] for m in runners}
    for _ in range(reps):
        for method, run in runners.items():
            w0, c0 = time.perf_counter(), time.process_time()
            run(data)
            cpu[method].append((time.process_time() - c0) * 1000)
            wall[method].append((time.perf_counter() - w0) * 1000)
    return {m: (statistics.median(wall[m]), statistics.median(cpu[m])) for m in runners}


def peak_rss_kb() -> int:
    """Peak RSS of this process image (VmHWM). ru_maxrss is no use here: Linux carries the
    parent's peak across fork+exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(
    method: str, path: str, runners: dict[str, Callable[[bytes], object]] | None = None
) -> None:
    """Run one method once in this fresh process and report the peak RSS growth."""
    data = Path(path).read_bytes()
    if method == "vips":
        import pyvips  # noqa: F401  (imported before the baseline, like Pillow)
    estimate = 0
    before = peak_rss_kb()
    if method == "ours":
        estimate = thumbnail.render(data, SIZES).source.estimated_bytes
    else:
        (runners or RUNNERS)[method](data)
    after = peak_rss_kb()
    print(json.dumps({"rss_kb": after - before, "estimate": estimate}))


def rss_growth(method: str, path: Path, script: str = __file__) -> tuple[float, float]:
    """(peak RSS growth MB, our estimate MB) of `script --child METHOD PATH`."""
    out = subprocess.run(
        [sys.executable, script, "--child", method, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["rss_kb"] / 1024, result["estimate"] / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="three images instead of six")
    parser.add_argument(
        "--photo", type=Path, action="append", default=[], help="also time this image"
    )
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0

    # naive and floor open 100 MP files through Image.open, which warns above 89 MP.
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    started = time.perf_counter()
    reps = 5
    cases = make_cases(args.quick, args.photo)
    rows: list[list[str]] = []
    checks: list[tuple[str, bool]] = []
    for label, path in cases:
        data = path.read_bytes()
        probe = Image.open(io.BytesIO(data))
        size, fmt = probe.size, probe.format
        big = size[0] * size[1] >= 90_000_000
        case_reps = 2 if big else reps
        measured = timings(data, case_reps)
        ms = {m: measured[m][1] for m in METHODS}  # CPU time: robust on a shared machine
        wall = {m: measured[m][0] for m in METHODS}
        rss: dict[str, float] = {}
        estimate = 0.0
        for m in METHODS:
            rss[m], est = rss_growth(m, path)
            if m == "ours":
                estimate = est
        q = quality(data) if not big or not args.quick else {"ours": "-", "vips": "-"}
        for m in METHODS:
            rows.append(
                [
                    label if m == "ours" else "",
                    m,
                    f"{wall[m]:.0f}",
                    f"{ms[m]:.0f}",
                    f"{ms[m] / ms['floor']:.2f}x",
                    f"{rss[m]:.1f}",
                    f"{estimate:.1f}" if m == "ours" else "",
                    {"floor": "-", "naive": "reference"}.get(m, q.get(m, "")),
                ]
            )
        is_baseline_jpeg = fmt == "JPEG" and not probe.info.get("progressive")
        if label.startswith("24 MP baseline"):
            checks.append(
                (
                    f"24 MP baseline: ours {ms['ours'] / ms['floor']:.2f}x floor (<= 1.1x)",
                    ms["ours"] <= 1.1 * ms["floor"],
                )
            )
            if q.get("vips", "n/a")[0].isdigit() and q.get("ours", "-")[0].isdigit():
                gain = min(
                    float(o) - float(v)
                    for o, v in zip(q["ours"].split("/"), q["vips"].split("/"), strict=True)
                )
                checks.append(
                    (
                        f"24 MP baseline: ours {ms['ours']:.0f} ms vs vips {ms['vips']:.0f} ms"
                        f" (<=), PSNR +{gain:.1f} dB (>= 5 dB)",
                        ms["ours"] <= ms["vips"] and gain >= 5,
                    )
                )
            checks.append(
                (
                    f"24 MP baseline: ours {ms['naive'] / ms['ours']:.1f}x faster than naive"
                    " (>= 4x)",
                    ms["naive"] >= 4 * ms["ours"],
                )
            )
        if is_baseline_jpeg and not label.startswith("photo"):
            checks.append(
                (f"{label}: ours peak RSS +{rss['ours']:.1f} MB (<= 16 MB)", rss["ours"] <= 16)
            )
        if q.get("ours", "-") not in ("-", ""):
            worst = min(float(v) for v in q["ours"].split("/"))
            checks.append((f"{label}: ours PSNR {q['ours']} dB (>= 50 dB)", worst >= 50))
        print(f"  measured {label}", file=sys.stderr)

    header = [
        "image",
        "method",
        "wall ms",
        "CPU ms",
        "CPU vs floor",
        "RSS +MB",
        "est. MB",
        "PSNR 512/128 dB",
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print()
    for text, ok in checks:
        print(f"[{'PASS' if ok else 'MISS'}] {text}")
    print(
        f"\n{len(cases)} images, {reps} repetitions, {time.perf_counter() - started:.0f}s total"
        f" (Pillow {Image.__version__}, {os.cpu_count()} CPUs)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
