"""Is a result record still current? The source it was made from, and the settings used.

The function writes `settings_hash` into every result record: a hash of the settings that shape
its outputs (sizes, fit, gravity, format, quality, pixel limit, where thumbnails go and their
Cache-Control). `resizer backfill` compares it, and the record's `source_etag`, with the object
and the deployed settings, so only what is missing or stale is made again. Defined once, here,
from the function's own Config; the CLI reads the deployed Config the same way.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from lambda_handler.config import Config

# Bump when what the hash covers changes: every record then counts as stale once.
HASH_VERSION = 1
# Rejections that the same bytes with the same settings would give again: up to date. The
# others ("too_slow", "internal") may pass another time, so backfill sends them again.
FINAL_ERRORS = frozenset({"corrupt", "unsupported", "not_image", "too_large", "key_too_long"})


@lru_cache(maxsize=8)
def settings_hash(config: Config) -> str:
    shaping = {
        "v": HASH_VERSION,
        "sizes": [list(size) for size in config.sizes],
        "fit": config.fit,
        "gravity": config.gravity,
        "format": config.output_format,
        "quality": config.quality,
        "max_pixels": config.max_pixels,
        "dest_prefix": config.dest_prefix,
        "cache_control": config.cache_control,
    }
    text = json.dumps(shaping, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_current(record: dict[str, Any], etag: str, wanted_hash: str) -> bool:
    """Made from these bytes with these settings, and nothing to gain from making it again."""
    if str(record.get("source_etag") or "").strip('"').lower() != etag.strip('"').lower():
        return False
    if record.get("settings_hash") != wanted_hash:
        return False
    return record.get("status") == "ok" or record.get("error") in FINAL_ERRORS
