"""The emulator process: moto's server with our Lambda runtime patched in.

Run by `control.start()` as `python -m resizer_cli.emulator.server --port N --workdir DIR`,
detached, with its output going to the emulator log and its credentials arriving as one JSON
line on stdin. Besides the AWS APIs it answers `GET /_resizer/status` (JSON: pid, uptime,
functions with invocation and error counts), `/_resizer/health` and `/_resizer/drain` on the
same port. Every request, those included, goes through the signature gate (`gate.py`),
except the public execute-api data plane of HTTP APIs (`apigw/`), mounted before it:

    /_aws/execute-api/* -> apigw data plane -> our runtime
    anything else       -> Gate -> control paths | S3 key rules -> large S3 bodies -> moto
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

STATUS_PATH = "/_resizer/status"
HEALTH_PATH = "/_resizer/health"
DRAIN_PATH = "/_resizer/drain"


class ResizerApp:
    """WSGI wrapper: our few control paths, everything else goes to moto."""

    def __init__(self, aws_app: Any, runtime: Any, port: int) -> None:
        self.aws_app = aws_app
        self.runtime = runtime
        self.port = port
        self.started = time.time()

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "port": self.port,
            "endpoint": f"http://127.0.0.1:{self.port}",
            "started": self.started,
            "uptime_s": round(time.time() - self.started, 1),
            **self.runtime.status(),
        }

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_resizer/"):
            if path == HEALTH_PATH:
                body: Any = {"ok": True, "pid": os.getpid()}
            elif path == STATUS_PATH:
                body = self.status()
            elif path == DRAIN_PATH:
                timeout = float(environ.get("QUERY_STRING", "").partition("=")[2] or 60)
                body = {"drained": self.runtime.drain(timeout)}
            else:
                start_response("404 Not Found", [("Content-Type", "application/json")])
                return [b'{"error": "not found"}']
            data = json.dumps(body).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(data)))])
            return [data]
        return self.aws_app(environ, start_response)


def _read_credentials() -> Any:
    from resizer_cli.emulator.statefiles import Credentials

    line = sys.stdin.readline()
    try:
        data = json.loads(line)
        return Credentials(str(data["access_key_id"]), str(data["secret_access_key"]))
    except (ValueError, KeyError, TypeError):
        sys.exit("resizer-emulator: expected the credentials as a JSON line on stdin")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="resizer-emulator")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args(argv)
    credentials = _read_credentials()
    os.umask(0o077)  # what the emulator writes (extracted code, spooled bodies) is private

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    os.environ["MOTO_PORT"] = str(args.port)
    # Request threads are CPU-bound Python (moto) sharing one GIL: a thread coming back from
    # I/O (a worker's GET, the next invocation's dispatch) would otherwise wait up to the
    # default 5 ms for each GIL hand-over while uploads are being parsed.
    sys.setswitchinterval(0.0005)
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "false")

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    from resizer_cli.emulator import apigw, s3rules, s3store, seam
    from resizer_cli.emulator.gate import Gate
    from resizer_cli.emulator.keepalive import KeepAliveHandler
    from resizer_cli.emulator.runtime import Runtime

    endpoint = f"http://127.0.0.1:{args.port}"
    workdir = os.path.abspath(args.workdir)
    # moto's state lives in memory: artifacts of a previous run are stale.
    for stale in ("tasks", "opt", "spool"):
        shutil.rmtree(os.path.join(workdir, stale), ignore_errors=True)
    # Request bodies and objects past a few MB live on disk here, not in /tmp (often RAM).
    spool = os.path.join(workdir, "spool")
    os.makedirs(spool, mode=0o700)
    tempfile.tempdir = spool
    runtime = Runtime(Path(workdir), endpoint, seam.MotoLogSink(), credentials={
        "AWS_ACCESS_KEY_ID": credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
    })
    seam.install(runtime)
    s3store.install()
    s3rules.patch_routes()

    class CachedDispatcher(DomainDispatcherApplication):
        """moto scans its package directory and ~400 URL regexes on every request to find
        the service; the answer per host never changes, so remember it (a third of the
        server's CPU per request otherwise)."""

        _hosts: dict[str | None, Any] = {}  # noqa: RUF012

        def get_backend_for_host(self, host: str | None) -> Any:
            if host not in self._hosts:
                self._hosts[host] = super().get_backend_for_host(host)
            return self._hosts[host]

    moto_app = CachedDispatcher(create_backend_app)
    aws_app = s3rules.rules(s3store.prepare(moto_app))
    app = apigw.mount(Gate(ResizerApp(aws_app, runtime, args.port), credentials), runtime)
    # Loopback only; every request is signed with this start's credentials, but execute-api.
    server = make_server("127.0.0.1", args.port, app, threaded=True,
                         request_handler=KeepAliveHandler)

    def stop(signum: int, _frame: Any) -> None:
        logging.getLogger("resizer.emulator").info("stopping (signal %d)", signum)
        runtime.shutdown()
        logging.shutdown()
        # All state is in memory and the workers are gone: nothing left to clean up.
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger("resizer.emulator").info("listening on %s (pid %d)", endpoint, os.getpid())
    try:
        server.serve_forever()
    finally:
        runtime.shutdown()


if __name__ == "__main__":
    main()
