"""The data plane's WSGI app: route, check the grant, invoke through our runtime, answer.

What API Gateway answers when the function cannot answer (HTTP APIs; bodies as AWS sends):
- no API, stage or route: 404 {"message":"Not Found"};
- the function's policy does not let this API invoke it, the route leads nowhere we can
  invoke, or the function is throttled (reserved concurrency 0: Lambda's 429 becomes the
  integration's failure): 500 {"message":"Internal Server Error"} (Lambda refused it);
- the function failed, or answered something that is not a proxy response, or a response
  over Lambda's 6 MB: 502 {"message":"Internal Server Error"}
  (https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway-errors.html);
- no answer within the integration timeout (at most 30 s for HTTP APIs,
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html):
  503 {"message":"Service Unavailable"}. The invocation itself runs on, as on AWS.

Invocations go through the same runtime as `lambda invoke`: warm workers, the function's
concurrency, its log stream with START/END/REPORT lines, and `resizer local status` counts.
"""

from __future__ import annotations

import http
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import unquote

from resizer_cli.emulator import gate, payload
from resizer_cli.emulator.apigw import PREFIX, grants, proxy, routes
from resizer_cli.emulator.runtime import Throttled
from resizer_cli.naming import partition_for

log = logging.getLogger("resizer.emulator")

RESPONSE_LIMIT = 6_291_556  # bytes of a synchronous Lambda response
MAX_INTEGRATION_TIMEOUT_MS = 30_000
_MESSAGES = {404: "Not Found", 500: "Internal Server Error", 502: "Internal Server Error",
             503: "Service Unavailable"}


def _gateway_error(status: int) -> proxy.HttpResponse:
    body = json.dumps({"message": _MESSAGES[status]}, separators=(",", ":")).encode()
    return proxy.HttpResponse(status, [("Content-Type", "application/json")], body)


class DataPlane:
    def __init__(self, runtime: Any, *, max_timeout_ms: int = MAX_INTEGRATION_TIMEOUT_MS) -> None:
        self.runtime = runtime
        self.max_timeout_ms = max_timeout_ms
        # Invocations run here, so a request can stop waiting at the integration timeout.
        self.invokers = ThreadPoolExecutor(max_workers=64, thread_name_prefix="execute-api")

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request_id = uuid.uuid4().hex[:16]
        try:
            response = self._handle(environ, request_id)
        except Exception:
            log.exception("execute-api request %s failed in the emulator", request_id)
            response = _gateway_error(500)
        headers = [(k, v) for k, v in response.headers if k.lower() != "content-length"]
        headers += [("apigw-requestid", request_id), ("Content-Length", str(len(response.body)))]
        try:
            reason = http.HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
        start_response(f"{response.status} {reason}", headers)
        return [response.body]

    def _handle(self, environ: dict[str, Any], request_id: str) -> proxy.HttpResponse:
        request = gate.incoming(environ)
        raw_path, raw_query = gate.raw_target(environ)
        api_id, _, rest = raw_path[len(PREFIX):].partition("/")
        raw_rest = "/" + rest
        try:
            decoded_rest = unquote(raw_rest, errors="strict")
        except UnicodeDecodeError:
            decoded_rest = unquote(raw_rest, errors="replace")
        try:
            resolved = routes.resolve(api_id, request.method, raw_rest, decoded_rest)
        except routes.NotFound:
            return _gateway_error(404)
        except routes.Misconfigured as exc:
            log.warning("execute-api %s: %s", api_id, exc)
            return _gateway_error(500)
        if resolved.payload_version != "2.0":
            log.warning("execute-api %s: payload format %s is not emulated (use 2.0)", api_id,
                        resolved.payload_version)
            return _gateway_error(500)
        fn = self._function(resolved)
        if fn is None:
            log.warning("execute-api %s: function %s does not exist", api_id,
                        resolved.function_arn)
            return _gateway_error(500)
        arn = grants.source_arn(partition_for(resolved.region) or "aws", resolved.region,
                                resolved.account, api_id, resolved.stage, resolved.route_key)
        if not grants.allows(list(fn.policy.statements), arn, resolved.account):
            log.warning("execute-api %s: the policy of %s does not let %s invoke it (%s)",
                        api_id, fn.function_name, grants.PRINCIPAL, arn)
            return _gateway_error(500)
        body = payload.body(environ).read() if payload.length(environ) else b""
        event = proxy.build_event(
            resolved, method=request.method, raw_query=raw_query, headers=request.headers,
            body=body, request_id=request_id, source_ip=str(environ.get("REMOTE_ADDR", "")),
            protocol=str(environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
            host=str(environ.get("HTTP_HOST", "")),
        )
        return self._invoke(fn, event, resolved)

    @staticmethod
    def _function(resolved: routes.Resolved) -> Any:
        from moto.awslambda.utils import get_backend

        try:
            return get_backend(resolved.account, resolved.region).get_function(
                resolved.function_arn)
        except Exception:
            return None

    def _invoke(self, fn: Any, event: dict[str, Any], r: routes.Resolved) -> proxy.HttpResponse:
        from resizer_cli.emulator.seam import spec_from_moto

        spec = spec_from_moto(fn)
        future = self.invokers.submit(self.runtime.invoke, spec, json.dumps(event))
        timeout_ms = min(r.timeout_ms, self.max_timeout_ms)
        try:
            result = future.result(timeout=timeout_ms / 1000)
        except Throttled:  # reserved concurrency 0: Lambda refused the invocation
            log.warning("execute-api %s: %s is throttled (reserved concurrency 0)", r.api_id,
                        spec.name)
            return _gateway_error(500)
        except FutureTimeout:
            log.warning("execute-api %s: %s gave no answer within %d ms", r.api_id,
                        spec.name, timeout_ms)
            return _gateway_error(503)
        if result.failed:
            return _gateway_error(502)
        if len(result.payload.encode("utf-8")) > RESPONSE_LIMIT:
            log.warning("execute-api %s: the response of %s is over Lambda's %d bytes "
                        "(Function.ResponseSizeTooLarge)", r.api_id, spec.name, RESPONSE_LIMIT)
            return _gateway_error(502)
        try:
            return proxy.decode_response(result.payload)
        except proxy.MalformedResponse as exc:
            log.warning("execute-api %s: malformed response from %s: %s", r.api_id, spec.name,
                        exc)
            return _gateway_error(502)
