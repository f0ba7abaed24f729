"""The cgroup mechanism of `cpushare`: a CFS bandwidth quota per worker, in a child group.

Groups go under this process's own cgroup: v2 (`cpu.max`) when that group already passes the
`cpu` controller down and is writable, else v1 (`cpu.cfs_quota_us`, hybrid hosts) when its
`cpu` hierarchy is writable. The kernel enforces the quota, threads and child processes
included. `find()` says why not when neither can be used.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from pathlib import Path

PERIOD_S = 0.02  # short, so a throttled worker's latency stays smooth
PREFIX = "resizer-emulator-"


def _write(path: Path, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


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


def find() -> tuple[int, Path] | str:
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
            # Enabling it ourselves would change how the other groups under it are scheduled,
            # and v2 refuses it anyway where processes live ("no internal processes").
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


class Cgroups:
    """One child group per worker under resizer-emulator-<pid>-<n>, each with its own quota."""

    def __init__(self, version: int, base: Path) -> None:
        self.version = version
        self._sweep_stale(base)
        self.root = base / f"{PREFIX}{os.getpid()}-{next(_serial)}"
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
            for path in base.glob(f"{PREFIX}*"):
                pid = path.name[len(PREFIX):].partition("-")[0]
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
