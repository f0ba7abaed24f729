"""Starting, finding and stopping the background emulator (state file, lock, stale pid, port)."""

from __future__ import annotations

import json
import socket
import threading

import psutil
import pytest

from resizer_cli.emulator import control
from resizer_cli.errors import ResizerError


def test_start_status_stop_leaves_nothing_running(isolated_env, request) -> None:
    results: list[str] = []
    # Two commands starting the emulator at once must end up sharing one server.
    threads = [threading.Thread(target=lambda: results.append(control.ensure_running()))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    state = control.read_state()
    assert state is not None
    request.addfinalizer(lambda: control._kill_group(state.pid))
    assert results == [state.endpoint, state.endpoint]
    saved = json.loads(control.state_path().read_text())
    assert saved["pid"] == state.pid and saved["port"] == state.port
    servers = [p for p in psutil.process_iter(["cmdline"])
               if control.SERVER_MODULE in " ".join(p.info["cmdline"] or [])
               and str(control.workdir()) in " ".join(p.info["cmdline"] or [])]
    assert [p.pid for p in servers] == [state.pid]

    # Give the server a warm worker so that stopping has children to clean up.
    import boto3

    conn = control.connection()
    assert conn is not None and conn.endpoint == state.endpoint
    kw = conn.boto3_kwargs()
    role = boto3.client("iam", **kw).create_role(
        RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
    lam = boto3.client("lambda", **kw)
    lam.create_function(FunctionName="f", Runtime="python3.11", Role=role,
                        Handler="app.handler", Code={"ZipFile": buf.getvalue()})
    assert lam.invoke(FunctionName="f")["Payload"].read() == b"1"

    status = control.status()
    assert status is not None and status["endpoint"] == state.endpoint
    assert status["functions"][0]["name"] == "f" and status["functions"][0]["invocations"] == 1
    children = psutil.Process(state.pid).children(recursive=True)
    assert children and all(c.pid in status["workers"] for c in children)

    assert control.stop() is True
    assert not psutil.pid_exists(state.pid) or psutil.Process(state.pid).status() == "zombie"
    assert not any(c.is_running() and c.status() != "zombie" for c in children)
    assert control.read_state() is None and control.endpoint() is None
    assert control.stop() is False  # re-running is safe


def test_stale_state_file_is_detected_and_replaced(isolated_env) -> None:
    dead = psutil.Popen(["true"])
    dead.wait()
    control.state_path().write_text(json.dumps({"pid": dead.pid, "port": 1, "started": 0}))
    assert control.endpoint() is None
    control.state_path().write_text(json.dumps({"pid": dead.pid, "port": 1, "started": 0}))
    assert control.stale_note() == (
        f"removed a stale emulator state file (pid {dead.pid} is no longer running)"
    )
    assert control.status() is None


def test_port_in_use_is_a_clear_error(isolated_env) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ResizerError) as err:
            control.start(port=port)
    assert str(err.value) == (
        f"port {port} on 127.0.0.1 is already in use (choose another with "
        "`resizer local start --port N`, or omit --port)"
    )
    assert control.read_state() is None
