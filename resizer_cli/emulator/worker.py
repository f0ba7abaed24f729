"""The code that runs inside one warm execution environment (a worker process).

Started by the runtime as `python -I -S worker.py <config-json>`: isolated mode with no site, so
nothing from our virtualenv is importable. It builds `sys.path` the way Lambda's Python runtime
does (task dir, the layers under opt, the runtime dir holding boto3 and its dependencies, then the
standard library), imports the handler once (init), then serves invocations until its stdin closes.

Protocol with the parent (`runtime.py`): frames of a 4-byte big-endian length plus JSON. Requests
arrive on a private copy of fd 0; replies go to the fd named in the config. The handler's fd 1
and 2 both go to one output pipe the parent reads line by line; after each phase the worker writes
a sentinel (`\\x1e<nonce>:<seq>\\n`) there so the parent knows all output of that phase arrived.

This file must import only the standard library: it runs before sys.path is set up.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import sys
import time
import traceback
from typing import Any

_HEADER = struct.Struct(">I")


def _read_exact(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> Any:
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    return json.loads(_read_exact(fd, size))


def write_frame(fd: int, obj: Any) -> None:
    data = json.dumps(obj).encode()
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class LambdaContext:
    """The `context` object Lambda's Python runtime passes to the handler."""

    def __init__(self, request: dict[str, Any]) -> None:
        env = os.environ
        self.aws_request_id: str = request["id"]
        self.function_name = env["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = env["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn: str = request["arn"]
        self.memory_limit_in_mb = env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name = env["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = env["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline_ms: int = request["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


def _error(
    exc: BaseException, error_type: str | None = None, message: str | None = None, *,
    skip: int = 0,
) -> dict:
    tb = exc.__traceback__
    for _ in range(skip):  # our own frames are not the user's stack
        tb = tb.tb_next if tb is not None else None
    frames = traceback.extract_tb(tb)
    return {
        "errorMessage": message if message is not None else str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_list(frames),
    }


class Worker:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.nonce: str = config["nonce"]
        self.reply_fd: int = config["reply_fd"]
        self.request_fd = os.dup(0)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)  # the handler must not read our requests
        os.close(devnull)
        self.handler: Any = None

    def mark(self, seq: int) -> None:
        """Everything printed so far belongs to the phase `seq`: tell the parent's log reader."""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.write(1, f"\x1e{self.nonce}:{seq}\n".encode())

    def init(self) -> dict[str, Any]:
        limit = int(self.config["rlimit_data_mb"]) * 2**20
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        except (ImportError, ValueError, OSError):
            pass
        # Lines reach the log as they are printed, not when a pipe buffer fills.
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        task = self.config["task_root"]
        opt = self.config["opt_dir"]
        version = self.config["python_version"]
        stdlib = [p for p in sys.path if p]
        sys.path[:] = [
            task,
            os.path.join(opt, "python", "lib", f"python{version}", "site-packages"),
            os.path.join(opt, "python"),
            self.config["runtime_dir"],
            *stdlib,
        ]
        os.chdir(task)
        # /var/task and /opt are read-only on Lambda: no __pycache__ is ever written there, so
        # each cold start compiles whatever the zips do not ship as bytecode. Do the same, or
        # Init Duration would be Lambda's only for the first start of each code version.
        sys.dont_write_bytecode = True
        spec = self.config["handler"]
        module_name, _, func_name = spec.rpartition(".")
        start = time.perf_counter()
        try:
            if not module_name:
                raise ValueError(f"Bad handler '{spec}': not enough values to unpack")
            import importlib

            module = importlib.import_module(module_name.replace("/", "."))
        except SyntaxError as exc:
            return {
                "type": "init_error",
                **_error(
                    exc, "Runtime.UserCodeSyntaxError",
                    f"Syntax error in module '{module_name}': {exc}",
                ),
            }
        except ValueError as exc:
            return {"type": "init_error", **_error(exc, "Runtime.MalformedHandlerName")}
        except Exception as exc:
            message = f"Unable to import module '{module_name}': {exc}"
            error = _error(exc, "Runtime.ImportModuleError", message)
            error["stackTrace"] = []  # as Lambda reports it
            return {"type": "init_error", **error}
        handler = getattr(module, func_name, None)
        if handler is None:
            return {
                "type": "init_error",
                "errorMessage": f"Handler '{func_name}' missing on module '{module_name}'",
                "errorType": "Runtime.HandlerNotFound",
                "stackTrace": [],
            }
        self.handler = handler
        return {"type": "ready", "init_ms": (time.perf_counter() - start) * 1000}

    def invoke(self, request: dict[str, Any]) -> dict[str, Any]:
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace_id", "")
        context = LambdaContext(request)
        event = json.loads(request["event"])
        start = time.perf_counter()
        try:
            result = self.handler(event, context)
        except MemoryError:
            # Only reached when the RLIMIT_DATA backstop fires before the parent's sampler.
            return {"type": "oom", "duration_ms": (time.perf_counter() - start) * 1000}
        except Exception as exc:
            duration = (time.perf_counter() - start) * 1000
            return {"type": "error", "duration_ms": duration, **_error(exc, skip=1)}
        duration = (time.perf_counter() - start) * 1000
        try:
            payload = json.dumps(result)
        except (TypeError, ValueError) as exc:
            return {
                "type": "error",
                "duration_ms": duration,
                "errorMessage": f"Unable to marshal response: {exc}",
                "errorType": "Runtime.MarshalError",
                "stackTrace": [],
            }
        return {"type": "result", "duration_ms": duration, "payload": payload}

    def serve(self) -> None:
        ready = self.init()
        self.mark(0)
        write_frame(self.reply_fd, ready)
        if ready["type"] != "ready":
            return
        while True:
            try:
                request = read_frame(self.request_fd)
            except EOFError:
                return
            reply = self.invoke(request)
            self.mark(request["seq"])
            write_frame(self.reply_fd, reply)


def main() -> None:
    config = json.loads(sys.argv[1])
    Worker(config).serve()


if __name__ == "__main__":
    main()
