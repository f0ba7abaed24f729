"""Start, find and stop the background emulator process, and say how to reach it.

`connection()` is the one way to get the running emulator's endpoint, credentials and region;
the CLI, the tests and the benchmarks all use it. Each start makes new credentials (see
`statefiles.py`) and hands them to the server on its stdin, never on its command line, which
other users can read. The server runs in its own session (process group), with its Lambda
workers inside it, so stopping it kills the group and leaves nothing running. Before anything
is signalled, the process must be this home's emulator: ours (same user), started when the
state file says, and running the server module with this home's workdir.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import psutil
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from resizer_cli.emulator import statefiles
from resizer_cli.emulator.statefiles import Credentials, EmulatorState, read_state
from resizer_cli.errors import ResizerError

SERVER_MODULE = "resizer_cli.emulator.server"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
DEFAULT_REGION = "us-east-1"
CPU_SHARE_ENV = "RESIZER_EMULATOR_CPU_SHARE"  # read by emulator.cpushare in the server
# The server's environment must not inherit settings that point the runtime elsewhere.
_DROP_ENV = ("AWS_ENDPOINT_URL", "RESIZER_FAULTS", "AWS_PROFILE", "PYTHONSTARTUP",
             "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
             "AWS_SECURITY_TOKEN")

state_path = statefiles.state_path
log_path = statefiles.log_path
workdir = statefiles.workdir


@dataclass(frozen=True)
class Connection:
    """How any AWS client reaches the running emulator."""

    endpoint: str
    access_key_id: str
    secret_access_key: str
    region: str = DEFAULT_REGION

    def boto3_kwargs(self) -> dict[str, str]:
        """Keyword arguments for `boto3.client(service, **kwargs)`."""
        return {"endpoint_url": self.endpoint, "region_name": self.region,
                "aws_access_key_id": self.access_key_id,
                "aws_secret_access_key": self.secret_access_key}

    def env(self) -> dict[str, str]:
        """The four variables any AWS SDK or the aws-cli reads."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.secret_access_key, "AWS_REGION": self.region}


def connection(region: str | None = None) -> Connection | None:
    """The running emulator's endpoint, credentials and region; None when it is not running."""
    state = running_state()
    if state is None or state.credentials is None:
        return None
    creds = state.credentials
    return Connection(state.endpoint, creds.access_key_id, creds.secret_access_key,
                      region or DEFAULT_REGION)


def ensure_connection(region: str | None = None) -> Connection:
    """Like `connection()`, starting the emulator first if needed."""
    conn = connection(region)
    if conn is None:
        start()
        conn = connection(region)
    if conn is None:  # it exited right after starting
        raise ResizerError("the local emulator stopped right after it started",
                           f"see {log_path()}")
    return conn


def _cmdline_workdir(cmdline: list[str]) -> str | None:
    if SERVER_MODULE not in cmdline or "--workdir" not in cmdline:
        return None
    i = cmdline.index("--workdir")
    return cmdline[i + 1] if i + 1 < len(cmdline) else None


def _is_ours(state: EmulatorState) -> bool:
    """True when the pid is this home's server: not dead, recycled or another home's."""
    try:
        proc = psutil.Process(state.pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.uids().real != os.getuid():
            return False
        if abs(proc.create_time() - state.started) >= 1.0:
            return False
        # A state file copied from another home names that home's server: its workdir differs.
        return _cmdline_workdir(proc.cmdline()) == str(workdir())
    except psutil.Error:
        return False


def running_state() -> EmulatorState | None:
    """The state of this home's running emulator; a stale state file is removed.

    A live server process is trusted without a health request: a busy machine can make one
    slow, and treating "slow" as "gone" would replace the server and lose its in-memory state.
    """
    state = read_state()
    if state is None:
        return None
    if not _is_ours(state):
        statefiles.forget_state()
        return None
    return state


def endpoint() -> str | None:
    """The running emulator's endpoint URL, or None."""
    state = running_state()
    return state.endpoint if state is not None else None


def stale_note() -> str | None:
    """If the state file names a process that is not this home's emulator, remove it and say so."""
    state = read_state()
    if state is None or _is_ours(state):
        return None
    statefiles.forget_state()
    return f"removed a stale emulator state file (pid {state.pid} is no longer running)"


def _request(state: EmulatorState, path: str, timeout: float) -> Any:
    """A signed GET of one of the server's control paths (they refuse anything unsigned)."""
    if state.credentials is None:
        raise OSError("no credentials for this emulator")
    creds = BotoCredentials(state.credentials.access_key_id,
                            state.credentials.secret_access_key)
    signed = AWSRequest("GET", state.endpoint + path)
    SigV4Auth(creds, "resizer", DEFAULT_REGION).add_auth(signed)
    request = urllib.request.Request(signed.url, headers=dict(signed.headers.items()))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    with opener.open(request, timeout=timeout) as resp:
        return json.loads(resp.read())


def _healthy(state: EmulatorState, timeout: float = 2.0) -> bool:
    try:
        reply = _request(state, "/_resizer/health", timeout)
        return bool(reply.get("ok")) and reply.get("pid") == state.pid
    except (OSError, ValueError, urllib.error.URLError):
        return False


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


def _spawn(port: int, cpu_share: bool | None = None) -> EmulatorState:
    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    if cpu_share is not None:  # the flag wins over RESIZER_EMULATOR_CPU_SHARE
        env[CPU_SHARE_ENV] = "1" if cpu_share else "0"
    creds = Credentials.generate()
    work = workdir()
    log = statefiles.open_log()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "--port", str(port), "--workdir", str(work)],
            stdin=subprocess.PIPE, stdout=log, stderr=log, env=env,
            start_new_session=True, close_fds=True,
        )
    finally:
        os.close(log)
    try:
        assert proc.stdin is not None
        with proc.stdin:  # the secret travels on a pipe only the server reads
            proc.stdin.write(json.dumps({"access_key_id": creds.access_key_id,
                                         "secret_access_key": creds.secret_access_key}
                                        ).encode() + b"\n")
        return _await_start(proc, port, str(work), creds)
    except BaseException:  # Ctrl-C or a failed start: leave no half-started server behind
        _kill_group(proc.pid)
        raise


