"""The HTTP API's part of the plan: what to create, repair or remove (pure data).

With `--api`: one API of ours (the most complete if a retried create made two), its AWS_PROXY
integration to the function, the `GET /{proxy+}` route on it, the `$default` stage with
auto-deploy, and the invoke statement for this API's route (added before any older one of
ours is removed). Anything else on our API (routes, integrations added by hand) is removed.
Without it: our API and our statements go. An API of our name that is not tagged for the
stack is never changed (deploy.ownership.check_api stops setup before this plan).

The API's id is known only once it exists, so the actions of one API share an `ApiRef` that
the create step fills in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resizer_cli.deploy import desired_api
from resizer_cli.deploy.desired import Desired
from resizer_cli.deploy.desired_api import (
    INTEGRATION_TYPE,
    PAYLOAD_VERSION,
    PRINCIPAL,
    ROUTE_KEY,
    STAGE,
    TIMEOUT_MS,
    DesiredApi,
)
from resizer_cli.deploy.inventory import Inventory
from resizer_cli.deploy.inventory_api import ApiInventory, ApiState
from resizer_cli.deploy.plan import Action


@dataclass
class ApiRef:
    """The API (and integration) the steps act on; filled in by the create steps."""

    api_id: str | None = None
    integration_id: str | None = None


def integration_ok(item: dict[str, Any], want: DesiredApi) -> bool:
    return (
        item.get("IntegrationType") == INTEGRATION_TYPE
        and item.get("IntegrationUri") == want.function_arn
        and item.get("PayloadFormatVersion") == PAYLOAD_VERSION
        and int(item.get("TimeoutInMillis") or TIMEOUT_MS) == TIMEOUT_MS
    )


def permission_ok(stmt: dict[str, Any] | None, want: DesiredApi, api_id: str) -> bool:
    if stmt is None:
        return False
    principal = stmt.get("Principal", {})
    service = principal.get("Service") if isinstance(principal, dict) else principal
    return (
        service == PRINCIPAL
        and stmt.get("Action") in ("lambda:InvokeFunction", ["lambda:InvokeFunction"])
        and stmt.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
        == want.source_arn(api_id)
    )


def _removal(d: Desired, api_inv: ApiInventory) -> list[Action]:
    out = [
        Action("api", a.name, "delete", f"{a.api_id}: not wanted (setup --no-api)",
               {"ref": ApiRef(a.api_id)})
        for a in api_inv.ours
    ]
    sids = sorted(str(s.get("Sid")) for s in api_inv.permissions)
    if sids:
        out.append(Action("api-permission", desired_api.permission_prefix(d.stack),
                          "remove-stale", ", ".join(sids), {"sids": sids}))
    return out


def _create(want: DesiredApi, api_inv: ApiInventory) -> list[Action]:
    ref = ApiRef()
    out = [
        Action("api", want.name, "create", "HTTP API, tagged", {"ref": ref}),
        Action("api-integration", want.name, "create",
               f"{INTEGRATION_TYPE} to {want.function_arn.rpartition(':')[2]}, payload "
               f"{PAYLOAD_VERSION}", {"ref": ref}),
        Action("api-route", ROUTE_KEY, "create", "to the integration", {"ref": ref}),
        Action("api-stage", STAGE, "create", "auto-deploy", {"ref": ref}),
        Action("api-permission", f"{want.permission_prefix}-…", "add",
               f"{PRINCIPAL} from {ROUTE_KEY}", {"ref": ref}),
    ]
    stale = sorted(str(s.get("Sid")) for s in api_inv.permissions)
    if stale:
        out.append(Action("api-permission", want.permission_prefix, "remove-stale",
                          ", ".join(stale), {"sids": stale}))
    return out


def _repair(want: DesiredApi, api: ApiState, api_inv: ApiInventory) -> list[Action]:
    ref = ApiRef(api.api_id)
    out: list[Action] = []
    integrations = {str(i["IntegrationId"]): i for i in api.integrations}
    route = next((r for r in api.routes if r.get("RouteKey") == ROUTE_KEY), None)
    targeted = str((route or {}).get("Target") or "").removeprefix("integrations/")
    good = [i for i, item in integrations.items() if integration_ok(item, want)]
    # The route's integration if it has one, else a right one, else any one: repaired in place.
    candidates: list[str | None] = [targeted] if targeted in integrations else [
        *good, *integrations, None]
    chosen = candidates[0]
    ref.integration_id = chosen
    if chosen is None:
        out.append(Action("api-integration", want.name, "create", "missing", {"ref": ref}))
    elif chosen not in good:
        out.append(Action("api-integration", chosen, "update",
                          f"{INTEGRATION_TYPE} to the function, payload {PAYLOAD_VERSION}",
                          {"ref": ref}))
    if route is None:
        out.append(Action("api-route", ROUTE_KEY, "create", "missing", {"ref": ref}))
    elif ref.integration_id is None or targeted != ref.integration_id:
        out.append(Action("api-route", ROUTE_KEY, "update", "target differs",
                          {"ref": ref, "route_id": route["RouteId"]}))
    for extra in api.routes:
        if extra is not route:
            out.append(Action("api-route", str(extra.get("RouteKey")), "delete", "not ours",
                              {"ref": ref, "route_id": extra["RouteId"]}))
    for iid in integrations:
        if iid != ref.integration_id:
            out.append(Action("api-integration", iid, "delete", "not used",
                              {"ref": ref, "integration_id": iid}))

    stage = next((s for s in api.stages if s.get("StageName") == STAGE), None)
    if stage is None:
        out.append(Action("api-stage", STAGE, "create", "auto-deploy", {"ref": ref}))
    elif not stage.get("AutoDeploy"):
        out.append(Action("api-stage", STAGE, "update", "auto-deploy off", {"ref": ref}))

    sid = want.permission_sid(api.api_id)
    current = next((s for s in api_inv.permissions if s.get("Sid") == sid), None)
    if not permission_ok(current, want, api.api_id):
        out.append(Action("api-permission", sid, "add" if current is None else "replace",
                          f"{PRINCIPAL} from {ROUTE_KEY}", {"ref": ref}))
    stale = sorted(str(s.get("Sid")) for s in api_inv.permissions if s.get("Sid") != sid)
    if stale:
        out.append(Action("api-permission", want.permission_prefix, "remove-stale",
                          ", ".join(stale), {"sids": stale}))
    return out


def actions(d: Desired, inv: Inventory) -> list[Action]:
    api_inv = inv.api or ApiInventory()
    if d.api is None:
        return _removal(d, api_inv)
    if not api_inv.ours:
        return _create(d.api, api_inv)
    keep, *extra = api_inv.ours  # the one to keep first
    out = [Action("api", a.name, "delete", f"{a.api_id}: a second API of ours",
                  {"ref": ApiRef(a.api_id)}) for a in extra]
    return out + _repair(d.api, keep, api_inv)
