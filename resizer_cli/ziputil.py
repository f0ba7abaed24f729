"""Deterministic zip files: the same inputs give the same bytes and the same SHA-256.

Used for the handler bundle and the Pillow layer, so that deploy can compare hashes and skip
unchanged uploads.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

# 1980-01-01, the earliest time a zip entry can carry.
FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def _mode(src: Path) -> int:
    return 0o755 if os.access(src, os.X_OK) and src.suffix != ".py" else 0o644


def write_zip(
    entries: Iterable[tuple[str, Path]],
    dest: Path,
    *,
    modes: Mapping[str, int] | None = None,
    compresslevel: int = 9,
) -> str:
    """Write (archive name, source file) pairs to `dest` atomically; return the SHA-256.

    Entries are sorted, timestamps fixed and modes normalised to 644/755. `modes` (archive
    name -> mode) overrides the mode read from disk, for bytes that must not depend on the host
    (Windows reports every file as executable). `compresslevel` is part of the output: keep it
    fixed per use.
    """
    items = sorted(entries, key=lambda e: e[0])
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".zip", dir=dest.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(
            tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
        ) as zf:
            for name, src in items:
                info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # unix, so external_attr carries the mode
                mode = modes[name] if modes and name in modes else _mode(src)
                info.external_attr = (0o100000 | mode) << 16
                with open(src, "rb") as fh:
                    zf.writestr(info, fh.read(), compresslevel=compresslevel)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha256_file(dest)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_entries(root: Path, prefix: str = "") -> list[tuple[str, Path]]:
    """All files below `root` as zip entries, skipping caches and compiled files."""
    out: list[tuple[str, Path]] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        out.append((prefix + path.relative_to(root).as_posix(), path))
    return out
