"""Source keys: `raw/<prefix>/<relative path>`, as S3 will store them."""

from __future__ import annotations

import os
import unicodedata

from resizer_cli.errors import ResizerError


def key_part(rel: str) -> str:
    # NFC: macOS hands out decomposed names; S3 keys compare bytes.
    return unicodedata.normalize("NFC", rel.replace(os.sep, "/"))


def clean_prefix(prefix: str | None) -> str:
    if not prefix:
        return ""
    parts = [p for p in prefix.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ResizerError(
            f"invalid --prefix {prefix!r}", "use a plain folder name such as 2024/trip"
        )
    return "".join(f"{key_part(p)}/" for p in parts)
