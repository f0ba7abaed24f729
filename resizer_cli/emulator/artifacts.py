"""The code zip, the layers and the runtime directory of a function, on disk.

Code and layer zips are data from whoever deployed them, so extraction is contained: an
absolute name or a `..` component refuses the whole zip, nothing is ever written through a
symbolic link that leads out of the folder (a link made by an earlier entry included), and a
link whose target resolves outside the folder is refused, checked again once every entry is
in place (a later link can redirect an earlier one). Links that stay inside are kept, as Lambda
keeps them. A refused zip raises `UnsafeArchive`; the runtime answers the invocation with
Lambda's `InvalidZipFileException` ("could not unzip the deployment package").
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import stat
import threading
import uuid
import zipfile
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resizer_cli.emulator.environment import FunctionSpec

LOCAL_RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six",
                          "urllib3")  # what Lambda's Python runtime has in /var/runtime


class UnsafeArchive(Exception):
    """A zip that cannot be extracted inside its folder; the message names the entry."""


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _parts(name: str) -> list[str]:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"entry {name!r} has an absolute name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"entry {name!r} has a '..' component")
    return parts


def _real_parent(root: str, parts: list[str], name: str) -> str:
    """Create the entry's parent folders; their real path must stay inside root."""
    current = root
    for part in parts[:-1]:
        current = os.path.join(current, part)
        if not os.path.lexists(current):
            os.mkdir(current, 0o755)  # below a folder already checked to be inside
            continue
        if os.path.islink(current):  # checked before anything is created below it
            current = os.path.realpath(current)
            if not _inside(current, root):
                raise UnsafeArchive(f"entry {name!r} would be written through a symbolic "
                                    "link that leads outside the package")
        if not os.path.isdir(current):
            raise UnsafeArchive(f"entry {name!r} is inside {part!r}, which is not a folder")
    return current


def _clear(path: str, name: str) -> None:
    """A later entry replaces an earlier file or link of the same name (as unzip does)."""
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            raise UnsafeArchive(f"entry {name!r} conflicts with a folder of the same name")
        os.unlink(path)


def _write_file(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out, zf.open(info) as src:
        shutil.copyfileobj(src, out, 1 << 20)
    os.chmod(path, (mode & 0o777) or 0o644, follow_symlinks=False)


def extract_into(data: bytes, root: Path) -> None:
    """Extract a zip into `root` (created if needed); later entries and zips overwrite."""
    root.mkdir(parents=True, exist_ok=True)
    top = os.path.realpath(root)
    links: list[tuple[str, str]] = []
    if not data:
        return
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise UnsafeArchive(f"it is not a zip file ({exc})") from None
    with zf:
        for info in zf.infolist():
            parts = _parts(info.filename)
            if not parts:
                continue
            mode = info.external_attr >> 16
            if info.is_dir():
                _real_parent(top, [*parts, ""], info.filename)
                continue
            path = os.path.join(_real_parent(top, parts, info.filename), parts[-1])
            _clear(path, info.filename)
            if stat.S_ISLNK(mode):
                target = zf.read(info).decode("utf-8", "surrogateescape")
                if os.path.isabs(target):
                    raise UnsafeArchive(f"entry {info.filename!r} is a symbolic link to the "
                                        f"absolute path {target!r}")
                os.symlink(target, path)
                links.append((path, info.filename))
                if not _inside(os.path.realpath(path), top):
                    raise UnsafeArchive(f"entry {info.filename!r} is a symbolic link to "
                                        f"{target!r}, outside the package")
            else:
                _write_file(zf, info, path, mode)
    for path, name in links:  # a later link may have redirected an earlier one
        if os.path.lexists(path) and not _inside(os.path.realpath(path), top):
            raise UnsafeArchive(f"entry {name!r} resolves outside the package once all "
                                "entries are in place")


def _publish(tmp: Path, dest: Path) -> None:
    try:
        tmp.rename(dest)
    except OSError:  # another thread got there first
        shutil.rmtree(tmp, ignore_errors=True)


def _fresh(dest: Path) -> Path:
    tmp = dest.with_name(f"{dest.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def extract(data: bytes, dest: Path) -> None:
    """Unzip as Lambda does (modes and inside links kept), atomically: dest appears complete."""
    if dest.exists():
        return
    tmp = _fresh(dest)
    try:
        extract_into(data, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _publish(tmp, dest)


def build_runtime_dir(dest: Path) -> Path:
    """A directory holding only what Lambda's /var/runtime holds: boto3 and its dependencies."""
    if (dest / ".complete").exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    for name in LOCAL_RUNTIME_PACKAGES:
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
    def __init__(self, workdir: Path, runtime_name: str) -> None:
        self.workdir = workdir
        self._lock = threading.Lock()
        self.runtime_dir = build_runtime_dir(workdir / f"runtime-{runtime_name}")

    def task_dir(self, spec: FunctionSpec) -> Path:
        digest = spec.code_sha256.replace("/", "_").replace("+", "-")[:24] or "empty"
        dest = self.workdir / "tasks" / f"{spec.name}-{digest}"
        with self._lock:
            extract(spec.code(), dest)
        return dest

    def opt_dir(self, spec: FunctionSpec) -> Path:
        """All layers in one folder, in order: a later layer overwrites an earlier one's files."""
        key = uuid.uuid5(uuid.NAMESPACE_URL, "|".join(spec.layer_arns)).hex
        dest = self.workdir / "opt" / key
        with self._lock:
            if not dest.exists():
                tmp = _fresh(dest)
                try:
                    for arn in spec.layer_arns:
                        try:
                            extract_into(spec.layer_code(arn), tmp)
                        except UnsafeArchive as exc:
                            raise UnsafeArchive(f"layer {arn}: {exc}") from None
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise
                _publish(tmp, dest)
        return dest
