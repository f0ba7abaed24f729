"""Build the Pillow layer zip for a Lambda (runtime, architecture), on any host, without Docker.

Wheels are always downloaded for the target (never taken from the host's site-packages; see
download.py), unpacked under `python/` and stripped (assemble.py), verified (verify.py), and
cached under `cache_dir()/layers/` keyed by the requirements that apply, the target and the
builder version. An interrupted build leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from resizer_cli import bytecode, paths
from resizer_cli.layer.assemble import assemble_layer
from resizer_cli.layer.download import download_wheels
from resizer_cli.layer.requirements import (
    EXTRAS,
    Requirement,
    parse_requirements,
    requirements_text,
)
from resizer_cli.layer.target import Target, resolve_target
from resizer_cli.layer.verify import verify_layer
from resizer_cli.output import Reporter
from resizer_cli.ziputil import sha256_file

# Bump when the layout or the strip rules change: it is part of the cache key.
BUILDER_VERSION = 3  # 3: bytecode for the runtime's Python (resizer_cli.bytecode)
STALE_SECONDS = 3600
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


def layer_description(artifact: LayerArtifact) -> str:
    """The published layer version's description; deploy compares its sha256 to skip uploads."""
    return (
        f"resizer pillow layer sha256={artifact.sha256} {artifact.runtime} {artifact.architecture}"
    )


def parse_layer_sha(description: str | None) -> str | None:
    m = _DESCRIPTION_SHA_RE.search(description or "")
    return m.group(1) if m else None


def layer_extras(*, heic: bool = True) -> tuple[str, ...]:
    """The layer's optional parts to turn on (requirements.txt's `extra == ...` markers)."""
    return tuple(e for e in EXTRAS if e != "heic" or heic)


def layer_pins(
    runtime: str, architecture: str, *, local: bool = False, heic: bool = True
) -> list[str]:
    """`name==version` of every package the layer for this target would carry."""
    target = resolve_target(runtime, architecture, local=local)
    reqs = parse_requirements(requirements_text(), target, layer_extras(heic=heic))
    return [r.spec for r in reqs]


def cache_key(reqs: list[Requirement], target: Target) -> str:
    material = {
        "builder": BUILDER_VERSION,
        # A layer built with no interpreter of the runtime's version at hand has no bytecode:
        # once one is there, the layer is built again with it.
        "bytecode": bytecode.interpreter_for(target.version) is not None,
        "requirements": [r.spec for r in reqs],
        "target": target.fingerprint(),
    }
    blob = json.dumps(material, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def layers_dir() -> Path:
    path = paths.cache_dir() / "layers"
    path.mkdir(parents=True, exist_ok=True)
    return path


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
    heic: bool = True,
) -> LayerArtifact:
    """The verified layer zip for the target, from the cache when it is there and intact.

    With local=True the target is this interpreter and host (runtime/architecture ignored).
    `output` (a .zip path, or a directory to put it in) receives a copy; the cache keeps its own.
    heic=False leaves out what requirements.txt marks `extra == "heic"` (pillow-heif).
    """
    reporter = reporter or Reporter.silent()
    target = resolve_target(runtime, architecture, local=local)
    reqs = parse_requirements(requirements_text(), target, layer_extras(heic=heic))
    key = cache_key(reqs, target)
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
            sha, unzipped = assemble_layer(wheels, staged, staging, target.version)
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
