"""Shared fixtures: every test gets its own resizer home and fake AWS credentials.

The wheel/layer cache is shared by the whole session (RESIZER_CACHE_DIR) so layers are
downloaded once per run, not once per test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from resizer_cli import faults

ROOT = Path(__file__).resolve().parents[1]

# The `resizer` script pip installed for this interpreter comes first on PATH, so end-to-end
# tests run this checkout's command even where a version manager's shims are not refreshed.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])

# The emulator's CPU share (on for users) is off in the suite: its timeouts and timings were
# written for full-speed workers, and a 2-core CI runner shared by every emulator would make
# them flaky. tests/emulator/test_emulator_cpushare.py (and tune's tests) turn it on
# themselves; RESIZER_EMULATOR_CPU_SHARE=1 runs the whole suite throttled.
os.environ.setdefault("RESIZER_EMULATOR_CPU_SHARE", "0")


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    explicit = os.environ.get("RESIZER_TEST_CACHE")  # lets a developer keep wheels between runs
    if explicit:
        Path(explicit).mkdir(parents=True, exist_ok=True)
        return Path(explicit)
    return tmp_path_factory.mktemp("resizer-cache")


@pytest.fixture(autouse=True)
def isolated_env(
    tmp_path: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path / "resizer-home"
    home.mkdir()
    monkeypatch.setenv("RESIZER_HOME", str(home))
    monkeypatch.setenv("RESIZER_CACHE_DIR", str(shared_cache))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in (
        "AWS_PROFILE", "AWS_ENDPOINT_URL", "RESIZER_STACK", "RESIZER_TARGET", "RESIZER_FAULTS"
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray resizer.toml from the developer's cwd
    faults.clear()
    yield home
    faults.clear()


def resizer_exe() -> list[str]:
    """The installed `resizer` command (end-to-end tests run it as a subprocess)."""
    exe = shutil.which("resizer")
    if exe is None:
        pytest.fail("the `resizer` command is not installed: run `pip install -e '.[test]'`")
    return [exe]


@pytest.fixture
def run_resizer() -> object:
    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 300, check: bool = False,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.run(
            [*resizer_exe(), *args],
            capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"resizer {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    return run

