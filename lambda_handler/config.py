"""The function's settings, read from its environment variables (set by `resizer setup`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from lambda_handler.thumbnail import FITS, GRAVITIES, OUTPUT_FORMATS

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


class ConfigError(ValueError):
    """The environment holds a setting the function cannot work with."""


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
        fit = get("FIT").lower()
        if fit not in FITS:
            raise ConfigError(f"FIT={fit!r}: use one of {', '.join(FITS)}")
        gravity = get("GRAVITY").lower().replace("center", "centre")
        if gravity not in GRAVITIES:
            raise ConfigError(f"GRAVITY={gravity!r}: use one of {', '.join(GRAVITIES)}")
        output_format = get("OUTPUT_FORMAT").lower()
        if output_format == "jpg":
            output_format = "jpeg"
        if output_format not in OUTPUT_FORMATS:
            choices = ", ".join(OUTPUT_FORMATS)
            raise ConfigError(f"OUTPUT_FORMAT={output_format!r}: use one of {choices}")
        quality = _int(get("QUALITY"), "QUALITY")
        if not 1 <= quality <= 100:
            raise ConfigError(f"QUALITY={quality}: use 1-100")
        max_pixels = _int(get("MAX_PIXELS"), "MAX_PIXELS")
        if max_pixels < 1:
            raise ConfigError(f"MAX_PIXELS={max_pixels}: must be positive")
        memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "").strip()
        return cls(
            dest_bucket=env.get("DEST_BUCKET", "").strip() or None,
            source_prefix=source_prefix,
            dest_prefix=dest_prefix,
            results_prefix=results_prefix,
            sizes=parse_sizes(get("SIZES")),
            fit=fit,
            gravity=gravity,
            output_format=output_format,
            quality=quality,
            max_pixels=max_pixels,
            cache_control=get("CACHE_CONTROL"),
            memory_mb=_int(memory, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE") if memory else None,
        )


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    sizes: list[tuple[int, int]] = []
    for part in text.split(","):
        if not part.strip():
            continue
        m = _SIZE.match(part)
        if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
            raise ConfigError(f"SIZES={text!r}: write sizes as WxH, e.g. 128x128,512x512")
        sizes.append((int(m.group(1)), int(m.group(2))))
    if not sizes:
        raise ConfigError("SIZES is empty: e.g. 128x128,512x512")
    return tuple(dict.fromkeys(sizes))


def _prefix(value: str) -> str:
    value = value.lstrip("/")
    return value if not value or value.endswith("/") else value + "/"


def _int(value: str, name: str) -> int:
    try:
        return int(value.replace("_", ""))
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a whole number") from None
