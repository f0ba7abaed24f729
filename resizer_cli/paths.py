"""Where resizer keeps its state and caches.

RESIZER_HOME moves everything (tests point it at a temporary folder); RESIZER_CACHE_DIR moves
only the cache, so test sessions can share downloaded wheels.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def state_dir() -> Path:
    home = os.environ.get("RESIZER_HOME")
    path = Path(home) / "state" if home else Path(platformdirs.user_state_dir("resizer"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    explicit = os.environ.get("RESIZER_CACHE_DIR")
    home = os.environ.get("RESIZER_HOME")
    if explicit:
        path = Path(explicit)
    elif home:
        path = Path(home) / "cache"
    else:
        path = Path(platformdirs.user_cache_dir("resizer"))
    path.mkdir(parents=True, exist_ok=True)
    return path
