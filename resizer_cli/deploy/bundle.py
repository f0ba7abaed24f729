"""The function's code: the installed `lambda_handler` package as a deterministic zip."""

from __future__ import annotations

import base64
import importlib.resources
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from resizer_cli import bytecode, ziputil
from resizer_cli.errors import ResizerError
from resizer_cli.paths import cache_dir

PACKAGE = "lambda_handler"
HANDLER = "lambda_handler.handler.handler"


@dataclass(frozen=True)
class Artifact:
    """A zip to upload and its SHA-256 (hex). Layer artifacts have the same two fields."""

    path: Path
    sha256: str

    @property
    def code_sha256(self) -> str:
        """The form Lambda reports as CodeSha256: base64 of the raw digest."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()


def handler_source() -> Path:
    try:
        root = importlib.resources.files(PACKAGE)
    except (ModuleNotFoundError, NotADirectoryError, TypeError):
        root = None
    if root is None or not root.joinpath("handler.py").is_file():
        raise ResizerError(
            f"the {PACKAGE} package (with handler.py) is not installed",
            "reinstall resizer: pip install -e .",
        )
    return Path(str(root))


def build_handler_bundle(
    source: Path | None = None, dest: Path | None = None, python_version: str | None = None
) -> Artifact:
    """Zip `source` (default: the installed package) as `lambda_handler/...`, skipping caches.

    With `python_version` ("3.13", the function's runtime), the zip also carries .pyc files
    compiled for it (resizer_cli.bytecode), when an interpreter of that version is at hand."""
    src = source or handler_source()
    entries = ziputil.tree_entries(src, prefix=f"{PACKAGE}/")
    if not entries:
        raise ResizerError(f"no handler files found in {src}", "reinstall resizer")
    with tempfile.TemporaryDirectory(prefix="resizer-bundle-") as tmp:
        if python_version is not None:
            entries = _with_bytecode(entries, Path(tmp), python_version)
        if dest is not None:
            return Artifact(dest, ziputil.write_zip(entries, dest))
        # Content-addressed, so concurrent builds of different sources never share a file.
        folder = cache_dir() / "handler"
        tmp_zip = folder / f"build-{os.getpid()}.zip"
        sha = ziputil.write_zip(entries, tmp_zip)
    final = folder / f"handler-{sha}.zip"
    os.replace(tmp_zip, final)
    return Artifact(final, sha)


def _with_bytecode(
    entries: list[tuple[str, Path]], tmp: Path, python_version: str
) -> list[tuple[str, Path]]:
    """The entries plus fresh .pyc files, compiled in a clean copy (never a stale cache)."""
    for name, path in entries:
        copy = tmp.joinpath(*name.split("/"))
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
    if not bytecode.compile_tree(tmp, python_version, prefix="/var/task"):
        return entries
    compiled = [(p.relative_to(tmp).as_posix(), p) for p in sorted(tmp.rglob("*.pyc"))]
    return entries + compiled
