"""Stack settings, resolved once per command and validated before anything is deployed.

Precedence, highest first: command-line flags, RESIZER_* environment variables, resizer.toml
(top-level keys, overridden by the `[stacks.<name>]` table of the stack in use), the settings
saved by the last `setup` of that stack (in that target and region), then defaults. The region
of an AWS stack falls back to the AWS configuration chain (AWS_REGION, AWS_DEFAULT_REGION, the
profile); with none at all that is an error. A local stack falls back to LOCAL_REGION.

Stages: sources.py reads what users wrote, saved.py what setup remembered, rules.py judges
each value (sharing the function's own parsers); this module decides which value wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lambda_handler.config import ConfigError, format_sizes
from lambda_handler.config import parse_sizes as _parse_sizes
from resizer_cli.errors import ResizerError
from resizer_cli.settings import rules, saved, sources
from resizer_cli.settings.model import (
    ARCHITECTURES,
    DEFAULT_AWS_RUNTIME,
    DEFAULTS,
    FIELD_NAMES,
    LOCAL_REGION,
    TARGETS,
    Settings,
    local_runtime,
)
from resizer_cli.settings.rules import Origin, Sourced
from resizer_cli.settings.sources import config_path

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_AWS_RUNTIME",
    "LOCAL_REGION",
    "TARGETS",
    "Settings",
    "config_path",
    "current_stack",
    "forget_stack",
    "format_sizes",
    "load",
    "local_runtime",
    "parse_sizes",
    "pinned",
    "save_stack",
    "saved_stack",
    "update_saved_stack",
]

_DEFAULT = Origin("default", "default")


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """'128x128,512x512' -> ((128, 128), (512, 512)), by the function's own rule."""
    try:
        return _parse_sizes(text)
    except ConfigError as exc:
        raise ResizerError(f"sizes {text!r}: {exc.problem}", exc.remedy) from None


def load(flags: dict[str, Any] | None = None) -> Settings:
    """Resolve and validate the settings. `flags` holds command-line values by field name;
    None means 'not given'."""
    given = sources.from_flags(flags or {})
    env = sources.from_env()
    toml = sources.read_toml()

    stack_src = _first("stack", given, env, toml.top) or saved.current_stack()
    stack = rules.parse("stack", stack_src) if stack_src else DEFAULTS.stack
    # Later layers win: resizer.toml, then its table for this stack, then variables, flags.
    explicit: dict[str, Sourced] = {}
    for layer in (toml.top, toml.tables.get(stack, {}), env, given):
        explicit.update(layer)
    explicit.pop("stack", None)
    target = rules.parse("target", explicit["target"]) if "target" in explicit else None
    region = rules.parse("region", explicit["region"]) if "region" in explicit else None

    entry, others = saved.choose(stack, target, region)
    merged = {**(entry.values() if entry else {}), **explicit}
    merged["stack"] = stack_src or Sourced(stack, _DEFAULT)
    merged.setdefault("target", Sourced(DEFAULTS.target, _DEFAULT))
    if "region" not in merged:
        merged["region"] = _fallback_region(merged)

    values = {name: rules.parse(name, sourced) for name, sourced in merged.items()}
    origins = {name: sourced.origin for name, sourced in merged.items()}
    notes = (_several_note(stack, entry, others),) if entry and others else ()
    settings = Settings(
        **values, origins={k: o.label for k, o in origins.items()}, notes=notes
    )
    rules.check_settings(settings, origins)
    return settings


def _first(name: str, *layers: dict[str, Sourced]) -> Sourced | None:
    return next((layer[name] for layer in layers if name in layer), None)


def _fallback_region(merged: dict[str, Sourced]) -> Sourced:
    if rules.parse("target", merged["target"]) != "aws":
        return Sourced(LOCAL_REGION, _DEFAULT)
    profile = rules.parse("profile", merged["profile"]) if "profile" in merged else None
    found = sources.aws_config_region(profile)
    if found is None:
        raise ResizerError(
            "no AWS region is set for --target aws",
            "pass --region, set RESIZER_REGION or AWS_REGION, or add `region` to your AWS "
            "profile in ~/.aws/config",
        )
    return found


def _several_note(stack: str, chosen: saved.Entry, others: list[saved.Entry]) -> str:
    elsewhere = ", ".join(e.place for e in reversed(others))
    choose = "--region" if all(e.target == chosen.target for e in others) else "--target/--region"
    return (
        f"stack {stack} is also set up in {elsewhere}; acting on {chosen.place}, "
        f"the most recently set up (pass {choose} to choose)"
    )


# --- saved stacks (after setup; teardown forgets) ----------------------------------------------

def save_stack(settings: Settings) -> None:
    saved.save(settings)


def forget_stack(stack: str, target: str | None = None, region: str | None = None) -> None:
    """Forget what setup saved for `stack` in that target and region (None: in any)."""
    saved.forget(stack, target, region)


def saved_stack(
    stack: str, target: str | None = None, region: str | None = None
) -> dict[str, Any] | None:
    """What the last setup of `stack` saved (the most recent, if several match), or None."""
    entry, _ = saved.choose(stack, target, region)
    if entry is None:
        return None
    return {k: v for k, v in entry.data.items() if k in FIELD_NAMES}


def update_saved_stack(settings: Settings, **values: Any) -> Path:
    """Change these saved settings of the stack (the others stay as its last setup saved them);
    the file written."""
    return saved.update(settings, values)


def pinned(name: str, stack: str) -> Sourced | None:
    """The value a RESIZER_* variable or resizer.toml gives `name` for `stack`, and where
    (`origin.show(value)` reads `RESIZER_MEMORY=512`), or None: what the next `setup` takes
    over the saved settings unless a flag wins."""
    toml = sources.read_toml()
    for layer in (sources.from_env(), toml.tables.get(stack, {}), toml.top):
        if name in layer:
            return layer[name]
    return None


def current_stack() -> str | None:
    current = saved.current_stack()
    return str(current.value) if current else None
