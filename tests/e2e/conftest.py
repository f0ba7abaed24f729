"""End-to-end fixtures: a real emulator started by the installed `resizer` command.

Use the `emulator` fixture in any end-to-end test (the operations tests reuse it):

    def test_something(emulator, run_resizer):
        run_resizer("setup", "--stack", "mine", check=True)   # talks to this emulator
        s3 = emulator.client("s3")                            # boto3, same emulator

- One emulator per test module (`resizer local start` costs 1-2 s), started with its own
  RESIZER_HOME; the `emulator` fixture points RESIZER_HOME of each test (and so every
  `run_resizer` subprocess) at it. Tests in a module share the emulator's state and saved
  stacks: give each test its own `--stack` name.
- Asynchronous retries are fast (RESIZER_EMULATOR_RETRY_DELAY=0.2 s instead of 1 s).
- `emulator.client(service)` is a boto3 client signed with the emulator's own credentials
  (`control.connection()`, new at each start); the emulator refuses any other.
- The emulator is stopped with `resizer local stop` after the module, and its process group is
  killed in any case (also at interpreter exit), so a failing test never leaves a stray server or
  worker behind. A test may stop/restart the emulator itself; `emulator.endpoint` re-reads the
  state file.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from resizer_cli.emulator import control

_groups: set[int] = set()


def _kill_groups() -> None:
    for pgid in list(_groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        _groups.discard(pgid)


atexit.register(_kill_groups)


def _resizer(
    home: Path, *args: str, cache: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("resizer")
    if exe is None:
        pytest.fail("the `resizer` command is not installed: run `pip install -e '.[test]'`")
    # No AWS credentials needed: the local target signs with the emulator's own.
    env = {**os.environ, "RESIZER_HOME": str(home), "RESIZER_EMULATOR_RETRY_DELAY": "0.2"}
    for var in ("RESIZER_STACK", "RESIZER_TARGET", "RESIZER_FAULTS", "AWS_PROFILE",
                "AWS_ENDPOINT_URL"):
        env.pop(var, None)
    if cache is not None:
        env["RESIZER_CACHE_DIR"] = str(cache)
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@dataclass
class Emulator:
    """A running emulator: its RESIZER_HOME, endpoint and boto3 clients."""

    home: Path
    cache: Path | None = None
    pids: set[int] = field(default_factory=set)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.home / "state" / "emulator.json").read_text()))

    @property
    def endpoint(self) -> str:
        return str(self.state["endpoint"])

    @property
    def pid(self) -> int:
        return int(self.state["pid"])

    @property
    def connection(self) -> control.Connection:
        """The running emulator's endpoint, credentials and region (re-read at each use)."""
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("RESIZER_HOME", str(self.home))
            conn = control.connection()
        if conn is None:
            pytest.fail(f"the emulator of {self.home} is not running")
        return conn

    def client(self, service: str) -> Any:
        conn = self.connection
        key = (service, conn.endpoint, conn.access_key_id)
        if key not in self._clients:
            self._clients[key] = boto3.client(service, **conn.boto3_kwargs())
        return self._clients[key]

    def resizer(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run the installed command against this emulator (for module-scoped fixtures)."""
        return _resizer(self.home, *args, cache=self.cache, timeout=timeout)

    def track(self) -> None:
        """Register the current server's process group for the safety-net kill."""
        self.pids.add(self.pid)
        _groups.add(self.pid)


@pytest.fixture(scope="module")
def emulator_module(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, shared_cache: Path
) -> Iterator[Emulator]:
    home = tmp_path_factory.mktemp("e2e-home")
    # The suite runs workers at full speed (tests/conftest.py); a module about CPU and memory
    # sets CPU_SHARE = True to get the share users get.
    share = "--cpu-share" if getattr(request.module, "CPU_SHARE", False) else "--no-cpu-share"
    proc = _resizer(home, "local", "start", share, "--json")
    if proc.returncode != 0:
        pytest.fail(f"resizer local start failed:\n{proc.stdout}\n{proc.stderr}")
    emu = Emulator(home, shared_cache)
    emu.track()
    try:
        yield emu
    finally:
        with contextlib.suppress(Exception):
            emu.track()  # a test may have restarted it
        _resizer(home, "local", "stop")
        for pgid in emu.pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            _groups.discard(pgid)


@pytest.fixture
def emulator(emulator_module: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The module's emulator; RESIZER_HOME of this test (and its subprocesses) points at it."""
    monkeypatch.setenv("RESIZER_HOME", str(emulator_module.home))
    monkeypatch.setenv("RESIZER_EMULATOR_RETRY_DELAY", "0.2")
    return emulator_module
