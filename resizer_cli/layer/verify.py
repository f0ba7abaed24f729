"""Check a layer zip before anything uses it: right CPU, right Python, right OS libraries.

Every native file must be an ELF for the target CPU whose glibc and libstdc++ symbol versions
the runtime's OS has, and every library it links against must be in the layer or in that OS;
every extension module must carry an ABI tag the runtime imports; every wheel tag must be one
packaging's tag generation accepts for the target. Each problem found is reported as one line
naming the offending file and the fix, so a layer built for the wrong platform never reaches a
deploy (where it would fail at import time with `cannot import name '_imaging' from 'PIL'`,
`invalid ELF header` or `libfoo.so: cannot open shared object file`).
"""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath
from typing import IO, Any, NoReturn

from packaging.tags import parse_tag

from resizer_cli.layer.elf import BinaryInfo, looks_native, sniff
from resizer_cli.layer.target import (
    ELF_MACHINE_NAMES,
    LayerError,
    Target,
    host_architecture,
    resolve_target,
    wheel_tag_problem,
)
from resizer_cli.ziputil import sha256_file

__all__ = ["LayerError", "VerifyReport", "host_architecture", "verify_layer"]

MB = 1024 * 1024
# Lambda quotas: a layer zip uploaded directly, and function + layers once extracted.
MAX_ZIPPED = 50 * MB
MAX_UNZIPPED = 250 * MB

_NATIVE_NAME_RE = re.compile(r"\.(so(\.\d+)*|dylib|pyd|dll|exe)$", re.IGNORECASE)
# An extension module's name is `<module><suffix>`; modules have no dots, so the suffix is
# everything from the first dot: `.cpython-312-x86_64-linux-gnu.so`, `.abi3.so`, `.pyd`.
_EXTENSION_RE = re.compile(r"^[A-Za-z0-9_]+(?P<suffix>(\.[^./]+)?\.(so|pyd))$")
_CPYTHON_TAG_RE = re.compile(r"^\.cpython-(\d)(\d+)(t?)-(.+)\.so$")
_SITE_RE = re.compile(r"^python/lib/python(\d+\.\d+)/site-packages/")
# auditwheel's name for a library it bundled: `libheif-e72ea93c.so.1.23.6`. On a host whose
# system libraries are unknown (--local), only these must be found inside the layer.
_BUNDLED_RE = re.compile(r"-[0-9a-f]{8}\.so(\.|$)")


@dataclass(frozen=True)
class VerifyReport:
    path: Path
    runtime: str
    architecture: str
    local: bool
    sha256: str
    size: int
    unzipped_size: int
    files: int
    native_files: tuple[str, ...] = field(default_factory=tuple)
    extensions: tuple[str, ...] = field(default_factory=tuple)
    distributions: tuple[str, ...] = field(default_factory=tuple)
    glibc_needed: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "path": str(self.path),
            "runtime": self.runtime,
            "architecture": self.architecture,
            "local": self.local,
            "sha256": self.sha256,
            "size": self.size,
            "unzipped_size": self.unzipped_size,
            "files": self.files,
            "native_files": list(self.native_files),
            "extensions": list(self.extensions),
            "distributions": list(self.distributions),
            "glibc_needed": self.glibc_needed,
        }


def verify_layer(
    zip_path: Path, runtime: str, architecture: str, *, local: bool = False
) -> VerifyReport:
    """Check `zip_path` as a layer for (runtime, architecture); raise LayerError on any problem.

    With local=True the target is this interpreter and host (what the emulator imports).
    """
    target = resolve_target(runtime, architecture, local=local)
    zip_path = Path(zip_path)
    name = zip_path.name
    if not zip_path.is_file():
        raise LayerError(
            f"{zip_path} does not exist", "pass the path that `resizer layer build` printed"
        )
    if not zipfile.is_zipfile(zip_path):
        raise LayerError(
            f"{name} is not a zip file, so it cannot be a Lambda layer",
            "pass the .zip that `resizer layer build` printed",
        )
    try:
        with zipfile.ZipFile(zip_path) as zf:
            report = _check_zip(zf, zip_path, target)
    except zipfile.BadZipFile as exc:
        raise LayerError(f"{name} is corrupt ({exc})", target.build_fix()) from None
    return report


