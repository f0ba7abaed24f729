"""`--download`: saving the reported thumbnails under a local folder, mirroring their keys.

Each output gets its own file: a key with an empty, `.` or `..` segment is refused (it would
land elsewhere, or on another output's file), and so is a second key that maps to a file
already claimed (keys differing only in case, on a case-insensitive file system). Whatever
goes wrong is reported on that file's result; the others are still saved.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from resizer_cli.errors import ResizerError
from resizer_cli.ops.keys import bad_segment
from resizer_cli.ops.results import FileResult, Thumbnail, error_text


def check_writable(folder: Path, what: str) -> None:
    """Make `folder` if needed and prove a file can be created in it; else one line.

    Trying is the only honest test: permissions, read-only file systems, ACLs and running
    as root all decide it."""
    if folder.exists() and not folder.is_dir():
        raise ResizerError(f"{what} {folder} is not a folder", "pass a folder path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".resizer-write-check-{uuid.uuid4().hex[:8]}"
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as exc:
        raise ResizerError(
            f"cannot write to {what} {folder}: {exc.strerror or exc}",
            "choose a folder you can write to",
        ) from None


def _case_insensitive(folder: Path) -> bool:
    probe = folder / f".resizer-case-check-{uuid.uuid4().hex[:8]}"
    probe.touch()
    try:
        return (folder / probe.name.upper()).exists()
    finally:
        probe.unlink()


def _fail(res: FileResult, thumb: Thumbnail, reason: str) -> None:
    thumb.local_path = None
    res.status = "failed"
    res.error = f"download of {thumb.key} failed: {reason}"
    res.error_code = "download"


def _fetch(s3: Any, bucket: str, key: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        with tmp.open("xb") as fh:
            for chunk in iter(lambda: body.read(1024 * 1024), b""):
                fh.write(chunk)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def download_thumbnails(s3: Any, bucket: str, results: Sequence[FileResult], root: Path,
                        pool: ThreadPoolExecutor) -> None:
    """Save every reported thumbnail under root, mirroring its key; failures per file."""
    wanted = [(res, thumb) for res in results for thumb in res.thumbnails]
    if not wanted:
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        base = root.resolve()
    except OSError as exc:
        for res, thumb in wanted:
            _fail(res, thumb, f"cannot create {root}: {exc.strerror or exc}")
        return
    planned: dict[str, tuple[FileResult, Thumbnail, Path]] = {}
    same_key: list[tuple[Thumbnail, Thumbnail]] = []  # one object listed twice: saved once
    for res, thumb in wanted:
        segment = bad_segment(thumb.key)
        if segment is not None:
            _fail(res, thumb, f"its key has a {segment!r} segment, refused as a local path")
            continue
        dest = base.joinpath(*thumb.key.split("/"))
        claim = os.path.normcase(str(dest))
        if claim in planned:
            owner = planned[claim][1]
            if owner.key == thumb.key:
                same_key.append((thumb, owner))
            else:
                _fail(res, thumb, f"{dest} is already where {owner.key} is saved")
            continue
        planned[claim] = (res, thumb, dest)
    folded: dict[str, str] = {}
    ignores_case: bool | None = None
    for claim in list(planned):
        first = folded.setdefault(claim.casefold(), claim)
        if first == claim:
            continue
        if ignores_case is None:
            ignores_case = _case_insensitive(base)
        if ignores_case:
            res, thumb, dest = planned.pop(claim)
            _fail(res, thumb, f"{dest} is the same file as {planned[first][2]} here "
                              "(the file system ignores case)")
    jobs: list[tuple[FileResult, Thumbnail, Path, Future[None]]] = [
        (res, thumb, dest, pool.submit(_fetch, s3, bucket, thumb.key, dest))
        for res, thumb, dest in planned.values()
    ]
    for res, thumb, dest, fut in jobs:
        try:
            fut.result()
        except (BotoCoreError, ClientError, OSError) as exc:
            _fail(res, thumb, error_text(exc))
        else:
            thumb.local_path = str(dest)
    for thumb, owner in same_key:
        thumb.local_path = owner.local_path
