"""The emulator's execute-api data plane: HTTP APIs stored in moto, served on loopback.

moto stores apigatewayv2 APIs, routes, integrations and stages but routes no request to a
function (its issue 5069). The emulator serves them itself, on its own port, under

    http://127.0.0.1:<port>/_aws/execute-api/<api-id>/<path>

(as LocalStack does, a path no S3 bucket can have: bucket names cannot start with `_`).
These requests are public and unsigned, like a real execute-api endpoint, so they are
dispatched *before* the SigV4 gate and never reach moto or the `/_resizer/*` control paths:
everything else on the port still needs the emulator's signature.

    mount: /_aws/execute-api/* -> app.DataPlane (routes -> grants -> proxy -> runtime)
           everything else      -> the gate, as before
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

PREFIX = "/_aws/execute-api/"


def endpoint_url(emulator_endpoint: str, api_id: str) -> str:
    """The invoke URL of an API's `$default` stage on the running emulator."""
    return f"{emulator_endpoint.rstrip('/')}{PREFIX}{api_id}"


def mount(signed_app: Callable[..., Iterable[bytes]], runtime: Any) -> Callable[..., Any]:
    from resizer_cli.emulator.apigw.app import DataPlane

    plane = DataPlane(runtime)

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(PREFIX):
            return plane(environ, start_response)
        return signed_app(environ, start_response)

    return dispatch
