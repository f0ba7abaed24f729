"""`backfill --prune`: remove the renditions the stack no longer makes.

Run after a backfill has brought every result record in scope up to date, so the records say
exactly what the stack makes now: their `outputs`. A rendition is pruned when it is

- under our thumbnails prefix in our destination bucket, in a `<W>x<H>/` folder (anything
  else there is left alone), inside the scope (`--prefix`),
- older than the run (a newer upload's fresh thumbnails are never touched),
- not an output of a current record, and not possibly one of a file whose state is unknown
  (its event failed, timed out, or was superseded): those keep their renditions.

Result records whose original is gone (a deletion that was not followed) go too. Sizes and
formats the stack no longer makes, and renditions of deleted originals, so disappear; the
current ones are never listed for deletion.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from resizer_cli.errors import ResizerError
from resizer_cli.ops.layout import StackLayout

_SIZE_DIR = re.compile(r"^\d{1,5}x\d{1,5}/$")
_BATCH = 1000


@dataclass
class PrunePlan:
    keys: list[str]  # to delete, sorted
    kept_unknown: int  # renditions kept because their file's state is unknown


def _stems(rel: str) -> set[str]:
    """The names a rendition of `rel` may have, less its extension (see keys.output_key:
    the name is kept, its image extension replaced, or an extension appended)."""
    return {rel, posixpath.splitext(rel)[0]}


def _listing(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def _size_dirs(s3: Any, layout: StackLayout) -> list[str]:
    out = []
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=layout.dest_bucket, Prefix=layout.dest_prefix, Delimiter="/"
    )
    for page in pages:
        for common in page.get("CommonPrefixes", []):
            name = str(common["Prefix"])[len(layout.dest_prefix):]
            if _SIZE_DIR.match(name):
                out.append(layout.dest_prefix + name)
    return out


def plan_prune(
    s3: Any,
    layout: StackLayout,
    scope: str,
    *,
    expected: set[str],
    unknown: Iterable[str],
    sources: set[str],
    started: datetime,
) -> PrunePlan:
    """`scope`: the --prefix, relative to the source prefix; `expected`: the current records'
    outputs; `unknown`: source keys whose state is unknown; `sources`: the source keys that
    exist (listed before `started`)."""
    protected: set[str] = set()
    for key in unknown:
        protected |= _stems(key[len(layout.source_prefix):])
    # Renditions on the fly (an HTTP size, any format asked for) of an original that exists
    # are what the stack makes now, though no result record names them.
    served: set[str] = set()
    for key in sources if layout.http_sizes else ():
        served |= _stems(key[len(layout.source_prefix):])
    http_dirs = {f"{layout.dest_prefix}{w}x{h}/" for w, h in layout.http_sizes}
    doomed: list[str] = []
    kept = 0
    for size_dir in _size_dirs(s3, layout):
        for obj in _listing(s3, layout.dest_bucket, size_dir + scope):
            key = str(obj["Key"])
            if key in expected or obj["LastModified"] >= started:
                continue
            rel = key[len(size_dir):]
            if size_dir in http_dirs and (rel in served or posixpath.splitext(rel)[0] in served):
                continue
            if rel in protected or posixpath.splitext(rel)[0] in protected:
                kept += 1
                continue
            doomed.append(key)
    for obj in _listing(s3, layout.dest_bucket, layout.results_prefix + scope):
        key = str(obj["Key"])
        if not key.endswith(".json") or obj["LastModified"] >= started:
            continue
        source = layout.source_prefix + key[len(layout.results_prefix):-len(".json")]
        if source not in sources:  # an orphan: its original is gone
            doomed.append(key)
    return PrunePlan(sorted(doomed), kept)


def delete(s3: Any, bucket: str, keys: list[str]) -> int:
    """DeleteObjects, 1,000 keys a request; the number deleted."""
    for start in range(0, len(keys), _BATCH):
        batch = keys[start : start + _BATCH]
        resp = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
        )
        errors = resp.get("Errors") or []
        if errors:
            first = errors[0]
            raise ResizerError(
                f"pruning stopped: S3 refused to delete {first.get('Key')}: "
                f"{first.get('Code')}: {first.get('Message')}",
                "check your s3:DeleteObject rights on the destination bucket, then re-run",
            )
    return len(keys)
