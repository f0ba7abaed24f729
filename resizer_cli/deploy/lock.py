"""One `setup` or `teardown` of a stack at a time on this machine.

Two runs at once would race each other's updates (Lambda answers the second with
ResourceConflictException) and leave the stack half-changed until the next run. An OS file
lock is released by the kernel when the process ends, so a crashed run never leaves a stale
lock. It covers one machine only: runs from two machines can still overlap; the loser fails
with one line and a re-run converges, because every step re-reads what exists.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from resizer_cli.errors import ResizerError
from resizer_cli.paths import state_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def _try_lock(fh: IO[str]) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    import msvcrt  # pragma: no cover - Windows

    try:  # pragma: no cover - Windows
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError:  # pragma: no cover - Windows
        return False
    return True  # pragma: no cover - Windows


@contextmanager
def stack_lock(stack: str, where: str, command: str) -> Iterator[None]:
    """Hold the lock of `stack` in `where` (target, account, region), or fail at once."""
    folder = state_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{where}-{stack}.lock"
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
    try:
        if not _try_lock(fh):
            fh.seek(0)
            holder = fh.read().strip() or "another resizer command"
            raise ResizerError(
                f"stack {stack} is busy: {holder} is running on it on this machine",
                f"wait for it to finish, then re-run `resizer {command}`",
            )
        fh.seek(0)
        fh.truncate()
        fh.write(f"`resizer {command}` (pid {os.getpid()})")
        fh.flush()
        yield
    finally:
        fh.close()
