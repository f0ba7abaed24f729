"""Which files the arguments name: files, folders (recursive) and globs, each with its path
relative to where its key starts."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from resizer_cli.errors import ResizerError

_GLOB_CHARS = set("*?[")


def _walk(folder: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder):
        # Hidden folders and files (.git, .DS_Store) are never images someone meant to upload.
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def _glob_base(pattern: str) -> Path:
    """The leading part of a pattern that has no wildcard: keys are relative to it."""
    parts = Path(pattern).parts
    base: list[str] = []
    for part in parts[:-1]:
        if _GLOB_CHARS & set(part):
            break
        base.append(part)
    return Path(*base) if base else Path(".")


def expand_paths(args: Sequence[str]) -> list[tuple[Path, str]]:
    """(file, relative key) for every file the arguments name: files, folders, globs."""
    found: list[tuple[Path, str]] = []
    for arg in args:
        path = Path(arg).expanduser()
        if path.is_file():
            found.append((path, path.name))
        elif path.is_dir():
            found += [(f, f.relative_to(path).as_posix()) for f in _walk(path)]
        elif _GLOB_CHARS & set(arg):
            matches = sorted(glob.glob(os.path.expanduser(arg), recursive=True))
            if not matches:
                raise ResizerError(f"no file matches {arg!r}", "check the pattern")
            base = _glob_base(os.path.expanduser(arg))
            for match in map(Path, matches):
                if match.is_file():
                    found.append((match, match.relative_to(base).as_posix()))
                elif match.is_dir():
                    found += [(f, f.relative_to(base).as_posix()) for f in _walk(match)]
        else:
            raise ResizerError(f"{arg}: no such file or folder", "check the path")
    return found
