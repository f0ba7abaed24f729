"""What goes into the layer: requirements.txt, parsed and evaluated with `packaging`.

Each line is a PEP 508 requirement pinned exactly (`name==version`), optionally with a marker.
The marker is evaluated for the target (its Python, OS and CPU), with the layer's optional
parts as extras: `pillow-heif==1.8.1; extra == "heic"` is in the layer only when HEIC is on.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.markers import UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as PkgRequirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from resizer_cli.layer.target import LayerError, Target

SPEC_FILE = "resizer_cli/layer/requirements.txt"
# The layer's optional parts, each an extra that requirements.txt markers may name.
EXTRAS = ("heic",)


@dataclass(frozen=True)
class Requirement:
    name: str
    version: str

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def key(self) -> NormalizedName:
        return canonicalize_name(self.name)


def requirements_text() -> str:
    """resizer_cli/layer/requirements.txt, shipped as package data."""
    res = importlib.resources.files("resizer_cli.layer") / "requirements.txt"
    return res.read_text(encoding="utf-8")


def parse_lines(text: str) -> list[tuple[int, PkgRequirement]]:
    """(line number, requirement) for every line; LayerError for one that is not pinned."""
    out: list[tuple[int, PkgRequirement]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            req = PkgRequirement(line)
        except InvalidRequirement as exc:
            raise LayerError(
                f"{SPEC_FILE} line {number} is not a requirement ({exc})",
                "write it as name==version",
            ) from None
        specs = list(req.specifier)
        if (
            req.url
            or len(specs) != 1
            or specs[0].operator != "=="
            or specs[0].version.endswith(".*")
        ):
            raise LayerError(
                f"{SPEC_FILE} line {number} is not pinned exactly: {line!r}",
                "write it as name==version, so every build gives the same layer",
            )
        out.append((number, req))
    if not out:
        raise LayerError(f"{SPEC_FILE} lists no packages", "add pillow==<version>")
    return out


def parse_requirements(
    text: str, target: Target, extras: Iterable[str] = EXTRAS
) -> list[Requirement]:
    """The pins that apply to `target` with the given extras of the layer turned on."""
    env = target.marker_environment()
    reqs: list[Requirement] = []
    for number, req in parse_lines(text):
        if req.marker is not None:
            envs = [{**env, "extra": extra} for extra in ("", *extras)]
            try:
                if not any(req.marker.evaluate(e) for e in envs):
                    continue
            except (UndefinedComparison, UndefinedEnvironmentName) as exc:
                raise LayerError(
                    f"{SPEC_FILE} line {number} has a marker that cannot be evaluated ({exc})",
                    "use PEP 508 markers such as python_version or extra",
                ) from None
        reqs.append(Requirement(req.name, next(iter(req.specifier)).version))
    if not reqs:
        raise LayerError(
            f"{SPEC_FILE} lists no package for {target.label}", "add pillow==<version>"
        )
    return reqs


def unpinned_dependencies(
    requires_dist: Iterable[PkgRequirement],
    reqs: list[Requirement],
    target: Target,
) -> list[str]:
    """Why each runtime dependency of a wheel is not satisfied by the pins (empty: all are)."""
    pinned = {r.key: Version(r.version) for r in reqs}
    env = target.marker_environment()
    problems: list[str] = []
    for dep in requires_dist:
        if dep.marker is not None and not dep.marker.evaluate(env):
            continue  # an extra we do not install, or another platform's dependency
        version = pinned.get(canonicalize_name(dep.name))
        if version is None:
            problems.append(f"needs {dep.name}, which {SPEC_FILE} does not pin")
        elif not dep.specifier.contains(version, prereleases=True):
            problems.append(
                f"needs {dep.name}{dep.specifier}, but {SPEC_FILE} pins {dep.name}=={version}"
            )
    return problems
