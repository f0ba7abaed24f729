"""Bytecode compiled ahead of time for the function's zip and its layer.

Lambda unpacks the function into /var/task and layers into /opt, and both are read-only. Python
cannot write __pycache__ there, so a zip with no .pyc files makes every cold start compile each
module it imports. Pillow alone costs about 100 ms of init that way
(benchmarks/bench_cold_start.py). A .pyc works for one Python minor version only, so it has to
be made by an interpreter of the runtime's version: this one, or `pythonX.Y` on PATH. When
neither is found, the zip ships sources only, as before.

The .pyc files are hash-checked (PEP 552). The zips fix every file's time at 1980, so a
timestamp check would fail. With a hash, Python reads the source and checks it (cheap) and
never runs a stale .pyc. The bytes do not depend on where the tree was compiled: `prefix` is
the path the files have on Lambda. So the zips stay deterministic and deploy can still compare
their hashes.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path

TIMEOUT_S = 300


@functools.cache
def interpreter_for(version: str) -> str | None:
    """A Python of `version` ("3.13") that can compile, or None."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return sys.executable
    found = shutil.which(f"python{version}")
    if found is None:
        return None
    try:  # a version manager's shim may exist on PATH and still refuse to run
        probe = subprocess.run(
            [found, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found if probe.returncode == 0 and probe.stdout.strip() == version else None


def compile_tree(root: Path, version: str, prefix: str) -> bool:
    """Write hash-checked .pyc files beside every .py below `root`, as they would be compiled
    at `prefix` on Lambda. Returns False, and writes nothing, when no interpreter of `version`
    is at hand. A file that does not compile is left without bytecode: Python will report
    its error at import, as it would without us."""
    python = interpreter_for(version)
    if python is None:
        return False
    subprocess.run(
        [python, "-I", "-m", "compileall", "-q", "-q",
         "--invalidation-mode", "checked-hash", "-s", str(root), "-p", prefix, str(root)],
        capture_output=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL,
    )
    return True

