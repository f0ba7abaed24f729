"""Fixtures for the layer tests: real layers built once per session into the shared cache."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from resizer_cli.layer import LayerArtifact, build_layer, download


@pytest.fixture
def pip_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every pip invocation made through our seam, in order (pip still really runs)."""
    calls: list[list[str]] = []
    real = download.run_pip

    def counting(args: list[str]) -> tuple[int, str]:
        calls.append(list(args))
        return real(args)

    monkeypatch.setattr(download, "run_pip", counting)
    return calls


@pytest.fixture
def layer_312_x86() -> LayerArtifact:
    return build_layer("python3.12", "x86_64")


@pytest.fixture
def layer_313_arm() -> LayerArtifact:
    return build_layer("python3.13", "arm64")


def _native_members(path: Path) -> dict[str, bytes]:
    """Every native library / extension module in a layer zip, with its bytes."""
    out: dict[str, bytes] = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            base = name.rsplit("/", 1)[-1]
            if base.endswith(".so") or ".so." in base:
                out[name] = zf.read(name)
    return out


def _rewrite_zip(src: Path, dest: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """Copy a zip, letting `change` replace (or drop, with None) each member's bytes."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info, data)
    return dest


@pytest.fixture
def native_members() -> Callable[[Path], dict[str, bytes]]:
    return _native_members


@pytest.fixture
def rewrite_zip() -> Callable[[Path, Path, Callable[[str, bytes], bytes | None]], Path]:
    return _rewrite_zip
