"""Start, find and stop the background emulator process.

The state file `paths.state_dir()/emulator.json` holds its pid, port and start time. A lock
file keeps two concurrent commands from starting two servers. The server runs in its own
session (process group), with its Lambda workers inside it, so stopping it kills the group
and leaves nothing running.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from resizer_cli import paths
from resizer_cli.errors import ResizerError

SERVER_MODULE = "resizer_cli.emulator.server"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
# The server's environment must not inherit settings that point the runtime elsewhere.
_DROP_ENV = ("AWS_ENDPOINT_URL", "RESIZER_FAULTS", "AWS_PROFILE", "PYTHONSTARTUP")


@dataclass
class EmulatorState:
    pid: int
    port: int
    started: float  # the process's create_time, guards against a recycled pid

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def state_path() -> Path:
    return paths.state_dir() / "emulator.json"


def log_path() -> Path:
    return paths.state_dir() / "emulator.log"


def workdir() -> Path:
    return paths.state_dir() / "emulator"


def read_state() -> EmulatorState | None:
    try:
        data = json.loads(state_path().read_text())
        return EmulatorState(int(data["pid"]), int(data["port"]), float(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_state(state: EmulatorState) -> None:
    path = state_path()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({**asdict(state), "endpoint": state.endpoint}, indent=2))
    os.replace(tmp, path)


def _forget_state() -> None:
    with contextlib.suppress(FileNotFoundError):
        state_path().unlink()


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    with open(paths.state_dir() / "emulator.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _is_ours(state: EmulatorState) -> bool:
    """True when the pid is still our server (not a dead process or a recycled pid)."""
    try:
        proc = psutil.Process(state.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(proc.create_time() - state.started) < 1.0 and SERVER_MODULE in " ".join(
            proc.cmdline()
        )
    except psutil.Error:
        return False


def _request(url: str, timeout: float) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    with opener.open(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def _healthy(state: EmulatorState, timeout: float = 2.0) -> bool:
    try:
        return bool(_request(f"{state.endpoint}/_resizer/health", timeout).get("ok"))
    except (OSError, ValueError, urllib.error.URLError):
        return False


def stale_note() -> str | None:
    """If the state file names a process that is gone, remove it and say so."""
    state = read_state()
    if state is None or _is_ours(state):
        return None
    _forget_state()
    return f"removed a stale emulator state file (pid {state.pid} is no longer running)"


def endpoint() -> str | None:
    """The running emulator's endpoint URL, or None.

    A live server process is trusted without a health request: a busy machine can make one
    slow, and treating "slow" as "gone" would replace the server and lose its in-memory state.
    """
    state = read_state()
    if state is None:
        return None
    if not _is_ours(state):
        _forget_state()
        return None
    return state.endpoint


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(lines: int = 5) -> str:
    try:
        text = log_path().read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def _spawn(port: int) -> EmulatorState:
    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    with open(log_path(), "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "--port", str(port),
             "--workdir", str(workdir())],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            start_new_session=True, close_fds=True,
        )
    try:
        return _await_start(proc, port)
    except BaseException:  # Ctrl-C or a failed start: leave no half-started server behind
        _kill_group(proc.pid)
        raise


def _await_start(proc: subprocess.Popen[bytes], port: int) -> EmulatorState:
    try:
        state = EmulatorState(proc.pid, port, psutil.Process(proc.pid).create_time())
    except psutil.Error:
        state = EmulatorState(proc.pid, port, 0.0)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ResizerError(
                f"the local emulator exited during start-up (code {proc.returncode}): "
                f"{_log_tail() or 'no output'}",
                f"see {log_path()}",
            )
        if _healthy(state, timeout=1.0):
            return state
        time.sleep(0.05)
    raise ResizerError(
        f"the local emulator did not answer within {START_TIMEOUT_S:.0f} s", f"see {log_path()}"
    )


def start(port: int | None = None) -> tuple[str, bool]:
    """Start the emulator unless it runs; returns (endpoint, started_now)."""
    with _lock():
        url = endpoint()
        if url is not None:
            state = read_state()
            if port is not None and state is not None and state.port != port:
                raise ResizerError(
                    f"the local emulator is already running on port {state.port}",
                    "run `resizer local stop` first to move it to another port",
                )
            return url, False
        _forget_state()  # endpoint() found no live server: what is left is stale
        if port is not None and not _port_free(port):
            raise ResizerError(
                f"port {port} on 127.0.0.1 is already in use",
                "choose another with `resizer local start --port N`, or omit --port",
            )
        attempts = 1 if port is not None else 3
        for attempt in range(attempts):
            try:
                new = _spawn(port if port is not None else _free_port())
                break
            except ResizerError:
                if attempt == attempts - 1:  # a port taken between pick and bind: try another
                    raise
        _write_state(new)
        return new.endpoint, True


def ensure_running() -> str:
    """The endpoint of the running emulator, starting it if needed."""
    url = endpoint()
    return url if url is not None else start()[0]


def _group_members(pgid: int) -> list[psutil.Process]:
    """Live processes of the server's group (its workers included); zombies don't count."""
    members = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


def _kill_group(pid: int) -> None:
    """SIGTERM the server's process group (workers included), then SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        _reap(pid)
        if not _group_members(pid):
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    """If we are the server's parent (the process that started it), collect its exit status."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop() -> bool:
    """Stop the emulator; True if one was running."""
    with _lock():
        state = read_state()
        if state is None:
            return False
        running = _is_ours(state)
        if running:
            _kill_group(state.pid)
        _forget_state()
        return running


def status() -> dict[str, Any] | None:
    """The running server's own report (endpoint, uptime, functions, counts), or None."""
    state = read_state()
    if state is None or not _is_ours(state):
        return None
    try:
        return dict(_request(f"{state.endpoint}/_resizer/status", timeout=5.0))
    except (OSError, ValueError, urllib.error.URLError):
        return None


def drain(timeout: float = 60.0) -> bool:
    """Wait until the emulator has no queued, running or retrying invocation."""
    url = endpoint()
    if url is None:
        return True
    return bool(
        _request(f"{url}/_resizer/drain?timeout={timeout}", timeout=timeout + 10)["drained"]
    )
