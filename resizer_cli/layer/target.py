"""What a layer is built for: a Lambda (runtime, architecture) or the local interpreter.

A Target knows the pip flags that fetch only its wheels, the environment its requirement
markers are evaluated in, the wheel tags and extension-module suffixes its Python accepts, the
ELF machine of its CPU, and what its OS ships (glibc, libstdc++, system libraries). The builder
and the verifier both ask it, so they cannot disagree.
"""

from __future__ import annotations

import importlib.machinery
import platform
import re
import sys
import sysconfig
from dataclasses import dataclass

from packaging import tags as pkg_tags
from packaging.markers import default_environment

from resizer_cli.errors import ResizerError

DEFAULT_RUNTIME = "python3.13"
DEFAULT_ARCHITECTURE = "x86_64"

# glibc of each runtime's OS: Amazon Linux 2 for 3.10/3.11, Amazon Linux 2023 after.
RUNTIME_GLIBC: dict[str, tuple[int, int]] = {
    "python3.10": (2, 26),
    "python3.11": (2, 26),
    "python3.12": (2, 34),
    "python3.13": (2, 34),
    "python3.14": (2, 34),
}

# libstdc++ of each runtime's OS, as the highest (GLIBCXX_, CXXABI_) versions it defines:
# GCC 7.3 on Amazon Linux 2, GCC 11 on Amazon Linux 2023.
RUNTIME_LIBSTDCXX: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "python3.10": ((3, 4, 24), (1, 3, 11)),
    "python3.11": ((3, 4, 24), (1, 3, 11)),
    "python3.12": ((3, 4, 29), (1, 3, 13)),
    "python3.13": ((3, 4, 29), (1, 3, 13)),
    "python3.14": ((3, 4, 29), (1, 3, 13)),
}
# Shared libraries Lambda's OS provides (glibc's own, and the GCC runtime): the manylinux
# policy's list less its X11/GL/GLib entries, which Lambda images do not have. Anything else
# a native file needs must be inside the layer (auditwheel puts it in `<pkg>.libs/`).
SYSTEM_LIBRARIES = frozenset(
    {
        "libc.so.6",
        "libm.so.6",
        "libmvec.so.1",
        "libdl.so.2",
        "librt.so.1",
        "libpthread.so.0",
        "libutil.so.1",
        "libresolv.so.2",
        "libnsl.so.1",
        "libcrypt.so.1",
        "libgcc_s.so.1",
        "libstdc++.so.6",
        "libz.so.1",
        "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1",
    }
)

# Lambda architecture -> (wheel platform arch, ELF e_machine, CPython multiarch triplet)
ARCHITECTURES: dict[str, tuple[str, int, str]] = {
    "x86_64": ("x86_64", 62, "x86_64-linux-gnu"),
    "arm64": ("aarch64", 183, "aarch64-linux-gnu"),
}

ELF_MACHINE_NAMES = {3: "x86 (32-bit)", 40: "ARM (32-bit)", 62: "x86-64", 183: "AArch64"}

# Legacy manylinux aliases and the glibc they stand for.
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_LEGACY_ARCHES = {"manylinux1": ("x86_64", "i686"), "manylinux2010": ("x86_64", "i686")}


class LayerError(ResizerError):
    """A layer cannot be built or must not be used; the message names the file and the fix."""


