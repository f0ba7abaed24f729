"""`setup --api` under moto (apigatewayv2 in-process): creation, no-op re-runs, drift repair,
`--no-api`, ownership, status and teardown of the HTTP API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from resizer_cli import faults
from resizer_cli.deploy.status import stack_status
from resizer_cli.deploy.teardown import teardown_stack
from resizer_cli.errors import ResizerError
from resizer_cli.naming import TAG_KEY
from resizer_cli.output import Reporter

API = "dev-thumbnailer-api"


def _api_calls(target: Any) -> list[str]:
    seen: list[str] = []
    target.client("apigatewayv2").meta.events.register(
        "before-call.*.*", lambda model, **_: seen.append(model.name))
    return seen


def _apis(target: Any) -> list[dict[str, Any]]:
    return [a for a in target.client("apigatewayv2").get_apis()["Items"] if a["Name"] == API]


def _statements(target: Any) -> list[dict[str, Any]]:
    policy = target.client("lambda").get_policy(FunctionName=target.names.function)["Policy"]
    return list(json.loads(policy)["Statement"])


def _env(target: Any) -> dict[str, str]:
    cfg = target.client("lambda").get_function_configuration(FunctionName=target.names.function)
    return dict(cfg["Environment"]["Variables"])


def _mutating(ops: list[str]) -> list[str]:
    return [op for op in ops if not op.startswith(("Get", "List"))]


def test_setup_api_creates_the_http_api_and_a_rerun_changes_nothing(
    aws, target_factory, deploy
) -> None:
    target, calls = target_factory(stack="dev", api=True, api_sizes=((1024, 1024),))
    deploy(target)
    n = target.names
    gw = target.client("apigatewayv2")

    (api,) = _apis(target)
    assert api["ProtocolType"] == "HTTP" and api["Tags"] == {TAG_KEY: "dev"}
    api_id = api["ApiId"]
    fn_arn = f"arn:aws:lambda:us-east-1:{n.account}:function:{n.function}"
    (integration,) = gw.get_integrations(ApiId=api_id)["Items"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["IntegrationUri"] == fn_arn
    assert integration["PayloadFormatVersion"] == "2.0"
    (route,) = gw.get_routes(ApiId=api_id)["Items"]
    assert route["RouteKey"] == "GET /{proxy+}"
    assert route["Target"] == f"integrations/{integration['IntegrationId']}"
    (stage,) = gw.get_stages(ApiId=api_id)["Items"]
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True

    s3_grant, api_grant = sorted(_statements(target), key=lambda s: s["Sid"], reverse=True)
    assert s3_grant["Principal"] == {"Service": "s3.amazonaws.com"}  # the S3 one stays
    assert api_grant["Sid"].startswith("dev-api-invoke-")
    assert api_grant["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert api_grant["Condition"]["ArnLike"]["AWS:SourceArn"] == (
        f"arn:aws:execute-api:us-east-1:{n.account}:{api_id}/*/GET/{{proxy+}}")

    env = _env(target)
    assert env["SOURCE_BUCKET"] == n.source_bucket and env["API_SIZES"] == "1024x1024"
    assert len(env["URL_SECRET"]) >= 40 and "API_UNSIGNED" not in env
    doc = target.client("iam").get_role_policy(RoleName=n.role, PolicyName=n.policy)
    sids = {s["Sid"] for s in doc["PolicyDocument"]["Statement"]}
    assert {"ReadRenditions", "SeeMissingRenditions"} <= sids

    api_ops = _api_calls(target)
    calls.clear()
    again = deploy(target)
    assert again.actions == [] and calls.mutating == [] and _mutating(api_ops) == []
    assert _env(target)["URL_SECRET"] == env["URL_SECRET"]  # signed URLs stay valid


def test_drift_in_the_api_is_repaired(aws, target_factory, deploy, kit) -> None:
    target, _ = target_factory(stack="dev", api=True)
    deploy(target)
    gw, lam = target.client("apigatewayv2"), target.client("lambda")
    api_id = _apis(target)[0]["ApiId"]
    (route,) = gw.get_routes(ApiId=api_id)["Items"]
    gw.delete_route(ApiId=api_id, RouteId=route["RouteId"])
    gw.create_route(ApiId=api_id, RouteKey="POST /upload", Target=route["Target"])
    gw.delete_stage(ApiId=api_id, StageName="$default")
    (integration,) = gw.get_integrations(ApiId=api_id)["Items"]
    gw.update_integration(ApiId=api_id, IntegrationId=integration["IntegrationId"],
                          IntegrationUri="arn:aws:lambda:us-east-1:123456789012:function:other")
    api_sid = next(s["Sid"] for s in _statements(target) if "api-invoke" in s["Sid"])
    lam.remove_permission(FunctionName=target.names.function, StatementId=api_sid)

    report = stack_status(target, code=kit.code)
    assert {(d["resource"], d["action"]) for d in report["drift"]} == {
        ("api-integration", "update"), ("api-route", "create"), ("api-route", "delete"),
        ("api-stage", "create"), ("api-permission", "add")}
    deploy(target)

    (route,) = gw.get_routes(ApiId=api_id)["Items"]
    assert route["RouteKey"] == "GET /{proxy+}"
    (integration,) = gw.get_integrations(ApiId=api_id)["Items"]
    assert integration["IntegrationUri"].endswith(":function:dev-thumbnailer")
    assert gw.get_stage(ApiId=api_id, StageName="$default")["AutoDeploy"] is True
    assert any(s["Sid"] == api_sid for s in _statements(target))
    assert deploy(target).actions == []


def test_an_api_recreated_gets_a_new_grant_before_the_old_one_goes(
    aws, target_factory, deploy
) -> None:
    target, _ = target_factory(stack="dev", api=True)
    deploy(target)
    old = _apis(target)[0]["ApiId"]
    old_sid = next(s["Sid"] for s in _statements(target) if "api-invoke" in s["Sid"])
    target.client("apigatewayv2").delete_api(ApiId=old)

    result = deploy(target)

    kinds = [(a.resource, a.action) for a in result.actions]
    assert kinds.index(("api-permission", "add")) < kinds.index(("api-permission",
                                                                  "remove-stale"))
    (new,) = _apis(target)
    sids = [s["Sid"] for s in _statements(target) if "api-invoke" in s["Sid"]]
    assert new["ApiId"] != old and len(sids) == 1 and sids[0] != old_sid


def test_no_api_removes_the_api_and_its_grant(aws, target_factory, deploy) -> None:
    target, _ = target_factory(stack="dev", api=True, api_unsigned=True)
    deploy(target)
    assert _env(target)["API_UNSIGNED"] == "true" and "URL_SECRET" not in _env(target)

    plain, _ = target_factory(stack="dev", api=False)
    deploy(plain)

    assert _apis(plain) == []
    assert [s["Principal"]["Service"] for s in _statements(plain)] == ["s3.amazonaws.com"]
    assert not {"SOURCE_BUCKET", "API_UNSIGNED", "URL_SECRET"} & set(_env(plain))
    assert deploy(plain).actions == []


def test_an_untagged_api_of_our_name_is_refused_and_never_touched(
    aws, target_factory, deploy
) -> None:
    target, calls = target_factory(stack="dev", api=True)
    gw = target.client("apigatewayv2")
    theirs = gw.create_api(Name=API, ProtocolType="HTTP")["ApiId"]
    api_ops = _api_calls(target)

    with pytest.raises(ResizerError, match=f"did not create HTTP API {API} \\({theirs}, no "
                                           "resizer:stack tag\\)"):
        deploy(target)
    assert calls.mutating == [] and _mutating(api_ops) == []

    plain, _ = target_factory(stack="dev")  # without --api it is none of our business
    deploy(plain)
    assert [a["ApiId"] for a in _apis(plain)] == [theirs]
    assert plain.client("apigatewayv2").get_routes(ApiId=theirs)["Items"] == []


def test_two_apis_of_ours_keep_the_complete_one(aws, target_factory, deploy) -> None:
    target, _ = target_factory(stack="dev", api=True)
    deploy(target)
    keep = _apis(target)[0]["ApiId"]
    target.client("apigatewayv2").create_api(Name=API, ProtocolType="HTTP",
                                             Tags={TAG_KEY: "dev"})  # a retried create
    deploy(target)
    assert [a["ApiId"] for a in _apis(target)] == [keep]


def test_an_interrupted_setup_is_finished_by_the_next(aws, target_factory, deploy) -> None:
    target, _ = target_factory(stack="dev", api=True)
    faults.install(faults.Fault("apigateway", "CreateRoute", kind="interrupt"))
    with pytest.raises(KeyboardInterrupt):
        deploy(target)
    result = deploy(target)
    assert [(a.resource, a.action) for a in result.actions] == [
        ("api-route", "create"), ("api-stage", "create"), ("api-permission", "add")]
    assert len(_apis(target)) == 1 and deploy(target).actions == []


def test_status_shows_the_endpoint_and_never_the_secret(aws, target_factory, deploy, kit) -> None:
    target, _ = target_factory(stack="dev", api=True)
    deploy(target)
    api_id = _apis(target)[0]["ApiId"]

    report = stack_status(target, code=kit.code)

    assert report["in_sync"], report["drift"]
    assert report["resources"]["api"] == {
        "name": API, "wanted": True, "exists": True, "id": api_id,
        "endpoint": f"https://{api_id}.execute-api.us-east-1.amazonaws.com",
        "signed": True, "unsigned_allowed": False}
    assert _env(target)["URL_SECRET"] not in json.dumps(report)


def test_teardown_deletes_our_api_first_and_leaves_others(aws, target_factory, deploy) -> None:
    target, _ = target_factory(stack="dev", api=True)
    deploy(target)
    theirs = target.client("apigatewayv2").create_api(
        Name=API, ProtocolType="HTTP", Tags={TAG_KEY: "prod"})["ApiId"]

    result = teardown_stack(target, Reporter.silent())

    assert (result.actions[0].resource, result.actions[0].action) == ("api", "delete")
    assert [a["ApiId"] for a in _apis(target)] == [theirs]
    assert any(theirs in s and "tagged for stack prod" in s for s in result.skipped)


def test_rendition_url_on_aws_is_signed_for_the_api_endpoint(aws, target_factory, deploy) -> None:
    from urllib.parse import parse_qsl, unquote, urlsplit

    from lambda_handler.web import signing
    from resizer_cli.ops.url import rendition_url

    target, _ = target_factory(stack="dev", api=True, api_sizes=((900, 900),))
    deploy(target)
    api_id = _apis(target)[0]["ApiId"]
    secret = _env(target)["URL_SECRET"]

    for key in ("raw/trip/a b.jpg", "trip/a b.jpg"):  # with or without the source prefix
        link = rendition_url(target, key, "900x900", expires="1h", fmt="webp", now=1_000)
        parts = urlsplit(link.url)
        query = dict(parse_qsl(parts.query))
        assert f"{parts.scheme}://{parts.netloc}" == (
            f"https://{api_id}.execute-api.us-east-1.amazonaws.com")
        assert unquote(parts.path) == "/900x900/trip/a b.jpg" and parts.path.count("%20") == 1
        assert query["expires"] == str(1_000 + 3600) and query["format"] == "webp"
        assert signing.problem(secret, "/900x900/trip/a b.jpg", query["sig"], query["expires"],
                               now=1_001) is None

    with pytest.raises(ResizerError, match="does not serve it") as refused:
        rendition_url(target, "a.jpg", "64x64")
    assert refused.value.exit_code == 2
    with pytest.raises(ResizerError, match="cannot read --expires"):
        rendition_url(target, "a.jpg", "128x128", expires="soon")

    unsigned, _ = target_factory(stack="dev", api=True, api_unsigned=True)
    deploy(unsigned)
    assert urlsplit(rendition_url(unsigned, "a.jpg", "128x128").url).query == ""
    with pytest.raises(ResizerError, match="--expires needs signed URLs"):
        rendition_url(unsigned, "a.jpg", "128x128", expires="1h")

    plain, _ = target_factory(stack="dev")
    deploy(plain)
    with pytest.raises(ResizerError, match="stack dev has no HTTP API"):
        rendition_url(plain, "a.jpg", "128x128")
