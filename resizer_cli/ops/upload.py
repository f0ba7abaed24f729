"""Upload images to the source bucket and wait for the thumbnails the handler makes of them.

Files go up concurrently through one s3transfer TransferManager (multipart above a threshold),
each with a Content-Type taken from its bytes when they look like an image. "Done" for a file
is the handler's result record `results/<rel>.json` in the destination bucket whose
`source_etag` equals the ETag of *our* PUT, so a record left by an earlier upload of the same
key never counts.
"""

from __future__ import annotations

import glob
import json
import mimetypes
import os
import queue
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from s3transfer.manager import TransferConfig, TransferManager
from s3transfer.subscribers import BaseSubscriber

from resizer_cli.aws import Target
from resizer_cli.deploy.stack import require_stack
from resizer_cli.errors import ResizerError, StackNotFound, error_code, from_boto
from resizer_cli.naming import DEST_PREFIX, RESULTS_PREFIX, SOURCE_PREFIX
from resizer_cli.output import Reporter

MB = 1024 * 1024
DEFAULT_CONCURRENCY = 8
DEFAULT_TIMEOUT = 120.0
MULTIPART_THRESHOLD = 16 * MB
MULTIPART_CHUNK = 16 * MB
POLL_START = 0.25
POLL_MAX = 1.0
# Below this many pending files one GET each is cheaper than listing.
LIST_MIN_PENDING = 4

Clock = Callable[[], float]


# S3 user metadata the handler copies into its result record, so waiting matches this very
# upload even when identical bytes (same ETag) were uploaded before.
UPLOAD_TOKEN_META = "resizer-upload"

# --- what a file is -----------------------------------------------------------------------------

_HEIF_BRANDS = {
    b"heic": "image/heic", b"heix": "image/heic", b"hevc": "image/heic", b"hevx": "image/heic",
    b"heim": "image/heic", b"heis": "image/heic", b"mif1": "image/heif", b"msf1": "image/heif",
    b"avif": "image/avif", b"avis": "image/avif",
}