def _await_start(
    proc: subprocess.Popen[bytes], port: int, work: str, creds: Credentials
) -> EmulatorState:
    try:
        started = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        started = 0.0
    state = EmulatorState(proc.pid, port, started, work, creds)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ResizerError(
                f"the local emulator exited during start-up (code {proc.returncode}): "
                f"{statefiles.read_log_tail() or 'no output'}",
                f"see {log_path()}",
            )
        if _healthy(state, timeout=1.0):
            return state
        time.sleep(0.05)
    raise ResizerError(
        f"the local emulator did not answer within {START_TIMEOUT_S:.0f} s", f"see {log_path()}"
    )


def _check_cpu_share(state: EmulatorState, wanted: bool) -> None:
    """A running emulator keeps its CPU share setting: say so rather than ignore the flag."""
    try:
        running = _request(state, "/_resizer/status", timeout=5.0).get("cpu_share", {})
    except (OSError, ValueError, urllib.error.URLError):
        return
    if bool(running.get("enabled", False)) != wanted:
        now = "on" if running.get("enabled") else "off"
        flag = "--cpu-share" if wanted else "--no-cpu-share"
        raise ResizerError(f"the local emulator is already running with CPU share {now}",
                           f"run `resizer local stop` first, then `resizer local start {flag}`")


def start(port: int | None = None, cpu_share: bool | None = None) -> tuple[str, bool]:
    """Start the emulator unless it runs; returns (endpoint, started_now).

    `cpu_share` None keeps RESIZER_EMULATOR_CPU_SHARE (default on); True or False sets it."""
    with statefiles.lock():
        state = read_state()
        if state is not None and _is_ours(state):
            if state.credentials is not None:
                if port is not None and state.port != port:
                    raise ResizerError(
                        f"the local emulator is already running on port {state.port}",
                        "run `resizer local stop` first to move it to another port",
                    )
                if cpu_share is not None:
                    _check_cpu_share(state, cpu_share)
                return state.endpoint, False
            _kill_group(state.pid)  # started by an older resizer, without credentials
        statefiles.forget_state()  # no live server of ours: what is left is stale
        if port is not None and not _port_free(port):
            raise ResizerError(
                f"port {port} on 127.0.0.1 is already in use",
                "choose another with `resizer local start --port N`, or omit --port",
            )
        attempts = 1 if port is not None else 3
        for attempt in range(attempts):
            try:
                new = _spawn(port if port is not None else _free_port(), cpu_share)
                break
            except ResizerError:
                if attempt == attempts - 1:  # a port taken between pick and bind: try another
                    raise
        statefiles.write_state(new)
        return new.endpoint, True


def ensure_running() -> str:
    """The endpoint of the running emulator, starting it if needed."""
    return ensure_connection().endpoint


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
    """Stop this home's emulator; True if one was running. Never signals anything else."""
    with statefiles.lock():
        state = read_state()
        if state is None:
            return False
        running = _is_ours(state)
        if running:
            _kill_group(state.pid)
        statefiles.forget_state()
        return running


def status() -> dict[str, Any] | None:
    """The running server's own report (endpoint, uptime, functions, counts), or None."""
    state = running_state()
    if state is None:
        return None
    try:
        return dict(_request(state, "/_resizer/status", timeout=5.0))
    except (OSError, ValueError, urllib.error.URLError):
        return None


def drain(timeout: float = 60.0) -> bool:
    """Wait until the emulator has no queued, running or retrying invocation."""
    state = running_state()
    if state is None:
        return True
    reply = _request(state, f"/_resizer/drain?timeout={timeout}", timeout=timeout + 10)
    return bool(reply["drained"])

