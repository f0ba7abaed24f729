"""Our Lambda runtime: pools of warm execution environments, queues, retries and reports.

It knows nothing about moto: `seam.py` turns moto's stored function into a `FunctionSpec` and
gives us a `LogSink` that writes into moto's CloudWatch Logs backend.

- Execution environments (`environment.py`: a `worker.py` process each) are reused between
  invocations; a code or configuration change (a new fingerprint) retires that function's warm
  workers.
- Each function runs at most `concurrency` invocations at once (reserved concurrency, or
  RESIZER_EMULATOR_CONCURRENCY, default 4); the rest wait their turn.
- Reserved concurrency 0 runs nothing, as on Lambda: a synchronous invoke is refused
  (`Throttled`, which the seam answers as 429 TooManyRequestsException); an asynchronous event
  is kept and tried again, at an interval growing from 1/60 of RESIZER_EMULATOR_RETRY_DELAY to
  5 times it (Lambda: 1 s to 5 min, the retry delays' scale), until the reservation is lifted
  or the event outlives its maximum age. Throttles use none of the event's retries, and a
  held event is not "pending" for `drain` (nothing can run it).
- Asynchronous invocations (S3 events, InvocationType=Event; `asyncqueue.py`) go to a
  per-function queue and are retried twice on error, after RESIZER_EMULATOR_RETRY_DELAY
  seconds and twice that (Lambda waits about 1 and 2 minutes). An event whose attempts are
  used up, or older than its maximum age, goes to the function's on-failure destination
  (`destinations.py`).
- Timeout and memory size are enforced from the parent: the worker is killed and replaced, and the
  log stream gets Lambda's lines for it.
- CPU follows memory (`cpushare.py`): each worker gets memory/1769 of a core, by a cgroup quota
  or a duty cycle, so REPORT durations come out as Lambda's would.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from resizer_cli.emulator.artifacts import Artifacts, UnsafeArchive
from resizer_cli.emulator.asyncqueue import AsyncInvocations
from resizer_cli.emulator.cpushare import CpuShare
from resizer_cli.emulator.destinations import FailureSink
from resizer_cli.emulator.environment import (
    LOCAL_RUNTIME,
    Environment,
    FunctionSpec,
    Result,
    env_float,
    iso_now,
)
from resizer_cli.emulator.logstream import LogSink
from resizer_cli.emulator.pool import AsyncItem, Pool
from resizer_cli.emulator.reports import error_log, last_4kb, report_line

log = logging.getLogger("resizer.emulator")
INVALID_ZIP = "InvalidZipFileException"


class Throttled(Exception):
    """The function may run nothing now (reserved concurrency 0)."""


class Runtime(AsyncInvocations):
    def __init__(
        self, workdir: Path, endpoint: str, sink: LogSink, *,
        credentials: dict[str, str] | None = None,
        default_concurrency: int | None = None, retry_delay: float | None = None,
        idle_ttl: float | None = None, cpu_share: str | None = None,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.endpoint = endpoint
        # What a function's boto3 calls sign with (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).
        self.credentials = dict(credentials or {})
        self.sink = sink
        self.artifacts = Artifacts(workdir, LOCAL_RUNTIME)
        self.default_concurrency = default_concurrency or int(
            env_float("RESIZER_EMULATOR_CONCURRENCY", 4)
        )
        self.retry_delay = (
            retry_delay if retry_delay is not None
            else env_float("RESIZER_EMULATOR_RETRY_DELAY", 1.0)
        )
        self.idle_ttl = idle_ttl if idle_ttl is not None else env_float(
            "RESIZER_EMULATOR_IDLE_TTL", 600.0
        )
        # RESIZER_EMULATOR_CPU_SHARE (cpushare.py): 1 by default, so REPORT durations and
        # `resizer tune` see what the memory size buys; 0 runs every worker at full speed.
        self.cpu = CpuShare(cpu_share)
        self._pools: dict[str, Pool] = {}
        self._lock = threading.Lock()
        self._timers: set[threading.Timer] = set()
        self._held: set[threading.Timer] = set()  # throttled events waiting to try again
        self._closed = threading.Event()
        self.warnings: list[str] = []
        self.failures: FailureSink | None = None  # set by the seam: where failed events go
        self._reaper = threading.Thread(target=self._reap, daemon=True, name="reaper")
        self._reaper.start()

    # -- public API -----------------------------------------------------------------------------
    def invoke(self, spec: FunctionSpec, event: str, request_id: str | None = None) -> Result:
        """Run one invocation synchronously (RequestResponse), waiting for a free slot.
        Raises Throttled when the function's reserved concurrency is 0."""
        if spec.reserved_concurrency == 0:
            pool = self._pool(spec.key, spec.name)
            with pool.cond:
                pool.stats.throttles += 1
            raise Throttled(spec.name)
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
                    "throttles": pool.stats.throttles,
                    "last_error": pool.stats.last_error,
                    "warm_workers": len(pool.idle) + len(pool.busy), "running": pool.active,
                    "queued": len(pool.queue), "concurrency": pool.limit,
                })
        return {"functions": functions, "warnings": list(self.warnings),
                "python": LOCAL_RUNTIME, "workers": self.worker_pids(),
                "cpu_share": self.cpu.status()}

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
            timers = [*self._timers, *self._held]
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
        self.cpu.close()

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
                env = Environment(spec, self.artifacts, self.sink, self.endpoint,
                                  self.credentials, self.cpu)
            except UnsafeArchive as exc:
                # Lambda's Invoke error for a package it cannot unzip (HTTP 502).
                return self._not_started(pool, spec, request_id, INVALID_ZIP,
                                         "Lambda could not unzip the deployment package: "
                                         f"{exc}")
            except OSError as exc:
                log.exception("cannot start an execution environment for %s", spec.name)
                return self._not_started(pool, spec, request_id, "Runtime.Unknown",
                                         f"cannot start the execution environment: {exc}")
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
            error = {k: str(outcome.reply.get(k)) for k in ("errorMessage", "errorType")}
            error["requestId"] = request_id
            error["stackTrace"] = outcome.reply.get("stackTrace", [])
            stream.write(error_log(error))
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
        stream.write(report_line(request_id, outcome.duration_ms, spec.memory_mb,
                             outcome.max_memory_mb, init_ms))
        for line in after:
            stream.write(line)
        tail = last_4kb("\n".join(stream.tail) + "\n")
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

    def _not_started(
        self, pool: Pool, spec: FunctionSpec, request_id: str, error_type: str, message: str
    ) -> Result:
        log.warning("invocation %s of %s failed: %s: %s", request_id, spec.name, error_type,
                    message)
        with pool.cond:
            pool.stats.invocations += 1
            pool.stats.errors += 1
            pool.stats.last_error = f"{error_type}: {message}"[:300]
        error = {"errorType": error_type, "requestId": request_id, "errorMessage": message}
        return Result(request_id, json.dumps(error), error_type, "")

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
        stream.write(error_log(error))
        stream.write(f"START RequestId: {request_id} Version: {spec.version}")
        stream.write(f"END RequestId: {request_id}")
        stream.write(report_line(request_id, 0.0, spec.memory_mb, env._peak_mb(), init_ms)
                     + f"\tStatus: error\tError Type: {error['errorType']}")
        tail = last_4kb("\n".join(stream.tail) + "\n")
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
