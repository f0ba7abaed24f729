"""Fixtures for the runtime tests: one real emulator per test module, and function builders.

The emulator is started through `resizer_cli.emulator.control` (a real background server
process), with its own RESIZER_HOME. Every test in the module sees that home, so `control`
calls in the test find the same server. The server's process group is killed at module end,
and again at interpreter exit as a safety net, even when a test fails.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import signal
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import PIL
import pytest

from resizer_cli.emulator import control

_started_groups: set[int] = set()


def _kill_groups() -> None:
    for pgid in list(_started_groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        _started_groups.discard(pgid)


atexit.register(_kill_groups)


@dataclass
class Emu:
    home: Path
    endpoint: str
    pid: int
    connection: control.Connection
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client signed with this emulator's own credentials."""
        if kwargs:
            return boto3.client(service, **{**self.connection.boto3_kwargs(), **kwargs})
        if service not in self._clients:
            self._clients[service] = boto3.client(service, **self.connection.boto3_kwargs())
        return self._clients[service]

    def foreign_client(self, service: str, key_id: str | None = None,
                       secret: str = "testing") -> Any:
        """A client that signs with other credentials (another key id, or a wrong secret)."""
        return self.client(service, aws_access_key_id=key_id or "testing",
                           aws_secret_access_key=secret)

    def sign(self, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None,
             service: str = "s3") -> dict[str, str]:
        """Headers for a raw HTTP request signed with this emulator's credentials."""
        return sign(self.connection, method, url, body, headers, service)

    @property
    def role(self) -> str:
        iam = self.client("iam")
        try:
            return str(iam.get_role(RoleName="emu-test-role")["Role"]["Arn"])
        except iam.exceptions.NoSuchEntityException:
            return str(iam.create_role(
                RoleName="emu-test-role", AssumeRolePolicyDocument=json.dumps({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                   "Principal": {"Service": "lambda.amazonaws.com"}}],
                }),
            )["Role"]["Arn"])

    def create_function(
        self, name: str, code: str, *, layers: list[str] | None = None, **kwargs: Any
    ) -> str:
        spec: dict[str, Any] = {
            "FunctionName": name, "Runtime": "python3.11", "Role": self.role,
            "Handler": "app.handler", "Code": {"ZipFile": zip_of({"app.py": code})},
            "Timeout": 10, "MemorySize": 256, **kwargs,
        }
        if layers:
            spec["Layers"] = layers
        return str(self.client("lambda").create_function(**spec)["FunctionArn"])

    def invoke(self, name: str, event: Any = None) -> tuple[dict[str, Any], Any]:
        resp = self.client("lambda").invoke(
            FunctionName=name, Payload=json.dumps(event or {}), LogType="Tail"
        )
        return resp, json.loads(resp["Payload"].read() or b"null")

    @staticmethod
    def zip_of(files: dict[str, str | bytes]) -> bytes:
        return zip_of(files)

    @staticmethod
    def pillow_layer_zip() -> bytes:
        return pillow_layer_zip()

    def log_messages(self, name: str) -> list[str]:
        logs = self.client("logs")
        group = f"/aws/lambda/{name}"
        events = logs.filter_log_events(logGroupName=group)["events"]
        return [e["message"] for e in sorted(events, key=lambda e: e["timestamp"])]

    def wait_logs(self, name: str, predicate: Callable[[list[str]], bool], timeout: float = 30
                  ) -> list[str]:
        end = time.monotonic() + timeout
        messages: list[str] = []
        while time.monotonic() < end:
            with contextlib.suppress(Exception):
                messages = self.log_messages(name)
                if predicate(messages):
                    return messages
            time.sleep(0.1)
        raise AssertionError(f"log condition not met within {timeout}s; logs:\n" +
                             "\n".join(messages))


def sign(conn: control.Connection, method: str, url: str, body: bytes = b"",
         headers: dict[str, str] | None = None, service: str = "s3") -> dict[str, str]:
    """SigV4 headers for a raw request (what boto3 would send), made by botocore."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method, url, data=body, headers=dict(headers or {}))
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(Credentials(conn.access_key_id, conn.secret_access_key), service,
           conn.region).add_auth(request)
    return dict(request.headers.items())


def zip_of(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def pillow_layer_zip() -> bytes:
    """A layer holding the locally installed Pillow (matches the local interpreter)."""
    site = Path(PIL.__file__).resolve().parents[1]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for top in ("PIL", "pillow.libs"):
            root = site / top
            if not root.exists():
                continue
            for path in root.rglob("*"):
                if path.is_file() and "__pycache__" not in path.parts:
                    info = zipfile.ZipInfo(f"python/{path.relative_to(site)}")
                    info.external_attr = (path.stat().st_mode & 0o777) << 16
                    zf.writestr(info, path.read_bytes())
    return buf.getvalue()


@contextlib.contextmanager
def running_emulator(home: Path, **env: str) -> Iterator[Emu]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RESIZER_HOME", str(home))
        for key, value in env.items():
            mp.setenv(key, value)
        url, _ = control.start()
        state = control.read_state()
        conn = control.connection()
        assert state is not None and conn is not None
        _started_groups.add(state.pid)
    try:
        yield Emu(home, url, state.pid, conn)
    finally:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("RESIZER_HOME", str(home))
            control.stop()
        _started_groups.discard(state.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(state.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def emu_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emu]:
    home = tmp_path_factory.mktemp("emu-home")
    # Short retry delays keep the retry tests quick; the mechanism is the same.
    with running_emulator(home, RESIZER_EMULATOR_RETRY_DELAY="0.2") as emu:
        yield emu


@pytest.fixture
def emu(emu_module: Emu, monkeypatch: pytest.MonkeyPatch) -> Emu:
    monkeypatch.setenv("RESIZER_HOME", str(emu_module.home))
    return emu_module
