"""`resizer demo`: the whole pipeline on this machine, in one command.

Starts the emulator, deploys the stack with the deploy engine (in-process), generates a few
realistic sample images plus one corrupt file, uploads them and waits for their thumbnails
with the operations code, downloads the thumbnails, fetches one rendition on the fly over the
stack's HTTP API (as a browser that accepts WebP), and collects the invocations' log lines.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

from resizer_cli import settings as settings_mod
from resizer_cli.aws import connect
from resizer_cli.emulator import control
from resizer_cli.errors import ResizerError
from resizer_cli.logscan import Scan
from resizer_cli.ops import upload as up
from resizer_cli.ops.collect import collect
from resizer_cli.ops.download import check_writable
from resizer_cli.ops.layout import require_deployed, stack_layout
from resizer_cli.ops.results import FileResult
from resizer_cli.ops.url import Fetched, fetch, rendition_url
from resizer_cli.output import Reporter

CORRUPT_NAME = "corrupt.jpg"


@dataclass
class DemoResult:
    results: list[FileResult]
    rows: list[tuple[str, ...]]
    log_events: list[dict[str, Any]]
    next_steps: list[str]
    endpoint: str
    out: Path
    failed_unexpectedly: bool
    extra: dict[str, Any] = field(default_factory=dict)
    failure: ResizerError | None = None  # what stopped the uploads late: reported last

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "out": str(self.out),
            "results": [r.to_json() for r in self.results],
            "log_lines": [str(e.get("message", "")).rstrip() for e in self.log_events],
            "ok": not self.failed_unexpectedly,
            **self.extra,
        }


def photo(width: int, height: int) -> Image.Image:
    """A photo-like picture (sky gradient, noise, shapes) that compresses like a real one."""
    sky = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    tint = Image.new("RGB", (width, height), (40, 110, 190))
    base = Image.blend(sky, tint, 0.55)
    noise = Image.effect_noise((width // 4, height // 4), 40).resize((width, height))
    base = Image.composite(base, Image.merge("RGB", (noise, noise, noise)),
                           Image.new("L", (width, height), 215))
    draw = ImageDraw.Draw(base)
    draw.polygon([(0, height), (width // 3, height // 2), (width * 2 // 3, height),
                  ], fill=(70, 90, 60))
    draw.polygon([(width // 3, height), (width * 3 // 4, height // 3), (width, height)],
                 fill=(95, 105, 80))
    draw.ellipse((width * 3 // 4, height // 10, width * 3 // 4 + width // 10,
                  height // 10 + width // 10), fill=(250, 230, 160))
    return base.filter(ImageFilter.GaussianBlur(1))


def make_samples(folder: Path) -> list[Path]:
    """Sample uploads: a large JPEG, a PNG with alpha, a GIF, a small WebP, one corrupt file."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []

    big = folder / "mountain-4000x3000.jpg"
    if not big.exists():
        photo(4000, 3000).save(big, "JPEG", quality=90)
    paths.append(big)

    logo = folder / "logo-alpha.png"
    if not logo.exists():
        img = Image.new("RGBA", (900, 600), (0, 0, 0, 0))
        draw = ImageDraw.Draw(img)
        draw.rounded_rectangle((60, 60, 840, 540), radius=80, fill=(220, 60, 60, 200))
        draw.ellipse((300, 150, 600, 450), fill=(255, 255, 255, 255))
        img.save(logo, "PNG")
    paths.append(logo)

    anim = folder / "spinner.gif"
    if not anim.exists():
        frames = []
        for i in range(8):
            frame = Image.new("P", (320, 320), 0)
            frame.putpalette([255, 255, 255, 30, 144, 255] + [0, 0, 0] * 254)
            ImageDraw.Draw(frame).pieslice((40, 40, 280, 280), i * 45, i * 45 + 90, fill=1)
            frames.append(frame)
        frames[0].save(anim, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    paths.append(anim)

    web = folder / "portrait-1200x1800.webp"
    if not web.exists():
        photo(1200, 1800).save(web, "WEBP", quality=80)
    paths.append(web)

    broken = folder / CORRUPT_NAME
    if not broken.exists():
        buf = io.BytesIO()
        photo(640, 480).save(buf, "JPEG")
        data = buf.getvalue()
        # A JPEG header and garbage: looks like an image, cannot be decoded.
        broken.write_bytes(data[:600] + bytes(range(256)) * 8)
    paths.append(broken)
    return paths


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} B"


