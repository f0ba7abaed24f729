"""The emulator's front door: only requests signed with its own credentials get through.

One WSGI middleware in front of everything the emulator serves on its AWS endpoint: moto's
services and the `/_resizer/*` control paths alike. A request passes when its SigV4 signature
(Authorization header, or a presigned URL's query string) was made with the emulator's key pair,
at about the right time, over the body that arrived: the SHA-256 of the body for the JSON and
query services, the declared `x-amz-content-sha256` checked against the body for S3, or each
chunk's signature for an aws-chunked upload (which is decoded here, so moto sees plain bytes).
Everything else is refused with the error the called service would give (`awserrors.py`).

Something meant to be public and unsigned (like an API Gateway stage) is served by its own
app, dispatched before this gate or on its own port, never by weakening the gate.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, unquote

from resizer_cli.emulator import awserrors, payload, sigv4
from resizer_cli.emulator.awserrors import ServiceError
from resizer_cli.emulator.sigv4 import AuthFailure, Incoming, Signature
from resizer_cli.emulator.statefiles import Credentials

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
SERVICE_KEY = "resizer.aws_service"  # the signed service name, for the stages behind the gate


def _header_value(value: str) -> str:
    """WSGI hands header bytes over as latin-1 text; clients sign UTF-8 text."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _split_query(raw: str) -> list[tuple[str, str]]:
    pairs = []
    for part in raw.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name, errors="replace"), unquote(value, errors="replace")))
    return pairs


def raw_target(environ: dict[str, Any]) -> tuple[str, str]:
    """The request's path and query as they were on the request line (still %-encoded)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if "://" in raw.partition("?")[0]:  # absolute form: http://host/path
        raw = "/" + raw.split("://", 1)[1].partition("/")[2]
    raw_path, _, raw_query = raw.partition("?")
    if not raw_path:  # not werkzeug's server: rebuild from the decoded path
        raw_path = quote(environ.get("PATH_INFO", "").encode("latin-1"), safe="/~")
        raw_query = environ.get("QUERY_STRING", "")
    return raw_path, raw_query


def incoming(environ: dict[str, Any]) -> Incoming:
    raw_path, raw_query = raw_target(environ)
    headers = {key[5:].replace("_", "-").lower(): _header_value(value)
               for key, value in environ.items()
               if key.startswith("HTTP_") and isinstance(value, str)}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return Incoming(environ.get("REQUEST_METHOD", "GET"), raw_path, _split_query(raw_query),
                    headers)


class Gate:
    def __init__(
        self, app: Callable[..., Iterable[bytes]], credentials: Credentials, *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.credentials = credentials
        self.clock = clock

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = incoming(environ)
        service: str | None = None
        key_id = ""
        try:
            sig = sigv4.parse(request)
            if sig is None:
                raise AuthFailure("missing")
            service, key_id = sig.service, sig.key_id
            self._authenticate(environ, request, sig)
        except AuthFailure as failure:
            protocol = awserrors.protocol(environ, service)
            return awserrors.respond(awserrors.for_failure(failure, protocol, key_id), protocol,
                                     start_response, service=service,
                                     resource=environ.get("PATH_INFO", ""))
        except ServiceError as error:
            protocol = awserrors.protocol(environ, service)
            return awserrors.respond(error, protocol, start_response, service=service,
                                     resource=environ.get("PATH_INFO", ""))
        environ[SERVICE_KEY] = sig.service
        return self.app(environ, start_response)

    def _authenticate(self, environ: dict[str, Any], request: Incoming, sig: Signature) -> None:
        if not hmac.compare_digest(sig.key_id.encode(), self.credentials.access_key_id.encode()):
            raise AuthFailure("unknown_key")
        if sig.token is not None:  # the emulator hands out long-term keys only
            raise AuthFailure("token")
        sigv4.check_time(sig, self.clock())
        declared = request.headers.get("x-amz-content-sha256")
        s3 = sig.service == "s3"
        if declared is not None and not s3 and not _HEX64.match(declared):
            raise AuthFailure("signature")  # only S3 takes an unsigned or streamed payload

        def body_sha256() -> str:
            return payload.digests(environ, self._digest_names(environ, s3))["sha256"].hex()

        verifier = sigv4.verify(request, sig, self.credentials.secret_access_key, body_sha256)
        if declared is not None and _HEX64.match(declared):
            computed = body_sha256()
            if not hmac.compare_digest(computed, declared):
                raise ServiceError(400, "XAmzContentSHA256Mismatch", "The provided "
                                   "'x-amz-content-sha256' header does not match what was "
                                   "computed.", ClientComputedContentSHA256=declared,
                                   S3ComputedContentSHA256=computed)
        elif declared in sigv4.STREAMING_SIGNED or declared == sigv4.STREAMING_UNSIGNED:
            signed = declared != sigv4.STREAMING_UNSIGNED
            chain = sigv4.ChunkChain(verifier, sig) if signed else None
            self._decode_chunked(environ, chain, signed_trailer=declared.endswith("TRAILER"))
        if s3 and payload.length(environ):
            payload.check_integrity(environ)

    @staticmethod
    def _digest_names(environ: dict[str, Any], s3: bool) -> set[str]:
        """Everything the body will be hashed for, so it is read once."""
        names = {"sha256"}
        if s3:
            names |= set(payload.integrity_expectations(environ))
            if payload.length(environ) > payload.MEMORY_MAX:
                names.add("md5")  # the ETag of a large object (s3store reads it from here)
        return names

    @staticmethod
    def _decode_chunked(
        environ: dict[str, Any], chain: sigv4.ChunkChain | None, *, signed_trailer: bool
    ) -> None:
        spool, size, trailers = payload.decode_aws_chunked(
            payload.body(environ), chain, signed_trailer=signed_trailer)
        declared = environ.get("HTTP_X_AMZ_DECODED_CONTENT_LENGTH")
        if declared is not None and declared.strip() != str(size):
            spool.close()
            raise ServiceError(400, "IncompleteBody", "You did not provide the number of bytes "
                               "specified by the x-amz-decoded-content-length HTTP header.")
        payload.replace_body(environ, spool, size)
        # moto now sees a plain body: it must not decode it again.
        environ["HTTP_X_AMZ_CONTENT_SHA256"] = sigv4.UNSIGNED
        environ.pop("HTTP_X_AMZ_DECODED_CONTENT_LENGTH", None)
        encodings = [e.strip() for e in environ.get("HTTP_CONTENT_ENCODING", "").split(",")
                     if e.strip() and e.strip() != "aws-chunked"]
        if encodings:
            environ["HTTP_CONTENT_ENCODING"] = ",".join(encodings)
        else:
            environ.pop("HTTP_CONTENT_ENCODING", None)
        for name, value in trailers.items():  # x-amz-checksum-crc32 and the like
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        environ.pop("HTTP_X_AMZ_TRAILER", None)
