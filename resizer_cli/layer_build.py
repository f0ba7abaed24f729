"""Build the Pillow layer zip for a Lambda (runtime, architecture), on any host, without Docker.

Wheels are always downloaded for the target (never taken from the host's site-packages): one
`pip download --only-binary=:all: --no-deps` per pinned requirement, with the target's Python
version, ABI and every manylinux tag its glibc accepts. They are unpacked under `python/`,
stripped of what Lambda never loads, written as a deterministic zip, verified, and cached under
`cache_dir()/layers/` keyed by the requirements, the target and the builder version.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from resizer_cli import paths
from resizer_cli.layer_target import (
    LayerError,
    Target,
    host_architecture,
    resolve_target,
)
from resizer_cli.layer_verify import VerifyReport, verify_layer
from resizer_cli.output import Reporter
from resizer_cli.ziputil import sha256_file, write_zip

__all__ = [
    "LayerArtifact",
    "LayerError",
    "VerifyReport",
    "build_layer",
    "host_architecture",
    "layer_description",
    "parse_layer_sha",
    "verify_layer",
]

# Bump when the layout or the strip rules change: it is part of the cache key.
BUILDER_VERSION = 1
STALE_SECONDS = 3600
PIP_TIMEOUT = 900
# zlib level 6: 0.4 % larger than 9 on Pillow's binaries, and 2.5x faster to build.
ZIP_LEVEL = 6

_REQ_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.!+_-]+)$")
_STRIP_SUFFIXES = (".pyc", ".pyo", ".pyi", ".h", ".hh", ".hpp", ".pxd", ".pxi", ".pyx")
_STRIP_DIRS = {"__pycache__", "tests", "test", "include"}
_LICENCE_PREFIXES = ("LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS")
_NETWORK_MARKERS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "Network is unreachable",
    "No route to host",
    "Connection refused",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "Max retries exceeded",
    "ProxyError",
    "SSLError",
)
_DESCRIPTION_SHA_RE = re.compile(r"\bsha256[=:]([0-9a-f]{64})\b")


@dataclass(frozen=True)
class LayerArtifact:
    path: Path
    sha256: str
    runtime: str
    architecture: str
    size: int
    unzipped_size: int

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


@dataclass(frozen=True)
class Requirement:
    name: str
    version: str

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def key(self) -> str:
        return normalize_name(self.name)


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def layer_description(artifact: LayerArtifact) -> str:
    """The published layer version's description; deploy compares its sha256 to skip uploads."""
    return (
        f"resizer pillow layer sha256={artifact.sha256} {artifact.runtime} {artifact.architecture}"
    )


def parse_layer_sha(description: str | None) -> str | None:
    m = _DESCRIPTION_SHA_RE.search(description or "")
    return m.group(1) if m else None


def requirements_text() -> str:
    """layer/requirements.txt, shipped as package data."""
    res = importlib.resources.files("resizer_cli.layer_spec") / "requirements.txt"
    return res.read_text(encoding="utf-8")


def parse_requirements(text: str) -> list[Requirement]:
    reqs: list[Requirement] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _REQ_RE.match(line)
        if not m:
            raise LayerError(
                f"layer/requirements.txt line {number} is not pinned exactly: {line!r}",
                "write it as name==version, so every build gives the same layer",
            )
        reqs.append(Requirement(m.group(1), m.group(2)))
    if not reqs:
        raise LayerError("layer/requirements.txt lists no packages", "add pillow==<version>")
    return reqs


