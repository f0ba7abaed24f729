"""Teardown's part for the HTTP API: ours goes first, as the trigger it is; others stay.

Deleting the API stops new requests before the function is drained and deleted; its invoke
statement goes with the function. An API of our name that is not tagged for the stack is
left alone and listed, like every other resource that is not ours.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from resizer_cli.aws import Target
from resizer_cli.deploy import ownership
from resizer_cli.deploy.apply_api import delete_api
from resizer_cli.deploy.inventory_api import read_apis
from resizer_cli.deploy.plan import Action
from resizer_cli.errors import error_code
from resizer_cli.naming import Names

_DENIED = ("AccessDeniedException", "AccessDenied", "403")


def plan(target: Target, names: Names, skipped: list[str]) -> list[Action]:
    try:
        apis = read_apis(target, names.stack, details=False)
    except ClientError as exc:
        if error_code(exc) not in _DENIED:
            raise
        skipped.append("HTTP APIs (not allowed to list them: apigateway:GET)")
        return []
    for api in apis.foreign:
        skipped.append(f"HTTP API {api.name} {api.api_id} "
                       f"({ownership.describe_tag(api.tags, names.stack)})")
    return [Action("api", api.name, "delete", api.api_id, {"api_id": api.api_id})
            for api in apis.ours]


def run(target: Target, action: Action) -> None:
    delete_api(target, str(action.params["api_id"]))
