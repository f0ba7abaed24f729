"""Fetch the target's wheels with pip: one `pip download --no-deps` per pin, target tags only.

`run_pip` is the one place pip runs (tests count calls through it). pip's failures are turned
into one line: no network (naming the index's host, as pip 23 and pip 26 word it differently),
no wheel for the target (naming the newest version that has one), or pip's own last error.
Dependencies are pinned, not resolved: each wheel's Requires-Dist (read with
`packaging.metadata`) must be satisfied by the pins.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from packaging.metadata import Metadata
from packaging.requirements import Requirement as PkgRequirement
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from resizer_cli.layer.requirements import SPEC_FILE, Requirement, unpinned_dependencies
from resizer_cli.layer.target import LayerError, Target
from resizer_cli.output import Reporter

PIP_TIMEOUT = 900
_NETWORK_MARKERS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "connection error:",
    "Connection refused",
    "Temporary failure in name resolution",
    "Name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "Network is unreachable",
    "No route to host",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "Read timed out",
    "Max retries exceeded",
    "ProxyError",
    "SSLError",
)
# Where pip says which host it could not reach: pip 26 ("Could not fetch URL <url>:
# connection error: [Errno 111] ..."), pip 23 (urllib3's "host='...'"), or the index itself.
_FETCH_URL_RE = re.compile(r"Could not fetch URL (\S+?):? connection error")
_HOST_RE = re.compile(r"host='([^']+)'")
_INDEX_RE = re.compile(r"Looking in indexes: (\S+?),?(?:\s|$)")


def run_pip(args: list[str]) -> tuple[int, str]:
    """Run `python -m pip ARGS`; return (exit code, combined output). The one place pip runs."""
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            timeout=PIP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return 1, f"ERROR: pip download timed out after {PIP_TIMEOUT} s (ReadTimeoutError)"
    return proc.returncode, proc.stdout


def pip_download_args(req: Requirement, target: Target, dest: Path) -> list[str]:
    return [
        "download",
        "--only-binary=:all:",
        "--no-deps",
        "--progress-bar",
        "off",
        "--dest",
        str(dest),
        *target.pip_args(),
        req.spec,
    ]


def unreachable_host(output: str) -> str | None:
    """The host pip could not reach, as its output names it (any pip since 23)."""
    m = _FETCH_URL_RE.search(output)
    if m and (host := urlsplit(m.group(1)).hostname):
        return host
    m = _HOST_RE.search(output)
    if m:
        return m.group(1)
    m = _INDEX_RE.search(output)
    if m and (host := urlsplit(m.group(1)).hostname):
        return host
    return None


def pip_failure(req: Requirement, target: Target, output: str) -> LayerError:
    """Turn pip's output into one line: no network, no wheel for the target, or pip's error."""
    if "No module named pip" in output:
        return LayerError(
            f"pip is not available in {sys.executable}", "install it with `python -m ensurepip`"
        )
    if network_trouble(output):
        where = unreachable_host(output) or "the package index"
        return LayerError(
            f"cannot reach {where} to download {req.spec}",
            "check your network or proxy (pip's index-url setting); "
            "once built, the layer is cached and needs no network",
        )
    if no_candidates(output):
        glibc = f", glibc ≤ {target.glibc[0]}.{target.glibc[1]}" if target.glibc else ""
        found = re.search(r"\(from versions: ([^)]*)\)", output)
        versions = [v.strip() for v in found.group(1).split(",")] if found else []
        versions = [v for v in versions if v and v != "none"]
        pin = (
            f"pin {req.name}=={versions[-1]}, the newest with such a wheel,"  # pip sorts them
            if versions
            else "pin a version that publishes one"
        )
        return LayerError(
            f"{req.spec} has no wheel for {target.label} (cp{target.nodot}{glibc})",
            f"{pin} in {SPEC_FILE}, or choose another --runtime/--arch",
        )
    errors = [ln.strip() for ln in output.splitlines() if ln.strip().startswith("ERROR:")]
    last = errors[-1] if errors else (output.strip().splitlines() or ["(no output)"])[-1]
    return LayerError(f"pip could not download {req.spec}: {last}", "re-run with a working pip")


def network_trouble(output: str) -> bool:
    return any(marker in output for marker in _NETWORK_MARKERS)


def no_candidates(output: str) -> bool:
    return "No matching distribution" in output or "Could not find a version" in output


def download_wheels(
    reqs: list[Requirement], target: Target, dest: Path, reporter: Reporter
) -> list[Path]:
    """One wheel per requirement, for target only; in requirement order."""
    wheels: list[Path] = []
    with reporter.progress(f"downloading wheels for {target.label}", total=len(reqs)) as bar:
        for index, req in enumerate(reqs):
            sub = dest / f"{index:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            args = pip_download_args(req, target, sub)
            code, output = run_pip(args)
            if code != 0:
                if no_candidates(output) and not network_trouble(output):
                    # pip only logs an unreachable index at debug level (and with retries off,
                    # not at all): ask once more, verbosely, to tell "offline" from "no wheel".
                    _, output = run_pip([args[0], "-vv", *args[1:]])
                raise pip_failure(req, target, output)
            found = sorted(sub.glob("*.whl"))
            if len(found) != 1 or not wheel_matches(found[0].name, req):
                names = ", ".join(p.name for p in sub.iterdir()) or "nothing"
                raise LayerError(
                    f"pip download {req.spec} gave {names}, not one {req.name} wheel",
                    f"check {SPEC_FILE}",
                )
            wheels.append(found[0])
            reporter.info(f"  ✓ {found[0].name}", detail=f"({_mb(found[0])})")
            bar.advance()
    check_dependencies(wheels, reqs, target)
    return wheels


def wheel_matches(filename: str, req: Requirement) -> bool:
    try:
        name, version, _, _ = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return False
    return name == req.key and version == Version(req.version)


def requires_dist(wheel: Path) -> list[PkgRequirement]:
    """The wheel's Requires-Dist, from its METADATA (core metadata, parsed by packaging)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA")), None)
        if meta is None:
            return []
        text = zf.read(meta).decode("utf-8", "replace")
    return list(Metadata.from_email(text, validate=False).requires_dist or [])


def check_dependencies(wheels: list[Path], reqs: list[Requirement], target: Target) -> None:
    """--no-deps fetches only what is pinned, so every runtime dependency must be pinned too."""
    for wheel in wheels:
        problems = unpinned_dependencies(requires_dist(wheel), reqs, target)
        if problems:
            name = parse_wheel_filename(wheel.name)[0]
            raise LayerError(
                f"{name} {problems[0]}",
                f"pin a version that satisfies it in {SPEC_FILE}",
            )


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"
