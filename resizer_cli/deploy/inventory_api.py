"""Read a stack's HTTP API, with Get calls only: which APIs carry our name, and whose they are.

API names are not unique in API Gateway: every API named `<stack>-thumbnailer-api` is read,
and it is ours only if it carries the stack's tag (see deploy.ownership). For ours, the
integrations, routes and stages are read too, and the function's policy for our invoke
statements. Someone without any apigateway permission who never asked for an API is not
stopped by it: a refused GetApis then counts as "no API" unless the API is wanted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from resizer_cli.aws import Target
from resizer_cli.deploy import desired_api
from resizer_cli.deploy.inventory import Inventory, read_permissions
from resizer_cli.deploy.retries import call
from resizer_cli.errors import error_code
from resizer_cli.naming import TAG_KEY

_DENIED = ("AccessDeniedException", "AccessDenied", "403", "UnauthorizedException")


@dataclass
class ApiState:
    api_id: str
    name: str
    endpoint: str
    tags: dict[str, str]
    created: str = ""
    integrations: list[dict[str, Any]] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ApiInventory:
    ours: list[ApiState] = field(default_factory=list)
    foreign: list[ApiState] = field(default_factory=list)
    permissions: list[dict[str, Any]] = field(default_factory=list)  # our API statements


def _pages(fn: Any, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        resp = call(lambda: fn(**kwargs))
        items += resp.get("Items", [])
        token = resp.get("NextToken")
        if not token or token == kwargs.get("NextToken"):
            return items
        kwargs["NextToken"] = token


def read_apis(target: Target, stack: str, *, details: bool = True) -> ApiInventory:
    """Every API of our name, split into ours (tagged for `stack`) and the others."""
    client = target.client("apigatewayv2")
    name = desired_api.api_name(stack)
    inv = ApiInventory()
    for item in _pages(client.get_apis):
        if item.get("Name") != name:
            continue
        state = ApiState(
            api_id=str(item["ApiId"]),
            name=name,
            endpoint=str(item.get("ApiEndpoint", "")),
            tags=dict(item.get("Tags") or {}),
            created=str(item.get("CreatedDate", "")),
        )
        if state.tags.get(TAG_KEY) != stack:
            inv.foreign.append(state)
            continue
        if details:
            state.integrations = _pages(client.get_integrations, ApiId=state.api_id)
            state.routes = _pages(client.get_routes, ApiId=state.api_id)
            state.stages = _pages(client.get_stages, ApiId=state.api_id)
        inv.ours.append(state)
    # Which to keep if a retried create made two: the most complete, then the oldest.
    inv.ours.sort(key=lambda a: (-len(a.routes) - len(a.stages), a.created, a.api_id))
    return inv


def read(target: Target, stack: str, function: str, *, function_exists: bool,
         wanted: bool) -> ApiInventory:
    try:
        inv = read_apis(target, stack)
    except ClientError as exc:
        if wanted or error_code(exc) not in _DENIED:
            raise
        inv = ApiInventory()
    if function_exists:
        inv.permissions = read_permissions(target, function, desired_api.permission_prefix(stack))
    return inv


def invoke_url(target: Target, api: ApiState) -> str:
    """Where the API answers: its execute-api endpoint, or the emulator's data plane."""
    if target.is_local and target.endpoint_url:
        from resizer_cli.emulator.apigw import endpoint_url

        return endpoint_url(target.endpoint_url, api.api_id)
    return api.endpoint


def report(target: Target, stack: str, inv: Inventory, *, wanted: bool) -> dict[str, Any]:
    """For `status`: {"api": the API and its endpoint}, or {} for a stack that has none nor
    wants one. Whether URLs are signed, never the secret."""
    from lambda_handler.web.config import SECRET_VAR

    api = inv.api.ours[0] if inv.api is not None and inv.api.ours else None
    config = inv.function.config if inv.function is not None else {}
    function_env = dict((config.get("Environment") or {}).get("Variables") or {})
    if api is None and not wanted:
        return {}
    return {"api": {
        "name": desired_api.api_name(stack),
        "wanted": wanted,
        "exists": api is not None,
        "id": api.api_id if api else None,
        "endpoint": invoke_url(target, api) if api else None,
        "signed": bool(function_env.get(SECRET_VAR)) if api else None,
        "unsigned_allowed": function_env.get("API_UNSIGNED") == "true" if api else None,
    }}
