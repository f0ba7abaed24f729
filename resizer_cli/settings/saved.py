"""Saved stacks: the settings of each stack's last `setup`, one file per (stack, target, region).

Layout in the state directory: `stacks/<stack>/<target>.<region>.json`, plus `stacks/current`
naming the stack set up last. One stack name can so live in two regions (or on both targets)
side by side. Earlier versions kept one `stacks/<stack>.json` per name; it is moved into this
layout the first time that stack is read.

A damaged file is an error naming it, never silently skipped: it holds what the deployed stack
was built with (target, region, a brought bucket, memory, sizes), and guessing instead would
point `status`/`upload` elsewhere or make `setup` quietly reset a live stack to the defaults.
Files are written atomically, so damage means an outside edit; deleting the file is the fix.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambda_handler.config import ConfigError
from resizer_cli.errors import ResizerError
from resizer_cli.paths import state_subdir
from resizer_cli.settings.model import FIELD_NAMES, TARGETS, Settings
from resizer_cli.settings.rules import Origin, Sourced, parse_region, parse_stack

_ENTRY_RE = re.compile(r"^(?P<target>[a-z]+)\.(?P<region>[a-z0-9-]+)\.json$")
_ROUTING = ("stack", "target", "region")  # taken from the file's path, not its content


@dataclass(frozen=True)
class Entry:
    stack: str
    target: str
    region: str
    saved_at: float
    path: Path
    data: dict[str, Any]

    @property
    def place(self) -> str:
        return f"{self.region} ({self.target})"

    def values(self) -> dict[str, Sourced]:
        def sourced(name: str, value: Any) -> Sourced:
            return Sourced(value, Origin("saved", f"{name} saved in {self.path}"))

        # None and "" are how a default (no profile, the default runtime) is saved.
        out = {
            name: sourced(name, self.data[name])
            for name in FIELD_NAMES
            if name not in _ROUTING and self.data.get(name) not in (None, "")
        }
        out.update(
            (name, sourced(name, getattr(self, name))) for name in _ROUTING
        )
        return out


def stacks_dir() -> Path:
    return state_subdir("stacks")


def _damaged(path: Path, stack: str, why: str) -> ResizerError:
    return ResizerError(
        f"the saved settings of stack {stack} in {path} are damaged ({why})",
        "delete that file and pass the stack's settings again (flags or resizer.toml)",
    )


def _read(path: Path, stack: str) -> tuple[dict[str, Any], float]:
    try:
        text = path.read_text(encoding="utf-8")
        mtime = path.stat().st_mtime
    except UnicodeDecodeError:
        raise _damaged(path, stack, "not text") from None
    except OSError as exc:
        raise ResizerError(
            f"cannot read {path}: {exc.strerror or exc}", "check the file's permissions"
        ) from None
    try:
        data = json.loads(text)
    except ValueError:
        raise _damaged(path, stack, "not valid JSON") from None
    if not isinstance(data, dict):
        raise _damaged(path, stack, "not a JSON object")
    saved_at = data.get("saved_at", mtime)
    if isinstance(saved_at, bool) or not isinstance(saved_at, int | float):
        raise _damaged(path, stack, "saved_at is not a time")
    return data, float(saved_at)


def _write(path: Path, data: dict[str, Any], stack: str) -> None:
    _write_text(path, json.dumps(data, indent=2, sort_keys=True), stack)


def _write_text(path: Path, text: str, stack: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise ResizerError(
            f"cannot save the settings of stack {stack} in {path}: {exc.strerror or exc}",
            "make the state folder writable (RESIZER_HOME moves it)",
        ) from None


def _migrate(base: Path, stack: str) -> None:
    """Move a `stacks/<stack>.json` from before regions were kept apart into the new layout."""
    old = base / f"{stack}.json"
    if not old.is_file():
        return
    data, saved_at = _read(old, stack)
    try:
        target = data.get("target", "local")
        if target not in TARGETS:
            raise ConfigError("unknown target")
        region = parse_region(data.get("region", "us-east-1"))
    except ConfigError as exc:
        raise _damaged(old, stack, f"its target or region: {exc.problem}") from None
    new = base / stack / f"{target}.{region}.json"
    if not new.exists():
        _write(new, {**data, "saved_at": saved_at}, stack)
    old.unlink()


def _files(stack: str, target: str | None, region: str | None) -> list[tuple[str, str, Path]]:
    base = stacks_dir()
    _migrate(base, stack)
    folder = base / stack
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        m = _ENTRY_RE.match(path.name)
        if not m or m["target"] not in TARGETS:
            continue  # a temporary file of an interrupted write, or something not ours
        if (target is None or m["target"] == target) and (region is None or m["region"] == region):
            found.append((m["target"], m["region"], path))
    return found


def choose(
    stack: str, target: str | None = None, region: str | None = None
) -> tuple[Entry | None, list[Entry]]:
    """The saved entry of `stack` to act on, given what the user pinned (target, region), and
    the other candidates. Several candidates: the most recently set up wins, deterministically
    (ties by target and region), and the caller says so."""
    entries = []
    for tgt, reg, path in _files(stack, target, region):
        data, saved_at = _read(path, stack)
        entries.append(Entry(stack, tgt, reg, saved_at, path, data))
    if not entries:
        return None, []
    entries.sort(key=lambda e: (e.saved_at, e.target, e.region))
    return entries[-1], entries[:-1]


def save(settings: Settings) -> None:
    """Remember a stack's settings (after setup) and make it the current one."""
    base = stacks_dir()
    _migrate(base, settings.stack)
    path = base / settings.stack / f"{settings.target}.{settings.region}.json"
    _write(path, {**settings.to_json(), "saved_at": time.time()}, settings.stack)
    _write_text(base / "current", settings.stack, settings.stack)


def update(settings: Settings, values: dict[str, Any]) -> Path:
    """Change some saved settings of a stack (`tune --apply` keeps a memory size), leaving the
    rest, and when it was set up, as its last setup saved them. With nothing saved here (a
    stack set up from another machine), the resolved settings are saved with the change."""
    entry, _ = choose(settings.stack, settings.target, settings.region)
    if entry is None:
        save(dataclasses.replace(settings, **values))
        return stacks_dir() / settings.stack / f"{settings.target}.{settings.region}.json"
    _write(entry.path, {**entry.data, **values}, settings.stack)
    return entry.path


def forget(stack: str, target: str | None = None, region: str | None = None) -> None:
    """Drop the saved entries of `stack` matching target and region (None: any)."""
    base = stacks_dir()
    for _, _, path in _files(stack, target, region):
        path.unlink(missing_ok=True)
    folder = base / stack
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    current = current_stack()
    if current is not None and current.value == stack and not _files(stack, None, None):
        (base / "current").unlink(missing_ok=True)


def current_stack() -> Sourced | None:
    """The stack set up last (its bare name, as earlier versions wrote it too)."""
    path = stacks_dir() / "current"
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise _damaged(path, "(the current one)", str(getattr(exc, "strerror", exc))) from None
    if not text:
        return None
    try:
        stack = parse_stack(text)
    except ConfigError:
        raise _damaged(path, "(the current one)", "not a stack name") from None
    return Sourced(stack, Origin("saved", f"the stack set up last, saved in {path}"))

