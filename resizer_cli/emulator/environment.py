"""One Lambda execution environment: a warm worker process and the artifacts it runs.

The deployed code zip and its layers are extracted once per function version (`artifacts.py`);
an `Environment` starts `worker.py` with Lambda's sys.path, environment and context, runs
invocations one at a time, captures the handler's output into its log stream, and enforces the
timeout and memory size from outside. Pooling, queues and retries live in `runtime.py`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from resizer_cli.emulator.artifacts import Artifacts
from resizer_cli.emulator.cpushare import CpuShare
from resizer_cli.emulator.logstream import LogSink, LogStream
from resizer_cli.emulator.worker import read_frame, write_frame

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
LOCAL_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
LOCAL_RUNTIME = f"python{LOCAL_PYTHON}"
INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit for on-demand functions


def env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass(frozen=True)
class FunctionSpec:
    """What the runtime needs to know about one function, taken from the deployed state."""

    account: str
    region: str
    name: str
    arn: str
    version: str
    handler: str
    runtime: str
    memory_mb: int
    timeout_s: float
    env: dict[str, str]
    code_sha256: str
    layer_arns: tuple[str, ...]
    code: Callable[[], bytes] = field(compare=False, repr=False)
    layer_code: Callable[[str], bytes] = field(compare=False, repr=False)
    reserved_concurrency: int | None = None
    max_retries: int = 2
    exists: Callable[[], bool] = field(default=lambda: True, compare=False, repr=False)
    max_event_age_s: float | None = None  # PutFunctionEventInvokeConfig's, if set
    on_failure: str | None = None  # the ARN failed async events go to (emulator.destinations)

    @property
    def key(self) -> str:
        return f"{self.account}/{self.region}/{self.name}"

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"

    @property
    def fingerprint(self) -> str:
        return json.dumps(
            [self.code_sha256, self.layer_arns, self.handler, self.runtime, self.memory_mb,
             self.timeout_s, sorted(self.env.items()), self.version],
        )

    @property
    def python_version(self) -> str:
        """X.Y of the function's declared runtime (what Lambda would run), else the local one."""
        if self.runtime.startswith("python3."):
            return self.runtime[len("python"):]
        return LOCAL_PYTHON


@dataclass
class Result:
    """The outcome of one invocation, as `lambda.invoke` reports it."""

    request_id: str
    payload: str
    error_type: str | None = None
    log_tail: str = ""

    @property
    def failed(self) -> bool:
        return self.error_type is not None


def now_ms() -> int:
    return int(time.time() * 1000)


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------------------------------------
# One execution environment (parent side of worker.py)


@dataclass
class Outcome:
    kind: str  # result | error | timeout | oom | exit
    duration_ms: float
    max_memory_mb: int
    reply: dict[str, Any] = field(default_factory=dict)
    exit_detail: str = ""


class WorkerDied(Exception):
    pass