def host_architecture() -> str:
    """This machine's CPU in Lambda's words: "x86_64" or "arm64"."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "x64"):
        return "x86_64"
    if machine in ("aarch64", "arm64", "armv8l", "armv8b"):
        return "arm64"
    raise LayerError(
        f"this machine's CPU ({platform.machine() or 'unknown'}) is neither x86_64 nor arm64",
        "build layers for AWS with --runtime/--arch instead of --local",
    )


def local_runtime() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


@dataclass(frozen=True)
class Target:
    runtime: str  # "python3.13"
    architecture: str  # "x86_64" | "arm64"
    local: bool = False

    @property
    def python(self) -> tuple[int, int]:
        major, minor = self.runtime.removeprefix("python").split(".")
        return int(major), int(minor)

    @property
    def version(self) -> str:
        return f"{self.python[0]}.{self.python[1]}"

    @property
    def nodot(self) -> str:
        return self.version.replace(".", "")

    @property
    def label(self) -> str:
        return f"{self.runtime} {self.architecture}" + (" (local)" if self.local else "")

    @property
    def linux(self) -> bool:
        """Whether native files must be Linux ELF (always for Lambda; for local, per host)."""
        return not self.local or sys.platform.startswith("linux")

    @property
    def glibc(self) -> tuple[int, int] | None:
        return None if self.local else RUNTIME_GLIBC[self.runtime]

    @property
    def elf_machine(self) -> int:
        return ARCHITECTURES[self.architecture][1]

    @property
    def wheel_arch(self) -> str:
        return ARCHITECTURES[self.architecture][0]

    def extension_suffixes(self) -> list[str]:
        """File endings this target's Python imports as extension modules."""
        if self.local:
            return list(importlib.machinery.EXTENSION_SUFFIXES)
        triplet = ARCHITECTURES[self.architecture][2]
        return [f".cpython-{self.nodot}-{triplet}.so", ".abi3.so", ".so"]

    @property
    def libstdcxx(self) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        """(GLIBCXX, CXXABI) versions the OS's libstdc++ defines; None for the local host."""
        return None if self.local else RUNTIME_LIBSTDCXX[self.runtime]

    def system_libraries(self) -> frozenset[str] | None:
        """Libraries a native file may need from the OS; None for the local host (unknown)."""
        return None if self.local else SYSTEM_LIBRARIES

    def marker_environment(self) -> dict[str, str]:
        """The environment requirement markers are evaluated in (PEP 508), no extra set."""
        env: dict[str, str] = dict(default_environment())  # type: ignore[arg-type]
        if not self.local:
            env.update(
                python_version=self.version,
                python_full_version=f"{self.version}.0",
                implementation_name="cpython",
                implementation_version=f"{self.version}.0",
                platform_python_implementation="CPython",
                sys_platform="linux",
                platform_system="Linux",
                os_name="posix",
                platform_machine=self.wheel_arch,
                platform_release="",
                platform_version="",
            )
        env["extra"] = ""
        return env

    def supported_tags(self) -> frozenset[pkg_tags.Tag]:
        """Every wheel tag the target's Python accepts (packaging's own tag generation)."""
        if self.local:
            return frozenset(pkg_tags.sys_tags())
        python = self.python
        platforms = self.platform_tags()
        return frozenset(
            [
                *pkg_tags.cpython_tags(python, [f"cp{self.nodot}"], platforms),
                *pkg_tags.compatible_tags(python, f"cp{self.nodot}", platforms),
            ]
        )

    def platform_tags(self) -> list[str]:
        """Every wheel platform tag the target's glibc accepts, most specific first."""
        if self.glibc is None:
            return []
        return manylinux_tags(self.wheel_arch, self.glibc)

    def pip_args(self) -> list[str]:
        """pip flags that select this target's wheels; none for the local interpreter."""
        if self.local:
            return []
        args = ["--implementation", "cp", "--python-version", self.version]
        # pip also accepts abi3 and "none" wheels when given the CPython ABI.
        args += ["--abi", f"cp{self.nodot}"]
        for tag in self.platform_tags():
            args += ["--platform", tag]
        return args

    def build_fix(self) -> str:
        if self.local:
            return "rebuild it with `resizer layer build --local`"
        return (
            f"rebuild it with `resizer layer build --runtime {self.runtime} "
            f"--arch {self.architecture}`"
        )

    def fingerprint(self) -> dict[str, object]:
        """What the wheels pip picks depend on (part of the cache key)."""
        fp: dict[str, object] = {"runtime": self.runtime, "architecture": self.architecture}
        if self.local:
            fp.update(
                local=True,
                version=sys.version,
                platform=sysconfig.get_platform(),
                libc="-".join(platform.libc_ver()),
                suffixes=self.extension_suffixes(),
            )
        return fp


