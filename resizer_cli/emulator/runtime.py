"""Our Lambda runtime: warm worker processes that run the deployed zip and its layers.

It knows nothing about moto: `seam.py` turns moto's stored function into a `FunctionSpec` and
gives us a `LogSink` that writes into moto's CloudWatch Logs backend.

- Execution environments are worker processes (`worker.py`) reused between invocations; a code or
  configuration change (a new fingerprint) retires that function's warm workers.
- Each function runs at most `concurrency` invocations at once (reserved concurrency, or
  RESIZER_EMULATOR_CONCURRENCY, default 4); the rest wait their turn.
- Asynchronous invocations (S3 events, InvocationType=Event) go to a per-function queue and are
  retried twice on error, after RESIZER_EMULATOR_RETRY_DELAY seconds and twice that (Lambda waits
  about 1 and 2 minutes).
- Timeout and memory size are enforced from the parent: the worker is killed and replaced, and the
  log stream gets Lambda's lines for it.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import logging
import math
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Protocol

import psutil

from resizer_cli.emulator.worker import read_frame, write_frame

log = logging.getLogger("resizer.emulator")

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
LOCAL_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
LOCAL_RUNTIME = f"python{LOCAL_PYTHON}"
# What Lambda's Python runtime puts in /var/runtime besides its own bootstrap.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit for on-demand functions
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


class LogSink(Protocol):
    def create_stream(self, account: str, region: str, group: str, stream: str) -> None: ...

    def put(
        self, account: str, region: str, group: str, stream: str, events: list[dict[str, Any]]
    ) -> None: ...


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
# Artifacts: the code zip, the layers and the runtime directory on disk


def _extract(data: bytes, dest: Path) -> None:
    """Unzip as Lambda does (modes and symlinks kept), atomically: dest appears complete or not."""
    if dest.exists():
        return
    tmp = dest.with_name(f"{dest.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if data:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    target = tmp / info.filename
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(zf.read(info).decode(), target)
                    continue
                path = Path(zf.extract(info, tmp))
                if mode & 0o777 and not info.is_dir():
                    os.chmod(path, mode & 0o777)
    try:
        tmp.rename(dest)
    except OSError:  # another thread got there first
        shutil.rmtree(tmp, ignore_errors=True)


def build_runtime_dir(dest: Path) -> Path:
    """A directory holding only what Lambda's /var/runtime holds: boto3 and its dependencies."""
    if (dest / ".complete").exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        spec = find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        link = dest / source.name
        if not link.exists():
            with contextlib.suppress(FileExistsError):
                link.symlink_to(source)
    (dest / ".complete").touch()
    return dest


class Artifacts:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._lock = threading.Lock()
        self.runtime_dir = build_runtime_dir(workdir / f"runtime-{LOCAL_RUNTIME}")

    def task_dir(self, spec: FunctionSpec) -> Path:
        digest = spec.code_sha256.replace("/", "_").replace("+", "-")[:24] or "empty"
        dest = self.workdir / "tasks" / f"{spec.name}-{digest}"
        with self._lock:
            _extract(spec.code(), dest)
        return dest

    def opt_dir(self, spec: FunctionSpec) -> Path:
        key = uuid.uuid5(uuid.NAMESPACE_URL, "|".join(spec.layer_arns)).hex
        dest = self.workdir / "opt" / key
        with self._lock:
            if not dest.exists():
                tmp = dest.with_name(dest.name + ".building")
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
                for i, arn in enumerate(spec.layer_arns):  # later layers overwrite earlier ones
                    part = tmp.with_name(f"{dest.name}.layer{i}")
                    shutil.rmtree(part, ignore_errors=True)
                    _extract(spec.layer_code(arn), part)
                    shutil.copytree(part, tmp, symlinks=True, dirs_exist_ok=True)
                    shutil.rmtree(part, ignore_errors=True)
                tmp.rename(dest)
        return dest


# ---------------------------------------------------------------------------------------------
# Log streams


