"""Errors the emulator answers itself, in the format of the service that was called.

S3 answers `<Error><Code>…`, IAM and STS (query protocol) `<ErrorResponse><Error>…`, Lambda
(REST-JSON) an `x-amzn-ErrorType` header and `{"message": …}`, CloudWatch Logs (JSON 1.1)
`{"__type": …}`. The codes for a refused signature differ per service, as on AWS:
https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html (S3) and the "Common
Errors" page of each service's API reference (InvalidClientTokenId, SignatureDoesNotMatch,
MissingAuthenticationToken, IncompleteSignature; UnrecognizedClientException and
InvalidSignatureException in the JSON services).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from xml.sax.saxutils import escape

from resizer_cli.emulator.sigv4 import AuthFailure


class ServiceError(Exception):
    """An error response: HTTP status, AWS error code, message and extra elements."""

    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


_SIGNATURE_TEXT = ("The request signature we calculated does not match the signature you "
                   "provided. Check your key and signing method.")
_JSON_SIGNATURE_TEXT = ("The request signature we calculated does not match the signature you "
                        "provided. Check your AWS Secret Access Key and signing method. Consult "
                        "the service documentation for details.")
_TOKEN_TEXT = "The security token included in the request is invalid."
_QUERY_NAMESPACES = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/",
                     "sts": "https://sts.amazonaws.com/doc/2011-06-15/"}


def _s3(failure: AuthFailure, key_id: str) -> ServiceError:
    kind, detail = failure.kind, failure.detail
    if kind == "missing":
        return ServiceError(403, "AccessDenied", "Access Denied")
    if kind == "unsupported":
        return ServiceError(400, "InvalidRequest", "The authorization mechanism you have "
                            "provided is not supported. Please use AWS4-HMAC-SHA256.")
    if kind == "malformed":
        return ServiceError(400, "AuthorizationHeaderMalformed", failure.message)
    if kind == "unknown_key":
        return ServiceError(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does "
                            "not exist in our records.", AWSAccessKeyId=key_id)
    if kind == "token":
        return ServiceError(400, "InvalidToken",
                            "The provided token is malformed or otherwise invalid.")
    if kind == "skewed":
        return ServiceError(403, "RequestTimeTooSkewed", "The difference between the request "
                            "time and the current time is too large.",
                            RequestTime=detail.get("request_time", ""),
                            ServerTime=detail.get("server_time", ""),
                            MaxAllowedSkewMilliseconds="900000")
    if kind == "expired":
        return ServiceError(403, "AccessDenied", "Request has expired",
                            **{"X-Amz-Expires": detail.get("seconds", ""),
                               "Expires": detail.get("expires", ""),
                               "ServerTime": detail.get("server_time", "")})
    if kind == "not_yet":
        return ServiceError(403, "AccessDenied", "Request is not valid yet")
    return ServiceError(403, "SignatureDoesNotMatch", _SIGNATURE_TEXT, AWSAccessKeyId=key_id)


def _other(failure: AuthFailure, json_protocol: bool) -> ServiceError:
    kind = failure.kind
    if kind == "missing":
        code = "MissingAuthenticationTokenException" if json_protocol else (
            "MissingAuthenticationToken")
        return ServiceError(403, code, "Missing Authentication Token")
    if kind in ("malformed", "unsupported"):
        code = "IncompleteSignatureException" if json_protocol else "IncompleteSignature"
        return ServiceError(400, code, failure.message or "The request signature does not "
                            "conform to AWS standards.")
    if kind in ("unknown_key", "token"):
        code = "UnrecognizedClientException" if json_protocol else "InvalidClientTokenId"
        return ServiceError(403, code, _TOKEN_TEXT)
    code = "InvalidSignatureException" if json_protocol else "SignatureDoesNotMatch"
    if kind in ("skewed", "expired", "not_yet"):
        return ServiceError(403, code, failure.message)
    return ServiceError(403, code, _JSON_SIGNATURE_TEXT if json_protocol else _SIGNATURE_TEXT)


def for_failure(failure: AuthFailure, protocol: str, key_id: str = "") -> ServiceError:
    if protocol == "s3":
        return _s3(failure, key_id)
    return _other(failure, json_protocol=protocol in ("json", "rest-json", "control"))


def protocol(environ: dict[str, Any], service: str | None) -> str:
    """Which error format the caller expects: from the signed service, else from the request."""
    path = environ.get("PATH_INFO", "")
    if path.startswith("/_resizer/"):
        return "control"
    if service is not None:
        service = service.lower()
        if service in ("iam", "sts"):
            return "query"
        if service == "logs":
            return "json"
        if service in ("lambda", "apigateway"):
            return "rest-json"
        if service == "s3":
            return "s3"
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if path[:4] in ("/201", "/202"):  # Lambda's versioned REST paths: /2015-03-31/functions
        return "rest-json"
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded") and (
        environ.get("REQUEST_METHOD") == "POST"
    ):
        return "query"
    return "s3"


def respond(
    error: ServiceError, protocol: str, start_response: Callable[..., Any], *,
    service: str | None = None, resource: str = "",
) -> Iterable[bytes]:
    request_id = uuid.uuid4().hex.upper()[:16] if protocol == "s3" else str(uuid.uuid4())
    headers: list[tuple[str, str]] = []
    if protocol == "s3":
        extra = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in error.extra.items())
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{error.code}</Code><Message>{escape(error.message)}</Message>"
                f"{extra}<Resource>{escape(resource)}</Resource>"
                f"<RequestId>{request_id}</RequestId></Error>").encode()
        headers += [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    elif protocol == "query":
        ns = _QUERY_NAMESPACES.get(service or "", _QUERY_NAMESPACES["iam"])
        body = (f'<ErrorResponse xmlns="{ns}"><Error><Type>Sender</Type>'
                f"<Code>{error.code}</Code><Message>{escape(error.message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()
        headers += [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    elif protocol == "json":
        body = json.dumps({"__type": error.code, "message": error.message}).encode()
        headers += [("Content-Type", "application/x-amz-json-1.1"),
                    ("x-amzn-RequestId", request_id)]
    else:  # rest-json (Lambda) and our control paths
        body = json.dumps({"Type": "User", "message": error.message}).encode()
        headers += [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.code),
                    ("x-amzn-RequestId", request_id)]
    headers.append(("Content-Length", str(len(body))))
    start_response(f"{error.status} {_REASONS.get(error.status, 'Error')}", headers)
    return [body]


_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 411: "Length Required"}