def manylinux_tags(arch: str, glibc: tuple[int, int]) -> list[str]:
    """`manylinux_2_Y_<arch>` for Y from glibc's minor down to 5, plus the legacy aliases.

    pip treats each --platform as a literal tag, so every accepted one must be listed.
    """
    major, top = glibc
    tags = [f"manylinux_{major}_{minor}_{arch}" for minor in range(top, 4, -1)]
    for alias, (_, minor) in sorted(LEGACY_MANYLINUX.items(), key=lambda kv: -kv[1][1]):
        if minor <= top and arch in _LEGACY_ARCHES.get(alias, (arch,)):
            tags.append(f"{alias}_{arch}")
    return tags


def lambda_target(runtime: str, architecture: str) -> Target:
    runtime = runtime.strip().lower()
    architecture = architecture.strip().lower()
    if architecture in ("aarch64", "arm"):
        architecture = "arm64"
    if architecture in ("amd64", "x86-64", "x64"):
        architecture = "x86_64"
    if runtime not in RUNTIME_GLIBC:
        raise LayerError(
            f"unknown Lambda runtime '{runtime}'",
            f"use one of {', '.join(RUNTIME_GLIBC)}",
        )
    if architecture not in ARCHITECTURES:
        raise LayerError(
            f"unknown Lambda architecture '{architecture}'",
            f"use one of {', '.join(ARCHITECTURES)}",
        )
    return Target(runtime, architecture)


def local_target() -> Target:
    """The interpreter running resizer: what the local emulator imports the layer into."""
    return Target(local_runtime(), host_architecture(), local=True)


def resolve_target(runtime: str, architecture: str, *, local: bool = False) -> Target:
    """With local=True the runtime and architecture are this interpreter's, whatever was asked."""
    return local_target() if local else lambda_target(runtime, architecture)


_MANYLINUX_RE = re.compile(r"^manylinux_(\d+)_(\d+)_(.+)$")
_LEGACY_RE = re.compile(r"^(manylinux1|manylinux2010|manylinux2014)_(.+)$")


def platform_tag_glibc(tag: str) -> tuple[tuple[int, int], str] | None:
    """(glibc, arch) for a manylinux platform tag; None for anything else."""
    m = _MANYLINUX_RE.match(tag)
    if m:
        return (int(m.group(1)), int(m.group(2))), m.group(3)
    m = _LEGACY_RE.match(tag)
    if m:
        return LEGACY_MANYLINUX[m.group(1)], m.group(2)
    return None


def wheel_tag_problem(tag: str, target: Target) -> str | None:
    """Why one wheel tag (`cp312-cp312-manylinux_2_28_x86_64`) cannot run on target, or None.

    Compressed tags (`py2.py3-none-any`) are expanded by the caller.
    """
    try:
        interp, abi, plat = tag.split("-")
    except ValueError:
        return f"has a malformed wheel tag '{tag}'"
    want = target.python
    m = re.match(r"^(cp|py)(\d)(\d*)$", interp)
    if not m:
        return f"is built for another Python implementation ({interp})"
    major, minor = int(m.group(2)), int(m.group(3)) if m.group(3) else None
    if major != want[0]:
        return f"is built for Python {major}"
    if abi == f"cp{target.nodot}":
        if interp != f"cp{target.nodot}":
            return f"is built for {interp}, not cp{target.nodot}"
    elif abi in ("abi3", "none"):
        if minor is not None and minor > want[1]:
            return f"needs Python {major}.{minor} or newer, not {want[0]}.{want[1]}"
        if abi == "abi3" and m.group(1) != "cp":
            return f"has an unusable tag '{tag}'"
    elif re.match(r"^cp\d+", abi):
        return f"is built for the {abi} ABI, not cp{target.nodot} ({target.runtime})"
    else:
        return f"is built for another ABI ({abi})"
    if plat == "any":
        return None
    parsed = platform_tag_glibc(plat)
    if parsed is not None:
        glibc, arch = parsed
        if arch != target.wheel_arch:
            return f"is built for {arch}, not {target.architecture}"
        if target.glibc is not None and glibc > target.glibc:
            return (
                f"needs glibc {glibc[0]}.{glibc[1]} but {target.runtime} on Lambda has "
                f"{target.glibc[0]}.{target.glibc[1]}"
            )
        return None
    if plat == f"linux_{target.wheel_arch}":
        return None  # built locally on some Linux; the ELF checks still apply
    return f"is built for another platform ({plat})"