def cache_key(requirements: str, target: Target) -> str:
    material = {
        "builder": BUILDER_VERSION,
        "requirements": [r.spec for r in parse_requirements(requirements)],
        "target": target.fingerprint(),
    }
    blob = json.dumps(material, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def layers_dir() -> Path:
    path = paths.cache_dir() / "layers"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- pip ------------------------------------------------------------------------------------


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


def pip_failure(req: Requirement, target: Target, output: str) -> LayerError:
    """Turn pip's output into one line: no network, no wheel for the target, or pip's error."""
    if "No module named pip" in output:
        return LayerError(
            f"pip is not available in {sys.executable}", "install it with `python -m ensurepip`"
        )
    if _network_trouble(output):
        host = re.search(r"host='([^']+)'", output)
        where = host.group(1) if host else "the package index"
        return LayerError(
            f"cannot reach {where} to download {req.spec}",
            "check your network or proxy (pip's index-url setting); "
            "once built, the layer is cached and needs no network",
        )
    if _no_candidates(output):
        glibc = f", glibc ≤ {target.glibc[0]}.{target.glibc[1]}" if target.glibc else ""
        found = re.search(r"\(from versions: ([^)]*)\)", output)
        versions = [v.strip() for v in found.group(1).split(",")] if found else []
        versions = [v for v in versions if v and v != "none"]
        pin = (
            f"pin {req.name}=={versions[-1]}, the newest with such a wheel,"
            if versions
            else "pin a version that publishes one"
        )
        return LayerError(
            f"{req.spec} has no wheel for {target.label} (cp{target.nodot}{glibc})",
            f"{pin} in layer/requirements.txt, or choose another --runtime/--arch",
        )
    errors = [ln.strip() for ln in output.splitlines() if ln.strip().startswith("ERROR:")]
    last = errors[-1] if errors else (output.strip().splitlines() or ["(no output)"])[-1]
    return LayerError(f"pip could not download {req.spec}: {last}", "re-run with a working pip")


def _network_trouble(output: str) -> bool:
    return any(marker in output for marker in _NETWORK_MARKERS)


def _no_candidates(output: str) -> bool:
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
                if _no_candidates(output) and not _network_trouble(output):
                    # pip only logs an unreachable index at debug level (and with retries off,
                    # not at all): ask once more, verbosely, to tell "offline" from "no wheel".
                    _, output = run_pip([args[0], "-vv", *args[1:]])
                raise pip_failure(req, target, output)
            found = sorted(sub.glob("*.whl"))
            if len(found) != 1 or not _wheel_matches(found[0].name, req):
                names = ", ".join(p.name for p in sub.iterdir()) or "nothing"
                raise LayerError(
                    f"pip download {req.spec} gave {names}, not one {req.name} wheel",
                    "check layer/requirements.txt",
                )
            wheels.append(found[0])
            reporter.info(f"  ✓ {found[0].name}", detail=f"({_mb(found[0])})")
            bar.advance()
    _check_dependencies(wheels, reqs, target)
    return wheels


def _wheel_matches(filename: str, req: Requirement) -> bool:
    parts = filename[: -len(".whl")].split("-")
    return len(parts) >= 5 and normalize_name(parts[0]) == req.key and parts[1] == req.version


def _check_dependencies(wheels: list[Path], reqs: list[Requirement], target: Target) -> None:
    """--no-deps fetches only what is pinned, so every runtime dependency must be pinned too."""
    pinned = {r.key for r in reqs}
    evaluate = _marker_evaluator(target)
    for wheel in wheels:
        for dep in _requires_dist(wheel):
            name = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", dep)
            if not name or normalize_name(name.group(1)) in pinned or not evaluate(dep):
                continue
            raise LayerError(
                f"{wheel.name.split('-')[0]} needs {name.group(1)}, which "
                "layer/requirements.txt does not pin",
                f"add {name.group(1)}==<version> to layer/requirements.txt",
            )


def _requires_dist(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA")), None)
        if meta is None:
            return []
        text = zf.read(meta).decode("utf-8", "replace")
    header = text.split("\n\n", 1)[0]
    return [
        ln.split(":", 1)[1].strip() for ln in header.splitlines() if ln.startswith("Requires-Dist:")
    ]


def _marker_evaluator(target: Target) -> Callable[[str], bool]:
    """Whether a Requires-Dist line applies on target (with no extras requested)."""
    from packaging.requirements import Requirement as PkgRequirement

    env: dict[str, str] | None = None
    if not target.local:
        version = target.version
        env = {
            "python_version": version,
            "python_full_version": f"{version}.0",
            "implementation_name": "cpython",
            "implementation_version": f"{version}.0",
            "platform_python_implementation": "CPython",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "os_name": "posix",
            "platform_machine": target.wheel_arch,
            "extra": "",
        }

    def applies(line: str) -> bool:
        if ";" not in line:
            return True
        try:
            marker = PkgRequirement(line).marker
            return marker is None or bool(marker.evaluate(env or {"extra": ""}))
        except Exception:
            return "extra" not in line.split(";", 1)[1]

    return applies


# --- assembling the zip ---------------------------------------------------------------------


def layer_path(wheel_entry: str) -> str | None:
    """Where a wheel entry goes under python/, or None when Lambda never loads it."""
    p = PurePosixPath(wheel_entry)
    if p.is_absolute() or ".." in p.parts or "\\" in wheel_entry:
        raise LayerError(f"a wheel holds an unsafe path: {wheel_entry}", "check the package")
    parts = list(p.parts)
    if parts[0].endswith(".data"):
        # purelib/platlib are importable; scripts, headers and data are not used on Lambda.
        if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
            return None
        parts = parts[2:]
    if parts[0].endswith(".dist-info") and parts[1:] == ["RECORD"]:
        return None  # lists hashes of files we strip; nothing at run time reads it
    if _stripped(parts):
        return None
    return "/".join(parts)


def _stripped(parts: list[str]) -> bool:
    name = parts[-1]
    dirs = parts[:-1]
    if name.upper().startswith(_LICENCE_PREFIXES) or any(
        d.lower() in ("licenses", "licences") for d in dirs
    ):
        return False  # licences always travel with the code
    if name.endswith(_STRIP_SUFFIXES):
        return True
    return any(d in _STRIP_DIRS for d in dirs)


def assemble_layer(wheels: list[Path], dest: Path, workdir: Path) -> tuple[str, int]:
    """Unpack wheels under python/ in workdir and write the deterministic zip; (sha, unzipped)."""
    tree = workdir / "tree"
    entries: dict[str, Path] = {}
    modes: dict[str, int] = {}
    for wheel in sorted(wheels, key=lambda w: w.name):
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                rel = layer_path(info.filename)
                if rel is None:
                    continue
                arc = f"python/{rel}"
                out = tree.joinpath(*arc.split("/"))
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                entries[arc] = out
                # From the wheel, not the disk: the same bytes on every host.
                modes[arc] = 0o755 if (info.external_attr >> 16) & 0o111 else 0o644
    sha = write_zip(entries.items(), dest, modes=modes, compresslevel=ZIP_LEVEL)
    unzipped = sum(path.stat().st_size for path in entries.values())
    return sha, unzipped


# --- the cache ------------------------------------------------------------------------------


def _sweep_stale(directory: Path) -> None:
    """Remove leftovers of builds killed outright (an interrupt cleans up after itself)."""
    cutoff = time.time() - STALE_SECONDS
    for path in directory.glob(".*"):
        if not path.name.startswith((".staging-", ".tmp-")):
            continue
        try:
            if path.stat().st_mtime > cutoff:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        except OSError:
            pass


def _load_cached(zip_path: Path, meta_path: Path, target: Target) -> LayerArtifact | None:
    """The cached artifact if its bytes still match the recorded SHA-256, else None."""
    if not zip_path.is_file() or not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        size = zip_path.stat().st_size
        if meta.get("verified") is not True or size == 0 or size != meta["size"]:
            return None
        if sha256_file(zip_path) != meta["sha256"]:
            return None
        if not zipfile.is_zipfile(zip_path):
            return None
        return LayerArtifact(
            path=zip_path,
            sha256=meta["sha256"],
            runtime=target.runtime,
            architecture=target.architecture,
            size=size,
            unzipped_size=int(meta["unzipped_size"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _copy_atomic(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".zip", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 is for the cache, not for a file the user asked for
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


def build_layer(
    runtime: str,
    architecture: str,
    *,
    reporter: Reporter | None = None,
    output: Path | None = None,
    local: bool = False,
) -> LayerArtifact:
    """The verified layer zip for the target, from the cache when it is there and intact.

    With local=True the target is this interpreter and host (runtime/architecture ignored).
    `output` (a .zip path, or a directory to put it in) receives a copy; the cache keeps its own.
    """
    reporter = reporter or Reporter.silent()
    target = resolve_target(runtime, architecture, local=local)
    text = requirements_text()
    reqs = parse_requirements(text)
    key = cache_key(text, target)
    directory = layers_dir()
    _sweep_stale(directory)
    stem = f"layer-{target.runtime}-{target.architecture}{'-local' if local else ''}-{key[:16]}"
    zip_path = directory / f"{stem}.zip"
    meta_path = directory / f"{stem}.json"

    artifact = _load_cached(zip_path, meta_path, target)
    if artifact is not None:
        # It was verified before it entered the cache, and the SHA-256 says it is those bytes.
        with reporter.step(f"layer for {target.label} from the cache") as step:
            step.note(f"{artifact.size / 1e6:.1f} MB, verified when built")
    else:
        if zip_path.exists() or meta_path.exists():
            reporter.warn(f"the cached layer {zip_path.name} is damaged; rebuilding it")
            zip_path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
        artifact = _build_into_cache(reqs, target, zip_path, meta_path, directory, reporter)

    if output is not None:
        dest = Path(output)
        if dest.is_dir() or dest.suffix.lower() != ".zip":
            dest = dest / f"pillow-layer-{target.runtime}-{target.architecture}.zip"
        if dest.resolve() != artifact.path.resolve():
            _copy_atomic(artifact.path, dest)
        artifact = LayerArtifact(
            path=dest,
            sha256=artifact.sha256,
            runtime=artifact.runtime,
            architecture=artifact.architecture,
            size=artifact.size,
            unzipped_size=artifact.unzipped_size,
        )
    return artifact


def _build_into_cache(
    reqs: list[Requirement],
    target: Target,
    zip_path: Path,
    meta_path: Path,
    directory: Path,
    reporter: Reporter,
) -> LayerArtifact:
    # Everything happens in a staging dir on the cache's filesystem; only a verified zip is
    # moved into place (atomically), and the sidecar that vouches for it comes last.
    with tempfile.TemporaryDirectory(
        prefix=".staging-", dir=directory, ignore_cleanup_errors=True
    ) as tmp:
        staging = Path(tmp)
        wheels = download_wheels(reqs, target, staging / "wheels", reporter)
        staged = staging / "layer.zip"
        with reporter.step(f"assemble the layer for {target.label}") as step:
            sha, unzipped = assemble_layer(wheels, staged, staging)
            step.note(
                f"{staged.stat().st_size / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB unzipped"
            )
        with reporter.step("verify the layer") as step:
            report = verify_layer(staged, target.runtime, target.architecture, local=target.local)
            step.note(f"{len(report.native_files)} native files match {target.label}")
        os.replace(staged, zip_path)
        meta = {
            "sha256": sha,
            "size": zip_path.stat().st_size,
            "unzipped_size": unzipped,
            "runtime": target.runtime,
            "architecture": target.architecture,
            "local": target.local,
            "builder": BUILDER_VERSION,
            "verified": True,
            "glibc_needed": report.glibc_needed,
            "requirements": [r.spec for r in reqs],
            "wheels": [{"file": w.name, "sha256": sha256_file(w)} for w in wheels],
        }
        _write_json_atomic(meta_path, meta)
    return LayerArtifact(
        path=zip_path,
        sha256=sha,
        runtime=target.runtime,
        architecture=target.architecture,
        size=int(meta["size"]),  # type: ignore[call-overload]
        unzipped_size=unzipped,
    )
