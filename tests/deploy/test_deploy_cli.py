"""The setup/status/teardown commands: in-process under moto, and the installed command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from resizer_cli import faults, settings
from resizer_cli.cli import main
from resizer_cli.deploy import stack as stack_mod
from resizer_cli.faults import Fault


@pytest.fixture
def cli(kit: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run `resizer ...` in-process; artifacts come from the test kit instead of the builders."""
    monkeypatch.setattr(stack_mod, "default_sources", lambda: kit.sources)

    def run(*args: str) -> tuple[int, str, str]:
        code = 0
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_setup_status_teardown_flow(aws, cli) -> None:
    code, out, err = cli("setup", "--target", "aws", "--stack", "demo", "--memory", "256", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["stack"] == "demo" and doc["target"] == "aws" and doc["changed"] is True
    assert {"resource", "name", "action", "detail"} <= set(doc["actions"][0])
    assert ("function", "create") in [(a["resource"], a["action"]) for a in doc["actions"]]
    assert doc["resources"]["function"] == "demo-thumbnailer"
    assert settings.current_stack() == "demo"

    # Human output: where first, then the no-op message; no flags needed after setup.
    code, out, err = cli("setup")
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[0].startswith("→ AWS account 123456789012, us-east-1, stack demo")
    assert "Nothing to do: stack is up to date" in err

    code, out, err = cli("status", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["in_sync"] and report["settings"]["memory"] == 256

    code, out, err = cli("status")
    assert code == 0 and "No drift" in out

    code, out, err = cli("teardown", "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["changed"] is True
    assert settings.saved_stack("demo") is None

    code, out, err = cli("status", "--target", "aws", "--stack", "demo")
    assert code == 3  # no such stack
    assert err.strip().splitlines() == [
        "→ AWS account 123456789012, us-east-1, stack demo",
        "error: no stack 'demo' is deployed on AWS us-east-1 (run `resizer setup` first)",
    ]
    code, out, err = cli("teardown", "--yes", "--target", "aws", "--stack", "demo")
    assert code == 0 and "Nothing to remove" in err


def test_dry_run_json(aws, cli) -> None:
    code, out, err = cli("setup", "--target", "aws", "--dry-run", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["dry_run"] is True and doc["changed"] is False and doc["actions"]
    assert settings.saved_stack("resizer") is None  # a dry run remembers nothing
    code, out, err = cli("setup", "--target", "aws", "--dry-run")
    assert "Plan (dry run, nothing changed)" in err and "create function" in err


def test_brought_bucket_is_remembered_and_kept(aws, cli, target_factory) -> None:
    target, _ = target_factory()
    target.client("s3").create_bucket(Bucket="my-photos")
    code, _, err = cli("setup", "--target", "aws", "--source-bucket", "my-photos")
    assert code == 0, err
    code, _, err = cli("teardown", "--yes")
    assert code == 0, err
    assert target.client("s3").head_bucket(Bucket="my-photos")


def _one_error_line(err: str) -> str:
    """The error is the last line, alone (the lines before are the steps done so far)."""
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and err.count("error:") == 1 and "Traceback" not in err
    return last


def test_errors_are_one_line(aws, cli) -> None:
    faults.install(Fault("s3", "CreateBucket", "BucketAlreadyExists", "The bucket is taken"))
    code, _, err = cli("setup", "--target", "aws")
    assert code == 1
    line = _one_error_line(err)
    assert "create bucket resizer-src-123456789012-us-east-1" in line
    assert "taken by another AWS account" in line and "--stack" in line

    faults.clear()
    faults.install(Fault("sts", "GetCallerIdentity", "ExpiredToken", "The token is expired"))
    code, _, err = cli("status", "--target", "aws")
    assert code == 1 and "session token has expired" in _one_error_line(err)

    faults.clear()
    faults.install(Fault("s3", "HeadBucket", "403", "Forbidden"))
    code, _, err = cli("setup", "--target", "aws")
    assert code == 1 and "is taken by another AWS account" in _one_error_line(err)


def test_interrupt_exits_130_and_rerun_finishes(aws, cli) -> None:
    faults.install(Fault("lambda", "CreateFunction", kind="interrupt"))
    code, _, err = cli("setup", "--target", "aws")
    assert code == 130 and "interrupted" in err and "re-run" in err, repr(err)
    code, out, err = cli("setup", "--target", "aws", "--json")
    assert code == 0, err
    assert [(a["resource"], a["action"]) for a in json.loads(out)["actions"]] == [
        ("function", "create"),
        ("async-config", "put"),
        ("permission", "add"),
        ("notification", "put"),
    ]


# --- the installed command as a subprocess (no live AWS or emulator needed) -----------------


def test_help(run_resizer) -> None:
    expected = {"setup": "--dry-run", "status": "--stack", "teardown": "--yes"}
    for cmd, option in expected.items():
        proc = run_resizer(cmd, "--help", check=True)
        assert "--json" in proc.stdout and option in proc.stdout


def test_invalid_settings_are_one_line(run_resizer) -> None:
    # A bad flag value is a usage mistake (exit 2); tests/core/test_settings_cli.py has the rest.
    proc = run_resizer("setup", "--target", "aws", "--memory", "5")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --memory 5: out of range (use 128 to 10240)"
    proc = run_resizer("setup", "--target", "aws", "--stack", "Bad_Name")
    assert proc.returncode == 2 and "--stack Bad_Name: not a valid stack name" in proc.stderr


def test_teardown_without_yes_and_no_tty_refuses(run_resizer) -> None:
    proc = run_resizer("teardown", "--target", "aws")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "pass --yes" in proc.stderr


def test_no_credentials(tmp_path) -> None:
    env = {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",  # never probe the network for instance credentials
    }
    full = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | env
    exe = shutil.which("resizer")
    assert exe, "the resizer command must be installed"
    proc = subprocess.run(
        [exe, "status", "--target", "aws", "--region", "us-east-1"],
        capture_output=True,
        text=True,
        env=full,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "no AWS credentials found" in proc.stderr and proc.stderr.count("\n") == 1


def test_unknown_region_fails_at_sts_with_one_line(run_resizer) -> None:
    # No list of regions of ours: a region no partition knows is tried, and refused when
    # nothing answers there (the seam stands in for the failed DNS lookup: no network).
    fault = {"service": "sts", "operation": "GetCallerIdentity", "kind": "connect_error",
             "message": "https://sts.mars-east-1.amazonaws.com/", "times": 10}
    proc = run_resizer("status", "--target", "aws", "--region", "mars-east-1",
                       env={"RESIZER_FAULTS": json.dumps([fault])})
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert proc.stderr.strip() == (
        "error: unknown region 'mars-east-1': nothing answers at "
        "https://sts.mars-east-1.amazonaws.com/ (pass a region such as us-east-1 or eu-west-1 "
        "with --region)"
    )
    # A known partition's region that does not answer is a network problem, said as such.
    fault["message"] = "https://sts.eu-south-9.amazonaws.com/"
    proc = run_resizer("status", "--target", "aws", "--region", "eu-south-9",
                       env={"RESIZER_FAULTS": json.dumps([fault])})
    assert proc.returncode == 1 and "cannot reach https://sts.eu-south-9" in proc.stderr
    # Not even the shape of a region name: a usage mistake, refused before any call.
    proc = run_resizer("status", "--target", "aws", "--region", "Not A Region")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: --region 'Not A Region': not a region name")


def test_adopt_and_source_bucket_owner_flags(aws, cli, target_factory) -> None:
    target, _ = target_factory()
    s3 = target.client("s3")
    s3.create_bucket(Bucket=target.names.dest_bucket)  # untagged: not ours
    code, _, err = cli("setup", "--target", "aws")
    assert code == 1 and "--adopt" in _one_error_line(err)
    code, _, err = cli("setup", "--target", "aws", "--adopt", target.names.dest_bucket)
    assert code == 0, err
    tags = s3.get_bucket_tagging(Bucket=target.names.dest_bucket)["TagSet"]
    assert {"Key": "resizer:stack", "Value": "resizer"} in tags
    code, _, err = cli("setup", "--target", "aws", "--source-bucket", "b-of-them",
                       "--source-bucket-owner", "12345")
    assert code == 2 and "not an AWS account id" in _one_error_line(err)  # a bad flag value


def test_a_stopped_emulator_holds_no_stack(run_resizer) -> None:
    # The emulator keeps its state in memory: stopped, every stack command says "no stack",
    # and teardown has nothing to remove (a no-op, like a second teardown).
    Path("a.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    for args in (["status"], ["logs"], ["upload", "a.jpg"]):
        proc = run_resizer(*args, timeout=60)
        assert proc.returncode == 3, (args, proc.stderr)  # no such stack
        assert proc.stderr.strip() == (
            "error: no stack 'resizer' is deployed on the local emulator (it is not running) "
            "(run `resizer setup` first)"
        )
    proc = run_resizer("teardown", "--yes", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Nothing to remove" in proc.stderr
    proc = run_resizer("teardown", "--yes", "--json", timeout=60)
    assert proc.returncode == 0
    assert '"actions": []' in proc.stdout
