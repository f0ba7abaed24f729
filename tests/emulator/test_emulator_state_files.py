"""State files resist planted symlinks, and `stop` signals only this home's server."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from resizer_cli.emulator import control, statefiles
from resizer_cli.emulator.statefiles import UnsafeStateFile


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_state_files_are_private(emu: Any) -> None:
    state = emu.home / "state"
    assert _mode(state) == 0o700
    for name in ("emulator.json", "emulator.log", "emulator.lock"):
        assert _mode(state / name) == 0o600, name
    saved = json.loads((state / "emulator.json").read_text())
    assert saved["credentials"] == {"access_key_id": emu.connection.access_key_id,
                                    "secret_access_key": emu.connection.secret_access_key}
    assert saved["workdir"] == str(state / "emulator")
    server = psutil.Process(emu.pid)
    # The secret never appears on a command line, which every local user can read.
    assert emu.connection.secret_access_key not in " ".join(server.cmdline())
    assert _mode(state / "emulator" / "spool") == 0o700


@pytest.mark.parametrize("name", ["emulator.lock", "emulator.log", "emulator.json"])
def test_a_planted_symlink_is_refused_and_its_target_untouched(
    isolated_env: Path, tmp_path: Path, name: str, run_resizer: Any
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    state = isolated_env / "state"
    state.mkdir()
    (state / name).symlink_to(victim)
    with pytest.raises(UnsafeStateFile) as err:
        control.start()
    assert str(err.value) == (
        f"refusing to use {state / name}: it is a symbolic link (remove it (another local "
        "user may have planted it) and run the command again)")
    # `stop` never opens the log; everything else it and `start` use is refused.
    commands = [("local", "start")] + ([("local", "stop")] if name != "emulator.log" else [])
    for command in commands:
        proc = run_resizer(*command)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith(f"error: refusing to use {state}")
    assert victim.read_text() == "precious\n" and _mode(victim) == 0o644
    assert (state / name).is_symlink()  # left for the user to look at


def test_state_file_writes_replace_a_link_instead_of_following_it(
    isolated_env: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.json"
    victim.write_text("{}")
    statefiles.state_dir()
    link = statefiles.state_path()
    link.symlink_to(victim)
    statefiles.write_state(statefiles.EmulatorState(1, 2, 3.0))
    assert not link.is_symlink() and _mode(link) == 0o600
    assert victim.read_text() == "{}"


def test_a_state_folder_open_to_others_is_made_private(isolated_env: Path) -> None:
    state = isolated_env / "state"
    state.mkdir(mode=0o777)
    os.chmod(state, 0o777)
    statefiles.state_dir()
    assert _mode(state) == 0o700


def test_stop_never_signals_another_homes_emulator(
    emu_module: Any, isolated_env: Path, run_resizer: Any
) -> None:
    emu = emu_module  # running in its own home; this test's home (isolated_env) is another
    assert os.environ["RESIZER_HOME"] == str(isolated_env)
    mine = isolated_env / "state"
    mine.mkdir()
    shutil.copy(emu.home / "state" / "emulator.json", mine / "emulator.json")
    assert control.connection() is None  # the pid runs, but it is not this home's server
    assert not (mine / "emulator.json").exists()  # forgotten as stale
    shutil.copy(emu.home / "state" / "emulator.json", mine / "emulator.json")
    assert control.stop() is False
    shutil.copy(emu.home / "state" / "emulator.json", mine / "emulator.json")
    proc = run_resizer("local", "stop", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"stopped": False}
    assert psutil.Process(emu.pid).is_running()
    assert emu.client("s3").list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_stop_never_signals_a_process_that_merely_looks_like_the_server(
    isolated_env: Path, request: pytest.FixtureRequest
) -> None:
    # Our own process, started when the state file says, whose command line names the
    # server module but another workdir: a recycled pid or an impostor.
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                              "-m", control.SERVER_MODULE, "--workdir", "/elsewhere"],
                             start_new_session=True)
    request.addfinalizer(decoy.kill)
    started = psutil.Process(decoy.pid).create_time()
    statefiles.write_state(statefiles.EmulatorState(decoy.pid, 1, started,
                                                    str(control.workdir())))
    assert control.stop() is False
    assert decoy.poll() is None  # still running: it was never signalled
