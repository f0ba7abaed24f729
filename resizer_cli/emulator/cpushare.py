"""Each worker gets the CPU its memory buys, as on Lambda.

Lambda allocates CPU in proportion to memory: 1,769 MB is one vCPU, 10,240 MB (the maximum)
six (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html). So a worker gets
memory/1769 cores, at most six and at most what this machine lets us use.

Two mechanisms, chosen once per emulator (`CpuShare.status()` says which):
- cgroup (`cpucgroup.py`): a CFS bandwidth quota per worker, in a child group of this
  process's own cgroup (v2 `cpu.max`, or v1 `cpu.cfs_quota_us` on hybrid hosts), when that
  cgroup is writable and may pass the `cpu` controller down. The kernel enforces it, threads
  and child processes included.
- duty-cycle (`dutycycle.py`): otherwise a controller thread pauses (SIGSTOP) and resumes
  (SIGCONT) each worker on a CPU-time budget checked every 20 ms. Time spent waiting on I/O
  costs nothing, as on Lambda; only the worker process itself is paused.

A worker is never left paused: `detach` resumes it before the runtime kills or waits on it,
`close` resumes all, and the controller resumes all if it fails. If the emulator itself is
killed, the kernel sends SIGHUP and SIGCONT to the stopped workers of its process group, which
is then orphaned (`control.py` starts the server as a session leader).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from resizer_cli.emulator.cpucgroup import Cgroups, find
from resizer_cli.emulator.dutycycle import DutyCycle

log = logging.getLogger("resizer.emulator")

ENV_VAR = "RESIZER_EMULATOR_CPU_SHARE"
MB_PER_CORE = 1769
MAX_CORES = 6.0
# Lambda's init is measured to slow down far less than memory-proportionally for small
# functions (AWS documents no figure): our choice is that init gets at least half a core.
INIT_MIN_CORES = 0.5


def machine_cpus() -> int:
    """How many CPUs this process may run on (its affinity), else the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def share_cores(memory_mb: int, cpus: int | None = None) -> float:
    """The cores `memory_mb` buys on Lambda, capped at six and at `cpus` (default: ours)."""
    limit = min(MAX_CORES, float(cpus if cpus is not None else machine_cpus()))
    return max(0.0, min(memory_mb / MB_PER_CORE, limit))


def init_cores(memory_mb: int, cpus: int | None = None) -> float:
    """The cores the init phase (imports) gets: the share, with a floor (INIT_MIN_CORES)."""
    limit = min(MAX_CORES, float(cpus if cpus is not None else machine_cpus()))
    return min(max(share_cores(memory_mb, cpus), INIT_MIN_CORES), limit)


def parse_setting(value: str | None) -> str:
    """RESIZER_EMULATOR_CPU_SHARE: on (default), off, or a forced mechanism."""
    text = (value or "").strip().lower()
    if text in ("", "1", "on", "true", "yes"):
        return "on"
    if text in ("0", "off", "false", "no"):
        return "off"
    if text in ("cgroup", "duty-cycle"):
        return text
    log.warning("%s=%r is not 0, 1, cgroup or duty-cycle: using 1", ENV_VAR, value)
    return "on"




class CpuShare:
    """What the runtime calls as a worker starts, finishes init, and stops."""

    def __init__(self, setting: str | None = None) -> None:
        self.setting = parse_setting(setting if setting is not None
                                     else os.environ.get(ENV_VAR))
        self.cpus = machine_cpus()
        self.note = ""
        self._impl: Cgroups | DutyCycle | None = None
        self._memory: dict[int, int] = {}
        if self.setting == "off":
            return
        if self.setting in ("on", "cgroup"):
            found = find()
            if isinstance(found, str):
                self.note = found
            else:
                try:
                    self._impl = Cgroups(*found)
                except OSError as exc:
                    self.note = f"cannot make a cgroup under {found[1]}: {exc.strerror or exc}"
            if self._impl is None and self.setting == "cgroup":
                log.warning("cpu share: no usable cgroup (%s); using the duty cycle", self.note)
        if self._impl is None:
            self._impl = DutyCycle()

    @property
    def enabled(self) -> bool:
        return self._impl is not None

    @property
    def mechanism(self) -> str:
        if self._impl is None:
            return "off"
        return "cgroup" if isinstance(self._impl, Cgroups) else "duty-cycle"

    def status(self) -> dict[str, Any]:
        info: dict[str, Any] = {"enabled": self.enabled, "mechanism": self.mechanism,
                                "cpus": self.cpus}
        if self._impl is not None:
            info["detail"] = self._impl.detail
        if self.note and self.mechanism != "cgroup":
            info["note"] = self.note
        return info

    def attach(self, pid: int, memory_mb: int) -> None:
        """A worker started: from now until `init_done` it runs at the init share."""
        if self._impl is None:
            return
        self._memory[pid] = memory_mb
        try:
            self._impl.attach(pid, init_cores(memory_mb, self.cpus))
        except OSError as exc:  # a worker we cannot throttle still runs
            log.warning("cpu share: cannot limit worker %d: %s", pid, exc)

    def init_done(self, pid: int) -> None:
        """The worker imported its handler: from now on it runs at its memory's share."""
        memory = self._memory.get(pid)
        if self._impl is None or memory is None:
            return
        try:
            self._impl.update(pid, share_cores(memory, self.cpus))
        except OSError as exc:
            log.warning("cpu share: cannot limit worker %d: %s", pid, exc)

    def detach(self, pid: int) -> None:
        """The worker is about to be killed or waited on: resume it and forget it."""
        self._memory.pop(pid, None)
        if self._impl is not None:
            self._impl.detach(pid)

    def close(self) -> None:
        if self._impl is not None:
            self._impl.close()
