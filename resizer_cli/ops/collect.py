"""The files to upload, each with its key, size and Content-Type, and the ones refused.

Two steps, so path mistakes are reported before any AWS call: `read_sources` finds the files
and reads their first bytes; `plan_uploads` gives them keys once the stack's layout is known,
and refuses keys S3 or the function could not store.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from resizer_cli.errors import ResizerError
from resizer_cli.ops.content import content_type_for
from resizer_cli.ops.keys import bad_segment, clean_prefix, key_part, over_limit, thumbnail_keys
from resizer_cli.ops.layout import StackLayout
from resizer_cli.ops.paths import Refusal, expand_paths

_SNIFF_BYTES = 32


@dataclass(frozen=True)
class Source:
    path: Path
    rel: str
    size: int
    content_type: str
    is_image: bool


@dataclass
class Sources:
    files: list[Source] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


@dataclass(frozen=True)
class UploadItem:
    path: Path
    key: str
    size: int
    content_type: str
    is_image: bool


@dataclass
class Collection:
    items: list[UploadItem]
    refused: list[Refusal]


def _read_head(path: Path) -> tuple[bytes, os.stat_result]:
    # Non-blocking: should the entry have become a FIFO since it was looked at, opening it
    # returns at once instead of waiting for a writer.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(0, "it is no longer a regular file")
        return os.read(fd, _SNIFF_BYTES), st
    finally:
        os.close(fd)


def read_sources(args: Sequence[str], *, follow_links: bool = False) -> Sources:
    """Every file the arguments name, with its first bytes read; unreadable ones refused."""
    expansion = expand_paths(args, follow_links=follow_links)
    out = Sources(refused=list(expansion.refused))
    for found in expansion.found:
        try:
            head, st = _read_head(found.path)
        except OSError as exc:
            out.refused.append(Refusal(str(found.path), "unreadable",
                                       f"cannot read it: {exc.strerror or exc}", failed=True))
            continue
        ctype, is_image = content_type_for(found.path, head)
        out.files.append(Source(found.path, found.rel, st.st_size, ctype, is_image))
    return out


def plan_uploads(sources: Sources, prefix: str | None, layout: StackLayout) -> Collection:
    """Keys `<source prefix><prefix>/<rel>` for the sources.

    Two files on one key, or whose thumbnails would land on one key (`a.gif` and `a.jpg` both
    make `a.jpg`), are refused before anything is uploaded; a key S3 cannot store is refused
    for its file alone.
    """
    head = layout.source_prefix + clean_prefix(prefix)
    items: dict[str, UploadItem] = {}
    thumbs: dict[str, UploadItem] = {}
    refused = list(sources.refused)
    for src in sources.files:
        key = head + key_part(src.rel)
        existing = items.get(key)
        if existing is not None:
            if existing.path.resolve() == src.path.resolve():
                continue
            raise ResizerError(
                f"{existing.path} and {src.path} would both upload to {key}",
                "upload them in separate runs with different --prefix values",
            )
        segment = bad_segment(key)
        if segment is not None:  # cannot happen from directory entries; a last guard
            refused.append(Refusal(str(src.path), "bad_key",
                                   f"its key {key!r} would have a {segment!r} segment",
                                   failed=True, key=key))
            continue
        problem = over_limit(key, src.content_type, layout)
        if problem:
            refused.append(Refusal(str(src.path), "key_too_long", problem, failed=True,
                                   key=key))
            continue
        item = UploadItem(src.path, key, src.size, src.content_type, src.is_image)
        for thumb in thumbnail_keys(key, src.content_type, layout):
            other = thumbs.setdefault(thumb, item)
            if other is not item:
                raise ResizerError(
                    f"{other.path} and {src.path} would both make the thumbnail {thumb}",
                    "rename one of them, or upload them with different --prefix values",
                )
        items[key] = item
    if not items and not refused:
        raise ResizerError(
            "nothing to upload: the paths hold no files", "pass image files or folders"
        )
    return Collection(list(items.values()), refused)


def collect(args: Sequence[str], prefix: str | None = None, *,
            layout: StackLayout | None = None, follow_links: bool = False) -> Collection:
    """read_sources then plan_uploads; without a layout, the default prefixes and sizes."""
    return plan_uploads(read_sources(args, follow_links=follow_links), prefix,
                        layout or StackLayout(source_bucket="", dest_bucket=""))
