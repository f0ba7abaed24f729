"""Real layers from PyPI: right tags, right CPU in every ELF, deterministic bytes, the cache."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from resizer_cli.layer import LayerArtifact, LayerError, build_layer, verify_layer
from resizer_cli.layer import build as layer_build
from resizer_cli.layer.elf import sniff
from resizer_cli.layer.target import lambda_target
from resizer_cli.ziputil import FIXED_DATE, sha256_file

NativeMembers = Callable[[Path], dict[str, bytes]]


def _check_layer(art: LayerArtifact, nodot: str, triplet: str, machine: int) -> None:
    assert art.path.is_file() and art.size == art.path.stat().st_size
    assert art.sha256 == sha256_file(art.path)
    with zipfile.ZipFile(art.path) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names)
        assert all(i.date_time == FIXED_DATE for i in infos)
        assert all((i.external_attr >> 16) & 0o777 in (0o644, 0o755) for i in infos)
        assert all(n.startswith("python/") for n in names)
        assert "python/PIL/__init__.py" in names
        assert "python/PIL/Image.py" in names
        assert not [n for n in names if n.endswith((".pyi", ".h"))]
        # Bytecode only our own, for the target's Python, when one was at hand to compile it.
        compiled = [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        assert all(n.endswith(f".cpython-{nodot}.pyc") for n in compiled)
        assert "python/pillow-13.0.0.dist-info/licenses/LICENSE" in names
        wheel = zf.read("python/pillow-13.0.0.dist-info/WHEEL").decode()
        assert f"Tag: cp{nodot}-cp{nodot}-manylinux" in wheel
        assert art.unzipped_size == sum(i.file_size for i in infos)
        extensions = [n for n in names if n.endswith(".so")]
        assert "python/PIL/_imaging." + f"cpython-{nodot}-{triplet}.so" in extensions
        assert f"python/_pillow_heif.cpython-{nodot}-{triplet}.so" in extensions
        assert all(f".cpython-{nodot}-{triplet}.so" in n for n in extensions)
        heif_libs = {n.rsplit("/", 1)[-1].split("-")[0] for n in names if "pillow_heif.libs/" in n}
        assert heif_libs == {"libheif", "libde265", "libx265"}
        assert "python/pillow_heif-1.8.1.dist-info/licenses/LICENSES_bundled.txt" in names


def test_python312_x86_64_layer_has_cp312_x86_64_elf_everywhere(
    layer_312_x86: LayerArtifact, native_members: NativeMembers
) -> None:
    art = layer_312_x86
    assert (art.runtime, art.architecture) == ("python3.12", "x86_64")
    _check_layer(art, "312", "x86_64-linux-gnu", 62)
    natives = native_members(art.path)
    assert len(natives) > 10  # extension modules plus pillow.libs
    assert any("pillow_heif.libs/libheif" in n for n in natives)
    for name, data in natives.items():
        info = sniff(data)
        assert (info.kind, info.machine, info.bits) == ("elf", 62, 64), name
        assert info.glibc is None or info.glibc <= (2, 34), name
        assert (info.version("GLIBCXX") or ()) <= (3, 4, 29), name
    report = verify_layer(art.path, "python3.12", "x86_64")
    assert report.sha256 == art.sha256
    assert set(report.native_files) == set(natives)


def test_python313_arm64_layer_has_cp313_aarch64_elf_everywhere(
    layer_313_arm: LayerArtifact, native_members: NativeMembers
) -> None:
    art = layer_313_arm
    assert (art.runtime, art.architecture) == ("python3.13", "arm64")
    _check_layer(art, "313", "aarch64-linux-gnu", 183)
    for name, data in native_members(art.path).items():
        assert sniff(data).machine == 183, name
    assert verify_layer(art.path, "python3.13", "arm64").glibc_needed is not None


def test_second_build_comes_from_the_cache_without_pip(
    layer_313_arm: LayerArtifact, pip_calls: list[list[str]]
) -> None:
    again = build_layer("python3.13", "arm64")
    assert again == layer_313_arm
    assert pip_calls == []


def test_pip_is_asked_for_the_target_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pip_calls: list[list[str]]
) -> None:
    """A fresh cache: one pip download per pinned package, with the target's tags; and the
    same inputs give byte-identical zips across two independent builds."""
    first = build_layer("python3.12", "x86_64")  # shared session cache
    monkeypatch.setenv("RESIZER_CACHE_DIR", str(tmp_path / "other-cache"))
    second = build_layer("python3.12", "x86_64")
    assert second.path != first.path
    assert second.sha256 == first.sha256
    assert second.path.read_bytes() == first.path.read_bytes()
    calls = [c for c in pip_calls if c[0] == "download"]
    assert [c[-1] for c in calls] == ["pillow==13.0.0", "pillow-heif==1.8.1"]
    for call in calls:
        assert "--only-binary=:all:" in call and "--no-deps" in call
        assert call[call.index("--abi") + 1] == "cp312"
        assert call[call.index("--python-version") + 1] == "3.12"
        platforms = [call[i + 1] for i, a in enumerate(call) if a == "--platform"]
        assert "manylinux_2_34_x86_64" in platforms and "manylinux2014_x86_64" in platforms


def test_output_copies_the_zip_where_asked(layer_312_x86: LayerArtifact, tmp_path: Path) -> None:
    out = build_layer("python3.12", "x86_64", output=tmp_path / "dist")
    assert out.path == tmp_path / "dist" / "pillow-layer-python3.12-x86_64.zip"
    assert out.sha256 == layer_312_x86.sha256 == sha256_file(out.path)
    named = build_layer("python3.12", "x86_64", output=tmp_path / "mine.zip")
    assert named.path.read_bytes() == layer_312_x86.path.read_bytes()


def test_a_damaged_cached_zip_is_detected_and_rebuilt(
    layer_312_x86: LayerArtifact, pip_calls: list[list[str]]
) -> None:
    path = layer_312_x86.path
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # same size, still opens as a zip: only the sha tells
    path.write_bytes(bytes(data))
    rebuilt = build_layer("python3.12", "x86_64")
    assert len(pip_calls) == 2  # pillow and pillow-heif
    assert rebuilt.sha256 == layer_312_x86.sha256 == sha256_file(rebuilt.path)
    verify_layer(rebuilt.path, "python3.12", "x86_64")


def test_an_empty_or_unvouched_cached_zip_is_not_used(layer_312_x86: LayerArtifact) -> None:
    path = layer_312_x86.path
    meta = path.with_suffix(".json")
    target = lambda_target("python3.12", "x86_64")
    assert layer_build._load_cached(path, meta, target) == layer_312_x86
    saved, meta_text = path.read_bytes(), meta.read_text()
    try:
        path.write_bytes(b"")
        assert layer_build._load_cached(path, meta, target) is None
        path.write_bytes(saved)
        meta.unlink()  # a zip without its sidecar was never finished
        assert layer_build._load_cached(path, meta, target) is None
    finally:
        path.write_bytes(saved)
        meta.write_text(meta_text)
    assert layer_build._load_cached(path, meta, target) == layer_312_x86


def test_an_interrupted_build_leaves_nothing_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pip_calls: list[list[str]]
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("RESIZER_CACHE_DIR", str(cache))
    real_writestr = zipfile.ZipFile.writestr
    written: list[str] = []

    def interrupted(self: zipfile.ZipFile, info: object, data: object, *a: object, **k: object):
        name = getattr(info, "filename", info)
        written.append(str(name))
        if len(written) == 40:  # well into the layer zip: Ctrl-C
            raise KeyboardInterrupt
        return real_writestr(self, info, data, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "writestr", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_layer("python3.13", "arm64")
    assert len(written) == 40
    assert list((cache / "layers").iterdir()) == []  # no zip, no sidecar, no staging dir
    assert len(pip_calls) == 2


def test_no_network_to_the_index_is_reported_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESIZER_CACHE_DIR", str(tmp_path / "cache"))
    for var in [v for v in os.environ if v.startswith("PIP_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens there
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "5")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    with pytest.raises(LayerError) as err:
        build_layer("python3.13", "x86_64")
    # pip 23 names the host in urllib3's words, pip 26 only in the URL it could not fetch.
    assert str(err.value).startswith("cannot reach 127.0.0.1 to download pillow==13.0.0")


def test_a_layer_without_heic_leaves_pillow_heif_out(layer_312_x86: LayerArtifact) -> None:
    plain = build_layer("python3.12", "x86_64", heic=False)
    assert plain.sha256 != layer_312_x86.sha256 and plain.path != layer_312_x86.path
    with zipfile.ZipFile(plain.path) as zf:
        names = zf.namelist()
    assert "python/PIL/__init__.py" in names
    assert not [n for n in names if "heif" in n]
    assert plain.size < layer_312_x86.size and plain.unzipped_size < layer_312_x86.unzipped_size
    verify_layer(plain.path, "python3.12", "x86_64")
