"""verify_layer against deliberately wrong zips: host Pillow, other CPU, not a layer, too big."""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import PIL
import pytest

from resizer_cli.layer import LayerArtifact, LayerError, verify_layer
from resizer_cli.layer.elf import sniff
from resizer_cli.layer.target import RUNTIME_GLIBC
from resizer_cli.ziputil import tree_entries

RewriteZip = Callable[[Path, Path, Callable[[str, bytes], bytes | None]], Path]
HOST_TAG = f"cpython-{sys.version_info.major}{sys.version_info.minor}"


@pytest.fixture(scope="module")
def host_pillow_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A layer zip made the classic wrong way: from this machine's own installed Pillow."""
    dest = tmp_path_factory.mktemp("host-pillow") / "host-pillow.zip"
    site = Path(PIL.__file__).parent.parent
    roots = [site / "PIL", *(p for p in site.glob("pillow[-.]*") if p.is_dir())]
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for root in roots:
            for name, path in tree_entries(root, f"python/{root.name}/"):
                zf.write(path, name)
    return dest


def _one_line_error(zip_path: Path, runtime: str, arch: str) -> str:
    with pytest.raises(LayerError) as err:
        verify_layer(zip_path, runtime, arch)
    text = str(err.value)
    assert "\n" not in text
    assert "resizer layer build" in text  # says how to fix it
    return text


def test_host_installed_pillow_is_refused_for_another_python(host_pillow_zip: Path) -> None:
    zip_path = host_pillow_zip
    text = _one_line_error(zip_path, "python3.13", "x86_64")
    assert "_imaging" in text or "_avif" in text
    assert f"is built for Python {sys.version_info.major}.{sys.version_info.minor}" in text
    assert "not python3.13" in text
    assert "--runtime python3.13 --arch x86_64" in text


def test_host_pillow_for_the_same_python_still_needs_lambdas_glibc(host_pillow_zip: Path) -> None:
    # The host's wheel is manylinux_2_28: fine on Amazon Linux 2023 (glibc 2.34), not on
    # Amazon Linux 2 (python3.10/3.11, glibc 2.26), which is the project's Python 3.11.
    zip_path = host_pillow_zip
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    needed = max(
        info.glibc or (0, 0)
        for info in (sniff(p.read_bytes()) for p in Path(PIL.__file__).parent.glob("*.so"))
    )
    if needed > RUNTIME_GLIBC[runtime]:
        text = _one_line_error(zip_path, runtime, "x86_64")
        assert f"needs glibc {needed[0]}.{needed[1]}" in text
        assert f"{runtime} on Lambda has 2.26" in text
    else:
        assert verify_layer(zip_path, runtime, "x86_64").glibc_needed == f"{needed[0]}.{needed[1]}"


def test_it_is_accepted_for_what_it_is_the_local_interpreter(host_pillow_zip: Path) -> None:
    zip_path = host_pillow_zip
    report = verify_layer(zip_path, "ignored", "ignored", local=True)
    assert any(HOST_TAG in n for n in report.extensions)


def test_arm64_layer_is_refused_for_x86_64(layer_313_arm: LayerArtifact) -> None:
    text = _one_line_error(layer_313_arm.path, "python3.13", "x86_64")
    assert "is an AArch64 binary, not x86-64 (x86_64)" in text


def test_x86_64_layer_is_refused_for_arm64(layer_312_x86: LayerArtifact) -> None:
    text = _one_line_error(layer_312_x86.path, "python3.12", "arm64")
    assert "is an x86-64 binary, not AArch64 (arm64)" in text


def test_a_macos_binary_inside_is_named(
    layer_312_x86: LayerArtifact, tmp_path: Path, rewrite_zip: RewriteZip
) -> None:
    def darwin(name: str, data: bytes) -> bytes:
        return b"\xcf\xfa\xed\xfe" + data[4:] if "libjpeg" in name else data

    bad = rewrite_zip(layer_312_x86.path, tmp_path / "mixed.zip", darwin)
    text = _one_line_error(bad, "python3.12", "x86_64")
    assert "pillow.libs/libjpeg" in text and "macOS (Mach-O)" in text


def test_a_windows_extension_is_named(
    layer_312_x86: LayerArtifact, tmp_path: Path, rewrite_zip: RewriteZip
) -> None:
    src = layer_312_x86.path
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["python/PIL/_webp.cp312-win_amd64.pyd"] = b"MZ" + bytes(100)
    bad = tmp_path / "win.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    text = _one_line_error(bad, "python3.12", "x86_64")
    assert "_webp.cp312-win_amd64.pyd" in text and "Windows" in text


def test_a_corrupt_layer_zip_is_refused(layer_312_x86: LayerArtifact, tmp_path: Path) -> None:
    data = bytearray(layer_312_x86.path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    bad = tmp_path / "corrupt.zip"
    bad.write_bytes(bytes(data))
    text = _one_line_error(bad, "python3.12", "x86_64")
    assert text.startswith("corrupt.zip is corrupt")


def test_a_zip_without_python_dir_is_not_a_layer(tmp_path: Path) -> None:
    bad = tmp_path / "function.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("lambda_function.py", "def handler(e, c): pass\n")
    with pytest.raises(LayerError, match="not a Lambda Python layer: it has no python/ folder"):
        verify_layer(bad, "python3.13", "x86_64")


def test_a_file_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "layer.zip"
    bad.write_bytes(b"PK\x03\x04 but truncated")
    with pytest.raises(LayerError, match="is not a zip file"):
        verify_layer(bad, "python3.13", "x86_64")
    with pytest.raises(LayerError, match="does not exist"):
        verify_layer(tmp_path / "missing.zip", "python3.13", "x86_64")


def test_site_packages_layout_for_another_python_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "layout.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("python/lib/python3.12/site-packages/mod.py", "x = 1\n")
    with pytest.raises(LayerError, match=r"only python3\.12 puts on sys\.path"):
        verify_layer(bad, "python3.13", "x86_64")
    assert verify_layer(bad, "python3.12", "x86_64").files == 1


def test_over_lambdas_unzipped_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.zip"
    with (
        zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open("python/blob.bin", "w", force_zip64=True) as fh,
    ):
        for _ in range(251):
            fh.write(bytes(1 << 20))
    with pytest.raises(LayerError, match=r"unzips to 251\.0 MB, over Lambda's 250 MB limit"):
        verify_layer(big, "python3.13", "x86_64")
