"""Checking a request's AWS Signature Version 4 against the emulator's own credentials.

botocore computes the expected signature. A verifier is botocore's own signer (SigV4Auth,
S3SigV4Auth or their query-string forms for presigned URLs) told which headers the client
signed and at what time, so the canonical request is built exactly as the client built it.
Only the per-chunk signatures of an aws-chunked upload (STREAMING-AWS4-HMAC-SHA256-PAYLOAD),
which botocore never sends, are chained here, with botocore's signing-key derivation.
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from botocore.auth import (
    EMPTY_SHA256_HASH,
    S3SigV4Auth,
    S3SigV4QueryAuth,
    SigV4Auth,
    SigV4QueryAuth,
)
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials as BotoCredentials

ALGORITHM = "AWS4-HMAC-SHA256"
TIMESTAMP = "%Y%m%dT%H%M%SZ"
# S3 accepts a request time within 15 minutes of its own ("RequestTimeTooSkewed"); the other
# services within 5 minutes ("Signature expired"). Presigned URLs live at most 7 days.
S3_SKEW_S = 15 * 60
SKEW_S = 5 * 60
MAX_EXPIRES_S = 7 * 24 * 3600
STREAMING_SIGNED = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
STREAMING_UNSIGNED = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
UNSIGNED = "UNSIGNED-PAYLOAD"


class AuthFailure(Exception):
    """Why a request is refused; `kind` picks the error each service answers with."""

    def __init__(self, kind: str, message: str = "", **detail: str) -> None:
        super().__init__(message or kind)
        self.kind = kind
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class Incoming:
    """The parts of an HTTP request a signature covers, as the client sent them."""

    method: str
    raw_path: str  # percent-encoded, as on the request line
    query: list[tuple[str, str]]  # decoded names and values, in order
    headers: dict[str, str]  # lower-case names


@dataclass(frozen=True)
class Signature:
    key_id: str
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str  # YYYYMMDDTHHMMSSZ
    presigned: bool = False
    expires: int = 0
    token: str | None = field(default=None, repr=False)

    @property
    def scope(self) -> str:
        return f"{self.scope_date}/{self.region}/{self.service}/aws4_request"

    @property
    def epoch(self) -> float:
        return float(calendar.timegm(time.strptime(self.timestamp, TIMESTAMP)))


def _query_value(query: list[tuple[str, str]], name: str) -> str | None:
    for key, value in query:
        if key == name:
            return value
    return None


def _credential(text: str) -> tuple[str, str, str, str]:
    parts = text.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise AuthFailure("malformed", f"the Credential {text!r} is not of the form "
                          "<key id>/<date>/<region>/<service>/aws4_request")
    return parts[0], parts[1], parts[2], parts[3]


def _timestamp(headers: dict[str, str]) -> str:
    if "x-amz-date" in headers:
        value = headers["x-amz-date"]
        try:
            time.strptime(value, TIMESTAMP)
        except ValueError:
            raise AuthFailure("malformed", f"X-Amz-Date {value!r} is not YYYYMMDD'T'HHMMSS'Z'"
                              ) from None
        return value
    if "date" in headers:
        try:
            return parsedate_to_datetime(headers["date"]).strftime(TIMESTAMP)
        except (TypeError, ValueError):
            pass
    raise AuthFailure("malformed", "the request has no valid X-Amz-Date or Date header")


def parse(incoming: Incoming) -> Signature | None:
    """The request's signature, None when it carries none, AuthFailure when it is garbled."""
    auth = incoming.headers.get("authorization")
    if auth is not None:
        algorithm, _, rest = auth.strip().partition(" ")
        if algorithm != ALGORITHM:
            raise AuthFailure("unsupported")
        fields: dict[str, str] = {}
        for part in rest.split(","):
            name, _, value = part.strip().partition("=")
            fields[name] = value
        if not {"Credential", "SignedHeaders", "Signature"} <= set(fields):
            raise AuthFailure("malformed", "the Authorization header needs Credential, "
                              "SignedHeaders and Signature")
        key_id, date, region, service = _credential(fields["Credential"])
        return Signature(key_id, date, region, service,
                         tuple(fields["SignedHeaders"].split(";")), fields["Signature"],
                         _timestamp(incoming.headers),
                         token=incoming.headers.get("x-amz-security-token"))
    query = incoming.query
    if _query_value(query, "X-Amz-Algorithm") is None:
        if _query_value(query, "AWSAccessKeyId") is not None:
            raise AuthFailure("unsupported")  # SigV2 presigned URL
        return None
    if _query_value(query, "X-Amz-Algorithm") != ALGORITHM:
        raise AuthFailure("unsupported")
    values = {name: _query_value(query, f"X-Amz-{name}")
              for name in ("Credential", "Date", "Expires", "SignedHeaders", "Signature")}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise AuthFailure("malformed", "the presigned URL lacks X-Amz-" + ", X-Amz-".join(missing))
    key_id, date, region, service = _credential(str(values["Credential"]))
    try:
        expires = int(str(values["Expires"]))
    except ValueError:
        raise AuthFailure("malformed", "X-Amz-Expires must be a number of seconds") from None
    if not 0 < expires <= MAX_EXPIRES_S:
        raise AuthFailure("malformed", "X-Amz-Expires must be less than a week (in seconds) "
                          f"that is; {MAX_EXPIRES_S} seconds")
    timestamp = _timestamp({"x-amz-date": str(values["Date"])})
    return Signature(key_id, date, region, service, tuple(str(values["SignedHeaders"]).split(";")),
                     str(values["Signature"]), timestamp, presigned=True, expires=expires,
                     token=_query_value(query, "X-Amz-Security-Token"))