def sniff_image(head: bytes) -> str | None:
    """The image MIME type the magic bytes announce, or None when they are not an image's."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:2] == b"BM" and len(head) >= 14:
        return "image/bmp"
    if head[4:8] == b"ftyp":
        return _HEIF_BRANDS.get(head[8:12])
    return None


def content_type_for(path: Path, head: bytes) -> tuple[str, bool]:
    """(Content-Type, looks like an image). The bytes win over a misleading extension."""
    sniffed = sniff_image(head)
    if sniffed:
        return sniffed, True
    guessed, _ = mimetypes.guess_type(path.name, strict=False)
    return guessed or "application/octet-stream", False


@dataclass(frozen=True)
class UploadItem:
    path: Path
    key: str
    size: int
    content_type: str
    is_image: bool


_GLOB_CHARS = set("*?[")


def _key_part(rel: str) -> str:
    # NFC: macOS hands out decomposed names; S3 keys compare bytes.
    return unicodedata.normalize("NFC", rel.replace(os.sep, "/"))


def _clean_prefix(prefix: str | None) -> str:
    if not prefix:
        return ""
    parts = [p for p in prefix.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ResizerError(
            f"invalid --prefix {prefix!r}", "use a plain folder name such as 2024/trip"
        )
    return "".join(f"{_key_part(p)}/" for p in parts)


def _walk(folder: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder):
        # Hidden folders and files (.git, .DS_Store) are never images someone meant to upload.
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def _glob_base(pattern: str) -> Path:
    """The leading part of a pattern that has no wildcard: keys are relative to it."""
    parts = Path(pattern).parts
    base: list[str] = []
    for part in parts[:-1]:
        if _GLOB_CHARS & set(part):
            break
        base.append(part)
    return Path(*base) if base else Path(".")


def expand_paths(args: Sequence[str]) -> list[tuple[Path, str]]:
    """(file, relative key) for every file the arguments name: files, folders, globs."""
    found: list[tuple[Path, str]] = []
    for arg in args:
        path = Path(arg).expanduser()
        if path.is_file():
            found.append((path, path.name))
        elif path.is_dir():
            found += [(f, f.relative_to(path).as_posix()) for f in _walk(path)]
        elif _GLOB_CHARS & set(arg):
            matches = sorted(glob.glob(os.path.expanduser(arg), recursive=True))
            if not matches:
                raise ResizerError(f"no file matches {arg!r}", "check the pattern")
            base = _glob_base(os.path.expanduser(arg))
            for match in map(Path, matches):
                if match.is_file():
                    found.append((match, match.relative_to(base).as_posix()))
                elif match.is_dir():
                    found += [(f, f.relative_to(base).as_posix()) for f in _walk(match)]
        else:
            raise ResizerError(f"{arg}: no such file or folder", "check the path")
    return found


def collect(args: Sequence[str], prefix: str | None = None, *,
            source_prefix: str = SOURCE_PREFIX) -> list[UploadItem]:
    """The files to upload with their keys `raw/<prefix>/<rel>`; refuses two files on one key."""
    head = source_prefix + _clean_prefix(prefix)
    items: dict[str, UploadItem] = {}
    for path, rel in expand_paths(args):
        key = head + _key_part(rel)
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


# --- where the stack keeps things ---------------------------------------------------------------

@dataclass(frozen=True)
class StackLayout:
    source_bucket: str
    dest_bucket: str
    source_prefix: str = SOURCE_PREFIX
    dest_prefix: str = DEST_PREFIX
    results_prefix: str = RESULTS_PREFIX

    def record_key(self, source_key: str) -> str:
        return f"{self.results_prefix}{source_key[len(self.source_prefix):]}.json"


def _where(target: Target) -> str:
    if target.is_local:
        return "the local emulator"
    return f"AWS {target.settings.region}"


def require_deployed(target: Target) -> None:
    """StackNotFound (one line pointing to `resizer setup`) when the stack is not there."""
    require_stack(target)


def stack_layout(target: Target) -> StackLayout:
    """Buckets and prefixes, as the deployed function is configured (falling back to names)."""
    names = target.names
    env: dict[str, str] = {}
    try:
        conf = target.client("lambda").get_function_configuration(FunctionName=names.function)
        env = conf.get("Environment", {}).get("Variables", {}) or {}
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise StackNotFound(target.settings.stack, _where(target)) from None
        raise
    return StackLayout(
        source_bucket=names.source_bucket,
        dest_bucket=env.get("DEST_BUCKET") or names.dest_bucket,
        source_prefix=env.get("SOURCE_PREFIX") or SOURCE_PREFIX,
        dest_prefix=env.get("DEST_PREFIX") or DEST_PREFIX,
        results_prefix=env.get("RESULTS_PREFIX") or RESULTS_PREFIX,
    )


# --- results ------------------------------------------------------------------------------------

@dataclass
class Thumbnail:
    key: str
    width: int
    height: int
    bytes: int
    local_path: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key, "width": self.width, "height": self.height, "bytes": self.bytes,
        }
        if self.local_path is not None:
            out["local_path"] = self.local_path
        return out


@dataclass
class FileResult:
    file: str
    key: str
    bytes: int
    status: str = "pending"  # then ok | failed | timeout | uploaded
    etag: str | None = None
    latency_ms: int | None = None
    thumbnails: list[Thumbnail] = field(default_factory=list)
    error: str | None = None
    error_code: str | None = None  # the handler's short class: corrupt, unsupported, ...
    uploaded_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file, "key": self.key, "status": self.status, "bytes": self.bytes,
            "etag": self.etag, "latency_ms": self.latency_ms,
            "thumbnails": [t.to_json() for t in self.thumbnails],
        }
        if self.error is not None:
            out["error"] = self.error
            out["error_code"] = self.error_code
        return out


def apply_record(result: FileResult, record: dict[str, Any]) -> None:
    """Fill a result from the handler's record (status ok or error)."""
    if record.get("status") == "ok":
        result.status = "ok"
        result.thumbnails = [
            Thumbnail(
                key=str(o.get("key", "")), width=int(o.get("width") or 0),
                height=int(o.get("height") or 0), bytes=int(o.get("bytes") or 0),
            )
            for o in record.get("outputs") or []
        ]
    else:
        result.status = "failed"
        result.error_code = str(record.get("error") or "error")
        result.error = str(record.get("reason") or record.get("error") or "the handler rejected it")


def _unquote(etag: str | None) -> str:
    return (etag or "").strip().strip('"').lower()


# --- waiting for result records -----------------------------------------------------------------

def _common_prefix(keys: list[str]) -> str:
    """Character-wise: an S3 prefix need not end at a slash."""
    first, last = min(keys), max(keys)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


@dataclass
class Pending:
    index: int
    record_key: str
    etag: str
    since: float
    deadline: float
    seen_version: str | None = None  # ETag of a stale record already read: don't read it again
    token: str | None = None  # our upload's UPLOAD_TOKEN_META value, echoed by the handler

    def matches(self, record: dict[str, Any]) -> bool:
        """Is this record the handler's answer to *this* upload, not an earlier one?"""
        echoed = record.get("upload_token")
        if echoed and self.token:
            # Exact even when the same bytes are uploaded again (same ETag).
            return str(echoed) == self.token
        return _unquote(str(record.get("source_etag", ""))) == self.etag


