"""From a request to what API Gateway would invoke: the API, its stage, the route, the function.

Read from moto's apigatewayv2 backend in this process. Route selection follows the HTTP API
rules: the most specific path wins (literal segments over `{param}` over a greedy `{proxy+}`,
which must be last and matches one segment or more), a route of the request's method over
`ANY`, and `$default` only when nothing else matches.
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DEFAULT_STAGE = "$default"
DEFAULT_ROUTE = "$default"
# An integration URI names the function, or wraps it in Lambda's invocation path.
_FUNCTION_ARN = re.compile(r"arn:[a-z-]+:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+"
                           r"(?::[A-Za-z0-9$_-]+)?")


class NotFound(Exception):
    """No API, stage or route: API Gateway answers 404 {"message":"Not Found"}."""


class Misconfigured(Exception):
    """The route leads nowhere we can invoke: API Gateway answers 500."""


@dataclass(frozen=True)
class Resolved:
    account: str
    region: str
    api_id: str
    stage: str
    route_key: str
    path: str  # decoded path below the stage
    raw_path: str  # as it came, percent-encoded
    path_parameters: dict[str, str]
    function_arn: str
    payload_version: str
    timeout_ms: int


def _backends() -> list[tuple[str, str, Any]]:
    from moto.apigatewayv2.models import apigatewayv2_backends

    found = []
    for account, regions in list(apigatewayv2_backends.items()):
        for region, backend in list(regions.items()):
            found.append((account, region, backend))
    return found


def find_api(api_id: str) -> tuple[str, str, Any] | None:
    """(account, region, moto's Api) of an API id, in whichever region holds it."""
    for account, region, backend in _backends():
        api = backend.apis.get(api_id)
        if api is not None:
            return account, region, api
    return None


def _segments(path: str) -> list[str]:
    return path.removeprefix("/").split("/")


def match_path(template: str, path: str) -> tuple[int, dict[str, str]] | None:
    """(specificity, path parameters) when `path` fits the route's template, else None."""
    tmpl, parts = _segments(template), _segments(path)
    params: dict[str, str] = {}
    literal = 0
    for i, seg in enumerate(tmpl):
        if seg.startswith("{") and seg.endswith("+}"):
            if i != len(tmpl) - 1:
                return None
            rest = "/".join(parts[i:])
            if not rest:
                return None
            params[seg[1:-2]] = rest
            return literal * 10, params  # greedy: below any non-greedy of the same literals
        if i >= len(parts):
            return None
        if seg.startswith("{") and seg.endswith("}"):
            if not parts[i]:
                return None
            params[seg[1:-1]] = parts[i]
        elif seg != parts[i]:
            return None
        else:
            literal += 1
    if len(parts) != len(tmpl):
        return None
    return literal * 10 + 5, params


def _route(api: Any, method: str, path: str) -> tuple[Any, dict[str, str]] | None:
    best: tuple[tuple[int, int], Any, dict[str, str]] | None = None
    default = None
    for route in list(api.routes.values()):
        key = str(route.route_key)
        if key == DEFAULT_ROUTE:
            default = route
            continue
        verb, _, template = key.partition(" ")
        if verb not in (method, "ANY"):
            continue
        found = match_path(template, path)
        if found is None:
            continue
        rank = (found[0], 1 if verb == method else 0)
        if best is None or rank > best[0]:
            best = (rank, route, found[1])
    if best is not None:
        return best[1], best[2]
    return (default, {}) if default is not None else None


def resolve(api_id: str, method: str, raw_rest: str, decoded_rest: str) -> Resolved:
    """Everything needed to invoke, for a request to `<prefix><api_id><rest>`."""
    found = find_api(api_id)
    if found is None:
        raise NotFound(api_id)
    account, region, api = found
    if getattr(api, "protocol_type", "HTTP") != "HTTP" or api.disable_execute_api_endpoint:
        raise NotFound(api_id)
    stages = dict(api.stages)
    if DEFAULT_STAGE in stages:
        stage, raw_path, path = DEFAULT_STAGE, raw_rest or "/", decoded_rest or "/"
    else:
        first, _, _ = decoded_rest.removeprefix("/").partition("/")
        if first not in stages:
            raise NotFound(api_id)
        stage = first
        raw_path = "/" + raw_rest.removeprefix("/").partition("/")[2]
        path = "/" + decoded_rest.removeprefix("/").partition("/")[2]
    chosen = _route(api, method, path)
    if chosen is None:
        raise NotFound(api_id)
    route, params = chosen
    target = str(route.target or "")
    integration = api.integrations.get(target.removeprefix("integrations/"))
    if integration is None:
        raise Misconfigured(f"route {route.route_key} has no integration")
    if integration.integration_type != "AWS_PROXY":
        raise Misconfigured(f"integration type {integration.integration_type} is not emulated")
    m = _FUNCTION_ARN.search(str(integration.integration_uri or ""))
    if m is None:
        raise Misconfigured(f"integration URI {integration.integration_uri} names no function")
    return Resolved(
        account=account, region=region, api_id=api_id, stage=stage,
        route_key=str(route.route_key), path=path, raw_path=raw_path,
        path_parameters=params, function_arn=m.group(0),
        payload_version=str(integration.payload_format_version or "2.0"),
        timeout_ms=int(integration.timeout_in_millis or 30000),
    )
