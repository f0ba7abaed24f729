"""Steps for the HTTP API: the API, its integration, route and stage, and the invoke grant.

Each step is idempotent as the others are: an interrupted `setup` leaves an API that the next
run finds by name and tag (CreateApi carries the tags, so an API of ours is never untagged)
and repairs. The invoke permission for API Gateway is a statement of its own beside the S3
one, named after its SourceArn; a new one is added before the old ones are removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from resizer_cli.deploy import retries
from resizer_cli.deploy.apply_function import remove_permission
from resizer_cli.deploy.desired_api import (
    INTEGRATION_TYPE,
    PAYLOAD_VERSION,
    PRINCIPAL,
    ROUTE_KEY,
    STAGE,
    TIMEOUT_MS,
    DesiredApi,
)
from resizer_cli.deploy.plan import Action
from resizer_cli.deploy.plan_api import ApiRef
from resizer_cli.errors import error_code
from resizer_cli.output import Step

if TYPE_CHECKING:
    from resizer_cli.deploy.apply import Context, StepFn

_GONE = ("NotFoundException", "ResourceNotFoundException")


def _want(ctx: Context) -> DesiredApi:
    if ctx.d.api is None:
        raise AssertionError("an API step without an API in the desired state")
    return ctx.d.api


def _ref(action: Action) -> ApiRef:
    ref = action.params["ref"]
    assert isinstance(ref, ApiRef)
    return ref


def _api_id(action: Action) -> str:
    api_id = _ref(action).api_id
    if api_id is None:
        raise AssertionError(f"{action.title}: the API was not created")
    return api_id


def _client(ctx: Context) -> Any:
    return ctx.target.client("apigatewayv2")


def api_create(ctx: Context, action: Action, step: Step) -> None:
    want = _want(ctx)
    resp = retries.call(lambda: _client(ctx).create_api(
        Name=want.name, ProtocolType="HTTP", Tags=dict(want.tags),
        Description=f"resizer stack {want.stack}: renditions on the fly",
    ))
    _ref(action).api_id = str(resp["ApiId"])
    step.note(str(resp["ApiId"]))


def api_delete(ctx: Context, action: Action, step: Step) -> None:
    delete_api(ctx.target, _api_id(action))


def delete_api(target: Any, api_id: str) -> None:
    try:
        retries.call(lambda: target.client("apigatewayv2").delete_api(ApiId=api_id))
    except ClientError as exc:
        if error_code(exc) not in _GONE:
            raise


def _integration(want: DesiredApi) -> dict[str, Any]:
    return {"IntegrationType": INTEGRATION_TYPE, "IntegrationUri": want.function_arn,
            "PayloadFormatVersion": PAYLOAD_VERSION, "TimeoutInMillis": TIMEOUT_MS}


def integration_create(ctx: Context, action: Action, step: Step) -> None:
    api_id = _api_id(action)
    resp = retries.call(lambda: _client(ctx).create_integration(
        ApiId=api_id, **_integration(_want(ctx))))
    _ref(action).integration_id = str(resp["IntegrationId"])


def integration_update(ctx: Context, action: Action, step: Step) -> None:
    api_id, iid = _api_id(action), _ref(action).integration_id
    retries.call(lambda: _client(ctx).update_integration(
        ApiId=api_id, IntegrationId=iid, **_integration(_want(ctx))))


def integration_delete(ctx: Context, action: Action, step: Step) -> None:
    api_id = _api_id(action)
    try:
        retries.call(lambda: _client(ctx).delete_integration(
            ApiId=api_id, IntegrationId=action.params["integration_id"]))
    except ClientError as exc:
        if error_code(exc) not in _GONE:
            raise


def _target(action: Action) -> str:
    iid = _ref(action).integration_id
    if iid is None:
        raise AssertionError(f"{action.title}: no integration to route to")
    return f"integrations/{iid}"


def route_create(ctx: Context, action: Action, step: Step) -> None:
    api_id, target = _api_id(action), _target(action)
    retries.call(lambda: _client(ctx).create_route(ApiId=api_id, RouteKey=ROUTE_KEY,
                                                   Target=target))


def route_update(ctx: Context, action: Action, step: Step) -> None:
    api_id, target = _api_id(action), _target(action)
    retries.call(lambda: _client(ctx).update_route(
        ApiId=api_id, RouteId=action.params["route_id"], Target=target))


def route_delete(ctx: Context, action: Action, step: Step) -> None:
    api_id = _api_id(action)
    try:
        retries.call(lambda: _client(ctx).delete_route(ApiId=api_id,
                                                       RouteId=action.params["route_id"]))
    except ClientError as exc:
        if error_code(exc) not in _GONE:
            raise


def stage_create(ctx: Context, action: Action, step: Step) -> None:
    api_id, tags = _api_id(action), dict(_want(ctx).tags)
    retries.call(lambda: _client(ctx).create_stage(ApiId=api_id, StageName=STAGE,
                                                   AutoDeploy=True, Tags=tags))


def stage_update(ctx: Context, action: Action, step: Step) -> None:
    api_id = _api_id(action)
    retries.call(lambda: _client(ctx).update_stage(ApiId=api_id, StageName=STAGE,
                                                   AutoDeploy=True))


def _add_permission(ctx: Context, want: DesiredApi, api_id: str) -> None:
    lam = ctx.target.client("lambda")
    retries.call(
        lambda: lam.add_permission(
            FunctionName=ctx.d.function,
            StatementId=want.permission_sid(api_id),
            Action="lambda:InvokeFunction",
            Principal=PRINCIPAL,
            SourceArn=want.source_arn(api_id),
        ),
        also=retries.is_update_in_progress,
    )


def permission_add(ctx: Context, action: Action, step: Step) -> None:
    want, api_id = _want(ctx), _api_id(action)
    try:
        _add_permission(ctx, want, api_id)
    except ClientError as exc:
        if error_code(exc) != "ResourceConflictException" or retries.is_update_in_progress(exc):
            raise
        permission_replace(ctx, action, step)  # a statement with this Sid exists: refresh it
    step.note(want.permission_sid(api_id))


def permission_replace(ctx: Context, action: Action, step: Step) -> None:
    # Only a statement of this very Sid edited by hand: its content is what the Sid names.
    want, api_id = _want(ctx), _api_id(action)
    remove_permission(ctx, want.permission_sid(api_id))
    _add_permission(ctx, want, api_id)


def permission_remove_stale(ctx: Context, action: Action, step: Step) -> None:
    for sid in action.params["sids"]:
        remove_permission(ctx, sid)


STEPS: dict[tuple[str, str], StepFn] = {
    ("api", "create"): api_create,
    ("api", "delete"): api_delete,
    ("api-integration", "create"): integration_create,
    ("api-integration", "update"): integration_update,
    ("api-integration", "delete"): integration_delete,
    ("api-route", "create"): route_create,
    ("api-route", "update"): route_update,
    ("api-route", "delete"): route_delete,
    ("api-stage", "create"): stage_create,
    ("api-stage", "update"): stage_update,
    ("api-permission", "add"): permission_add,
    ("api-permission", "replace"): permission_replace,
    ("api-permission", "remove-stale"): permission_remove_stale,
}
