"""handler() answering API Gateway (payload 2.0) requests, against moto S3 with real images."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import boto3
import pytest
from handler_images import decode, encode, photo
from moto import mock_aws

from lambda_handler import handler as handler_mod
from lambda_handler.handler import handler
from lambda_handler.web import respond, signing
from resizer_cli import faults

SRC, DST, SECRET = "api-src-test", "api-thumbs-test", "s3cr3t-for-tests"


class Context:
    aws_request_id = "req-http"


class Calls:
    """S3 operations the function made (a client through the client_factory seam)."""

    def __init__(self) -> None:
        self.ops: list[str] = []

    def client(self) -> Any:
        client = boto3.client("s3", region_name="us-east-1")

        def hook(model: Any, **_: Any) -> None:
            self.ops.append(model.name)
            faults.check("s3", model.name)

        client.meta.events.register("before-call.s3", hook)
        return client


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("SOURCE_PREFIX", "DEST_PREFIX", "RESULTS_PREFIX", "SIZES", "FIT", "QUALITY",
                 "MAX_PIXELS", "CACHE_CONTROL", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "API_UNSIGNED",
                 "OUTPUT_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEST_BUCKET", DST)
    monkeypatch.setenv("SOURCE_BUCKET", SRC)
    monkeypatch.setenv("URL_SECRET", SECRET)
    monkeypatch.setenv("API_SIZES", "300x300")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=SRC)
        client.create_bucket(Bucket=DST)
        handler_mod.reset_client()
        yield client
    handler_mod.reset_client()


@pytest.fixture
def calls(s3: Any, monkeypatch: pytest.MonkeyPatch) -> Calls:
    seen = Calls()
    monkeypatch.setattr(handler_mod, "client_factory", seen.client)
    handler_mod.reset_client()
    return seen


def request(
    path: str, *, signed: bool = True, expires: int | None = None, query: str = "",
    headers: dict[str, str] | None = None, secret: str = SECRET,
) -> dict[str, Any]:
    parts = []
    if expires is not None:
        parts.append(f"expires={expires}")
    if signed:
        parts.append(f"sig={signing.sign(secret, path, expires)}")
    if query:
        parts.append(query)
    return {
        "version": "2.0",
        "routeKey": "GET /{proxy+}",
        "rawPath": quote(path, safe="/"),
        "rawQueryString": "&".join(parts),
        "headers": {k.lower(): v for k, v in (headers or {}).items()},
        "requestContext": {"http": {"method": "GET", "path": path}, "stage": "$default"},
        "isBase64Encoded": False,
    }


def body(resp: dict[str, Any]) -> bytes:
    assert resp["isBase64Encoded"] is True
    return base64.b64decode(resp["body"])


def error(resp: dict[str, Any]) -> dict[str, Any]:
    assert resp["headers"]["Content-Type"] == "application/json"
    return dict(json.loads(resp["body"]))


def put(s3: Any, key: str, data: bytes) -> str:
    return str(s3.put_object(Bucket=SRC, Key=key, Body=data)["ETag"]).strip('"')


def test_a_new_rendition_is_stored_at_the_thumbnail_key_then_served_as_stored(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    etag = put(s3, "raw/trip/été 1.jpg", encode(photo((1200, 900)), "JPEG"))

    made = handler(request("/300x300/trip/été 1.jpg"), Context())

    assert made["statusCode"] == 200
    assert made["headers"]["Content-Type"] == "image/jpeg"
    assert made["headers"]["Cache-Control"] == "max-age=31536000,public"
    assert made["headers"]["X-Resizer-Rendition"] == "made"
    assert made["headers"]["Vary"] == "Accept"
    assert decode(body(made)).size == (300, 225)
    stored = s3.get_object(Bucket=DST, Key="thumbnails/300x300/trip/été 1.jpg")
    assert stored["ContentType"] == "image/jpeg"
    assert stored["Metadata"] == {"source-bucket": SRC, "source-etag": etag,
                                  "source-key": "raw/trip/%C3%A9t%C3%A9%201.jpg"}
    assert made["headers"]["ETag"] == stored["ETag"]

    again = handler(request("/300x300/trip/été 1.jpg"), Context())
    assert again["headers"]["X-Resizer-Rendition"] == "stored"
    assert body(again) == body(made) and again["headers"]["ETag"] == made["headers"]["ETag"]
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["event"], x["status"], x["rendition"]) for x in lines] == [
        ("http", 200, "made"), ("http", 200, "stored")]
    assert SECRET not in json.dumps(lines)


def test_the_upload_paths_thumbnail_is_served_as_it_is(s3: Any) -> None:
    put(s3, "raw/a.png", encode(photo((800, 600)), "PNG"))
    s3_event = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": SRC}, "object": {"key": "raw/a.png"}}}]}
    assert handler(s3_event, Context())["ok"] == 1

    resp = handler(request("/512x512/a.png"), Context())

    thumb = s3.get_object(Bucket=DST, Key="thumbnails/512x512/a.png")
    assert resp["headers"]["X-Resizer-Rendition"] == "stored"
    assert body(resp) == thumb["Body"].read() and resp["headers"]["ETag"] == thumb["ETag"]


@pytest.mark.parametrize(
    ("event", "status", "kind"),
    [
        (request("/300x300/a.jpg", signed=False), 403, "forbidden"),
        (request("/300x300/a.jpg", secret="another secret"), 403, "forbidden"),
        (request("/300x300/a.jpg", expires=int(time.time()) - 5), 403, "forbidden"),
        (request("/64x64/a.jpg"), 400, "size_not_allowed"),
        (request("/300x300/a.jpg", query="format=gif"), 400, "bad_request"),
        (request("/big/a.jpg"), 400, "bad_request"),
        (request("/300x300/"), 400, "bad_request"),
    ],
    ids=["unsigned", "bad-signature", "expired", "size", "format", "path", "no-key"],
)
def test_refused_before_any_s3_call(
    calls: Calls, event: dict[str, Any], status: int, kind: str
) -> None:
    put(boto3.client("s3", region_name="us-east-1"), "raw/a.jpg",
        encode(photo((400, 300)), "JPEG"))

    resp = handler(event, Context())

    assert resp["statusCode"] == status and error(resp)["error"] == kind
    assert calls.ops == []


def test_an_expiry_in_the_future_is_accepted_and_signed(s3: Any) -> None:
    put(s3, "raw/a.jpg", encode(photo((400, 300)), "JPEG"))
    later = int(time.time()) + 600
    assert handler(request("/300x300/a.jpg", expires=later), Context())["statusCode"] == 200
    forged = request("/300x300/a.jpg", expires=later)
    forged["rawQueryString"] = forged["rawQueryString"].replace(str(later), str(later + 3600))
    assert handler(forged, Context())["statusCode"] == 403


def test_accept_and_format_pick_the_format_and_the_key(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(s3, "raw/b.jpg", encode(photo((900, 600)), "JPEG"))

    webp = handler(request("/300x300/b.jpg", headers={
        "Accept": "text/html,image/webp;q=0.9,image/avif;q=0,*/*;q=0.8"}), Context())
    forced = handler(request("/300x300/b.jpg", query="format=png",
                             headers={"Accept": "image/webp"}), Context())
    plain = handler(request("/300x300/b.jpg", headers={"Accept": "image/*"}), Context())

    assert webp["headers"]["Content-Type"] == "image/webp" and webp["headers"]["Vary"] == "Accept"
    assert decode(body(webp)).format == "WEBP"
    assert forced["headers"]["Content-Type"] == "image/png" and "Vary" not in forced["headers"]
    assert plain["headers"]["Content-Type"] == "image/jpeg"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=DST)["Contents"]}
    assert keys == {"thumbnails/300x300/b.webp", "thumbnails/300x300/b.png",
                    "thumbnails/300x300/b.jpg"}

    monkeypatch.setenv("OUTPUT_FORMAT", "jpeg")  # a fixed format is not negotiated
    fixed = handler(request("/300x300/b.jpg", headers={"Accept": "image/webp"}), Context())
    assert fixed["headers"]["Content-Type"] == "image/jpeg" and "Vary" not in fixed["headers"]


def test_if_none_match_gets_304(s3: Any) -> None:
    put(s3, "raw/c.jpg", encode(photo((400, 300)), "JPEG"))
    etag = handler(request("/300x300/c.jpg"), Context())["headers"]["ETag"]

    for header in (etag, f'"other", W/{etag}', "*"):
        resp = handler(request("/300x300/c.jpg", headers={"If-None-Match": header}), Context())
        assert resp["statusCode"] == 304, header
        assert resp["headers"]["ETag"] in (etag, etag.removeprefix("W/")) and resp["body"] == ""
    other = handler(request("/300x300/c.jpg", headers={"If-None-Match": '"nope"'}), Context())
    assert other["statusCode"] == 200


def test_a_rendition_too_large_to_answer_is_a_redirect_to_a_sigv4_presigned_get(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(respond, "RESPONSE_LIMIT", 20_000)  # a small image is "too large"
    put(s3, "raw/d.png", encode(photo((300, 300)), "PNG"))

    for how in ("made", "stored"):
        resp = handler(request("/300x300/d.png"), Context())
        assert resp["statusCode"] == 302, how
        location = urlsplit(resp["headers"]["Location"])
        assert location.path.endswith("/thumbnails/300x300/d.png")
        assert parse_qs(location.query)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert resp["headers"]["Cache-Control"].startswith("private, max-age=")
    assert s3.head_object(Bucket=DST, Key="thumbnails/300x300/d.png")["ContentLength"] > 20_000


def test_missing_and_corrupt_sources(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    put(s3, "raw/bad.jpg", b"\xff\xd8\xff\xe0" + bytes(300))

    missing = handler(request("/300x300/none.jpg"), Context())
    corrupt = handler(request("/300x300/bad.jpg"), Context())

    assert missing["statusCode"] == 404 and error(missing)["error"] == "not_found"
    assert corrupt["statusCode"] == 422
    assert error(corrupt)["error"] == "corrupt" and "damaged" in error(corrupt)["reason"]
    assert "Traceback" not in corrupt["body"]
    levels = [json.loads(x)["level"] for x in capsys.readouterr().out.splitlines()]
    assert levels == ["info", "error"]


def test_a_name_that_misleads_finds_the_rendition_of_the_real_format(s3: Any) -> None:
    put(s3, "raw/e.jpg", encode(photo((400, 300)), "PNG"))  # a PNG named .jpg
    first = handler(request("/300x300/e.jpg"), Context())
    second = handler(request("/300x300/e.jpg"), Context())
    assert first["headers"]["Content-Type"] == second["headers"]["Content-Type"] == "image/png"
    assert (first["headers"]["X-Resizer-Rendition"], second["headers"]["X-Resizer-Rendition"]) == (
        "made", "stored")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=DST)["Contents"]}
    assert keys == {"thumbnails/300x300/e.png"}


def test_throttled_s3_is_503_to_retry(calls: Calls) -> None:
    faults.install(faults.Fault("s3", "GetObject", code="SlowDown", status=503, times=1))
    resp = handler(request("/300x300/a.jpg"), Context())
    assert resp["statusCode"] == 503 and error(resp)["error"] == "unavailable"
    assert resp["headers"]["Retry-After"] == "1"


def test_unsigned_only_when_deployed_so(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    put(s3, "raw/a.jpg", encode(photo((400, 300)), "JPEG"))
    monkeypatch.delenv("URL_SECRET")
    closed = handler(request("/300x300/a.jpg", signed=False), Context())
    assert closed["statusCode"] == 403  # no secret and not unsigned: fail closed
    monkeypatch.setenv("API_UNSIGNED", "true")
    assert handler(request("/300x300/a.jpg", signed=False), Context())["statusCode"] == 200
