"""The layer built for the local interpreter really imports, alone, in a clean interpreter."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image

import lambda_handler
from resizer_cli.layer import build_layer, host_architecture, verify_layer

PROBE = r"""
import io, sys
sys.path.insert(0, sys.argv[1])
from PIL import Image, features
import PIL, PIL._imaging
assert PIL.__file__.startswith(sys.argv[1]), PIL.__file__
assert PIL._imaging.__file__.startswith(sys.argv[1]), PIL._imaging.__file__
im = Image.new("RGB", (1600, 1200), (200, 30, 40))
buf = io.BytesIO()
im.save(buf, "JPEG", quality=90)
buf.seek(0)
src = Image.open(buf)
src.thumbnail((128, 128))
out = io.BytesIO()
src.save(out, "WEBP" if features.check("webp") else "PNG")
print(PIL.__version__, src.size, len(out.getvalue()), [p for p in sys.path if "site-packages" in p])
"""


def test_local_layer_imports_pillow_in_a_clean_interpreter(tmp_path: Path) -> None:
    art = build_layer("python3.13", "x86_64", local=True)  # runtime/arch are the host's
    assert art.runtime == f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert art.architecture == host_architecture()
    verify_layer(art.path, art.runtime, art.architecture, local=True)

    with zipfile.ZipFile(art.path) as zf:
        zf.extractall(tmp_path)
        # Bytecode for this Python (resizer_cli.bytecode): /opt is read-only on Lambda.
        tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
        pyc = zf.read(f"python/PIL/__pycache__/Image.{tag}.pyc")
        assert int.from_bytes(pyc[4:8], "little") == 0b11  # hash-based, checked (PEP 552)
    site = tmp_path / "python"
    # -I: no user site, no PYTHON* env; -S: no site-packages, so the host's Pillow is invisible.
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", PROBE, str(site)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    version, rest = proc.stdout.split(" ", 1)
    assert version == "13.0.0"
    assert "(128, 96)" in rest
    assert rest.rstrip().endswith("[]")  # no site-packages on the path at all


HEIC_PROBE = r"""
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]  # the layer, then the function code
from lambda_handler.thumbnail import ThumbnailError, make_thumbnails
try:
    thumb = make_thumbnails(open(sys.argv[3], "rb").read(), [(64, 64)])[0]
    print("ok", thumb.format, thumb.width, thumb.height)
except ThumbnailError as exc:
    print(exc.kind, exc.reason)
print("pillow_heif" in sys.modules and sys.modules["pillow_heif"].__file__.startswith(sys.argv[1]))
"""


@pytest.mark.parametrize("heic", [True, False])
def test_the_function_decodes_heic_with_the_layer_alone_or_says_it_is_left_out(
    tmp_path: Path, heic: bool
) -> None:
    art = build_layer("python3.13", "x86_64", local=True, heic=heic)
    with zipfile.ZipFile(art.path) as zf:
        zf.extractall(tmp_path / "layer")
    buf = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", (160, 120), (30, 90, 200))).save(buf, quality=80)
    (tmp_path / "photo.heic").write_bytes(buf.getvalue())
    repo = Path(lambda_handler.__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", HEIC_PROBE, str(tmp_path / "layer" / "python"),
         str(repo), str(tmp_path / "photo.heic")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    first, imported = proc.stdout.strip().splitlines()
    if heic:
        assert first == "ok jpeg 64 48" and imported == "True"
    else:
        assert first.startswith("unsupported HEIC/HEIF images need pillow-heif")
        assert "heic = false" in first and imported == "False"
