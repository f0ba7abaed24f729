"""The rule for each setting, and how a broken one is reported: one line naming its source.

The function's own values (sizes, fit, format, quality, max pixels) go through the very parsers
the deployed function uses (lambda_handler.config), so `setup` never deploys a value the
function would refuse. Lambda's and S3's limits (memory, timeout, names) are checked here.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambda_handler.config import (
    ConfigError,
    parse_choice,
    parse_fit,
    parse_gravity,
    parse_in_range,
    parse_max_pixels,
    parse_output_format,
    parse_quality,
    parse_sizes,
    parse_whole,
)
from lambda_handler.web.config import parse_api_sizes
from resizer_cli.errors import ResizerError
from resizer_cli.naming import Names
from resizer_cli.settings.model import ARCHITECTURES, NO_RESERVATION, TARGETS, Settings

MEMORY_MB = (128, 10240)  # Lambda's limits, in 1-MB steps
TIMEOUT_S = (1, 900)
# Reserved concurrency: Lambda accepts 0 up to the account's limit minus what it keeps
# unreserved ("leave at least 100 simultaneous executions unreserved",
# https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html). That limit
# is the account's, so Lambda itself judges the top (deploy/apply_function.py says it in one
# line); here only the shape. (`upload --concurrency` is parallel PUTs, a CLI option.)
RESERVED_HINT = "use a whole number: 0 or more, where 0 pauses the pipeline; none removes it"

_STACK_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
STACK_HINT = "use 1-20 lowercase letters, digits and hyphens, starting with a letter"
# Region names: lowercase words joined by hyphens, ending in a number (us-east-1,
# us-gov-west-1, eusc-de-east-1). Which regions exist is left to AWS itself.
_REGION_RE = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)*-\d{1,2}$")
_RUNTIME_RE = re.compile(r"^python3\.\d{1,2}$")
# S3 reserves these for other kinds of bucket and access point names:
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3")
_ANY_ACCOUNT = "0" * 12  # every account id has 12 digits; only the name's shape matters here


@dataclass(frozen=True)
class Origin:
    """Where a value came from, to name it in an error.

    kind: flag, env, toml, saved, aws (the AWS configuration), default, or setting (a value
    set in code). label: `--memory`, `RESIZER_MEMORY`, `resizer.toml [stacks.prod] memory`…
    """

    kind: str
    label: str

    def show(self, value: object) -> str:
        if self.kind == "flag":
            return f"{self.label} {shlex.quote(str(value))}"
        if self.kind == "env":
            return f"{self.label}={shlex.quote(str(value))}"
        if self.kind == "toml":
            return f"{self.label} = {toml_repr(value)}"
        if self.kind == "saved":
            return f"{self.label} = {json.dumps(value)}"
        return f"{self.label} {value!r}"


@dataclass(frozen=True)
class Sourced:
    value: Any
    origin: Origin


def toml_repr(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_repr(v) for v in value) + "]"
    return repr(value)


def invalid(origin: Origin, value: object, exc: ConfigError) -> ResizerError:
    """The one line for a rejected value. A flag is a usage mistake (exit 2, as Click does)."""
    remedy = exc.remedy
    if origin.kind == "saved":
        fix = "or delete that file and pass the stack's settings again"
        remedy = f"{remedy}; {fix}" if remedy else fix
    return ResizerError(
        f"{origin.show(value)}: {exc.problem}",
        remedy or None,
        exit_code=2 if origin.kind == "flag" else 1,
    )


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError("not text", "write it in quotes")
    if not value.strip():
        raise ConfigError("empty", "give a value or leave it out")
    return value.strip()


def parse_stack(value: object) -> str:
    text = _text(value)
    if not _STACK_RE.match(text):
        raise ConfigError("not a valid stack name", STACK_HINT)
    for prefix in RESERVED_PREFIXES:
        if text.startswith(prefix):
            raise ConfigError(
                f"S3 reserves bucket names starting with {prefix!r}", "choose another stack name"
            )
    return text


def parse_region(value: object) -> str:
    text = _text(value)
    if len(text) > 25 or not _REGION_RE.match(text):
        raise ConfigError("not a region name", "e.g. us-east-1 or eu-west-1")
    return text


def parse_runtime(value: object) -> str:
    text = _text(value)
    if not _RUNTIME_RE.match(text):
        raise ConfigError("not a Python runtime", "use e.g. python3.12 or python3.13")
    return text


def parse_account(value: object) -> str:
    text = _text(value)
    if not re.fullmatch(r"\d{12}", text):
        raise ConfigError(
            "not an AWS account id", "give the 12-digit id of the account that owns the bucket"
        )
    return text


_BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    word = _BOOL_WORDS.get(str(value).strip().lower()) if isinstance(value, str) else None
    if word is None:
        raise ConfigError("not true or false", "write true or false")
    return word


def parse_price(value: object) -> float:
    """A price in USD: a finite number, zero or more (0 prices a free tier in)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError("not a number", "write a price in USD, such as 0.0000166667")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError("not a number", "write a price in USD, such as 0.0000166667") from None
    if not math.isfinite(number) or number < 0:
        raise ConfigError("out of range", "use a finite price of 0 or more")
    return number