def _rows(results: list[FileResult], out: Path) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for res in results:
        name = Path(res.file).name
        latency = f"{res.latency_ms / 1000:.2f} s" if res.latency_ms is not None else ""
        if res.thumbnails:
            for n, thumb in enumerate(res.thumbnails):
                local = ""
                if thumb.local_path:
                    try:
                        local = str(Path(thumb.local_path).relative_to(out.resolve()))
                    except ValueError:
                        local = thumb.local_path
                rows.append((name if n == 0 else "", res.status if n == 0 else "",
                             latency if n == 0 else "", f"{thumb.width}x{thumb.height}",
                             _size(thumb.bytes), local))
        else:
            reason = f"{res.error_code}: {res.error}" if res.error_code else (res.error or "")
            rows.append((name, res.status, latency, "—", "", reason))
    return rows


def _log_events(target: Any, function: str, since_ms: int) -> list[dict[str, Any]]:
    try:
        events = list(Scan(target.client("logs"), f"/aws/lambda/{function}", since_ms, None))
    except Exception:
        return []
    events.sort(key=lambda e: e["timestamp"])
    return events


def run_demo(reporter: Reporter, *, out: Path, stack: str | None = None) -> DemoResult:
    from resizer_cli.deploy.stack import setup_stack

    # Everything the demo makes lands under --out: a folder we cannot write to fails now,
    # in one line, not after the emulator, the setup and the uploads.
    check_writable(out, "--out")
    with reporter.step("start the local emulator") as step:
        url, started = control.start()
        step.note(url if started else f"already running at {url}")
    settings = settings_mod.load({"stack": stack, "target": "local", "api": True})
    if settings.target != "local":
        raise ResizerError("the demo runs on the local emulator only")
    target = connect(settings)
    reporter.where(target.describe())
    setup_stack(target, reporter)
    settings_mod.save_stack(settings)

    with reporter.step("generate sample images") as step:
        samples = make_samples(out / "samples")
        step.note(f"{len(samples)} files in {out / 'samples'}")
    since_ms = int(time.time() * 1000) - 1000
    require_deployed(target)
    layout = stack_layout(target)
    items = collect([str(p) for p in samples], "demo", layout=layout).items
    options = up.UploadOptions(wait=True, timeout=120, concurrency=4, download=out)
    run = up.run_upload(target, layout, items, options, reporter)
    results = run.results

    unexpected = any(
        (r.status != "ok") != (Path(r.file).name == CORRUPT_NAME) for r in results
    )
    fetched = _on_the_fly(target, results, layout, reporter)
    unexpected = unexpected or fetched is None or fetched.status != 200
    function = target.names.function
    time.sleep(0.2)  # the REPORT line is written just after the result record
    events = _log_events(target, function, since_ms)
    next_steps = [
        "resizer upload ~/Pictures/*.jpg --download thumbs/   # your own images",
        "resizer logs --since 10m                            # these invocations' logs",
        "resizer status                                      # what is deployed",
        "resizer url demo/spinner.gif --size 128x128         # a URL of a rendition on the fly",
        "resizer local status                                # emulator: invocations, errors",
        "resizer setup --sizes 64x64,256x256 --format webp   # change the stack, re-run",
        "resizer teardown --yes && resizer local stop        # leave nothing behind",
    ]
    extra = {"on_the_fly": fetched.to_json()} if fetched is not None else {}
    return DemoResult(results, _rows(results, out), events, next_steps, url, out,
                      unexpected or run.failure is not None, extra=extra, failure=run.failure)


def _on_the_fly(
    target: Any, results: list[FileResult], layout: Any, reporter: Reporter
) -> Fetched | None:
    """One rendition the upload did not make (WebP, as a browser accepts it), over HTTP."""
    key = next((r.key for r in results if r.status == "ok" and r.key
                and r.key.endswith(".jpg")), None)
    if key is None:
        return None
    width, height = layout.sizes[-1]
    with reporter.step("fetch a rendition on the fly over HTTP") as step:
        link = rendition_url(target, key, f"{width}x{height}")
        fetched = fetch(link.url, accept="image/webp,image/*")
        step.note(f"{fetched.status} {fetched.content_type}, {fetched.bytes} bytes, "
                  f"{fetched.rendition or 'not made'} in {fetched.ms:.0f} ms")
    return fetched