def _check_zip(zf: zipfile.ZipFile, zip_path: Path, target: Target) -> VerifyReport:
    name = zip_path.name
    infos = [i for i in zf.infolist() if not i.is_dir()]
    # (rank, text): the wrong-CPU / wrong-OS finding is the one to show first.
    problems: list[tuple[int, str]] = []
    for info in infos:
        p = PurePosixPath(info.filename)
        if p.is_absolute() or ".." in p.parts or "\\" in info.filename:
            problems.append((0, f"{info.filename} has an unsafe path"))
    if not any(i.filename.startswith("python/") for i in infos):
        raise LayerError(
            f"{name} is not a Lambda Python layer: it has no python/ folder",
            "Lambda only puts /opt/python on sys.path; build one with `resizer layer build`",
        )
    size = zip_path.stat().st_size
    unzipped = sum(i.file_size for i in infos)
    if unzipped > MAX_UNZIPPED:
        problems.append(
            (
                3,
                f"unzips to {unzipped / MB:.1f} MB, over Lambda's {MAX_UNZIPPED // MB} MB limit "
                "for a function and its layers",
            )
        )
    if size > MAX_ZIPPED:
        problems.append(
            (
                3,
                f"is {size / MB:.1f} MB, over Lambda's {MAX_ZIPPED // MB} MB limit "
                "for a direct upload",
            )
        )
    if problems:
        _raise(problems, name, target)  # before reading anything: it may be a zip bomb

    natives: list[str] = []
    binaries: dict[str, BinaryInfo] = {}
    extensions: list[str] = []
    glibc_needed: tuple[int, int] | None = None
    dists: list[str] = []
    for info in infos:
        fname = info.filename
        m = _SITE_RE.match(fname)
        if m and m.group(1) != target.version:
            problems.append(
                (
                    1,
                    f"{fname} is under python/lib/python{m.group(1)}/site-packages, which only "
                    f"python{m.group(1)} puts on sys.path",
                )
            )
        base = fname.rsplit("/", 1)[-1]
        if fname.endswith(".dist-info/WHEEL"):
            dist = fname.split("/")[-2].removesuffix(".dist-info")
            dists.append(dist)
            if not target.local:
                problem = _wheel_problem(zf.read(info).decode("utf-8", "replace"), target)
                if problem:
                    problems.append((2, f"{dist} {problem}"))
        ext = _EXTENSION_RE.match(base)
        if ext and fname.startswith("python/"):
            extensions.append(fname)
            problem = _extension_problem(ext.group("suffix"), target)
            if problem:
                problems.append((1, f"{fname} {problem}"))
        named_native = bool(_NATIVE_NAME_RE.search(base))
        try:
            with zf.open(info) as fh:
                head = fh.read(64)
                native = named_native or looks_native(head)
                rest = fh.read() if native and target.linux else _drain(fh)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # reading to the end checks CRCs
            raise LayerError(f"{name} is corrupt: {exc}", target.build_fix()) from None
        if not native:
            continue
        natives.append(fname)
        binary = sniff(head + rest)
        binaries[fname] = binary
        problem = _native_problem(binary, target)
        if problem:
            problems.append((0, f"{fname} {problem}"))
        if binary.glibc and (glibc_needed is None or binary.glibc > glibc_needed):
            glibc_needed = binary.glibc
    problems += [(1, p) for p in _missing_libraries(binaries, target)]

    if problems:
        _raise(problems, name, target)
    return VerifyReport(
        path=zip_path,
        runtime=target.runtime,
        architecture=target.architecture,
        local=target.local,
        sha256=sha256_file(zip_path),
        size=size,
        unzipped_size=unzipped,
        files=len(infos),
        native_files=tuple(natives),
        extensions=tuple(extensions),
        distributions=tuple(sorted(dists)),
        glibc_needed=f"{glibc_needed[0]}.{glibc_needed[1]}" if glibc_needed else None,
    )