class LogStream:
    """One worker's CloudWatch stream; lines are written as they arrive, with their own time."""

    def __init__(self, sink: LogSink, spec: FunctionSpec) -> None:
        self.sink = sink
        self.account = spec.account
        self.region = spec.region
        self.group = spec.log_group
        version = spec.version
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        self.name = f"{day}/[{version}]{uuid.uuid4().hex}"
        self._created = False
        self._lock = threading.Lock()
        self._last_ts = 0
        self.tail: collections.deque[str] | None = None  # current invocation's lines

    def write(self, message: str, ts: int | None = None) -> None:
        if not message:
            return
        with self._lock:
            ts = max(ts or now_ms(), self._last_ts)  # chronological, as PutLogEvents wants
            self._last_ts = ts
            try:
                if not self._created:
                    self.sink.create_stream(self.account, self.region, self.group, self.name)
                    self._created = True
                self.sink.put(self.account, self.region, self.group, self.name,
                              [{"timestamp": ts, "message": message}])
            except Exception as exc:  # a deleted log group must not break the invocation
                log.warning("cannot write to log group %s: %s", self.group, exc)
            if self.tail is not None:
                self.tail.append(message)


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
    def __init__(self, spec: FunctionSpec, artifacts: Artifacts, sink: LogSink, endpoint: str):
        self.spec = spec
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
            **DUMMY_CREDENTIALS,
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

    def kill(self) -> None:
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
        for closer in (lambda: os.close(self.reply_fd), self.proc.stdin.close):  # type: ignore[union-attr]
            with contextlib.suppress(OSError):
                closer()
        self.reply_fd = -1

    def _exit_detail(self) -> str:
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


@dataclass
class AsyncItem:
    request_id: str
    resolve: Callable[[], FunctionSpec | None]
    event: str
    attempt: int = 0
    enqueued: float = field(default_factory=time.time)


@dataclass
class Stats:
    invocations: int = 0
    errors: int = 0
    async_failed: int = 0
    retries: int = 0
    cold_starts: int = 0
    timeouts: int = 0
    out_of_memory: int = 0
    last_error: str = ""


class Pool:
    def __init__(self, key: str, name: str) -> None:
        self.key = key
        self.name = name
        self.fingerprint = ""
        self.runtime = ""
        self.idle: list[Environment] = []
        self.busy: set[Environment] = set()
        self.active = 0
        self.cond = threading.Condition()
        self.queue: collections.deque[AsyncItem] = collections.deque()
        self.consumers = 0
        self.pending = 0  # async items queued or being processed
        self.stats = Stats()
        self.limit = 1
        self.exists: Callable[[], bool] = lambda: True

    def acquire(self, limit: int) -> None:
        with self.cond:
            self.limit = limit
            self.cond.wait_for(lambda: self.active < self.limit)
            self.active += 1

    def release(self) -> None:
        with self.cond:
            self.active -= 1
            self.cond.notify_all()


