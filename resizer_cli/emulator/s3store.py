"""Large S3 objects stay on disk: the moto patches that keep the emulator's memory bounded.

moto stores each object in a SpooledTemporaryFile (on disk past ~5 MB), but handles bodies as
bytes: it reads the whole request into memory, joins multipart parts in a bytearray and returns
GetObject's body as one bytes object, so a 2 GB upload took 6.6 GB. Here a body larger than
`payload.MEMORY_MAX` reaches moto as a `DiskBody` (a file descriptor, an offset, a length)
where moto expects bytes:

- PutObject and UploadPart: the gate's spool file becomes the object's storage, uncopied;
- CompleteMultipartUpload joins the part files into a new file, hashing as it copies;
- GetObject (ranges too), CopyObject and UploadPartCopy read a large object as a DiskBody
  view, which the HTTP layer streams in 1 MB reads.

Smaller bodies take moto's own path unchanged. `tests/emulator/test_emulator_seam.py` checks
that the moto internals patched here are still where this expects them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from moto.s3 import responses as s3_responses
from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML
from moto.s3.models import FakeKey, FakeMultipart, S3Backend
from moto.settings import S3_UPLOAD_PART_MIN_SIZE

from resizer_cli.emulator import payload
from resizer_cli.emulator.gate import SERVICE_KEY

ORIGINAL_VALUE: property = FakeKey.__dict__["value"]
ORIGINAL_SETUP_CLASS = s3_responses.S3Response.setup_class
ORIGINAL_KEY_RESPONSE = s3_responses.S3Response.key_response
ORIGINAL_COPY_OBJECT = S3Backend.copy_object
ORIGINAL_UPLOAD_PART_COPY = S3Backend.upload_part_copy
ORIGINAL_COMPLETE = FakeMultipart.complete
DISK_BODY_KEY = "resizer.disk_body"
# Parameters the patches rely on (checked by the seam test against the installed moto).
EXPECTED_PARAMETERS = {
    "S3Response.setup_class": ["self", "request", "full_url", "headers"],
    "S3Response.key_response": ["self", "request", "full_url", "headers"],
    "S3Backend.copy_object": ["self", "src_key", "dest_bucket_name", "dest_key_name",
                              "storage", "encryption", "kms_key_id", "bucket_key_enabled",
                              "mdirective", "metadata", "website_redirect_location",
                              "lock_mode", "lock_legal_status", "lock_until",
                              "provided_version_id"],
    "S3Backend.upload_part_copy": ["self", "dest_bucket_name", "multipart_id", "part_id",
                                   "src_bucket_name", "src_key_name", "src_version_id",
                                   "start_byte", "end_byte"],
    "FakeMultipart.complete": ["self", "body"],
}

_lazy = threading.local()  # set while moto reads object values that may be streamed


class DiskBody:
    """Bytes on disk, standing in for `bytes` inside moto: len(), slicing, iteration."""

    def __init__(self, fd: int, start: int = 0, size: int | None = None, *,
                 adoptable: bool = False) -> None:
        self._fd = fd  # owned: closed with this object
        self.start = start
        self.size = os.fstat(fd).st_size - start if size is None else size
        # True when nothing else will use the file: a new object may take it over uncopied.
        self.adoptable = adoptable
        self.md5: str | None = None

    @classmethod
    def of_file(cls, fh: Any, start: int = 0, size: int | None = None, *,
                adoptable: bool = False) -> DiskBody:
        return cls(os.dup(fh.fileno()), start, size, adoptable=adoptable)

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    def __getitem__(self, item: slice) -> DiskBody:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("a DiskBody is sliced with [a:b] only")
        begin, end, _ = item.indices(self.size)
        return DiskBody(os.dup(self._fd), self.start + begin, max(0, end - begin))

    def __iter__(self) -> Iterator[bytes]:
        offset, end = self.start, self.start + self.size
        while offset < end:
            data = os.pread(self._fd, min(payload.CHUNK, end - offset), offset)
            if not data:
                raise OSError("object file shorter than its recorded size")
            offset += len(data)
            yield data

    def copy_to_new_file(self) -> Any:
        """A private file holding exactly these bytes (what a new object owns)."""
        out = tempfile.TemporaryFile()  # noqa: SIM115 - the object keeps it
        for chunk in self:
            out.write(chunk)
        out.flush()
        return out

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()


def prepare(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI stage after the gate: a large S3 PUT body goes to moto as a DiskBody."""

    def stage(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        size = payload.length(environ)
        if (environ.get(SERVICE_KEY) == "s3" and environ.get("REQUEST_METHOD") == "PUT"
                and size > payload.MEMORY_MAX and "HTTP_X_AMZ_COPY_SOURCE" not in environ):
            spool = payload.body(environ)
            md5 = environ.get("resizer.digests", {}).get("md5")
            body = DiskBody.of_file(spool, 0, size, adoptable=True)
            body.md5 = md5.hex() if md5 else None
            _fill_checksum_header(environ, body)
            environ[DISK_BODY_KEY] = body
            environ["wsgi.input"] = io.BytesIO(b"")
            environ["CONTENT_LENGTH"] = "0"
            spool.close()
            try:
                return app(environ, start_response)  # moto has stored (adopted) it on return
            finally:
                environ.pop(DISK_BODY_KEY).close()
        return app(environ, start_response)

    return stage


def _fill_checksum_header(environ: dict[str, Any], body: DiskBody) -> None:
    """moto computes a checksum it was asked for (algorithm without value) from bytes."""
    algorithm = environ.get("HTTP_X_AMZ_SDK_CHECKSUM_ALGORITHM", "").lower()
    header = f"HTTP_X_AMZ_CHECKSUM_{algorithm.upper()}"
    if algorithm and not environ.get(header):
        found = payload.digest_stream(body, [algorithm]) or payload.digest_stream(body, ["crc32"])
        environ[header] = base64.b64encode(next(iter(found.values()))).decode()


# ---------------------------------------------------------------------------------------------
# moto patches


def _setup_class(self: Any, request: Any, full_url: Any = None, headers: Any = None) -> None:
    ORIGINAL_SETUP_CLASS(self, request, full_url, headers)
    body = getattr(request, "environ", {}).get(DISK_BODY_KEY)
    if body is not None:
        self.body = self.raw_body = body


def _get_value(self: Any) -> Any:
    if getattr(_lazy, "active", False) and self.contentsize > payload.MEMORY_MAX:
        return DiskBody.of_file(self._value_buffer, 0, self.contentsize)
    return ORIGINAL_VALUE.__get__(self)


def _set_value(self: Any, new_value: Any) -> None:
    if not isinstance(new_value, DiskBody):
        ORIGINAL_VALUE.__set__(self, new_value)
        return
    old = self._value_buffer
    whole = new_value.start == 0 and new_value.size == os.fstat(new_value._fd).st_size
    # A spooled request body is this object's alone: adopt it. A view of another object: copy.
    self._value_buffer = (open(os.dup(new_value._fd), "r+b")  # noqa: SIM115 - the key owns it
                          if whole and new_value.adoptable else new_value.copy_to_new_file())
    self.contentsize = new_value.size
    if self._etag is None and new_value.md5:
        self._etag = new_value.md5
    old.close()


@contextlib.contextmanager
def _streaming() -> Iterator[None]:
    previous = getattr(_lazy, "active", False)
    _lazy.active = True
    try:
        yield
    finally:
        _lazy.active = previous


def _key_response(self: Any, request: Any, full_url: str, headers: Any) -> Any:
    if request.method in ("GET", "HEAD"):
        with _streaming():
            return ORIGINAL_KEY_RESPONSE(self, request, full_url, headers)
    return ORIGINAL_KEY_RESPONSE(self, request, full_url, headers)


def _copy_object(self: Any, *args: Any, **kwargs: Any) -> Any:
    with _streaming():
        return ORIGINAL_COPY_OBJECT(self, *args, **kwargs)


def _upload_part_copy(self: Any, *args: Any, **kwargs: Any) -> Any:
    with _streaming():
        return ORIGINAL_UPLOAD_PART_COPY(self, *args, **kwargs)


def _chunks(key: Any) -> Iterable[bytes]:
    if key.contentsize <= payload.MEMORY_MAX:
        return [ORIGINAL_VALUE.__get__(key)]
    return DiskBody.of_file(key._value_buffer, 0, key.contentsize)


def _complete(self: Any, body: Iterable[tuple[int, str]]) -> tuple[Any, str, Any]:
    """moto's FakeMultipart.complete, joining the parts on disk instead of in a bytearray."""
    parts: list[Any] = []
    for number, etag in body:
        part = self.parts.get(number)
        if part is None or part.etag.replace('"', "") != etag.replace('"', ""):
            raise InvalidPart()
        if parts and parts[-1].contentsize < S3_UPLOAD_PART_MIN_SIZE:
            raise EntityTooSmall()
        parts.append(part)
    if not parts:
        raise MalformedXML()
    md5s = b"".join(bytes.fromhex(p.etag.replace('"', "")) for p in parts)
    etag = f"{hashlib.md5(md5s, usedforsecurity=False).hexdigest()}-{len(parts)}"

    algorithm = (self.metadata.get("x-amz-checksum-algorithm") or "CRC64NVME").lower()
    kind = self.metadata.get("x-amz-checksum-type") or (
        "FULL_OBJECT" if algorithm == "crc64nvme" else "COMPOSITE")
    # Without the library an algorithm needs, moto falls back to CRC32: so do we.
    def new_hasher() -> Any:
        return payload.hasher(algorithm) or payload.hasher("crc32")

    whole = new_hasher()
    composite = bytearray()
    out = tempfile.TemporaryFile()  # noqa: SIM115 - becomes the object's storage
    for part in parts:
        part_hasher = new_hasher()
        for chunk in _chunks(part):
            out.write(chunk)
            (whole if kind == "FULL_OBJECT" else part_hasher).update(chunk)
        composite += part_hasher.digest()
    out.flush()
    if kind == "FULL_OBJECT":
        checksum = (kind, base64.b64encode(whole.digest()).decode(), 1)
    else:
        outer = new_hasher()
        outer.update(bytes(composite))
        checksum = (kind, base64.b64encode(outer.digest()).decode(), len(parts))
    value = DiskBody.of_file(out, adoptable=True)
    out.close()
    return value, etag, checksum


def install() -> None:
    FakeKey.value = property(_get_value, _set_value)  # type: ignore[assignment,method-assign]
    s3_responses.S3Response.setup_class = _setup_class  # type: ignore[method-assign]
    s3_responses.S3Response.key_response = _key_response  # type: ignore[method-assign]
    S3Backend.copy_object = _copy_object  # type: ignore[method-assign]
    S3Backend.upload_part_copy = _upload_part_copy  # type: ignore[method-assign]
    FakeMultipart.complete = _complete  # type: ignore[method-assign]
