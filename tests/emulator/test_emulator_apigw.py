"""The emulator's execute-api data plane: routing, payload 2.0, the grant, AWS's limits."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest

from resizer_cli.emulator.apigw import endpoint_url
from resizer_cli.emulator.apigw.grants import allows
from resizer_cli.emulator.apigw.routes import match_path

APP = """
import base64, json, time

def handler(event, context):
    path = event["rawPath"]
    if path.startswith("/sleep"):
        time.sleep(1.5)
        return {"statusCode": 200, "body": "late"}
    if path.startswith("/big"):
        return {"statusCode": 200, "body": "x" * 6_300_000}
    if path.startswith("/boom"):
        raise RuntimeError("boom")
    if path.startswith("/bad"):
        return {"statusCode": "abc"}
    if path.startswith("/plain"):
        return {"hello": "world"}
    if path.startswith("/bin"):
        return {"statusCode": 201, "headers": {"X-A": "1", "Content-Type": "image/x-test"},
                "cookies": ["a=1", "b=2"], "isBase64Encoded": True,
                "body": base64.b64encode(b"\\x00\\x01\\xff").decode()}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(event)}
"""


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def get(url: str, headers: dict[str, str] | None = None) -> Reply:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
            return Reply(r.status, r.headers, r.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers, exc.read())


@pytest.fixture(scope="module")
def api(emu_module: Any) -> dict[str, str]:
    emu = emu_module
    arn = emu.create_function("gw-echo", APP)
    gw = emu.client("apigatewayv2")
    api_id = gw.create_api(Name="gw-test", ProtocolType="HTTP")["ApiId"]
    main = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn,
                                 PayloadFormatVersion="2.0")["IntegrationId"]
    quick = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY",
                                  IntegrationUri=arn, PayloadFormatVersion="2.0",
                                  TimeoutInMillis=500)["IntegrationId"]
    gw.create_route(ApiId=api_id, RouteKey="GET /{proxy+}", Target=f"integrations/{main}")
    gw.create_route(ApiId=api_id, RouteKey="GET /sleep", Target=f"integrations/{quick}")
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    emu.client("lambda").add_permission(
        FunctionName="gw-echo", StatementId="gw", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/GET/*")
    return {"id": api_id, "url": endpoint_url(emu.endpoint, api_id)}


def test_the_event_is_payload_2_0(api: dict[str, str]) -> None:
    reply = get(api["url"] + "/a%20b/caf%C3%A9.jpg?x=1&x=2&y=%2B",
                {"Accept": "image/webp", "Cookie": "c=1; d=2", "X-Custom": "v"})

    assert reply.status == 200 and reply.headers["apigw-requestid"]
    event = reply.json()
    assert event["version"] == "2.0" and event["routeKey"] == "GET /{proxy+}"
    assert event["rawPath"] == "/a%20b/caf%C3%A9.jpg"
    assert event["rawQueryString"] == "x=1&x=2&y=%2B"
    assert event["queryStringParameters"] == {"x": "1,2", "y": "+"}
    assert event["pathParameters"] == {"proxy": "a b/café.jpg"}
    assert event["cookies"] == ["c=1", "d=2"] and "cookie" not in event["headers"]
    assert event["headers"]["accept"] == "image/webp" and event["headers"]["x-custom"] == "v"
    ctx = event["requestContext"]
    assert (ctx["apiId"], ctx["stage"], ctx["accountId"]) == (api["id"], "$default",
                                                               "123456789012")
    assert ctx["http"]["method"] == "GET" and ctx["http"]["path"] == "/a b/café.jpg"
    assert ctx["requestId"] == reply.headers["apigw-requestid"]
    assert event["isBase64Encoded"] is False and "body" not in event


def test_the_proxy_response_is_decoded(api: dict[str, str]) -> None:
    binary = get(api["url"] + "/bin")
    assert (binary.status, binary.body) == (201, b"\x00\x01\xff")
    assert binary.headers["X-A"] == "1" and binary.headers["Content-Type"] == "image/x-test"
    assert binary.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    plain = get(api["url"] + "/plain")  # JSON without statusCode: 200, that JSON
    assert plain.status == 200 and plain.json() == {"hello": "world"}
    assert plain.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/boom", 502, "Internal Server Error"),  # the function failed
    ("/bad", 502, "Internal Server Error"),  # not a proxy response
    ("/big", 502, "Internal Server Error"),  # over Lambda's 6 MB
], ids=["error", "malformed", "too-large"])
def test_what_the_function_cannot_answer(
    api: dict[str, str], path: str, status: int, message: str
) -> None:
    reply = get(api["url"] + path)
    assert reply.status == status and reply.json() == {"message": message}


def test_the_integration_timeout_is_503_and_the_invocation_runs_on(
    emu: Any, api: dict[str, str]
) -> None:
    started = time.monotonic()
    reply = get(api["url"] + "/sleep")
    assert reply.status == 503 and reply.json() == {"message": "Service Unavailable"}
    assert time.monotonic() - started < 1.4  # the integration's 500 ms, not the function's 1.5 s
    emu.wait_logs("gw-echo", lambda m: any(x.startswith("REPORT") and "Duration: 15" in x
                                           for x in m))


def test_unknown_apis_and_routes_are_404(emu: Any, api: dict[str, str]) -> None:
    assert get(endpoint_url(emu.endpoint, "nosuchapi") + "/x").status == 404
    assert get(api["url"] + "/").status == 404  # {proxy+} needs a segment
    assert get(api["url"] + "/").json() == {"message": "Not Found"}


def test_without_the_grant_api_gateway_answers_500(emu: Any, api: dict[str, str]) -> None:
    lam = emu.client("lambda")
    lam.remove_permission(FunctionName="gw-echo", StatementId="gw")
    try:
        reply = get(api["url"] + "/plain")
        assert reply.status == 500 and reply.json() == {"message": "Internal Server Error"}
    finally:
        lam.add_permission(
            FunctionName="gw-echo", StatementId="gw", Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=f"arn:aws:execute-api:us-east-1:123456789012:{api['id']}/*/GET/*")
    assert get(api["url"] + "/plain").status == 200


def test_the_rest_of_the_port_still_needs_a_signature(emu: Any) -> None:
    for path in ("/_resizer/status", "/", "/_aws/other"):
        assert get(emu.endpoint + path).status in (400, 403), path


def test_route_templates() -> None:
    assert match_path("/{proxy+}", "/512x512/a/b.jpg") == (0, {"proxy": "512x512/a/b.jpg"})
    assert match_path("/{proxy+}", "/") is None
    assert match_path("/items/{id}", "/items/7") == (15, {"id": "7"})
    assert match_path("/items/{id}", "/items/7/x") is None
    assert match_path("/a/b", "/a/b") == (25, {})


def test_the_grant_is_read_as_iam_reads_it() -> None:
    arn = "arn:aws:execute-api:us-east-1:123456789012:abc/$default/GET/{proxy+}"

    def stmt(source: str, **extra: Any) -> list[dict[str, Any]]:
        return [{"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
                 "Action": "lambda:InvokeFunction",
                 "Condition": {"ArnLike": {"AWS:SourceArn": source}, **extra}}]

    assert allows(stmt("arn:aws:execute-api:us-east-1:123456789012:abc/*/GET/{proxy+}"), arn,
                  "123456789012")
    assert not allows(stmt("arn:aws:execute-api:us-east-1:123456789012:xyz/*/GET/{proxy+}"),
                      arn, "123456789012")
    assert not allows(stmt("arn:aws:execute-api:us-east-1:123456789012:abc/*/POST/*"), arn,
                      "123456789012")
    assert not allows(stmt("*", StringEquals={"AWS:SourceAccount": "999999999999"}), arn,
                      "123456789012")
    s3_only = [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "lambda:InvokeFunction"}]
    assert not allows(s3_only, arn, "123456789012")
