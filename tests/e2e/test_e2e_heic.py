"""End to end: HEIC uploads through the installed `resizer` and the real emulator, whose
function imports pillow-heif from the layer `resizer setup` built; and a stack set up with
`--no-heic`, whose smaller layer answers the same upload with 'unsupported'."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pillow_heif
from PIL import Image

Run = Callable[..., subprocess.CompletedProcess[str]]
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _phone_heic(path: Path) -> None:
    """An upright 400x200 quadrant picture stored as a phone does: turned, with irot."""
    upright = Image.new("RGB", (400, 200))
    for box, colour in (((0, 0, 200, 100), RED), ((200, 0, 400, 100), GREEN),
                        ((0, 100, 200, 200), BLUE), ((200, 100, 400, 200), WHITE)):
        upright.paste(colour, box)
    # pillow-heif's writer turns the pixels by their EXIF orientation and records that turn
    # as irot: given the picture turned back twice, the file stores it turned back once.
    stored = upright.transpose(Image.Transpose.ROTATE_90).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.info["exif"] = exif.tobytes()
    buf = io.BytesIO()
    pillow_heif.from_pillow(stored).save(buf, quality=95)
    path.write_bytes(buf.getvalue())


def _docs(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    docs = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return {d["key"]: d for d in docs}


def test_heic_upload_makes_upright_jpegs_and_no_heic_stack_refuses_it(
    emulator: Any, run_resizer: Run, tmp_path: Path
) -> None:
    folder = tmp_path / "phone"
    folder.mkdir()
    _phone_heic(folder / "IMG_0001.HEIC")
    data = (folder / "IMG_0001.HEIC").read_bytes()
    (folder / "IMG_0002.HEIC").write_bytes(data[: len(data) // 2])  # cut short

    run_resizer("setup", "--stack", "heic", "--sizes", "128x128", check=True, timeout=600)
    out = tmp_path / "out"
    proc = run_resizer("upload", str(folder), "--stack", "heic", "--json", "--download",
                       str(out), "--timeout", "90")
    assert proc.returncode == 1, proc.stderr  # the truncated file fails the run
    docs = _docs(proc)
    good, bad = docs["raw/IMG_0001.HEIC"], docs["raw/IMG_0002.HEIC"]
    assert good["status"] == "ok", good
    (thumb,) = good["thumbnails"]
    assert thumb["key"] == "thumbnails/128x128/IMG_0001.jpg"
    assert (thumb["width"], thumb["height"]) == (128, 64)  # upright: rotated exactly once
    with Image.open(thumb["local_path"]) as im:
        assert im.format == "JPEG"
        for (x, y), colour in {(10, 10): RED, (118, 10): GREEN, (10, 54): BLUE,
                               (118, 54): WHITE}.items():
            px = im.convert("RGB").getpixel((x, y))
            assert all(abs(a - b) <= 40 for a, b in zip(px, colour, strict=True)), (x, y, px)  # type: ignore[arg-type]
    assert bad["status"] == "failed" and bad["error_code"] == "corrupt"

    run_resizer("setup", "--stack", "noheic", "--no-heic", "--sizes", "128x128", check=True,
                timeout=600)
    proc = run_resizer("upload", str(folder / "IMG_0001.HEIC"), "--stack", "noheic", "--json",
                       "--timeout", "90")
    assert proc.returncode == 1, proc.stderr
    doc = _docs(proc)["raw/IMG_0001.HEIC"]
    assert doc["status"] == "failed" and doc["error_code"] == "unsupported"
    assert "leaves out" in doc["error"] and "--heic" in doc["error"]
    for stack in ("heic", "noheic"):
        run_resizer("teardown", "--stack", stack, "--yes", check=True)
