"""Reading settings from where users write them: flags, RESIZER_* variables, resizer.toml, and
the AWS configuration chain (for the region). Values stay raw here, each with its Origin;
rules.py judges them.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
from botocore.exceptions import BotoCoreError

from lambda_handler.config import ConfigError
from resizer_cli.errors import ResizerError, from_boto
from resizer_cli.settings.model import FIELD_NAMES
from resizer_cli.settings.rules import Origin, Sourced, parse_stack

Values = dict[str, Sourced]

FLAGS = {"architecture": "--arch", "output_format": "--format"}
ENV_ALIASES = {"architecture": "RESIZER_ARCH"}  # the short name, like --arch
# A [stacks.<name>] table is the stack: it cannot name another one.
TABLE_KEYS = tuple(name for name in FIELD_NAMES if name != "stack")


def flag_name(name: str) -> str:
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def from_flags(flags: Mapping[str, Any]) -> Values:
    """Command-line values; None means not given (an empty string was given, and is judged)."""
    return {
        name: Sourced(value, Origin("flag", flag_name(name)))
        for name, value in flags.items()
        if value is not None and name in FIELD_NAMES
    }


def from_env(environ: Mapping[str, str] | None = None) -> Values:
    """RESIZER_<NAME> variables. An empty variable counts as unset, as shells make it easy to
    leave one behind (`export RESIZER_STACK=`)."""
    environ = os.environ if environ is None else environ
    out: Values = {}
    for name in FIELD_NAMES:
        for var in (f"RESIZER_{name.upper()}", ENV_ALIASES.get(name)):
            if var and environ.get(var, "").strip():
                out[name] = Sourced(environ[var], Origin("env", var))
                break
    return out


@dataclass
class TomlConfig:
    """resizer.toml: top-level keys, and one table of keys per stack."""

    label: str = ""
    top: Values = field(default_factory=dict)
    tables: dict[str, Values] = field(default_factory=dict)


def config_file() -> tuple[Path, bool]:
    """The config file, and whether the user named it (RESIZER_CONFIG): then it must exist."""
    named = os.environ.get("RESIZER_CONFIG", "").strip()
    return (Path(named), True) if named else (Path("resizer.toml"), False)


def config_path() -> Path:
    return config_file()[0]


def _unknown_key(where: str, key: str, known: tuple[str, ...]) -> ResizerError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return ResizerError(f"{where}: unknown key {key!r}", f"{hint}known keys: {', '.join(known)}")


def read_toml() -> TomlConfig:
    path, named = config_file()
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if named:
            raise ResizerError(
                f"RESIZER_CONFIG={path}: no such file", "create it, or unset RESIZER_CONFIG"
            ) from None
        return TomlConfig()
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise ResizerError(f"cannot read {label}: {why}", "fix or remove the file") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ResizerError(f"{label} is not valid TOML: {exc}", "fix or remove the file") from None

    config = TomlConfig(label=label)
    for key, value in doc.items():
        if key == "stacks":
            continue
        if key not in FIELD_NAMES:
            raise _unknown_key(label, key, (*FIELD_NAMES, "stacks"))
        config.top[key] = Sourced(value, Origin("toml", f"{label} {key}"))
    stacks = doc.get("stacks", {})
    if not isinstance(stacks, dict):
        raise ResizerError(
            f"{label}: stacks must be tables, one per stack", "write [stacks.<name>] sections"
        )
    for name, table in stacks.items():
        where = f"{label} [stacks.{name}]"
        try:
            parse_stack(name)
        except ConfigError as exc:
            raise ResizerError(f"{where}: {exc.problem}", exc.remedy) from None
        if not isinstance(table, dict):
            raise ResizerError(f"{where} is not a table", f"write [stacks.{name}] with keys")
        for key in table:
            if key not in TABLE_KEYS:
                if key == "stack":
                    raise ResizerError(
                        f"{where}: unknown key 'stack'", "the table's name is the stack name"
                    )
                raise _unknown_key(where, key, TABLE_KEYS)
        config.tables[name] = {
            key: Sourced(value, Origin("toml", f"{where} {key}")) for key, value in table.items()
        }
    return config


def aws_config_region(profile: str | None) -> Sourced | None:
    """The region from the AWS configuration chain, as the AWS SDKs resolve it: AWS_REGION,
    then AWS_DEFAULT_REGION, then the profile's `region` (--profile, AWS_PROFILE or default)
    in ~/.aws/config (AWS_CONFIG_FILE). botocore itself reads no AWS_REGION, and takes an
    empty AWS_DEFAULT_REGION for a region; here an empty variable counts as unset.
    https://docs.aws.amazon.com/sdkref/latest/guide/feature-region.html
    """
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(var, "").strip():
            return Sourced(os.environ[var].strip(), Origin("env", var))
    session = botocore.session.Session(profile=profile)
    try:
        region = session.get_scoped_config().get("region")
    except BotoCoreError as exc:
        raise from_boto(exc) or ResizerError(str(exc)) from None
    if not region:
        return None
    active = session.get_config_variable("profile") or "default"
    label = f"the region of AWS profile {active!r} (in {_aws_config_file()})"
    return Sourced(region, Origin("aws", label))


def _aws_config_file() -> str:
    return os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"

