"""`--download`: saving the reported thumbnails under a local folder, mirroring their keys."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from resizer_cli.errors import ResizerError
from resizer_cli.ops.results import FileResult, Thumbnail, error_text


def _local_path(root: Path, key: str) -> Path:
    target = (root / key).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ResizerError(f"refusing to save {key!r} outside {root}")
    return target


def download_thumbnails(s3: Any, bucket: str, results: Sequence[FileResult], root: Path,
                        pool: ThreadPoolExecutor) -> None:
    """Save every reported thumbnail under root, mirroring its key."""
    root.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[FileResult, Thumbnail, Future[None]]] = []

    def fetch(key: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        with tmp.open("wb") as fh:
            for chunk in iter(lambda: body.read(1024 * 1024), b""):
                fh.write(chunk)
        tmp.replace(dest)

    for res in results:
        for thumb in res.thumbnails:
            dest = _local_path(root, thumb.key)
            jobs.append((res, thumb, pool.submit(fetch, thumb.key, dest)))
            thumb.local_path = str(dest)
    for res, thumb, fut in jobs:
        try:
            fut.result()
        except (BotoCoreError, ClientError, OSError) as exc:
            thumb.local_path = None
            res.status = "failed"
            res.error = f"download of {thumb.key} failed: {error_text(exc)}"
            res.error_code = "download"
