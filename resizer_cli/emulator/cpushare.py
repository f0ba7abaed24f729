"""Each worker gets the CPU its memory buys, as on Lambda.

Lambda allocates CPU in proportion to memory: 1,769 MB is one vCPU, 10,240 MB (the maximum)
six (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html). So a worker gets
memory/1769 cores, at most six and at most what this machine lets us use.

Two mechanisms, chosen once per emulator (`CpuShare.status()` says which):
- cgroup: a CFS bandwidth quota per worker, in a child group of this process's own cgroup
  (v2 `cpu.max`, or v1 `cpu.cfs_quota_us` on hybrid hosts), when that cgroup is writable and
  the `cpu` controller can be enabled under it. The kernel enforces it, threads and child
  processes included.
- duty-cycle: otherwise one controller thread gives each worker a CPU-time budget: every
  PERIOD_S it reads the worker's CPU clock and pauses it (SIGSTOP) while it is over budget,
  resuming it (SIGCONT) once the budget is back. Time spent waiting on I/O costs nothing, as on
  Lambda; only the worker process itself is paused, not processes it starts.

A worker is never left paused: `detach` resumes it before the runtime kills or waits on it,
`close` resumes all, and the controller resumes all if it fails. Signals go through a pidfd,
so a reused pid is never signalled. If the emulator itself is killed, the kernel sends
SIGHUP and SIGCONT to the stopped workers of its (then orphaned) process group.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("resizer.emulator")

ENV_VAR = "RESIZER_EMULATOR_CPU_SHARE"
MB_PER_CORE = 1769
MAX_CORES = 6.0
# Lambda's init is measured to slow down far less than memory-proportionally for small
# functions (AWS documents no figure): our choice is that init gets at least half a core.
INIT_MIN_CORES = 0.5
PERIOD_S = 0.02  # duty-cycle tick and cgroup period: short, so latency stays smooth
CGROUP_PREFIX = "resizer-emulator-"


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


def _write(path: Path, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


# ---------------------------------------------------------------------------------------------
# cgroup


def _mounts() -> list[tuple[str, str, str, str]]:
    """(root, mount point, fstype, super options) of each cgroup mount of this process."""
    found = []
    try:
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                left, _, right = line.partition(" - ")
                fields, tail = left.split(), right.split()
                if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
                    found.append((fields[3], fields[4], tail[0], tail[2]))
    except OSError:
        pass
    return found


def _own_groups() -> dict[str, str]:
    """This process's cgroup path per hierarchy: key 'v2' or each v1 controller name."""
    groups: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as fh:
            for line in fh:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if not controllers:
                    groups["v2"] = path
                for name in controllers.split(","):
                    groups.setdefault(name, path)
    except (OSError, ValueError):
        pass
    return groups


def _inside(mount_root: str, mount_point: str, path: str) -> Path:
    rel = path[len(mount_root):] if mount_root != "/" and path.startswith(mount_root) else path
    return Path(mount_point) / rel.lstrip("/")


def _find_cgroup() -> tuple[int, Path] | str:
    """(version, the group our groups go under), or why no cgroup can be used here."""
    groups, mounts = _own_groups(), _mounts()
    reasons = []
    own = groups.get("v2")
    for root, point, fstype, _ in mounts:
        if fstype != "cgroup2" or own is None:
            continue
        base = _inside(root, point, own)
        try:
            controllers = (base / "cgroup.controllers").read_text().split()
        except OSError:
            continue
        try:
            enabled = (base / "cgroup.subtree_control").read_text().split()
        except OSError:
            enabled = []
        if "cpu" not in controllers:
            reasons.append(f"cgroup v2 at {base} has no cpu controller")
        elif "cpu" not in enabled:
            # Enabling it ourselves would change how every sibling group is scheduled, and
            # v2 refuses it anyway where processes live (its "no internal processes" rule).
            reasons.append(f"cgroup v2 at {base} does not pass the cpu controller down")
        elif not os.access(base, os.W_OK):
            reasons.append(f"cgroup v2 at {base} is not delegated to us")
        else:
            return 2, base
    own = groups.get("cpu")
    for root, point, fstype, options in mounts:
        if fstype != "cgroup" or "cpu" not in options.split(",") or own is None:
            continue
        base = _inside(root, point, own)
        if (base / "cpu.cfs_quota_us").exists() and os.access(base, os.W_OK):
            return 1, base
        reasons.append(f"cgroup v1 cpu at {base} is not writable")
    return "; ".join(reasons) or "no cgroup with a cpu controller is mounted"


_serial = itertools.count(1)  # one root group per CpuShare, even several in one process