class Runtime:
    def __init__(
        self, workdir: Path, endpoint: str, sink: LogSink, *,
        default_concurrency: int | None = None, retry_delay: float | None = None,
        idle_ttl: float | None = None,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.endpoint = endpoint
        self.sink = sink
        self.artifacts = Artifacts(workdir)
        self.default_concurrency = default_concurrency or int(
            _env_float("RESIZER_EMULATOR_CONCURRENCY", 4)
        )
        self.retry_delay = (
            retry_delay if retry_delay is not None
            else _env_float("RESIZER_EMULATOR_RETRY_DELAY", 1.0)
        )
        self.idle_ttl = idle_ttl if idle_ttl is not None else _env_float(
            "RESIZER_EMULATOR_IDLE_TTL", 600.0
        )
        self._pools: dict[str, Pool] = {}
        self._lock = threading.Lock()
        self._timers: set[threading.Timer] = set()
        self._closed = threading.Event()
        self.warnings: list[str] = []
        self._reaper = threading.Thread(target=self._reap, daemon=True, name="reaper")
        self._reaper.start()

    # -- public API -----------------------------------------------------------------------------
    def invoke(self, spec: FunctionSpec, event: str, request_id: str | None = None) -> Result:
        """Run one invocation synchronously (RequestResponse), waiting for a free slot."""
        return self._execute(spec, event, request_id or str(uuid.uuid4()))

    def submit(
        self, spec: FunctionSpec, resolve: Callable[[], FunctionSpec | None], event: str
    ) -> str:
        """Queue an asynchronous invocation (S3 event, InvocationType=Event); returns at once.

        `resolve` fetches the function again when the event runs (it may have changed)."""
        item = AsyncItem(str(uuid.uuid4()), resolve, event)
        pool = self._pool(spec.key, spec.name)
        with pool.cond:
            pool.limit = self._limit(spec)
        self._enqueue(spec.key, spec.name, item)
        return item.request_id

    def status(self) -> dict[str, Any]:
        with self._lock:
            pools = list(self._pools.values())
        functions = []
        for pool in pools:
            with pool.cond:
                functions.append({
                    "name": pool.name, "key": pool.key, "runtime": pool.runtime,
                    "invocations": pool.stats.invocations, "errors": pool.stats.errors,
                    "async_failed": pool.stats.async_failed, "retries": pool.stats.retries,
                    "cold_starts": pool.stats.cold_starts, "timeouts": pool.stats.timeouts,
                    "out_of_memory": pool.stats.out_of_memory,
                    "last_error": pool.stats.last_error,
                    "warm_workers": len(pool.idle) + len(pool.busy), "running": pool.active,
                    "queued": len(pool.queue), "concurrency": pool.limit,
                })
        return {"functions": functions, "warnings": list(self.warnings),
                "python": LOCAL_RUNTIME, "workers": self.worker_pids()}

    def worker_pids(self) -> list[int]:
        with self._lock:
            pools = list(self._pools.values())
        pids = []
        for pool in pools:
            with pool.cond:
                pids += [env.pid for env in [*pool.idle, *pool.busy]]
        return pids

    def shutdown(self) -> None:
        self._closed.set()
        with self._lock:
            timers = list(self._timers)
            pools = list(self._pools.values())
        for timer in timers:
            timer.cancel()
        for pool in pools:
            with pool.cond:
                envs = [*pool.idle, *pool.busy]
                pool.idle.clear()
                pool.queue.clear()
            for env in envs:
                env.kill()

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until no invocation is queued, running or scheduled for retry (tests, bench)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                pools = list(self._pools.values())
                pending = len(self._timers)
            for pool in pools:
                with pool.cond:
                    pending += pool.pending + pool.active
            if not pending:
                return True
            time.sleep(0.02)
        return False

    # -- pools ----------------------------------------------------------------------------------
    def _pool(self, key: str, name: str) -> Pool:
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = Pool(key, name)
            return pool

    def _prepare(self, spec: FunctionSpec) -> Pool:
        pool = self._pool(spec.key, spec.name)
        stale: list[Environment] = []
        with pool.cond:
            pool.exists = spec.exists
            if pool.fingerprint != spec.fingerprint:
                # A code or configuration update: warm workers of the old version retire.
                stale, pool.idle = pool.idle, []
                pool.fingerprint = spec.fingerprint
                pool.runtime = spec.runtime
                if spec.runtime != LOCAL_RUNTIME:
                    msg = self._runtime_warning(spec)
                    log.warning("%s", msg)
                    if msg not in self.warnings:
                        self.warnings.append(msg)
        for env in stale:
            env.kill()
        return pool

    @staticmethod
    def _runtime_warning(spec: FunctionSpec) -> str:
        return (
            f"function {spec.name} declares runtime {spec.runtime}, but the emulator runs "
            f"{LOCAL_RUNTIME}: native modules in its layers may fail to import"
        )

    def _limit(self, spec: FunctionSpec) -> int:
        if spec.reserved_concurrency is not None:
            return max(1, spec.reserved_concurrency)
        return max(1, self.default_concurrency)

    # -- async queue ----------------------------------------------------------------------------
    def _enqueue(self, key: str, name: str, item: AsyncItem) -> None:
        if self._closed.is_set():
            return
        pool = self._pool(key, name)
        with pool.cond:
            pool.queue.append(item)
            pool.pending += 1
            start = pool.consumers < max(pool.limit, 1)
            if start:
                pool.consumers += 1
        if start:
            threading.Thread(
                target=self._consume, args=(pool,), daemon=True, name=f"async-{name}"
            ).start()

    def _consume(self, pool: Pool) -> None:
        while not self._closed.is_set():
            with pool.cond:
                if not pool.queue:
                    pool.consumers -= 1
                    return
                item = pool.queue.popleft()
            try:
                self._process(pool, item)
            finally:
                with pool.cond:
                    pool.pending -= 1

    def _process(self, pool: Pool, item: AsyncItem) -> None:
        spec = item.resolve()
        if spec is None:
            log.warning("dropping event %s: function %s no longer exists",
                        item.request_id, pool.name)
            return
        try:
            result = self._execute(spec, item.event, item.request_id)
        except Exception:
            log.exception("async invocation %s failed in the runtime", item.request_id)
            return
        if result.failed:
            self._after_failure(pool, spec, item, result)

    def _after_failure(
        self, pool: Pool, spec: FunctionSpec, item: AsyncItem, result: Result
    ) -> None:
        if item.attempt < spec.max_retries:
            item.attempt += 1
            delay = self.retry_delay * item.attempt  # Lambda: ~1 min, then ~2 min
            with pool.cond:
                pool.stats.retries += 1
            timer = threading.Timer(delay, self._retry, args=(pool, item))
            timer.daemon = True
            with self._lock:
                self._timers.add(timer)
            timer.start()
            return
        with pool.cond:
            pool.stats.async_failed += 1
        log.warning(
            "async invocation %s of %s failed after %d attempts: %s",
            item.request_id, spec.name, item.attempt + 1, result.error_type,
        )

    def _retry(self, pool: Pool, item: AsyncItem) -> None:
        self._enqueue(pool.key, pool.name, item)
        with self._lock:  # after enqueueing, so drain() never sees a gap
            self._timers.discard(threading.current_thread())  # type: ignore[arg-type]

    # -- execution ------------------------------------------------------------------------------
    def _execute(self, spec: FunctionSpec, event: str, request_id: str) -> Result:
        pool = self._prepare(spec)
        pool.acquire(self._limit(spec))
        try:
            return self._run_in_pool(pool, spec, event, request_id)
        finally:
            pool.release()

    def _take_env(self, pool: Pool, spec: FunctionSpec) -> Environment | None:
        with pool.cond:
            while pool.idle:
                env = pool.idle.pop()
                if env.alive() and env.fingerprint == spec.fingerprint:
                    pool.busy.add(env)
                    return env
                env.kill()
        return None

    def _give_back(self, pool: Pool, env: Environment, healthy: bool) -> None:
        with pool.cond:
            pool.busy.discard(env)
            keep = healthy and env.alive() and env.fingerprint == pool.fingerprint
            if keep and not self._closed.is_set():
                pool.idle.append(env)
                return
        env.kill()

    def _run_in_pool(
        self, pool: Pool, spec: FunctionSpec, event: str, request_id: str
    ) -> Result:
        env = self._take_env(pool, spec)
        init_ms: float | None = None
        if env is None:
            try:
                env = Environment(spec, self.artifacts, self.sink, self.endpoint)
            except (OSError, zipfile.BadZipFile) as exc:
                log.exception("cannot start an execution environment for %s", spec.name)
                error = {"errorType": "Runtime.Unknown", "requestId": request_id,
                         "errorMessage": f"cannot start the execution environment: {exc}"}
                with pool.cond:
                    pool.stats.invocations += 1
                    pool.stats.errors += 1
                    pool.stats.last_error = error["errorMessage"][:300]
                return Result(request_id, json.dumps(error), "Runtime.Unknown", "")
            with pool.cond:
                pool.busy.add(env)
                pool.stats.cold_starts += 1
            if spec.runtime != LOCAL_RUNTIME:
                env.stream.write(f"[WARNING] resizer emulator: {self._runtime_warning(spec)}")
            ready, init_ms = env.init()
            if ready.get("type") != "ready":
                return self._init_failed(pool, env, spec, request_id, ready, init_ms)
        stream = env.stream
        stream.tail = collections.deque(maxlen=200)
        stream.write(f"START RequestId: {request_id} Version: {spec.version}")
        outcome = env.run(request_id, event, spec.timeout_s, spec.memory_mb)
        error: dict[str, Any] | None = None
        after: list[str] = []
        healthy = True
        if outcome.kind == "result":
            payload = str(outcome.reply.get("payload", "null"))
        elif outcome.kind == "error":
            error = {k: outcome.reply.get(k) for k in ("errorMessage", "errorType")}
            error["requestId"] = request_id
            error["stackTrace"] = outcome.reply.get("stackTrace", [])
            stream.write(_error_log(error))
            payload = json.dumps(error)
        elif outcome.kind == "timeout":
            healthy = False
            text = f"Task timed out after {spec.timeout_s:.2f} seconds"
            error = {"errorType": "Sandbox.Timedout",
                     "errorMessage": f"RequestId: {request_id} Error: {text}"}
            after = [f"{iso_now()} {request_id} {text}"]
        else:  # oom or exit: the runtime process is gone
            healthy = False
            error_type = "Runtime.OutOfMemory" if outcome.kind == "oom" else "Runtime.ExitError"
            message = f"RequestId: {request_id} Error: Runtime exited with error: " + (
                outcome.exit_detail or "signal: killed"
            )
            error = {"errorType": error_type, "errorMessage": message}
            after = [message, error_type]
        if error is not None and outcome.kind != "error":
            payload = json.dumps(error)
        stream.write(f"END RequestId: {request_id}")
        stream.write(_report(request_id, outcome.duration_ms, spec.memory_mb,
                             outcome.max_memory_mb, init_ms))
        for line in after:
            stream.write(line)
        tail = _last_4kb("\n".join(stream.tail) + "\n")
        stream.tail = None
        self._give_back(pool, env, healthy)
        with pool.cond:
            pool.stats.invocations += 1
            if error is not None:
                pool.stats.errors += 1
                pool.stats.last_error = f"{error['errorType']}: {error['errorMessage']}"[:300]
                pool.stats.timeouts += outcome.kind == "timeout"
                pool.stats.out_of_memory += outcome.kind == "oom"
        return Result(request_id, payload, error["errorType"] if error else None, tail)

    def _init_failed(
        self, pool: Pool, env: Environment, spec: FunctionSpec, request_id: str,
        reply: dict[str, Any], init_ms: float,
    ) -> Result:
        stream = env.stream
        stream.tail = collections.deque(maxlen=200)
        error = {
            "errorMessage": reply.get("errorMessage", ""),
            "errorType": reply.get("errorType", "Runtime.Unknown"),
            "requestId": request_id,
            "stackTrace": reply.get("stackTrace", []),
        }
        stream.write(_error_log(error))
        stream.write(f"START RequestId: {request_id} Version: {spec.version}")
        stream.write(f"END RequestId: {request_id}")
        stream.write(_report(request_id, 0.0, spec.memory_mb, env._peak_mb(), init_ms)
                     + f"\tStatus: error\tError Type: {error['errorType']}")
        tail = _last_4kb("\n".join(stream.tail) + "\n")
        stream.tail = None
        self._give_back(pool, env, healthy=False)  # Lambda re-runs init on the next invocation
        with pool.cond:
            pool.stats.invocations += 1
            pool.stats.errors += 1
            pool.stats.last_error = f"{error['errorType']}: {error['errorMessage']}"[:300]
        return Result(request_id, json.dumps(error), str(error["errorType"]), tail)

    # -- housekeeping ---------------------------------------------------------------------------
    def _reap(self) -> None:
        while not self._closed.wait(2.0):
            with self._lock:
                pools = list(self._pools.values())
            cutoff = time.monotonic() - self.idle_ttl
            for pool in pools:
                with pool.cond:
                    if not pool.idle:
                        continue
                    exists = pool.exists
                try:
                    gone = not exists()  # deleted (teardown): its workers go at once
                except Exception:
                    gone = False
                with pool.cond:
                    old = [e for e in pool.idle
                           if gone or e.last_used < cutoff or not e.alive()]
                    pool.idle = [e for e in pool.idle if e not in old]
                for env in old:
                    env.kill()


def _last_4kb(text: str) -> str:
    """LogType=Tail returns the last 4 KB of the invocation's log, as Lambda does."""
    data = text.encode()
    return data[-4096:].decode("utf-8", "ignore") if len(data) > 4096 else text


def _error_log(error: dict[str, Any]) -> str:
    """Lambda's Python runtime logs an unhandled error as one multi-line event."""
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}",
             "Traceback (most recent call last):"]
    lines += [frame.rstrip("\n") for frame in error.get("stackTrace") or []]
    return "\n".join(lines)


def _report(
    request_id: str, duration_ms: float, memory_mb: int, used_mb: int, init_ms: float | None
) -> str:
    parts = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {max(1, math.ceil(duration_ms))} ms",
        f"Memory Size: {memory_mb} MB",
        f"Max Memory Used: {min(used_mb, memory_mb)} MB",
    ]
    if init_ms is not None:
        parts.append(f"Init Duration: {init_ms:.2f} ms")
    return "\t".join(parts)
