"""What `resizer upload` reports per file, filled from the handler's result record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from resizer_cli.errors import from_boto
from resizer_cli.ops.failures import FailedEvent
from resizer_cli.ops.paths import Refusal


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


SUPERSEDED = "superseded by a newer upload of this key"
# Statuses that fail the run (exit code 1). `superseded` does not: see exit_code.
FAILED_STATUSES = ("failed", "timeout")


@dataclass
class FileResult:
    file: str
    key: str | None
    bytes: int | None
    # pending, then: ok | failed | timeout | superseded | uploaded (not waited for, or the
    # wait stopped) | skipped (never sent: a FIFO, a link leading outside, ...)
    status: str = "pending"
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


def apply_failure(result: FileResult, event: FailedEvent) -> None:
    """Fill a result from Lambda's record of the failed event: what Lambda said."""
    result.status = "failed"
    result.error_code = event.error_type or event.condition or "failed"
    attempts = f" ({event.attempts} attempt{'s' if event.attempts != 1 else ''})"
    result.error = event.error + (attempts if event.attempts else "")


def refused_result(refusal: Refusal) -> FileResult:
    """A path that was not uploaded, as a result line: `failed` if it could not be, else
    `skipped` (left out on purpose)."""
    return FileResult(file=refusal.path, key=refusal.key, bytes=None,
                      status="failed" if refusal.failed else "skipped",
                      error=refusal.reason, error_code=refusal.code)


def error_text(exc: BaseException) -> str:
    """An exception as the one-line reason of a per-file result."""
    err = from_boto(exc)
    if err is not None:
        return str(err)
    if isinstance(exc, ClientError):
        e = exc.response.get("Error", {})
        return f"{e.get('Code')}: {e.get('Message')}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"


def exit_code(results: Sequence[FileResult]) -> int:
    """1 if any file failed or timed out. A superseded file does not fail the run: its upload
    worked and the key's thumbnails exist; they are the newer upload's, as S3 (last writer
    wins) intends. Failing would make a retrying script overwrite the other upload in turn."""
    return 1 if any(r.status in FAILED_STATUSES for r in results) else 0
