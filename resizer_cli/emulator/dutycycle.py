"""The duty-cycle mechanism of `cpushare`: pause and resume a worker on a CPU-time budget.

One controller thread, every TICK_S, reads each worker's CPU clock (all threads, ns) and
pauses it (SIGSTOP) while it has used more than its share of the wall time, resuming it
(SIGCONT) once the budget is back; waiting on I/O costs nothing. Only the worker process is
paused, not processes it starts. Signals go through a pidfd, so a reused pid is never
signalled; `detach`, `close` and a failing controller resume what they paused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass

log = logging.getLogger("resizer.emulator")
TICK_S = 0.02


def _cpu_seconds(pid: int) -> float | None:
    """The process's CPU time (all threads, user + system); None once it is gone."""
    try:
        # The kernel's per-process CPU clock id (glibc's clock_getcpuclockid): ns resolution.
        return time.clock_gettime_ns(((~pid) << 3) | 2) / 1e9
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class _Budget:
    pid: int
    pidfd: int
    cores: float
    last_wall: float
    last_cpu: float
    budget: float = 0.0
    stopped: bool = False


class DutyCycle:
    detail = "duty-cycle (SIGSTOP/SIGCONT on a CPU-time budget)"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workers: dict[int, _Budget] = {}
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def _signal(self, entry: _Budget, sig: signal.Signals) -> bool:
        try:
            if entry.pidfd >= 0:
                signal.pidfd_send_signal(entry.pidfd, sig)
            else:
                os.kill(entry.pid, sig)
            return True
        except (ProcessLookupError, PermissionError, OSError):
            return False

    def attach(self, pid: int, cores: float) -> None:
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = -1
        cpu = _cpu_seconds(pid) or 0.0
        with self._lock:
            self._workers[pid] = _Budget(pid, pidfd, cores, time.monotonic(), cpu)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="cpu-share")
                self._thread.start()

    def update(self, pid: int, cores: float) -> None:
        with self._lock:
            entry = self._workers.get(pid)
            if entry is not None:
                entry.cores = cores

    def detach(self, pid: int) -> None:
        with self._lock:
            entry = self._workers.pop(pid, None)
        if entry is not None:
            self._release(entry)

    def _release(self, entry: _Budget) -> None:
        self._signal(entry, signal.SIGCONT)  # even if we think it runs: never left paused
        if entry.pidfd >= 0:
            with contextlib.suppress(OSError):
                os.close(entry.pidfd)
            entry.pidfd = -1

    def _run(self) -> None:
        try:
            while not self._closed.wait(TICK_S):
                try:
                    self._tick()
                except Exception:
                    log.exception("cpu share: the duty cycle failed; resuming the workers")
                    self._resume_all()
        finally:
            self._resume_all()

    def _tick(self) -> None:
        now = time.monotonic()
        with self._lock:  # held while signalling, so a detached worker is never stopped again
            for entry in list(self._workers.values()):
                cpu = _cpu_seconds(entry.pid)
                if cpu is None:  # exited: the runtime will detach it
                    continue
                used, entry.last_cpu = cpu - entry.last_cpu, cpu
                earned, entry.last_wall = entry.cores * (now - entry.last_wall), now
                # Unused CPU is not saved up beyond one period, as with a CFS quota.
                entry.budget = min(entry.budget + earned - used, entry.cores * TICK_S)
                if entry.budget < 0 and not entry.stopped:
                    entry.stopped = self._signal(entry, signal.SIGSTOP)
                elif entry.budget >= 0 and entry.stopped:
                    self._signal(entry, signal.SIGCONT)
                    entry.stopped = False

    def _resume_all(self) -> None:
        with self._lock:
            entries = list(self._workers.values())
        for entry in entries:
            self._signal(entry, signal.SIGCONT)
            entry.stopped = False
            entry.budget = 0.0

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            entries = list(self._workers.values())
            self._workers.clear()
        for entry in entries:
            self._release(entry)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(1.0)
