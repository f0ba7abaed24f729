"""Renditions on the fly over HTTP, end to end: `resizer setup --api` on the emulator, URLs
from `resizer url`, and a plain HTTP client (urllib) against the emulator's execute-api."""

from __future__ import annotations

import io
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from PIL import Image

from lambda_handler.web import signing

STACK = "web"
BIG = "1300x1300"  # an --api-sizes box: a noise PNG of that size is over 4.7 MB


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes
    url: str

    def json(self) -> Any:
        return json.loads(self.body)


def get(url: str, **headers: str) -> Reply:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers={k.replace("_", "-"): v
                                                   for k, v in headers.items()})
    try:
        with opener.open(request, timeout=60) as r:
            return Reply(r.status, r.headers, r.read(), r.url)
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers, exc.read(), url)


def jpeg(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.radial_gradient("L").resize(size).convert("RGB").save(buf, "JPEG", quality=88)
    return buf.getvalue()


@dataclass
class Stack:
    emu: Any
    endpoint: str
    secret: str

    def url(self, key: str, size: str, *extra: str) -> str:
        proc = self.emu.resizer("url", key, "--size", size, "--stack", STACK, *extra)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("\n") == 1
        return proc.stdout.strip()

    def signed(self, path: str, expires: int | None = None) -> str:
        query = f"sig={signing.sign(self.secret, path, expires)}"
        if expires is not None:
            query = f"expires={expires}&{query}"
        return f"{self.endpoint}{quote(path, safe='/')}?{query}"


@pytest.fixture(scope="module")
def stack(emulator_module: Any) -> Stack:
    emu = emulator_module
    proc = emu.resizer("setup", "--stack", STACK, "--api", "--api-sizes", BIG, "--json")
    assert proc.returncode == 0, proc.stderr
    s3 = emu.client("s3")
    src = f"{STACK}-src-123456789012-us-east-1"
    s3.put_object(Bucket=src, Key="raw/trip/beach day.jpg", Body=jpeg((1600, 1200)))
    s3.put_object(Bucket=src, Key="raw/broken.jpg", Body=b"\xff\xd8\xff\xe0" + bytes(400))
    noise = Image.frombytes("RGB", (1300, 1300), os.urandom(1300 * 1300 * 3))
    buf = io.BytesIO()
    noise.save(buf, "PNG", compress_level=1)
    s3.put_object(Bucket=src, Key="raw/noise.png", Body=buf.getvalue())
    status = json.loads(emu.resizer("status", "--stack", STACK, "--json").stdout)
    env = emu.client("lambda").get_function_configuration(
        FunctionName=f"{STACK}-thumbnailer")["Environment"]["Variables"]
    # The upload path's thumbnails first: they are the "stored" renditions below.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RESIZER_HOME", str(emu.home))
        from resizer_cli.emulator import control

        assert control.drain(60)
    return Stack(emu, status["resources"]["api"]["endpoint"], env["URL_SECRET"])


def test_status_gives_the_local_endpoint_and_never_the_secret(stack: Stack) -> None:
    proc = stack.emu.resizer("status", "--stack", STACK, "--json")
    api = json.loads(proc.stdout)["resources"]["api"]
    assert api["exists"] and api["signed"] and "/_aws/execute-api/" in api["endpoint"]
    assert api["endpoint"].startswith("http://127.0.0.1:")
    assert stack.secret not in proc.stdout + proc.stderr
    human = stack.emu.resizer("status", "--stack", STACK)
    row = next(line for line in human.stdout.splitlines() if "http api" in line)
    assert api["endpoint"] in row and "signed URLs" in row
    assert stack.secret not in human.stdout + human.stderr


def test_a_stored_rendition_is_served_as_it_is(stack: Stack) -> None:
    reply = get(stack.url("raw/trip/beach day.jpg", "512x512"))
    thumb = stack.emu.client("s3").get_object(Bucket=f"{STACK}-thumbs-123456789012-us-east-1",
                                              Key="thumbnails/512x512/trip/beach day.jpg")
    assert reply.status == 200 and reply.headers["X-Resizer-Rendition"] == "stored"
    assert reply.body == thumb["Body"].read() and reply.headers["ETag"] == thumb["ETag"]
    assert reply.headers["Content-Type"] == "image/jpeg"
    assert reply.headers["Cache-Control"] == "max-age=31536000,public"


def test_a_new_rendition_is_made_stored_and_then_served_stored(stack: Stack) -> None:
    url = stack.url("trip/beach day.jpg", BIG, "--expires", "1h")  # without raw/: the same
    first, second = get(url), get(url)
    assert first.status == second.status == 200
    assert (first.headers["X-Resizer-Rendition"], second.headers["X-Resizer-Rendition"]) == (
        "made", "stored")
    assert Image.open(io.BytesIO(first.body)).size == (1300, 975)
    assert first.body == second.body and first.headers["ETag"] == second.headers["ETag"]
    logs = stack.emu.resizer("logs", "--stack", STACK, "--format", "json", "--since", "10m")
    messages = [json.loads(line)["message"] for line in logs.stdout.splitlines()]
    http_lines = [json.loads(m) for m in messages if '"event": "http"' in m]
    assert {(x["status"], x.get("rendition")) for x in http_lines} >= {(200, "made"),
                                                                       (200, "stored")}
    assert sum(m.startswith("REPORT RequestId:") for m in messages) >= 5  # 3 uploads + these


def test_signatures_expiry_and_sizes(stack: Stack) -> None:
    good = stack.url("raw/trip/beach day.jpg", "128x128")
    bad = get(good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"))
    assert bad.status == 403 and bad.json()["error"] == "forbidden"
    expired = get(stack.signed("/128x128/trip/beach day.jpg", int(time.time()) - 1))
    assert expired.status == 403 and "expired" in expired.json()["reason"]
    unlisted = get(stack.signed("/64x64/trip/beach day.jpg"))
    assert unlisted.status == 400 and unlisted.json()["error"] == "size_not_allowed"
    refused = stack.emu.resizer("url", "raw/trip/beach day.jpg", "--size", "64x64",
                                "--stack", STACK)
    assert refused.returncode == 2 and refused.stdout == ""
    (line,) = [x for x in refused.stderr.splitlines() if not x.startswith("→")]
    assert line.startswith("error: --size 64x64: stack web does not serve it")


def test_accept_negotiation_and_304(stack: Stack) -> None:
    url = stack.url("raw/trip/beach day.jpg", "512x512")
    webp = get(url, Accept="image/webp,image/*;q=0.8")
    assert webp.status == 200 and webp.headers["Content-Type"] == "image/webp"
    assert webp.headers["Vary"] == "Accept" and Image.open(io.BytesIO(webp.body)).format == "WEBP"
    again = get(url, Accept="image/webp", If_None_Match=webp.headers["ETag"])
    assert again.status == 304 and again.body == b""
    forced = get(stack.url("raw/trip/beach day.jpg", "512x512", "--format", "png"))
    assert forced.headers["Content-Type"] == "image/png"


def test_a_rendition_over_the_response_limit_is_redirected_then_fetched(stack: Stack) -> None:
    url = stack.url("raw/noise.png", BIG)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(url, timeout=60)
    assert info.value.code == 302
    location = info.value.headers["Location"]
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in location
    fetched = get(location)
    assert fetched.status == 200 and len(fetched.body) > 4_700_000
    assert Image.open(io.BytesIO(fetched.body)).size == (1300, 1300)
    assert get(url).body == fetched.body  # urllib follows it, as a browser does


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_missing_and_corrupt_sources(stack: Stack) -> None:
    missing = get(stack.url("raw/nothing-here.jpg", "128x128"))
    assert missing.status == 404 and missing.json()["error"] == "not_found"
    corrupt = get(stack.url("raw/broken.jpg", BIG))
    assert corrupt.status == 422 and corrupt.json()["error"] == "corrupt"
    assert "Traceback" not in corrupt.body.decode()


def test_without_its_permission_api_gateway_answers_500_and_setup_repairs_it(
    stack: Stack,
) -> None:
    lam = stack.emu.client("lambda")
    function = f"{STACK}-thumbnailer"
    policy = json.loads(lam.get_policy(FunctionName=function)["Policy"])
    sid = next(s["Sid"] for s in policy["Statement"] if "api-invoke" in s["Sid"])
    lam.remove_permission(FunctionName=function, StatementId=sid)
    url = stack.url("raw/trip/beach day.jpg", "128x128")

    reply = get(url)

    assert reply.status == 500 and reply.json() == {"message": "Internal Server Error"}
    repaired = stack.emu.resizer("setup", "--stack", STACK, "--json")
    assert repaired.returncode == 0, repaired.stderr
    kinds = [(a["resource"], a["action"]) for a in json.loads(repaired.stdout)["actions"]]
    assert kinds == [("api-permission", "add")]
    assert get(url).status == 200