class Environment:
    def __init__(
        self, spec: FunctionSpec, artifacts: Artifacts, sink: LogSink, endpoint: str,
        credentials: dict[str, str], cpu: CpuShare | None = None,
    ):
        self.spec = spec
        self.cpu = cpu
        self.fingerprint = spec.fingerprint
        self.stream = LogStream(sink, spec)
        self.nonce = uuid.uuid4().hex
        self.seq = 0
        self._seen = -1
        self._seen_cond = threading.Condition()
        self.last_used = time.monotonic()
        self.invocations = 0
        task = artifacts.task_dir(spec)
        opt = artifacts.opt_dir(spec)
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LD_LIBRARY_PATH": f"{task}/lib:{opt}/lib",
            # The developer's ~/.aws must not leak into the function.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **spec.env,
            "LAMBDA_TASK_ROOT": str(task),
            "LAMBDA_RUNTIME_DIR": str(artifacts.runtime_dir),
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": self.stream.name,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_ENDPOINT_URL": endpoint,
            # The emulator's own key pair, so the function's boto3 calls pass its gate.
            **credentials,
        }
        out_r, out_w = os.pipe()
        reply_r, reply_w = os.pipe()
        config = {
            "nonce": self.nonce,
            "reply_fd": reply_w,
            "task_root": str(task),
            "opt_dir": str(opt),
            "runtime_dir": str(artifacts.runtime_dir),
            "python_version": spec.python_version,
            "handler": spec.handler,
            # Backstop only: the parent's sampler normally kills the worker first.
            "rlimit_data_mb": spec.memory_mb * 2 + 512,
        }
        self.started = time.perf_counter()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(WORKER_SCRIPT), json.dumps(config)],
                stdin=subprocess.PIPE, stdout=out_w, stderr=out_w, pass_fds=(reply_w,),
                env=env, cwd=task, close_fds=True,
            )
        finally:
            os.close(out_w)
            os.close(reply_w)
        if cpu is not None:  # at once, so init (the imports) runs at its share too
            cpu.attach(self.proc.pid, spec.memory_mb)
        self.reply_fd = reply_r
        assert self.proc.stdin is not None
        self.request_fd = self.proc.stdin.fileno()
        self._reader = threading.Thread(
            target=self._read_output, args=(out_r,), daemon=True, name=f"out-{spec.name}"
        )
        self._reader.start()

    # -- output ---------------------------------------------------------------------------------
    def _read_output(self, fd: int) -> None:
        marker = b"\x1e" + self.nonce.encode() + b":"
        buf = b""
        try:
            while True:
                data = os.read(fd, 65536)
                if not data:
                    break
                buf += data
                while True:
                    i = buf.find(marker)
                    j = buf.find(b"\n")
                    if i != -1 and (j == -1 or i < j):
                        end = buf.find(b"\n", i)
                        if end == -1:
                            break
                        if i:
                            self._line(buf[:i])
                        seq = int(buf[i + len(marker):end] or b"-1")
                        buf = buf[end + 1:]
                        with self._seen_cond:
                            self._seen = seq
                            self._seen_cond.notify_all()
                    elif j != -1:
                        self._line(buf[:j])
                        buf = buf[j + 1:]
                    else:
                        break
                if len(buf) > 256 * 1024:  # a very long line without newline: flush a chunk
                    self._line(buf)
                    buf = b""
        finally:
            if buf:
                self._line(buf)
            os.close(fd)
            with self._seen_cond:
                self._seen = sys.maxsize
                self._seen_cond.notify_all()

    def _line(self, raw: bytes) -> None:
        self.stream.write(raw.decode("utf-8", "replace").rstrip("\r"))

    def _wait_output(self, seq: int, timeout: float = 2.0) -> None:
        with self._seen_cond:
            self._seen_cond.wait_for(lambda: self._seen >= seq, timeout)

    # -- process --------------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _peak_mb(self) -> int:
        """Peak RSS (VmHWM) since the last reset, in MB; catches spikes between samples."""
        try:
            with open(f"/proc/{self.pid}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmHWM:"):
                        return math.ceil(int(line.split()[1]) / 1024)
        except (OSError, ValueError):
            pass
        try:
            return math.ceil(psutil.Process(self.pid).memory_info().rss / 2**20)
        except psutil.Error:
            return 0

    def _reset_peak(self) -> None:
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            pass

    def _release_cpu(self) -> None:
        """Before the worker is killed or waited on: a paused worker must be resumed."""
        cpu, self.cpu = self.cpu, None
        if cpu is not None:
            cpu.detach(self.proc.pid)

    def kill(self) -> None:
        self._release_cpu()
        if self.proc.poll() is None:
            try:
                for child in psutil.Process(self.pid).children(recursive=True):
                    child.kill()
            except psutil.Error:
                pass
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._close()
        if threading.current_thread() is not self._reader:
            self._reader.join(1.0)  # its last lines land before END/REPORT, not after

    def _close(self) -> None:
        self._release_cpu()
        for closer in (lambda: os.close(self.reply_fd), self.proc.stdin.close):  # type: ignore[union-attr]
            with contextlib.suppress(OSError):
                closer()
        self.reply_fd = -1

    def _exit_detail(self) -> str:
        self._release_cpu()
        code = self.proc.wait()
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"signal: {_SIGNAL_TEXT.get(name, name.lower())}"
        return f"exit status {code}"

    def _await(self, deadline: float, memory_mb: int) -> tuple[str, dict[str, Any], int]:
        """Wait for one reply frame while enforcing the deadline and the memory size."""
        peak = 0
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return "timeout", {}, max(peak, self._peak_mb())
            ready, _, _ = select.select([self.reply_fd], [], [], min(0.01, remaining))
            peak = max(peak, self._peak_mb())
            if peak >= memory_mb:
                return "oom", {}, memory_mb
            if ready:
                try:
                    return "reply", read_frame(self.reply_fd), peak
                except (EOFError, OSError):
                    return "exit", {}, peak

    def init(self) -> tuple[dict[str, Any], float]:
        """Wait for the worker to import the handler; returns its reply and the init time."""
        kind, reply, _ = self._await(self.started + INIT_TIMEOUT_S, 1 << 30)
        init_ms = (time.perf_counter() - self.started) * 1000
        self._wait_output(0)
        if kind == "reply":
            if self.cpu is not None:
                self.cpu.init_done(self.pid)
            return reply, init_ms
        if kind == "timeout":
            self.kill()
            return {
                "type": "init_error", "errorType": "Runtime.InitTimeout",
                "errorMessage": f"Init phase timed out after {INIT_TIMEOUT_S:.2f} seconds",
                "stackTrace": [],
            }, init_ms
        detail = self._exit_detail()
        self._close()
        return {
            "type": "init_error", "errorType": "Runtime.ExitError",
            "errorMessage": f"Error: Runtime exited with error: {detail}", "stackTrace": [],
        }, init_ms

    def run(self, request_id: str, event: str, timeout_s: float, memory_mb: int) -> Outcome:
        self.seq += 1
        self.invocations += 1
        seq = self.seq
        start = time.perf_counter()
        deadline = start + timeout_s
        request = {
            "type": "invoke", "seq": seq, "id": request_id, "event": event,
            "arn": self.spec.arn, "deadline_ms": now_ms() + int(timeout_s * 1000),
            "trace_id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
        }
        self._reset_peak()
        try:
            write_frame(self.request_fd, request)
        except OSError:
            return Outcome("exit", 0.0, 0, exit_detail=self._exit_detail())
        kind, reply, peak = self._await(deadline, memory_mb)
        elapsed = (time.perf_counter() - start) * 1000
        self.last_used = time.monotonic()
        if kind == "timeout":
            self.kill()
            return Outcome("timeout", timeout_s * 1000, peak)
        if kind == "oom":
            self.kill()
            self._wait_output(seq, 0.5)
            return Outcome("oom", elapsed, memory_mb, exit_detail="signal: killed")
        if kind == "exit":
            detail = self._exit_detail()
            self._wait_output(seq, 0.5)
            self._close()
            return Outcome("exit", elapsed, peak, exit_detail=detail)
        self._wait_output(seq)
        duration = float(reply.get("duration_ms", elapsed))
        if reply.get("type") == "oom":
            self.kill()
            return Outcome("oom", duration, memory_mb, exit_detail="signal: killed")
        return Outcome(str(reply.get("type")), duration, peak, reply=reply)


_SIGNAL_TEXT = {"SIGKILL": "killed", "SIGSEGV": "segmentation fault", "SIGABRT": "aborted",
                "SIGTERM": "terminated", "SIGBUS": "bus error"}


# ---------------------------------------------------------------------------------------------
# Per-function pool, stats and async queue
