"""The Lambda proxy integration, payload format 2.0: the event in, the response out.

https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
- Event: `rawPath` and `rawQueryString` as they came, header names in lower case with
  repeated headers joined by commas, cookies apart, `queryStringParameters` decoded (repeated
  names joined by commas), `requestContext.http`, a base64 body unless it is text.
- Response: `{"statusCode", "headers", "body", "isBase64Encoded", "cookies"}`; a function
  that returns JSON without `statusCode` gets 200 with that JSON as an application/json body.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from resizer_cli.emulator.apigw.routes import Resolved

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
               "application/x-www-form-urlencoded")


class MalformedResponse(Exception):
    """The function answered something API Gateway cannot turn into HTTP (502)."""


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def _clf_time(now: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))


def build_event(
    r: Resolved, *, method: str, raw_query: str, headers: dict[str, str], body: bytes,
    request_id: str, source_ip: str, protocol: str, host: str,
) -> dict[str, Any]:
    now = time.time()
    headers = dict(headers)
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    headers.setdefault("x-forwarded-for", source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": r.route_key,
        "rawPath": r.raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": r.account,
            "apiId": r.api_id,
            "domainName": host,
            "domainPrefix": r.api_id,
            "http": {"method": method, "path": r.path, "protocol": protocol,
                     "sourceIp": source_ip, "userAgent": headers.get("user-agent", "")},
            "requestId": request_id,
            "routeKey": r.route_key,
            "stage": r.stage,
            "time": _clf_time(now),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if r.path_parameters:
        event["pathParameters"] = dict(r.path_parameters)
    if body:
        if headers.get("content-type", "").startswith(_TEXT_TYPES):
            event["body"] = body.decode("utf-8", "replace")
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def decode_response(payload: str) -> HttpResponse:
    try:
        doc = json.loads(payload)
    except ValueError:
        raise MalformedResponse("the function's response is not JSON") from None
    if not isinstance(doc, dict) or "statusCode" not in doc:
        return HttpResponse(200, [("Content-Type", "application/json")], payload.encode())
    status = doc.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode {status!r} is not an HTTP status")
    raw_headers = doc.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise MalformedResponse("headers is not an object")
    headers = [(str(k), str(v)) for k, v in raw_headers.items()]
    for cookie in doc.get("cookies") or []:
        headers.append(("Set-Cookie", str(cookie)))
    body = doc.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        data = json.dumps(body).encode()
    elif doc.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except ValueError:
            raise MalformedResponse("isBase64Encoded, but the body is not base64") from None
    else:
        data = body.encode("utf-8")
    if not any(k.lower() == "content-type" for k, _ in headers) and data:
        headers.append(("Content-Type", "application/json"))
    return HttpResponse(status, headers, data)
