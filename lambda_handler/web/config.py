"""The HTTP settings of the function, beside lambda_handler.config's (and as strict).

| variable | meaning |
|---|---|
| `SOURCE_BUCKET` | where originals are read (an S3 event names its bucket; a URL does not) |
| `API_SIZES` | sizes served over HTTP on top of `SIZES` (the allowlist is both) |
| `URL_SECRET` | the key of URL signatures; set by `resizer setup`, never printed |
| `API_UNSIGNED` | `true`: accept unsigned URLs (`--api-unsigned`) |

Without a secret and without `API_UNSIGNED`, every request is refused (403): a function
deployed without its secret fails closed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from lambda_handler.config import ConfigError, parse_sizes

SECRET_VAR = "URL_SECRET"
_TRUE = ("true", "1", "yes")


def parse_api_sizes(value: object) -> tuple[tuple[int, int], ...]:
    """Like SIZES, but may be empty ("" or []): no sizes beyond the stack's."""
    if value in ("", None) or (isinstance(value, list | tuple) and not value):
        return ()
    if isinstance(value, str) and not value.strip():
        return ()
    return parse_sizes(value)


@dataclass(frozen=True)
class WebConfig:
    source_bucket: str | None
    api_sizes: tuple[tuple[int, int], ...]
    secret: str | None
    unsigned: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebConfig:
        env = os.environ if env is None else env
        try:
            api_sizes = parse_api_sizes(env.get("API_SIZES", ""))
        except ConfigError as exc:
            raise ConfigError(f"API_SIZES={env.get('API_SIZES')!r}: {exc}") from None
        return cls(
            source_bucket=env.get("SOURCE_BUCKET", "").strip() or None,
            api_sizes=api_sizes,
            secret=env.get(SECRET_VAR, "").strip() or None,
            unsigned=env.get("API_UNSIGNED", "").strip().lower() in _TRUE,
        )

    def allowlist(self, sizes: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        return tuple(dict.fromkeys((*sizes, *self.api_sizes)))
