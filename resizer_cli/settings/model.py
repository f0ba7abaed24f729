"""The resolved settings of one stack: what `setup` deploys and later commands act on."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lambda_handler.config import format_sizes

TARGETS = ("local", "aws")
ARCHITECTURES = ("x86_64", "arm64")
DEFAULT_AWS_RUNTIME = "python3.13"
# The emulator accepts any region. With none given, a local stack uses this one, whatever the
# AWS configuration says, so switching AWS_PROFILE never moves (or loses) a local stack.
LOCAL_REGION = "us-east-1"
# reserved_concurrency: a number (0 pauses the pipeline), this word (no reservation), or None
# (never set: setup leaves the function's reservation as it finds it).
NO_RESERVATION = "none"


def local_runtime() -> str:
    """The local emulator runs functions with this interpreter, so layers target it."""
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


@dataclass(frozen=True)
class Settings:
    stack: str = "resizer"
    target: str = "local"
    region: str = LOCAL_REGION  # only direct construction (tests) relies on this; see load()
    profile: str | None = None
    sizes: tuple[tuple[int, int], ...] = ((128, 128), (512, 512))
    memory: int = 512
    timeout: int = 30
    reserved_concurrency: int | str | None = None  # N, NO_RESERVATION, or None (left alone)
    architecture: str = "x86_64"
    runtime: str = ""  # "" = python3.13 on aws, the local interpreter's version on local
    output_format: str = "auto"
    fit: str = "inside"
    gravity: str = "centre"  # where --fit cover crops: the centre, or "smart"
    heic: bool = True  # pillow-heif in the layer (HEIC/HEIF input); false for a smaller layer
    quality: int = 85
    max_pixels: int = 50_000_000
    source_bucket: str | None = None  # an existing bucket to bring along (not ours to delete)
    source_bucket_owner: str | None = None  # its account, when not the caller's own
    api: bool = False  # an HTTP API for renditions on the fly (resizer_cli.deploy.*_api)
    api_sizes: tuple[tuple[int, int], ...] = ()  # served over HTTP on top of `sizes`
    api_unsigned: bool = False  # accept URLs without a signature
    # Prices for `stats` and `tune` in place of ops.pricing's dated list price (USD).
    price_request_usd: float | None = None
    price_gb_second_usd: float | None = None
    # Not settings a user picks, but resolved once: where the emulator listens.
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    # Where each value came from ("--memory", "RESIZER_REGION", "resizer.toml [stacks.x] fit"…).
    origins: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    # One-line notes for the user about how the settings were chosen (e.g. which region).
    notes: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def effective_runtime(self) -> str:
        if self.runtime:
            return self.runtime
        return local_runtime() if self.target == "local" else DEFAULT_AWS_RUNTIME

    def validate(self) -> Settings:
        """Check every value with the same rules `load` applies (for direct construction)."""
        from resizer_cli.settings.rules import check_settings

        check_settings(self)
        return self

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in NON_SETTINGS:
            data.pop(name)
        data["sizes"] = format_sizes(self.sizes)
        data["api_sizes"] = format_sizes(self.api_sizes)
        return data


NON_SETTINGS = ("extra", "origins", "notes")
FIELD_NAMES = tuple(f.name for f in fields(Settings) if f.name not in NON_SETTINGS)
DEFAULTS = Settings()
