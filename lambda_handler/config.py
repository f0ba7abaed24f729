"""The function's settings, read from its environment variables (set by `resizer setup`).

The rules for each value live here, as small parsers the CLI also calls before it deploys
anything (resizer_cli.settings.rules): a value `setup` accepts is one the function accepts. So
this module imports only the standard library (never Pillow, never resizer_cli).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

FITS = ("inside", "cover")
GRAVITIES = ("centre", "smart")
GRAVITY_ALIASES = {"center": "centre"}
OUTPUT_FORMATS = ("auto", "jpeg", "png", "webp", "avif")
FORMAT_ALIASES = {"jpg": "jpeg"}
MAX_SIDE = 99_999  # pixels per thumbnail side (five digits)
QUALITY_RANGE = (1, 100)

DEFAULTS = {
    "SOURCE_PREFIX": "raw/",
    "DEST_PREFIX": "thumbnails/",
    "RESULTS_PREFIX": "results/",
    "SIZES": "128x128,512x512",
    "FIT": "inside",
    "GRAVITY": "centre",
    "OUTPUT_FORMAT": "auto",
    "QUALITY": "85",
    "MAX_PIXELS": "50000000",
    "CACHE_CONTROL": "max-age=31536000,public",
}
_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX]\s*(\d{1,5})\s*$")
_WHOLE = re.compile(r"^[+-]?\d[\d_]*$")
SIZES_EXAMPLE = "e.g. 128x128,512x512"
T = TypeVar("T")


class ConfigError(ValueError):
    """A setting the function cannot work with: what is wrong, and (optionally) what to do."""

    def __init__(self, problem: str, remedy: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.remedy = remedy

    def __str__(self) -> str:
        return f"{self.problem} ({self.remedy})" if self.remedy else self.problem


# --- the rules, one parser per value; each takes what a user wrote (text, or a TOML value) ---

def parse_whole(value: object) -> int:
    """A whole number: an int, or text of digits (underscores allowed). Never a float or bool."""
    if isinstance(value, float) and value.is_integer():
        raise ConfigError("not a whole number", f"write {int(value)}, without a decimal point")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError("not a whole number", "write digits only")
    if isinstance(value, int):
        return value
    text = value.strip()
    if not _WHOLE.match(text) or len(text) > 30:
        raise ConfigError("not a whole number", "write digits only")
    return int(text.replace("_", ""))


def parse_in_range(value: object, low: int, high: int | None = None) -> int:
    number = parse_whole(value)
    if number < low or (high is not None and number > high):
        span = f"{low} to {high}" if high is not None else f"{low} or more"
        raise ConfigError("out of range", f"use {span}")
    return number


def parse_quality(value: object) -> int:
    return parse_in_range(value, *QUALITY_RANGE)


def parse_max_pixels(value: object) -> int:
    return parse_in_range(value, 1)


def parse_choice(
    value: object, choices: tuple[str, ...], aliases: Mapping[str, str] | None = None
) -> str:
    """One of `choices`, case-insensitive; `aliases` maps other spellings onto them."""
    if not isinstance(value, str):
        raise ConfigError("not text", f"use one of {', '.join(choices)}")
    text = value.strip().lower()
    text = (aliases or {}).get(text, text)
    if text not in choices:
        raise ConfigError("unknown value", f"use one of {', '.join(choices)}")
    return text


def parse_fit(value: object) -> str:
    return parse_choice(value, FITS)


def parse_gravity(value: object) -> str:
    return parse_choice(value, GRAVITIES, GRAVITY_ALIASES)


def parse_output_format(value: object) -> str:
    return parse_choice(value, OUTPUT_FORMATS, FORMAT_ALIASES)


def _one_size(item: object) -> tuple[int, int]:
    if isinstance(item, str):
        m = _SIZE.match(item)
        if not m:
            raise ConfigError(f"{item.strip()!r} is not a size", f"write WxH, {SIZES_EXAMPLE}")
        pair: tuple[object, object] = (m.group(1), m.group(2))
    elif isinstance(item, list | tuple) and len(item) == 2:
        pair = (item[0], item[1])
    else:
        raise ConfigError(f"{item!r} is not a size", f"write WxH, {SIZES_EXAMPLE}")
    try:
        width, height = (parse_in_range(side, 1, MAX_SIDE) for side in pair)
    except ConfigError:
        raise ConfigError(
            f"{item!r} is not a size", f"each side is 1 to {MAX_SIDE} pixels, {SIZES_EXAMPLE}"
        ) from None
    return width, height


def parse_sizes(value: object) -> tuple[tuple[int, int], ...]:
    """'128x128,512x512', or a list of 'WxH' texts or [w, h] pairs; duplicates dropped."""
    if isinstance(value, str):
        items: list[object] = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ConfigError("not a list of sizes", f"write WxH,WxH, {SIZES_EXAMPLE}")
    if not items:
        raise ConfigError("no size given", SIZES_EXAMPLE)
    return tuple(dict.fromkeys(_one_size(item) for item in items))


def format_sizes(sizes: tuple[tuple[int, int], ...]) -> str:
    return ",".join(f"{w}x{h}" for w, h in sizes)


@dataclass(frozen=True)
class Config:
    dest_bucket: str | None  # None: write next to the source, in the same bucket
    source_prefix: str
    dest_prefix: str
    results_prefix: str
    sizes: tuple[tuple[int, int], ...]
    fit: str
    gravity: str  # where `cover` crops: "centre" or "smart"
    output_format: str
    quality: int
    max_pixels: int
    cache_control: str
    memory_mb: int | None  # AWS_LAMBDA_FUNCTION_MEMORY_SIZE; None outside Lambda

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env

        def get(name: str) -> str:
            value = env.get(name, "").strip()
            return value if value else DEFAULTS[name]

        # An explicitly empty SOURCE_PREFIX means "the whole bucket"; unset means raw/.
        source = env.get("SOURCE_PREFIX")
        source_prefix = _prefix(DEFAULTS["SOURCE_PREFIX"] if source is None else source.strip())
        dest_prefix = _prefix(get("DEST_PREFIX"))
        results_prefix = _prefix(get("RESULTS_PREFIX"))
        if dest_prefix == results_prefix:
            raise ConfigError(f"DEST_PREFIX and RESULTS_PREFIX are both {dest_prefix!r}")
        memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "").strip()
        return cls(
            dest_bucket=env.get("DEST_BUCKET", "").strip() or None,
            source_prefix=source_prefix,
            dest_prefix=dest_prefix,
            results_prefix=results_prefix,
            sizes=_read("SIZES", get("SIZES"), parse_sizes),
            fit=_read("FIT", get("FIT"), parse_fit),
            gravity=_read("GRAVITY", get("GRAVITY"), parse_gravity),
            output_format=_read("OUTPUT_FORMAT", get("OUTPUT_FORMAT"), parse_output_format),
            quality=_read("QUALITY", get("QUALITY"), parse_quality),
            max_pixels=_read("MAX_PIXELS", get("MAX_PIXELS"), parse_max_pixels),
            cache_control=get("CACHE_CONTROL"),
            memory_mb=(
                _read("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory, parse_whole) if memory else None
            ),
        )


def _read(name: str, text: str, parse: Callable[[object], T]) -> T:
    """One variable through its rule; the error names the variable (it is logged as is)."""
    try:
        return parse(text)
    except ConfigError as exc:
        raise ConfigError(f"{name}={text!r}: {exc}") from None


def _prefix(value: str) -> str:
    value = value.lstrip("/")
    return value if not value or value.endswith("/") else value + "/"
