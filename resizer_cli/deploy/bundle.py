"""The function's code: the installed `lambda_handler` package as a deterministic zip."""

from __future__ import annotations

import base64
import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path

from resizer_cli import ziputil
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


def build_handler_bundle(source: Path | None = None, dest: Path | None = None) -> Artifact:
    """Zip `source` (default: the installed package) as `lambda_handler/...`, skipping caches."""
    src = source or handler_source()
    entries = ziputil.tree_entries(src, prefix=f"{PACKAGE}/")
    if not entries:
        raise ResizerError(f"no handler files found in {src}", "reinstall resizer")
    if dest is not None:
        return Artifact(dest, ziputil.write_zip(entries, dest))
    # Content-addressed, so concurrent builds of different sources never share a file.
    folder = cache_dir() / "handler"
    tmp = folder / f"build-{os.getpid()}.zip"
    sha = ziputil.write_zip(entries, tmp)
    final = folder / f"handler-{sha}.zip"
    os.replace(tmp, final)
    return Artifact(final, sha)
