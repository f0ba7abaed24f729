"""The emulator's files in the state folder, opened so that no other local user can subvert them.

`emulator.json` (pid, port, start time, workdir and the emulator's credentials), `emulator.lock`
and `emulator.log` live in the state folder, which is made private (0700). Every file is opened
with O_NOFOLLOW and checked to be a regular file owned by us: a symlink planted in their place
is refused instead of followed (the lock used to be opened with "w", truncating a link's
target). The state file is written to a fresh O_EXCL temporary file, then renamed over the old
one, so a reader sees the old or the new file, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import stat
import string
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from resizer_cli import paths
from resizer_cli.errors import ResizerError

_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Credentials:
    """The emulator's own access key pair, made at each start; nothing else is accepted."""

    access_key_id: str
    secret_access_key: str

    @classmethod
    def generate(cls) -> Credentials:
        # The shape of IAM's keys: 20 upper-case characters and a 40-character secret (letters
        # and digits only, so it never needs quoting or looks like an option).
        upper = string.ascii_uppercase + "234567"
        key_id = "LKIA" + "".join(secrets.choice(upper) for _ in range(16))
        secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
        return cls(key_id, secret)


@dataclass
class EmulatorState:
    pid: int
    port: int
    started: float  # the process's create_time, guards against a recycled pid
    workdir: str = ""
    credentials: Credentials | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["endpoint"] = self.endpoint
        return data


class UnsafeStateFile(ResizerError):
    def __init__(self, path: Path, why: str) -> None:
        super().__init__(
            f"refusing to use {path}: {why}",
            "remove it (another local user may have planted it) and run the command again",
        )


def state_dir() -> Path:
    """The state folder, private to us (0700), refused when it is not ours."""
    path = paths.state_dir()
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise UnsafeStateFile(path, "it is not a folder owned by you")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def state_path() -> Path:
    return state_dir() / "emulator.json"


def log_path() -> Path:
    return state_dir() / "emulator.log"


def workdir() -> Path:
    """Where the server keeps functions and spooled bodies; its identity on its command line."""
    return Path(os.path.abspath(state_dir() / "emulator"))


def open_private(path: Path, flags: int) -> int:
    """os.open without following a link; the result must be a regular file we own."""
    try:
        fd = os.open(path, flags | _NOFOLLOW, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the name is a symbolic link
            raise UnsafeStateFile(path, "it is a symbolic link") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        os.close(fd)
        raise UnsafeStateFile(path, "it is not a regular file owned by you")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.fchmod(fd, 0o600)
    return fd


def open_log() -> int:
    """The emulator log, for appending (the server's stdout and stderr)."""
    return open_private(log_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT)


def read_log_tail(lines: int = 5) -> str:
    try:
        fd = open_private(log_path(), os.O_RDONLY)
    except (OSError, UnsafeStateFile):
        return ""
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        fh.seek(max(0, size - 16384))
        text = fh.read().decode("utf-8", "replace").strip().splitlines()
    return " | ".join(text[-lines:])


@contextlib.contextmanager
def lock() -> Iterator[None]:
    """Serialise commands that start or stop the emulator (never truncates the file)."""
    fd = open_private(state_dir() / "emulator.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def read_state() -> EmulatorState | None:
    try:
        fd = open_private(state_path(), os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(1 << 16)
    try:
        data = json.loads(raw)
        creds = data.get("credentials")
        return EmulatorState(
            int(data["pid"]), int(data["port"]), float(data["started"]),
            str(data.get("workdir", "")),
            Credentials(str(creds["access_key_id"]), str(creds["secret_access_key"]))
            if isinstance(creds, dict) else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def write_state(state: EmulatorState) -> None:
    path = state_path()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(state.to_json(), fh, indent=2)
        os.replace(tmp, path)  # replaces a planted link itself, never its target
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def forget_state() -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(state_path())
