"""Stack settings, resolved from flags, environment, resizer.toml, the saved stack and defaults.

Precedence, highest first: command-line flags, RESIZER_* environment variables, resizer.toml
(top-level keys, overridden by a `[stacks.<name>]` table), the settings saved by the last
`setup` of that stack, then defaults. So after `setup`, other commands need no flags.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from resizer_cli.errors import ResizerError
from resizer_cli.paths import state_dir

TARGETS = ("local", "aws")
ARCHITECTURES = ("x86_64", "arm64")
FITS = ("inside", "cover")
GRAVITIES = ("centre", "smart")  # where --fit cover crops ("center" is accepted too)
OUTPUT_FORMATS = ("auto", "jpeg", "png", "webp", "avif")
DEFAULT_AWS_RUNTIME = "python3.13"
_STACK_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_SIZE_RE = re.compile(r"^(\d{1,5})x(\d{1,5})$")


def local_runtime() -> str:
    """The local emulator runs functions with this interpreter, so layers target it."""
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    sizes: list[tuple[int, int]] = []
    for part in text.split(","):
        part = part.strip().lower()
        m = _SIZE_RE.match(part)
        if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
            raise ResizerError(
                f"invalid size {part!r} in {text!r}", "write sizes as WxH, e.g. 128x128,512x512"
            )
        sizes.append((int(m.group(1)), int(m.group(2))))
    if not sizes:
        raise ResizerError("no thumbnail sizes given", "e.g. --sizes 128x128,512x512")
    return tuple(dict.fromkeys(sizes))


def format_sizes(sizes: tuple[tuple[int, int], ...]) -> str:
    return ",".join(f"{w}x{h}" for w, h in sizes)


@dataclass(frozen=True)
class Settings:
    stack: str = "resizer"
    target: str = "local"
    region: str = "us-east-1"
    profile: str | None = None
    sizes: tuple[tuple[int, int], ...] = ((128, 128), (512, 512))
    memory: int = 512
    timeout: int = 30
    architecture: str = "x86_64"
    runtime: str = ""  # "" = python3.13 on aws, the local interpreter's version on local
    output_format: str = "auto"
    fit: str = "inside"
    gravity: str = "centre"
    heic: bool = True  # pillow-heif in the layer (HEIC/HEIF input); false for a smaller layer
    quality: int = 85
    max_pixels: int = 50_000_000
    source_bucket: str | None = None  # an existing bucket to bring along (not ours to delete)
    # Not settings a user picks, but resolved once: where the emulator listens.
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def effective_runtime(self) -> str:
        if self.runtime:
            return self.runtime
        return local_runtime() if self.target == "local" else DEFAULT_AWS_RUNTIME

    def validate(self) -> Settings:
        if not _STACK_RE.match(self.stack):
            raise ResizerError(
                f"invalid stack name {self.stack!r}",
                "use 1-20 lowercase letters, digits and hyphens, starting with a letter",
            )
        if self.target not in TARGETS:
            raise ResizerError(f"unknown target {self.target!r}", "use --target local or aws")
        if self.architecture not in ARCHITECTURES:
            raise ResizerError(
                f"unknown architecture {self.architecture!r}", "use --arch x86_64 or arm64"
            )
        if self.fit not in FITS:
            raise ResizerError(f"unknown fit {self.fit!r}", "use --fit inside or cover")
        if self.gravity not in GRAVITIES:
            raise ResizerError(f"unknown gravity {self.gravity!r}", "use --gravity centre or smart")
        if self.output_format not in OUTPUT_FORMATS:
            raise ResizerError(
                f"unknown output format {self.output_format!r}",
                f"use one of {', '.join(OUTPUT_FORMATS)}",
            )
        if not 128 <= self.memory <= 10240:
            raise ResizerError(f"memory {self.memory} MB is out of range", "use 128 to 10240")
        if not 1 <= self.timeout <= 900:
            raise ResizerError(f"timeout {self.timeout}s is out of range", "use 1 to 900")
        if not 1 <= self.quality <= 100:
            raise ResizerError(f"quality {self.quality} is out of range", "use 1 to 100")
        if not re.match(r"^python3\.\d+$", self.effective_runtime):
            raise ResizerError(
                f"unknown runtime {self.effective_runtime!r}", "use e.g. python3.12 or python3.13"
            )
        return self

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        data["sizes"] = format_sizes(self.sizes)
        return data


_FIELD_NAMES = [f.name for f in fields(Settings) if f.name != "extra"]
_INT_FIELDS = {"memory", "timeout", "quality", "max_pixels"}
_BOOL_FIELDS = {"heic"}
_BOOL_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _coerce(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "sizes":
        return parse_sizes(value) if isinstance(value, str) else tuple(tuple(s) for s in value)
    if name in _BOOL_FIELDS:
        if isinstance(value, bool):
            return value
        word = _BOOL_WORDS.get(str(value).strip().lower())
        if word is None:
            raise ResizerError(f"{name} must be true or false, got {value!r}")
        return word
    if name == "gravity" and str(value).lower() == "center":
        return "centre"
    if name in _INT_FIELDS:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ResizerError(f"{name} must be a whole number, got {value!r}") from None
    return str(value)


def _from_env() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _FIELD_NAMES:
        val = os.environ.get(f"RESIZER_{name.upper()}")
        if val:
            out[name] = val
    if "architecture" not in out and os.environ.get("RESIZER_ARCH"):
        out["architecture"] = os.environ["RESIZER_ARCH"]
    return out


def config_path() -> Path:
    return Path(os.environ.get("RESIZER_CONFIG", "resizer.toml"))


def _from_toml(stack_hint: str | None) -> dict[str, Any]:
    path = config_path()
    if not path.is_file():
        return {}
    try:
        doc = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ResizerError(f"{path} is not valid TOML: {exc}", "fix or remove the file") from None
    top = {k: v for k, v in doc.items() if k in _FIELD_NAMES}
    stack = stack_hint or top.get("stack")
    per_stack = doc.get("stacks", {}).get(stack, {}) if stack else {}
    unknown = set(doc) - set(_FIELD_NAMES) - {"stacks"}
    unknown |= set(per_stack) - set(_FIELD_NAMES)
    if unknown:
        raise ResizerError(
            f"{path}: unknown setting(s) {', '.join(sorted(unknown))}",
            f"known settings: {', '.join(_FIELD_NAMES)}",
        )
    return {**top, **{k: v for k, v in per_stack.items() if k in _FIELD_NAMES}}


# --- saved stacks ----------------------------------------------------------------------------

def _stacks_dir() -> Path:
    path = state_dir() / "stacks"
    path.mkdir(parents=True, exist_ok=True)
    return path


def saved_stack(stack: str) -> dict[str, Any] | None:
    path = _stacks_dir() / f"{stack}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # a damaged state file is only a convenience lost, never fatal


def save_stack(settings: Settings) -> None:
    """Remember a stack's settings (after setup) and make it the current one."""
    path = _stacks_dir() / f"{settings.stack}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(settings.to_json(), indent=2, sort_keys=True))
    tmp.replace(path)
    (_stacks_dir() / "current").write_text(settings.stack)


def forget_stack(stack: str) -> None:
    (_stacks_dir() / f"{stack}.json").unlink(missing_ok=True)
    current = _stacks_dir() / "current"
    if current.is_file() and current.read_text().strip() == stack:
        current.unlink()


def current_stack() -> str | None:
    path = _stacks_dir() / "current"
    return path.read_text().strip() or None if path.is_file() else None


def load(flags: dict[str, Any] | None = None) -> Settings:
    """Resolve settings. `flags` holds command-line values; None means 'not given'."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None and k in _FIELD_NAMES}
    env = _from_env()
    stack_hint = flags.get("stack") or env.get("stack")
    toml = _from_toml(stack_hint)
    stack = stack_hint or toml.get("stack") or current_stack() or Settings.stack
    saved = {k: v for k, v in (saved_stack(stack) or {}).items() if k in _FIELD_NAMES}
    merged: dict[str, Any] = {}
    for layer in (saved, toml, env, flags):
        merged.update(layer)
    merged["stack"] = stack
    values = {k: _coerce(k, v) for k, v in merged.items()}
    values = {k: v for k, v in values.items() if v is not None}
    return replace(Settings(), **values).validate()