def parse_memory(value: object) -> int:
    return parse_in_range(value, *MEMORY_MB)


def parse_timeout(value: object) -> int:
    return parse_in_range(value, *TIMEOUT_S)


def parse_reserved_concurrency(value: object) -> int | str:
    """A whole number of simultaneous executions (0 pauses), or "none": no reservation."""
    if isinstance(value, str) and value.strip().lower() == NO_RESERVATION:
        return NO_RESERVATION
    try:
        number = parse_whole(value)
    except ConfigError:
        raise ConfigError("not a number of executions", RESERVED_HINT) from None
    if number < 0:
        raise ConfigError("out of range", RESERVED_HINT)
    return number


RULES: dict[str, Callable[[object], Any]] = {
    "stack": parse_stack,
    "target": lambda v: parse_choice(v, TARGETS),
    "region": parse_region,
    "profile": _text,
    "sizes": parse_sizes,
    "memory": parse_memory,
    "timeout": parse_timeout,
    "reserved_concurrency": parse_reserved_concurrency,
    "architecture": lambda v: parse_choice(v, ARCHITECTURES, {"x86-64": "x86_64"}),
    "runtime": parse_runtime,
    "output_format": parse_output_format,
    "fit": parse_fit,
    "gravity": parse_gravity,
    "heic": parse_bool,
    "quality": parse_quality,
    "max_pixels": parse_max_pixels,
    "source_bucket": _text,  # the bucket itself is checked when the plan reads it
    "source_bucket_owner": parse_account,
    "api": parse_bool,
    "api_sizes": parse_api_sizes,
    "api_unsigned": parse_bool,
    "price_request_usd": parse_price,
    "price_gb_second_usd": parse_price,
}


def parse(name: str, sourced: Sourced) -> Any:
    try:
        return RULES[name](sourced.value)
    except ConfigError as exc:
        raise invalid(sourced.origin, sourced.value, exc) from None


def bucket_name_problem(name: str) -> str | None:
    """What S3 refuses in one of our (generated) bucket names, if anything."""
    if len(name) > 63:
        return f"would be {len(name)} characters long (S3 allows 63)"
    for prefix in RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"would start with {prefix!r}, which S3 reserves"
    for suffix in RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"would end with {suffix!r}, which S3 reserves"
    return None


def check_settings(settings: Settings, origins: dict[str, Origin] | None = None) -> None:
    """Every value by its rule, then what only holds between values (the bucket names)."""
    origins = origins or {}

    def origin(name: str) -> Origin:
        return origins.get(name) or Origin("setting", name)

    for name, rule in RULES.items():
        value = getattr(settings, name)
        if value is None or (name == "runtime" and value == ""):
            continue  # not set: the default applies
        try:
            rule(value)
        except ConfigError as exc:
            raise invalid(origin(name), value, exc) from None
    names = Names(settings.stack, _ANY_ACCOUNT, settings.region)
    for bucket in (names.source_bucket, names.dest_bucket):
        problem = bucket_name_problem(bucket)
        if problem:
            stack, region = origin("stack"), origin("region")
            raise ResizerError(
                f"{stack.show(settings.stack)} with {region.show(settings.region)}: "
                f"the bucket name {bucket.replace(_ANY_ACCOUNT, '<account>')} {problem}",
                "choose a shorter or different stack name",
            )