class _Cgroups:
    """One child group per worker under resizer-emulator-<pid>-<n>, each with its own quota."""

    def __init__(self, version: int, base: Path) -> None:
        self.version = version
        self._sweep_stale(base)
        self.root = base / f"{CGROUP_PREFIX}{os.getpid()}-{next(_serial)}"
        self.root.mkdir(exist_ok=True)
        try:
            if version == 2:  # our group has no processes: it may pass cpu down
                _write(self.root / "cgroup.subtree_control", "+cpu")
            probe = self.root / "probe"
            probe.mkdir(exist_ok=True)
            try:
                self._set(probe, 0.5)
            finally:
                probe.rmdir()
        except OSError:
            with contextlib.suppress(OSError):
                self.root.rmdir()
            raise
        self._lock = threading.Lock()
        self._dirs: dict[int, Path] = {}
        self._gone: list[Path] = []

    @staticmethod
    def _sweep_stale(base: Path) -> None:
        """Remove empty groups left by an emulator that was killed (its pid is gone)."""
        with contextlib.suppress(OSError):
            for path in base.glob(f"{CGROUP_PREFIX}*"):
                pid = path.name[len(CGROUP_PREFIX):].partition("-")[0]
                if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                    for child in path.iterdir():
                        if child.is_dir():
                            with contextlib.suppress(OSError):
                                child.rmdir()
                    with contextlib.suppress(OSError):
                        path.rmdir()

    @property
    def detail(self) -> str:
        return f"cgroup v{self.version} {self.root}"

    def _set(self, group: Path, cores: float) -> None:
        period = int(PERIOD_S * 1_000_000)
        quota = max(1000, round(cores * period))  # the kernel's minimum quota is 1 ms
        if self.version == 2:
            _write(group / "cpu.max", f"{quota} {period}")
        else:
            _write(group / "cpu.cfs_period_us", str(period))
            _write(group / "cpu.cfs_quota_us", str(quota))

    def attach(self, pid: int, cores: float) -> None:
        group = self.root / f"w{pid}"
        with self._lock:
            self._sweep()
            self._dirs[pid] = group
        group.mkdir(exist_ok=True)
        self._set(group, cores)
        _write(group / "cgroup.procs", str(pid))

    def update(self, pid: int, cores: float) -> None:
        with self._lock:
            group = self._dirs.get(pid)
        if group is not None:
            self._set(group, cores)

    def detach(self, pid: int) -> None:
        with self._lock:
            group = self._dirs.pop(pid, None)
            if group is not None:
                self._gone.append(group)  # removable once the worker has exited

    def _sweep(self) -> None:
        left = []
        for group in self._gone:
            try:
                group.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                left.append(group)
        self._gone = left

    def close(self) -> None:
        deadline = time.monotonic() + 2.0
        with self._lock:
            self._gone += self._dirs.values()
            self._dirs.clear()
        while time.monotonic() < deadline:
            with self._lock:
                self._sweep()
                if not self._gone:
                    break
            time.sleep(0.02)
        with contextlib.suppress(OSError):
            self.root.rmdir()


# ---------------------------------------------------------------------------------------------
# duty cycle


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


class _DutyCycle:
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
            while not self._closed.wait(PERIOD_S):
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
                entry.budget = min(entry.budget + earned - used, entry.cores * PERIOD_S)
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


# ---------------------------------------------------------------------------------------------


class CpuShare:
    """What the runtime calls as a worker starts, finishes init, and stops."""

    def __init__(self, setting: str | None = None) -> None:
        self.setting = parse_setting(setting if setting is not None
                                     else os.environ.get(ENV_VAR))
        self.cpus = machine_cpus()
        self.note = ""
        self._impl: _Cgroups | _DutyCycle | None = None
        self._memory: dict[int, int] = {}
        if self.setting == "off":
            return
        if self.setting in ("on", "cgroup"):
            found = _find_cgroup()
            if isinstance(found, str):
                self.note = found
            else:
                try:
                    self._impl = _Cgroups(*found)
                except OSError as exc:
                    self.note = f"cannot make a cgroup under {found[1]}: {exc.strerror or exc}"
            if self._impl is None and self.setting == "cgroup":
                log.warning("cpu share: no usable cgroup (%s); using the duty cycle", self.note)
        if self._impl is None:
            self._impl = _DutyCycle()

    @property
    def enabled(self) -> bool:
        return self._impl is not None

    @property
    def mechanism(self) -> str:
        if self._impl is None:
            return "off"
        return "cgroup" if isinstance(self._impl, _Cgroups) else "duty-cycle"

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