def _drain(fh: IO[bytes]) -> bytes:
    while fh.read(1 << 20):
        pass
    return b""


def _raise(problems: list[tuple[int, str]], name: str, target: Target) -> NoReturn:
    problems.sort(key=lambda p: p[0])  # stable: first file first within a rank
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    raise LayerError(
        f"{name} is not a layer for {target.label}: {problems[0][1]}{more}", target.build_fix()
    )


def _wheel_problem(wheel_file: str, target: Target) -> str | None:
    """None if any of the wheel's tags runs on target, else why the first one does not."""
    lines = HeaderParser().parsestr(wheel_file).get_all("Tag") or []
    tags = [tag for line in lines for tag in sorted(parse_tag(line.strip()), key=str)]
    if not tags or not set(tags).isdisjoint(target.supported_tags()):
        return None
    return f"{wheel_tag_problem(str(tags[0]), target)} (wheel tag {tags[0]})"


def _extension_problem(suffix: str, target: Target) -> str | None:
    allowed = target.extension_suffixes()
    if suffix in allowed:
        return None
    runtime = target.runtime
    if suffix.endswith(".pyd"):
        return f"is a Windows extension module; {target.label} cannot import it"
    m = _CPYTHON_TAG_RE.match(suffix)
    if m:
        version = f"{m.group(1)}.{m.group(2)}"
        if m.group(3):
            return f"is built for free-threaded Python {version}t, not {runtime}"
        if version != target.version:
            return f"is built for Python {version}, not {runtime}"
        platform_ = m.group(4)
        if "darwin" in platform_:
            return f"is a macOS extension module; {target.label} cannot import it"
        return f"is built for {platform_}, which {target.label} cannot import"
    return f"has an extension suffix ({suffix}) that {runtime} does not import"


def _native_problem(info: BinaryInfo, target: Target) -> str | None:
    if not target.linux:
        return None  # a macOS/Windows host's own binaries: the suffix check applies
    if info.kind == "macho":
        return "is a macOS (Mach-O) binary; Lambda runs Linux"
    if info.kind == "pe":
        return "is a Windows (PE) binary; Lambda runs Linux"
    if info.kind != "elf":
        return "is named like a native library but has no ELF header"
    want = target.elf_machine
    if info.machine != want:
        got = ELF_MACHINE_NAMES.get(info.machine or -1, f"e_machine {info.machine}")
        return f"is an {got} binary, not {ELF_MACHINE_NAMES[want]} ({target.architecture})"
    if info.bits != 64 or not info.little_endian:
        return f"is not a 64-bit little-endian binary for {target.architecture}"
    if target.glibc and info.glibc and info.glibc > target.glibc:
        return (
            f"needs glibc {info.glibc[0]}.{info.glibc[1]} but {target.runtime} on Lambda has "
            f"{target.glibc[0]}.{target.glibc[1]}"
        )
    if target.libstdcxx:
        for family, have in zip(("GLIBCXX", "CXXABI"), target.libstdcxx, strict=True):
            need = info.version(family)
            if need and need > have:
                return (
                    f"needs {family}_{_dotted(need)} from libstdc++ but {target.runtime} on "
                    f"Lambda has {family}_{_dotted(have)}"
                )
    return None


def _missing_libraries(binaries: dict[str, BinaryInfo], target: Target) -> list[str]:
    """Each ELF's DT_NEEDED that neither the layer nor the runtime's OS provides."""
    if not target.linux:
        return []
    inside = {name.rsplit("/", 1)[-1] for name in binaries}
    system = target.system_libraries()
    out = []
    for fname, info in binaries.items():
        for lib in info.needed:
            if lib in inside or (system is not None and lib in system):
                continue
            if system is None and not _BUNDLED_RE.search(lib):
                continue  # the local host's own library: not ours to judge
            where = f"{target.runtime} on Lambda" if system is not None else "this machine"
            out.append(
                f"{fname} needs {lib}, which is neither in the layer nor part of {where}"
            )
    return out


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(str(v) for v in version)
