"""The shared plumbing: error classification, fault seam, retries, deterministic zips."""

from __future__ import annotations

import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from moto import mock_aws

from resizer_cli import faults, retry
from resizer_cli.aws import Target
from resizer_cli.errors import from_boto
from resizer_cli.settings import Settings
from resizer_cli.ziputil import sha256_file, tree_entries, write_zip


def _client_error(code: str, message: str = "", op: str = "CreateBucket") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, op)  # type: ignore[arg-type]


def test_error_classification_gives_one_line_remedies() -> None:
    cases = {
        "credentials": from_boto(NoCredentialsError()),
        "expired": from_boto(_client_error("ExpiredToken", "The security token has expired")),
        "denied": from_boto(
            _client_error(
                "AccessDenied",
                "User: arn:aws:iam::1:user/x is not authorized to perform: s3:CreateBucket",
            )
        ),
        "taken": from_boto(_client_error("BucketAlreadyExists", "taken")),
    }
    assert all(err is not None for err in cases.values())
    assert "no AWS credentials" in str(cases["credentials"])
    assert "expired" in str(cases["expired"])
    assert "s3:CreateBucket" in str(cases["denied"])
    assert "taken by another AWS account" in str(cases["taken"])
    for err in cases.values():
        assert err is not None and err.hint and "\n" not in str(err)
    assert from_boto(_client_error("NoSuchKey")) is None


def test_fault_seam_fires_through_real_clients() -> None:
    faults.install(faults.Fault("s3", "ListBuckets", code="SlowDown", times=2, after=1))
    with mock_aws():
        s3 = Target(Settings(target="aws")).client("s3")
        s3.list_buckets()  # let through (after=1)
        for _ in range(2):
            with pytest.raises(ClientError, match="SlowDown"):
                s3.list_buckets()
        s3.list_buckets()
    assert faults.fired("s3", "ListBuckets") == 2


def test_fault_seam_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "RESIZER_FAULTS", '[{"service": "sts", "operation": "*", "kind": "interrupt"}]'
    )
    monkeypatch.setattr(faults, "_loaded_env", False)
    with mock_aws(), pytest.raises(KeyboardInterrupt):
        Target(Settings(target="aws")).client("sts").get_caller_identity()


def test_retry_decides_before_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(retry, "sleep", slept.append)
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ValueError("transient")
        return "ok"

    assert retry.retry_call(flaky, retryable=lambda e: True, attempts=5, delay=1, backoff=2) == "ok"
    assert slept == [1, 2]

    slept.clear()
    with pytest.raises(KeyError):
        retry.retry_call(
            lambda: {}["x"], retryable=lambda e: isinstance(e, ValueError), attempts=5, delay=1
        )
    assert slept == []  # not retryable: no sleep at all
    with pytest.raises(ValueError):
        retry.retry_call(
            lambda: (_ for _ in ()).throw(ValueError()), retryable=lambda e: True,
            attempts=2, delay=1,
        )
    assert slept == [1]  # the last failure does not sleep


def test_deterministic_zip(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg" / "__pycache__").mkdir(parents=True)
    (src / "pkg" / "b.py").write_text("b = 1\n")
    (src / "pkg" / "a.py").write_text("a = 1\n")
    (src / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"junk")
    first = write_zip(tree_entries(src), tmp_path / "one.zip")
    (src / "pkg" / "a.py").touch()  # a new mtime must not change the bytes
    second = write_zip(tree_entries(src), tmp_path / "two.zip")
    assert first == second == sha256_file(tmp_path / "one.zip")
    names = zipfile.ZipFile(tmp_path / "one.zip").namelist()
    assert names == ["pkg/a.py", "pkg/b.py"]
    assert not list(tmp_path.glob(".tmp-*"))


def test_local_target_uses_fixed_account(monkeypatch: pytest.MonkeyPatch) -> None:
    t = Target(Settings(target="local"), endpoint_url="http://127.0.0.1:1")
    assert t.account_id == "123456789012"
    assert t.names.dest_bucket == "resizer-thumbs-123456789012-us-east-1"
    assert "local emulator at http://127.0.0.1:1" in t.describe()
    boto3.setup_default_session()
