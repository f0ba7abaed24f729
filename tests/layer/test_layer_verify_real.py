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


def test_a_library_missing_from_the_layer_is_named(
    layer_312_x86: LayerArtifact, tmp_path: Path, rewrite_zip: RewriteZip
) -> None:
    # libheif links against the libde265 auditwheel bundled beside it: without it the layer
    # would fail on Lambda only when the first HEIC arrives.
    def drop(name: str, data: bytes) -> bytes | None:
        return None if "pillow_heif.libs/libde265" in name else data

    bad = rewrite_zip(layer_312_x86.path, tmp_path / "no-de265.zip", drop)
    text = _one_line_error(bad, "python3.12", "x86_64")
    assert "pillow_heif.libs/libheif-" in text and "needs libde265-" in text
    assert "neither in the layer nor part of python3.12 on Lambda" in text


def test_a_library_the_runtime_os_lacks_is_named(
    layer_312_x86: LayerArtifact, tmp_path: Path, rewrite_zip: RewriteZip
) -> None:
    def link_x11(name: str, data: bytes) -> bytes:  # same length, so the ELF stays valid
        return data.replace(b"libmvec.so.1\0", b"libX11.so.6\0\0") if "libx265" in name else data

    bad = rewrite_zip(layer_312_x86.path, tmp_path / "x11.zip", link_x11)
    assert "needs libX11.so.6" in _one_line_error(bad, "python3.12", "x86_64")


def test_a_too_new_libstdcxx_symbol_version_is_refused(
    layer_312_x86: LayerArtifact, tmp_path: Path, rewrite_zip: RewriteZip
) -> None:
    def newer(name: str, data: bytes) -> bytes:
        if "pillow_heif.libs/libheif" in name:
            return data.replace(b"GLIBCXX_3.4.22\0", b"GLIBCXX_3.4.32\0")
        return data

    bad = rewrite_zip(layer_312_x86.path, tmp_path / "gcc13.zip", newer)
    text = _one_line_error(bad, "python3.12", "x86_64")
    assert "libheif" in text
    assert "needs GLIBCXX_3.4.32 from libstdc++ but python3.12 on Lambda has GLIBCXX_3.4.29" in text


def test_pillow_heif_in_the_arm64_layer_is_aarch64_throughout(layer_313_arm: LayerArtifact) -> None:
    report = verify_layer(layer_313_arm.path, "python3.13", "arm64")
    heif = [n for n in report.native_files if "heif" in n or "de265" in n or "x265" in n]
    assert "python/_pillow_heif.cpython-313-aarch64-linux-gnu.so" in report.extensions
    assert len(heif) == 4  # the extension module and the three libraries it brings
    with zipfile.ZipFile(layer_313_arm.path) as zf:
        for name in heif:
            info = sniff(zf.read(name))
            assert (info.machine, info.bits) == (183, 64), name
            assert "libc.so.6" in info.needed, name
