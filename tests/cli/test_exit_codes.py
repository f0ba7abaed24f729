"""Each exit code the README lists ("Exit codes"), produced by the installed `resizer`.

A file that fails (exit 1 with its row in the table) needs a deployed stack: that case is run
by tests/e2e/test_ops_e2e.py::test_upload_folder_reports_thumbnails_failure_and_downloads.
Faults come in through RESIZER_FAULTS (resizer_cli/faults.py), before any request is sent.
"""

from __future__ import annotations

import json

from resizer_cli.errors import FAILED, INTERNAL_ERROR, INTERRUPTED, NOT_FOUND, USAGE

NO_STACK = (
    "error: no stack 'resizer' is deployed on the local emulator (it is not running) "
    "(run `resizer setup` first)"
)


def _faults(kind: str) -> dict[str, str]:
    return {"RESIZER_FAULTS": json.dumps([{"service": "*", "operation": "*", "kind": kind}])}


def test_0_success(run_resizer) -> None:
    proc = run_resizer("local", "stop", timeout=60)  # nothing running: nothing to do, fine
    assert proc.returncode == 0, proc.stderr
    assert run_resizer("--help", timeout=60).returncode == 0


def test_1_an_error_with_its_remedy(run_resizer, tmp_path) -> None:
    proc = run_resizer("upload", str(tmp_path / "missing.jpg"), timeout=60)
    assert proc.returncode == FAILED == 1
    assert proc.stderr.splitlines() == [
        f"error: {tmp_path / 'missing.jpg'}: no such file or folder (check the path)"
    ]


def test_2_usage(run_resizer) -> None:
    proc = run_resizer("setup", "--bogus", timeout=60)
    assert proc.returncode == USAGE == 2
    last = proc.stderr.splitlines()[-1]  # Click's wording varies: "option: --bogus", "'--bogus'."
    assert last.startswith("Error: No such option") and "--bogus" in last


def test_3_no_stack_and_emulator_not_running(run_resizer) -> None:
    proc = run_resizer("status", timeout=60)
    assert proc.returncode == NOT_FOUND == 3
    assert proc.stderr.splitlines() == [NO_STACK]
    proc = run_resizer("local", "status", timeout=60)
    assert proc.returncode == NOT_FOUND
    assert "not running" in proc.stderr


def test_70_internal_error_is_one_line_unless_debugging(run_resizer) -> None:
    proc = run_resizer("status", "--target", "aws", env=_faults("bug"), timeout=60)
    assert proc.returncode == INTERNAL_ERROR == 70
    assert proc.stderr.splitlines()[-1] == (
        "error: internal error: RuntimeError: injected bug in sts.GetCallerIdentity "
        "(set RESIZER_DEBUG=1 for the traceback, and please report it)"
    )
    assert "Traceback" not in proc.stderr
    proc = run_resizer(
        "status", "--target", "aws", env={**_faults("bug"), "RESIZER_DEBUG": "1"}, timeout=60
    )
    assert proc.returncode == 1 and "Traceback" in proc.stderr  # Python's own, for a report


def test_130_interrupted(run_resizer) -> None:
    # The fault raises KeyboardInterrupt inside the command, exactly where SIGINT would.
    proc = run_resizer("status", "--target", "aws", env=_faults("interrupt"), timeout=60)
    assert proc.returncode == INTERRUPTED == 130
    assert proc.stderr.splitlines()[-1] == (
        "interrupted: re-run the same command to finish the job"
    )
    assert "Traceback" not in proc.stderr and "Aborted" not in proc.stderr
