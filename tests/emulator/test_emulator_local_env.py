"""`resizer local env`: any AWS client (boto3, the aws-cli) can use the emulator through it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from resizer_cli.emulator import control

BOTO3_SCRIPT = """
import boto3, os
assert "AWS_SESSION_TOKEN" not in os.environ
s3 = boto3.client("s3")
s3.create_bucket(Bucket="env-bucket")
s3.put_object(Bucket="env-bucket", Key="from boto3.txt", Body=b"hi")
print(sorted(o["Key"] for o in s3.list_objects_v2(Bucket="env-bucket")["Contents"]))
print(boto3.client("sts").get_caller_identity()["Account"])
print(boto3.client("lambda").list_functions()["Functions"])
"""


def _fresh_env(home: Path) -> dict[str, str]:
    """A process that knows nothing but PATH, an empty HOME and stale AWS settings."""
    (home / "aws-home").mkdir(exist_ok=True)
    return {"PATH": os.environ["PATH"], "HOME": str(home / "aws-home"),
            "AWS_ACCESS_KEY_ID": "stale", "AWS_SECRET_ACCESS_KEY": "stale",
            "AWS_SESSION_TOKEN": "stale", "AWS_PAGER": ""}


@pytest.fixture
def started(isolated_env: Path, run_resizer: Any) -> Any:
    """`resizer local env` in a home where the emulator is stopped: it starts it."""
    assert control.connection() is None
    proc = run_resizer("local", "env")
    state = control.read_state()
    try:
        assert proc.returncode == 0, proc.stderr
        assert "start the local emulator" in proc.stderr and state is not None
        yield proc
    finally:
        control.stop()
        if state is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(state.pid, signal.SIGKILL)


def test_env_exports_feed_boto3_in_a_fresh_process(
    started: Any, isolated_env: Path, run_resizer: Any
) -> None:
    conn = control.connection()
    assert conn is not None
    lines = started.stdout.strip().splitlines()
    assert lines[:4] == [f"export AWS_ENDPOINT_URL={conn.endpoint}",
                         f"export AWS_ACCESS_KEY_ID={conn.access_key_id}",
                         f"export AWS_SECRET_ACCESS_KEY={conn.secret_access_key}",
                         "export AWS_REGION=us-east-1"]
    script = isolated_env / "client.py"
    script.write_text(BOTO3_SCRIPT)
    exports = isolated_env / "env.sh"
    exports.write_text(started.stdout)
    proc = subprocess.run(
        ["bash", "-c", f'eval "$(cat {exports})" && exec {sys.executable} {script}'],
        env=_fresh_env(isolated_env), capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["['from boto3.txt']", "123456789012", "[]"]

    again = run_resizer("local", "env", "--json", "--region", "eu-west-1")
    assert again.returncode == 0, again.stderr
    variables = json.loads(again.stdout)
    assert variables == {**conn.env(), "AWS_REGION": "eu-west-1"}
    s3 = boto3.client("s3", endpoint_url=variables["AWS_ENDPOINT_URL"],
                      aws_access_key_id=variables["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=variables["AWS_SECRET_ACCESS_KEY"],
                      region_name=variables["AWS_REGION"])
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["env-bucket"]

    # Each start makes new credentials: the old ones are refused afterwards.
    run_resizer("local", "stop", check=True)
    run_resizer("local", "start", check=True)
    restarted = control.connection()
    assert restarted is not None and restarted.access_key_id != conn.access_key_id
    stale = boto3.client("s3", **{**conn.boto3_kwargs(), "endpoint_url": restarted.endpoint})
    with pytest.raises(ClientError) as err:
        stale.list_buckets()
    assert err.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_env_exports_feed_the_aws_cli(started: Any, isolated_env: Path) -> None:
    aws = shutil.which("aws")
    assert aws is not None, "the aws-cli comes with the test extra: pip install -e '.[test]'"
    photo = isolated_env / "photo one.jpg"
    photo.write_bytes(b"\xff\xd8 not really a jpeg")
    (isolated_env / "env.sh").write_text(started.stdout)
    commands = (
        f'eval "$(cat {isolated_env / "env.sh"})" && '
        "aws s3 mb s3://cli-bucket && "
        f'aws s3 cp "{photo}" "s3://cli-bucket/raw/photo one.jpg" && '
        "aws s3 ls s3://cli-bucket/raw/ && "
        "aws lambda list-functions --output json && "
        "aws logs describe-log-groups --output json"
    )
    proc = subprocess.run(["bash", "-c", commands], env=_fresh_env(isolated_env),
                          capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert "photo one.jpg" in proc.stdout and '"Functions": []' in proc.stdout
    conn = control.connection()
    assert conn is not None
    got = boto3.client("s3", **conn.boto3_kwargs()).get_object(
        Bucket="cli-bucket", Key="raw/photo one.jpg")["Body"].read()
    assert got == photo.read_bytes()
    # Without the exports, the same aws-cli is refused: the emulator is not open to anyone.
    bare = _fresh_env(isolated_env) | {"AWS_ENDPOINT_URL": conn.endpoint,
                                       "AWS_DEFAULT_REGION": "us-east-1"}
    bare.pop("AWS_SESSION_TOKEN")
    proc = subprocess.run(["aws", "s3", "ls"], env=bare, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0 and "InvalidAccessKeyId" in proc.stderr
