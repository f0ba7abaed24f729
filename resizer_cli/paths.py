"""Where resizer keeps its state and caches.

RESIZER_HOME moves everything (tests point it at a temporary folder); RESIZER_CACHE_DIR moves
only the cache, so test sessions can share downloaded wheels. An empty variable counts as unset.
A folder resizer cannot create or write is one line naming the variable that chose it.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from resizer_cli.errors import ResizerError


def usable_dir(path: Path, chosen_by: str | None) -> Path:
    """Create `path` if needed and check it is a folder we can write; `chosen_by` names the
    variable that picked it (None: the platform's default location)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        problem = "" if path.is_dir() else f"{path} is not a folder"
    except FileExistsError:
        problem = f"{path} is not a folder"
    except OSError as exc:
        problem = f"cannot create {path}: {exc.strerror or exc}"
    # access() also reports a read-only file system; root passes permission bits regardless.
    if not problem and not os.access(path, os.W_OK | os.X_OK):
        problem = f"cannot write in {path}"
    if problem:
        source = f"{chosen_by}={os.environ.get(chosen_by, '')}: " if chosen_by else ""
        remedy = (
            f"point {chosen_by} at a folder you can write, or unset it"
            if chosen_by
            else "set RESIZER_HOME to a folder you can write"
        )
        raise ResizerError(f"{source}{problem}", remedy)
    return path


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def state_dir() -> Path:
    home = _env("RESIZER_HOME")
    if home:
        return usable_dir(Path(home) / "state", "RESIZER_HOME")
    return usable_dir(Path(platformdirs.user_state_dir("resizer")), None)


def cache_dir() -> Path:
    explicit, home = _env("RESIZER_CACHE_DIR"), _env("RESIZER_HOME")
    if explicit:
        return usable_dir(Path(explicit), "RESIZER_CACHE_DIR")
    if home:
        return usable_dir(Path(home) / "cache", "RESIZER_HOME")
    return usable_dir(Path(platformdirs.user_cache_dir("resizer")), None)


def state_subdir(name: str) -> Path:
    """A folder inside the state directory, checked like the state directory itself."""
    return usable_dir(state_dir() / name, "RESIZER_HOME" if _env("RESIZER_HOME") else None)