class ResultWatcher:
    """Polls the destination bucket for result records matching our uploads.

    With a few pending files it GETs each record; with more it lists under their common
    prefix (one request per 1000 keys) and GETs only records that are new or changed. If the
    listing turns out far larger than what we wait for (an old, busy results/ folder), it falls
    back to per-file GETs.
    """

    def __init__(self, s3: Any, bucket: str, *, clock: Clock = time.monotonic,
                 pool: ThreadPoolExecutor | None = None) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.clock = clock
        self.pool = pool
        self.pending: dict[str, Pending] = {}
        self.listing = True
        self.requests = 0  # for tests and the benchmark: how many S3 calls polling cost

    def add(self, item: Pending) -> None:
        self.pending[item.record_key] = item

    def _changed_keys(self) -> dict[str, str | None]:
        """Record keys worth reading now, with their object ETag when known."""
        if not self.listing or len(self.pending) < LIST_MIN_PENDING:
            return {k: None for k in self.pending}
        prefix = _common_prefix(list(self.pending))
        found: dict[str, str | None] = {}
        listed = 0
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            self.requests += 1
            page = self.s3.list_objects_v2(**kwargs)
            for obj in page.get("Contents", []):
                listed += 1
                pend = self.pending.get(obj["Key"])
                if pend is not None and pend.seen_version != obj.get("ETag"):
                    found[obj["Key"]] = obj.get("ETag")
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                break
        if listed > max(1000, 4 * len(self.pending)):
            self.listing = False
        return found

    def _read(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        try:
            self.requests += 1
            obj = self.s3.get_object(Bucket=self.bucket, Key=key)
            body = obj["Body"].read()
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None, None
            raise
        try:
            record = json.loads(body)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            record = {"status": "error", "error": "unreadable",
                      "reason": "the handler's result record is not a JSON object"}
        return record, obj.get("ETag")

    def poll(self) -> list[tuple[Pending, dict[str, Any] | None]]:
        """One round. Returns finished files: (pending, record), record None on timeout."""
        if not self.pending:
            return []
        keys = self._changed_keys()
        if self.pool is not None and len(keys) > 1:
            reads = list(self.pool.map(self._read, keys))
        else:
            reads = [self._read(k) for k in keys]
        now = self.clock()
        done: list[tuple[Pending, dict[str, Any] | None]] = []
        for key, (record, version) in zip(keys, reads, strict=True):
            pend = self.pending[key]
            if record is None:
                continue
            if pend.matches(record):
                done.append((pend, record))
                del self.pending[key]
            else:
                pend.seen_version = version  # a stale record from an earlier upload
        for key, pend in list(self.pending.items()):
            if now >= pend.deadline:
                done.append((pend, None))
                del self.pending[key]
        return done


# --- uploading ----------------------------------------------------------------------------------

def transfer_client(target: Target, concurrency: int) -> Any:
    """An S3 client like target.client('s3') but with a connection pool sized for the uploads."""
    return target.client("s3", pool_size=max(10, concurrency + 4))


class EtagRecorder:
    """Captures the ETag S3 returns for each PutObject / CompleteMultipartUpload by key.

    s3transfer does not return it, and it is what matches a result record to our upload.
    """

    def __init__(self, client: Any) -> None:
        self.etags: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        for op in ("PutObject", "CompleteMultipartUpload"):
            client.meta.events.register(f"before-parameter-build.s3.{op}", self._before)
            client.meta.events.register(f"after-call.s3.{op}", self._after)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["resizer_target"] = (params.get("Bucket"), params.get("Key"))

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        where = context.get("resizer_target")
        if where and parsed.get("ETag"):
            with self._lock:
                self.etags[where] = _unquote(parsed["ETag"])

    def get(self, bucket: str, key: str) -> str | None:
        with self._lock:
            return self.etags.get((bucket, key))


class _Subscriber(BaseSubscriber):
    def __init__(self, index: int, done: queue.Queue[tuple[int, float]],
                 on_bytes: Callable[[int], None], clock: Clock) -> None:
        self.index = index
        self.done = done
        self.on_bytes = on_bytes
        self.clock = clock

    def on_progress(self, future: Any, bytes_transferred: int, **_: Any) -> None:
        self.on_bytes(bytes_transferred)

    def on_done(self, future: Any, **_: Any) -> None:
        self.done.put((self.index, self.clock()))


@dataclass
class UploadOptions:
    wait: bool = True
    timeout: float = DEFAULT_TIMEOUT
    concurrency: int = DEFAULT_CONCURRENCY
    download: Path | None = None
    multipart_threshold: int = MULTIPART_THRESHOLD
    multipart_chunk: int = MULTIPART_CHUNK


def _error_text(exc: BaseException) -> str:
    err = from_boto(exc)
    if err is not None:
        return str(err)
    if isinstance(exc, ClientError):
        e = exc.response.get("Error", {})
        return f"{e.get('Code')}: {e.get('Message')}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"


def run_upload(
    target: Target,
    layout: StackLayout,
    items: Sequence[UploadItem],
    options: UploadOptions,
    reporter: Reporter,
    *,
    clock: Clock = time.monotonic,
) -> list[FileResult]:
    """Upload every item; with options.wait, also wait for each one's result record."""
    concurrency = max(1, options.concurrency)
    client = transfer_client(target, concurrency)
    recorder = EtagRecorder(client)
    results = [FileResult(file=str(i.path), key=i.key, bytes=i.size) for i in items]
    done_q: queue.Queue[tuple[int, float]] = queue.Queue()
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="resizer-poll")
    watcher = ResultWatcher(client, layout.dest_bucket, clock=clock, pool=pool)
    config = TransferConfig(
        multipart_threshold=options.multipart_threshold,
        multipart_chunksize=options.multipart_chunk,
        max_request_concurrency=concurrency,
        max_submission_concurrency=min(concurrency, 8),
    )
    total = sum(i.size for i in items)
    interval = POLL_START
    next_poll = clock()

    def finish(found: list[tuple[Pending, dict[str, Any] | None]]) -> None:
        for pend, record in found:
            res = results[pend.index]
            res.latency_ms = int((clock() - pend.since) * 1000)
            if record is None:
                res.status = "timeout"
                res.error = f"no result within {options.timeout:g}s"
                res.error_code = "timeout"
            else:
                apply_record(res, record)

    def poll_if_due() -> None:
        nonlocal interval, next_poll
        if not watcher.pending or clock() < next_poll:
            return
        found = watcher.poll()
        finish(found)
        interval = POLL_START if found else min(interval * 1.5, POLL_MAX)
        next_poll = clock() + interval

    manager = TransferManager(client, config)
    cancel = False
    try:
        with reporter.progress(f"uploading {len(items)} file(s)", total, bytes_=True) as bar:
            futures: dict[int, Any] = {}
            tokens: dict[int, str] = {}
            for index, item in enumerate(items):
                sub = _Subscriber(index, done_q, bar.advance, clock)
                tokens[index] = uuid.uuid4().hex
                futures[index] = manager.upload(
                    str(item.path), layout.source_bucket, item.key,
                    extra_args={
                        "ContentType": item.content_type,
                        "Metadata": {UPLOAD_TOKEN_META: tokens[index]},
                    },
                    subscribers=[sub],
                )
            left = len(futures)
            while left:
                try:
                    index, at = done_q.get(timeout=max(0.01, next_poll - clock())
                                           if watcher.pending else 0.5)
                except queue.Empty:
                    poll_if_due()
                    continue
                left -= 1
                res = results[index]
                try:
                    futures[index].result()
                except Exception as exc:
                    res.status = "failed"
                    res.error = f"upload failed: {_error_text(exc)}"
                    res.error_code = "upload"
                    continue
                res.etag = recorder.get(layout.source_bucket, res.key) or _head_etag(
                    client, layout.source_bucket, res.key)
                res.uploaded_at = at
                if not options.wait:
                    res.status = "uploaded"
                    continue
                watcher.add(Pending(index, layout.record_key(res.key), res.etag or "", at,
                                    at + options.timeout, token=tokens[index]))
                if len(watcher.pending) == 1:
                    next_poll = min(next_poll, clock() + POLL_START)
                poll_if_due()
        if watcher.pending:
            waiting = len(watcher.pending)
            with reporter.progress("waiting for thumbnails", waiting) as bar:
                while watcher.pending:
                    wait_for = next_poll - clock()
                    if wait_for > 0:
                        time.sleep(wait_for)
                    poll_if_due()
                    bar.update(completed=waiting - len(watcher.pending))
        if options.download is not None:
            download_thumbnails(client, layout.dest_bucket, results, options.download, pool)
    except KeyboardInterrupt:
        cancel = True
        raise
    finally:
        manager.shutdown(cancel=cancel)
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def _head_etag(s3: Any, bucket: str, key: str) -> str | None:
    # Only if the response hook saw nothing (a plugin swallowed it): ask S3 instead.
    try:
        return _unquote(s3.head_object(Bucket=bucket, Key=key).get("ETag"))
    except ClientError:
        return None


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
            res.error = f"download of {thumb.key} failed: {_error_text(exc)}"
            res.error_code = "download"


def exit_code(results: Sequence[FileResult]) -> int:
    return 1 if any(r.status in ("failed", "timeout") for r in results) else 0
