"""What the function's init does (benchmarks/bench_cold_start.py measures how long it takes).
Inside Lambda it makes its S3 client at init, as AWS advises, with botocore alone (boto3 adds
nothing we use). HEIF support and the HTTP modules wait for the first event that needs them.
The zips carry hash-checked bytecode for the runtime's Python, because Lambda can never write
__pycache__ into /var/task or /opt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from resizer_cli import bytecode
from resizer_cli.deploy.bundle import build_handler_bundle, handler_source

LOCAL = f"{sys.version_info[0]}.{sys.version_info[1]}"
PROBE = """
import json, sys
import lambda_handler.handler as h
print(json.dumps({"modules": sorted(sys.modules), "client": h._client is not None}))
"""
LAZY = ("pillow_heif", "lambda_handler.web.request", "lambda_handler.web.serve",
        "lambda_handler.web.rendition")


def _init(**env: str) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RESIZER_"))}
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          env={**base, **env}, timeout=60, check=True)
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_init_inside_lambda_makes_the_client_and_leaves_heif_and_http_for_later() -> None:
    seen = _init(AWS_LAMBDA_FUNCTION_NAME="fn", AWS_REGION="us-east-1",
                 AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    assert seen["client"] is True
    modules = set(seen["modules"])  # type: ignore[arg-type]
    assert {"botocore.client", "PIL.Image", "lambda_handler.thumbnail"} <= modules
    assert not modules & {"boto3", *LAZY}  # botocore alone makes the same client


def test_import_outside_lambda_imports_no_boto3_and_survives_a_client_that_fails() -> None:
    seen = _init()
    assert seen["client"] is False
    assert not set(seen["modules"]) & {"boto3", "botocore", *LAZY}  # type: ignore[arg-type]
    # Inside Lambda with a client that cannot be made: init goes on, the first event fails on
    # it and logs why.
    assert _init(AWS_LAMBDA_FUNCTION_NAME="fn", AWS_ENDPOINT_URL="bad")["client"] is False


def test_the_bundle_carries_fresh_hash_checked_bytecode_deterministically(tmp_path) -> None:
    stale = handler_source() / "__pycache__" / f"junk.cpython-{LOCAL.replace('.', '')}.pyc"
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"not bytecode")
    try:
        first = build_handler_bundle(dest=tmp_path / "a.zip", python_version=LOCAL)
        second = build_handler_bundle(dest=tmp_path / "b.zip", python_version=LOCAL)
    finally:
        stale.unlink()
    assert first.sha256 == second.sha256
    with zipfile.ZipFile(first.path) as zf:
        names = set(zf.namelist())
        header = zf.read(f"lambda_handler/__pycache__/handler.cpython-{LOCAL.replace('.', '')}.pyc")
    sources = {n for n in names if n.endswith(".py")}
    compiled = {n for n in names if n.endswith(".pyc")}
    assert len(compiled) == len(sources) and not any("junk" in n for n in compiled)
    assert int.from_bytes(header[4:8], "little") == 0b11  # PEP 552: hash-based, checked
    # Another runtime's Python that is not installed: sources only, as before.
    other = build_handler_bundle(dest=tmp_path / "c.zip", python_version="3.99")
    with zipfile.ZipFile(other.path) as zf:
        assert not [n for n in zf.namelist() if n.endswith(".pyc")]


def test_an_interpreter_is_used_only_if_it_runs_as_the_version_asked(tmp_path: Path) -> None:
    assert bytecode.interpreter_for(LOCAL) == sys.executable
    assert bytecode.interpreter_for("3.99") is None
    assert not bytecode.compile_tree(tmp_path, "3.99", prefix="/var/task")
