"""Request bodies: spooled to disk past a size, hashed once, decoded from aws-chunked, checked.

The HTTP layer spools every body into a temporary file that stays in memory up to
MEMORY_MAX and moves to the emulator's spool folder beyond it, so a large upload never has to
fit in memory. Digests are computed in one pass over that file and cached in the WSGI environ,
for the signature check (SHA-256) and for the integrity headers S3 checks (Content-MD5,
x-amz-checksum-*), and the MD5 becomes the object's ETag.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib
import tempfile
import zlib
from collections.abc import Iterable
from typing import IO, Any, Protocol

from resizer_cli.emulator.awserrors import ServiceError
from resizer_cli.emulator.sigv4 import AuthFailure, ChunkChain

CHUNK = 1 << 20
MEMORY_MAX = 8 << 20  # bodies and objects larger than this are kept on disk
_CACHE = "resizer.digests"
_MAX_CHUNK = 64 << 20  # a larger aws-chunked chunk is malformed (SDKs send 64 KB-8 MB)


def new_spool() -> IO[bytes]:
    """A temporary file in memory up to MEMORY_MAX, then on disk (tempfile.tempdir)."""
    return tempfile.SpooledTemporaryFile(max_size=MEMORY_MAX)


def length(environ: dict[str, Any]) -> int:
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def body(environ: dict[str, Any]) -> IO[bytes]:
    """The request body as a seekable file at offset 0 (spooled here if the server did not)."""
    stream = environ["wsgi.input"]
    if not environ.get("resizer.spooled"):
        spool = new_spool()
        remaining = length(environ)
        while remaining:
            data = stream.read(min(CHUNK, remaining))
            if not data:
                break
            spool.write(data)
            remaining -= len(data)
        environ["wsgi.input"] = stream = spool
        environ["resizer.spooled"] = True
    stream.seek(0)
    return stream


def replace_body(environ: dict[str, Any], spool: IO[bytes], size: int) -> None:
    environ["wsgi.input"].close()
    spool.seek(0)
    environ["wsgi.input"] = spool
    environ["CONTENT_LENGTH"] = str(size)
    environ.pop(_CACHE, None)


# ---------------------------------------------------------------------------------------------
# Digests


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc32:
    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


class _Crt:
    """CRC32C or CRC64NVME, when the aws-crt (or crc32c) package is installed."""

    def __init__(self, func: Any, size: int) -> None:
        self.func, self.size, self.value = func, size, 0

    def update(self, data: bytes) -> None:
        self.value = self.func(data, self.value)

    def digest(self) -> bytes:
        return int(self.value).to_bytes(self.size, "big")


def _optional(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def hasher(name: str) -> Hasher | None:
    """An incremental digest: md5, sha1, sha256, crc32, and crc32c/crc64nvme if available."""
    name = name.lower()
    if name in ("md5", "sha1", "sha256"):
        return hashlib.new(name, usedforsecurity=False)
    if name == "crc32":
        return _Crc32()
    if name == "crc32c":
        func = _optional("awscrt.checksums", "crc32c") or _optional("crc32c", "crc32c")
        return _Crt(func, 4) if func else None
    if name == "crc64nvme":
        func = _optional("awscrt.checksums", "crc64nvme")
        return _Crt(func, 8) if func else None
    return None


def digest_stream(chunks: Iterable[bytes], names: Iterable[str]) -> dict[str, bytes]:
    hashers = {n: h for n in names if (h := hasher(n)) is not None}
    for chunk in chunks:
        for h in hashers.values():
            h.update(chunk)
    return {n: h.digest() for n, h in hashers.items()}


def _read_chunks(fh: IO[bytes]) -> Iterable[bytes]:
    while data := fh.read(CHUNK):
        yield data


def digests(environ: dict[str, Any], names: Iterable[str]) -> dict[str, bytes]:
    """Digests of the request body, computed in one pass and cached in the environ."""
    cache: dict[str, bytes] = environ.setdefault(_CACHE, {})
    missing = [n for n in names if n not in cache]
    if missing:
        cache.update(digest_stream(_read_chunks(body(environ)), missing))
        body(environ)  # rewound for the next reader
    return cache


CHECKSUM_HEADERS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")


def integrity_expectations(environ: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """{digest name: (header, expected base64)} for Content-MD5 and x-amz-checksum-*."""
    found = {}
    if environ.get("HTTP_CONTENT_MD5"):
        found["md5"] = ("Content-MD5", environ["HTTP_CONTENT_MD5"].strip())
    for name in CHECKSUM_HEADERS:
        value = environ.get(f"HTTP_X_AMZ_CHECKSUM_{name.upper()}")
        if value:
            found[name] = (f"x-amz-checksum-{name}", value.strip())
    return found


def check_integrity(environ: dict[str, Any]) -> None:
    """S3 refuses a body whose Content-MD5 or x-amz-checksum-* does not match it (BadDigest)."""
    expected = integrity_expectations(environ)
    if not expected:
        return
    computed = digests(environ, expected)
    for name, (header, value) in expected.items():
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            if name == "md5":
                raise ServiceError(400, "InvalidDigest",
                                   "The Content-MD5 you specified was invalid.") from None
            raise ServiceError(400, "InvalidRequest",
                               f"Value for {header} header is invalid.") from None
        if name not in computed:
            continue  # an algorithm this machine cannot compute: trusted, as moto does
        if given != computed[name]:
            if name == "md5":
                raise ServiceError(400, "BadDigest",
                                   "The Content-MD5 you specified did not match what we received.")
            raise ServiceError(400, "BadDigest", f"The {name.upper()} you specified did not "
                               "match the calculated checksum.")


# ---------------------------------------------------------------------------------------------
# aws-chunked bodies (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html)


def _line(src: IO[bytes]) -> bytes:
    line = src.readline(4096)
    if not line.endswith(b"\r\n"):
        raise ServiceError(400, "IncompleteBody", "The request body is not valid aws-chunked "
                           "encoding.")
    return line[:-2]


def decode_aws_chunked(
    src: IO[bytes], chain: ChunkChain | None, *, signed_trailer: bool = False
) -> tuple[IO[bytes], int, dict[str, str]]:
    """Decode (and, with a chain, verify) an aws-chunked body; returns (spool, size, trailers)."""
    out = new_spool()
    size = 0
    try:
        while True:
            header = _line(src).decode("ascii", "replace")
            size_text, _, ext = header.partition(";")
            try:
                chunk_size = int(size_text, 16)
            except ValueError:
                raise ServiceError(400, "IncompleteBody", "A chunk size is not hexadecimal."
                                   ) from None
            if not 0 <= chunk_size <= _MAX_CHUNK:
                raise ServiceError(400, "InvalidChunkSizeError", "Only the last chunk is "
                                   "allowed to have a size less than 8192 bytes")
            data = src.read(chunk_size)
            if len(data) != chunk_size:
                raise ServiceError(400, "IncompleteBody", "The request body ended mid-chunk.")
            if chain is not None:
                name, _, signature = ext.partition("=")
                if name.strip() != "chunk-signature":
                    raise AuthFailure("signature")
                chain.chunk(data, signature.strip())
            if chunk_size == 0:
                break
            out.write(data)
            size += chunk_size
            if src.read(2) != b"\r\n":
                raise ServiceError(400, "IncompleteBody", "A chunk is not followed by CRLF.")
        trailers: dict[str, str] = {}
        trailer_text = b""
        trailer_signed = False
        while line := _line(src):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "x-amz-trailer-signature":
                if chain is not None:
                    chain.trailer(trailer_text, value)
                    trailer_signed = True
                continue
            trailers[name] = value
            trailer_text += f"{name}:{value}\n".encode("latin-1")
        if chain is not None and signed_trailer and not trailer_signed:
            raise AuthFailure("signature")
        return out, size, trailers
    except BaseException:
        out.close()
        raise
