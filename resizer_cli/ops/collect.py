"""The files to upload, each with its key, size and Content-Type."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from resizer_cli.errors import ResizerError
from resizer_cli.naming import SOURCE_PREFIX
from resizer_cli.ops.content import content_type_for
from resizer_cli.ops.keys import clean_prefix, key_part
from resizer_cli.ops.paths import expand_paths


@dataclass(frozen=True)
class UploadItem:
    path: Path
    key: str
    size: int
    content_type: str
    is_image: bool


def collect(args: Sequence[str], prefix: str | None = None, *,
            source_prefix: str = SOURCE_PREFIX) -> list[UploadItem]:
    """The files to upload with their keys `raw/<prefix>/<rel>`; refuses two files on one key."""
    head = source_prefix + clean_prefix(prefix)
    items: dict[str, UploadItem] = {}
    for path, rel in expand_paths(args):
        key = head + key_part(rel)
        existing = items.get(key)
        if existing is not None:
            if existing.path.resolve() == path.resolve():
                continue
            raise ResizerError(
                f"{existing.path} and {path} would both upload to {key}",
                "upload them in separate runs with different --prefix values",
            )
        try:
            with path.open("rb") as fh:
                magic = fh.read(32)
            size = path.stat().st_size
        except OSError as exc:
            raise ResizerError(
                f"cannot read {path}: {exc.strerror}", "check its permissions"
            ) from None
        ctype, is_image = content_type_for(path, magic)
        items[key] = UploadItem(path, key, size, ctype, is_image)
    if not items:
        raise ResizerError(
            "nothing to upload: the paths hold no files", "pass image files or folders"
        )
    return list(items.values())