def check_time(sig: Signature, now: float) -> None:
    """The request time must be near ours; a presigned URL must not have expired."""
    if sig.timestamp[:8] != sig.scope_date:
        raise AuthFailure("malformed", "the date in the Credential scope does not match the "
                          "date of the request")
    at = sig.epoch
    if sig.presigned:
        if now > at + sig.expires:
            raise AuthFailure("expired", "Request has expired", expires=_iso(at + sig.expires),
                              server_time=_iso(now), seconds=str(sig.expires))
        if at - now > S3_SKEW_S:
            raise AuthFailure("not_yet", "Request is not valid yet")
        return
    skew = S3_SKEW_S if sig.service == "s3" else SKEW_S
    if abs(now - at) > skew:
        earliest, latest = _stamp(now - skew), _stamp(now + skew)
        minutes = skew // 60
        if at < now:
            message = (f"Signature expired: {sig.timestamp} is now earlier than {earliest} "
                       f"({_stamp(now)} - {minutes} min.)")
        else:
            message = (f"Signature not yet current: {sig.timestamp} is still later than "
                       f"{latest} ({_stamp(now)} + {minutes} min.)")
        raise AuthFailure("skewed", message, request_time=sig.timestamp, server_time=_iso(now))


def _stamp(epoch: float) -> str:
    return time.strftime(TIMESTAMP, time.gmtime(epoch))


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class _Verifier:
    """Mixed into a botocore signer: sign only what the client signed, hash the body we got."""

    _signed: tuple[str, ...]
    _body_hash: Callable[[], str] | None

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        headers = HTTPHeaders()
        for name in self._signed:
            if name in request.headers:
                headers[name] = request.headers[name]
        return headers

    def payload(self, request: AWSRequest) -> str:
        if self._body_hash is None:
            return str(super().payload(request))  # type: ignore[misc]
        return self._body_hash()


class _Header(_Verifier, SigV4Auth):
    pass


class _S3Header(_Verifier, S3SigV4Auth):
    pass


class _Query(_Verifier, SigV4QueryAuth):
    pass


class _S3Query(_Verifier, S3SigV4QueryAuth):
    pass


def _verifier(sig: Signature, secret: str, body_hash: Callable[[], str]) -> Any:
    s3 = sig.service == "s3"
    cls: type[Any] = (_S3Query if s3 else _Query) if sig.presigned else (
        _S3Header if s3 else _Header)
    verifier = cls(BotoCredentials(sig.key_id, secret), sig.service, sig.region)
    verifier._signed = sig.signed_headers
    # A presigned S3 URL signs no payload (botocore's S3 query signer says UNSIGNED-PAYLOAD).
    verifier._body_hash = None if (s3 and sig.presigned) else body_hash
    return verifier


def _request(incoming: Incoming, sig: Signature) -> AWSRequest:
    # Re-encode the path the way SigV4 wants it (RFC 3986, "/" and "~" kept), whatever
    # equivalent encoding the client put on the wire; botocore then builds the canonical URI.
    path = quote(unquote_to_bytes(incoming.raw_path), safe="/~")
    params = [(k, v) for k, v in incoming.query if not (sig.presigned and k == "X-Amz-Signature")]
    request = AWSRequest(method=incoming.method, url=f"http://emulator{path}",
                         headers=dict(incoming.headers), params=params)
    request.context["timestamp"] = sig.timestamp
    return request


def verify(incoming: Incoming, sig: Signature, secret: str, body_hash: Callable[[], str]
           ) -> Any:
    """Raise AuthFailure("signature") unless `sig` is what `secret` makes of this request.

    Returns the verifier, which `ChunkChain` reuses for an aws-chunked body."""
    verifier = _verifier(sig, secret, body_hash)
    request = _request(incoming, sig)
    canonical = verifier.canonical_request(request)
    expected = verifier.signature(verifier.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, sig.signature):
        raise AuthFailure("signature", canonical_request=canonical)
    verifier._request = request
    return verifier


class ChunkChain:
    """Checks the signature of each chunk of an aws-chunked body, each chained to the last."""

    def __init__(self, verifier: Any, sig: Signature) -> None:
        self._verifier = verifier
        self._request = verifier._request
        self._sig = sig
        self._previous = sig.signature

    def _expected(self, kind: str, digest: str, empty: bool) -> str:
        parts = [f"{ALGORITHM}-{kind}", self._sig.timestamp, self._sig.scope, self._previous]
        parts += [EMPTY_SHA256_HASH, digest] if empty else [digest]
        return str(self._verifier.signature("\n".join(parts), self._request))

    def chunk(self, data: bytes, signature: str) -> None:
        expected = self._expected("PAYLOAD", hashlib.sha256(data).hexdigest(), empty=True)
        if not hmac.compare_digest(expected, signature):
            raise AuthFailure("signature")
        self._previous = expected

    def trailer(self, text: bytes, signature: str) -> None:
        expected = self._expected("TRAILER", hashlib.sha256(text).hexdigest(), empty=False)
        if not hmac.compare_digest(expected, signature):
            raise AuthFailure("signature")
