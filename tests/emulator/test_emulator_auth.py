"""Only requests signed with the emulator's own credentials are served, by every service.

Foreign credentials (another key id), a wrong secret, a tampered body, header or URL, a stale
clock, an expired presigned URL and unsigned requests are refused with the code and format
the real service uses; well-signed requests, presigned URLs and aws-chunked uploads work.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _raw(emu: Any, method: str, path: str, headers: dict[str, str] | None = None,
         body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(emu.endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(("service", "call", "foreign", "wrong"), [
    ("s3", lambda c: c.list_buckets(), ("InvalidAccessKeyId", 403),
     ("SignatureDoesNotMatch", 403)),
    ("lambda", lambda c: c.list_functions(), ("UnrecognizedClientException", 403),
     ("InvalidSignatureException", 403)),
    ("logs", lambda c: c.describe_log_groups(), ("UnrecognizedClientException", 403),
     ("InvalidSignatureException", 403)),
    ("iam", lambda c: c.list_roles(), ("InvalidClientTokenId", 403),
     ("SignatureDoesNotMatch", 403)),
    ("sts", lambda c: c.get_caller_identity(), ("InvalidClientTokenId", 403),
     ("SignatureDoesNotMatch", 403)),
])
def test_foreign_and_wrongly_signed_requests_are_refused_per_service(
    emu: Any, service: str, call: Any, foreign: tuple[str, int], wrong: tuple[str, int]
) -> None:
    call(emu.client(service))  # the emulator's own credentials are served
    with pytest.raises(ClientError) as err:
        call(emu.foreign_client(service))  # what any other local user would try
    assert _code(err) == foreign
    with pytest.raises(ClientError) as err:
        call(emu.foreign_client(service, key_id=emu.connection.access_key_id, secret="x" * 40))
    assert _code(err) == wrong


def test_a_foreign_caller_cannot_deploy_or_invoke_a_function(emu: Any) -> None:
    emu.create_function("auth-target", "def handler(e, c):\n    return 'ran'\n")
    other = emu.foreign_client("lambda")
    with pytest.raises(ClientError) as err:
        other.invoke(FunctionName="auth-target")
    assert _code(err) == ("UnrecognizedClientException", 403)
    with pytest.raises(ClientError) as err:
        other.create_function(FunctionName="evil", Runtime="python3.11", Role=emu.role,
                              Handler="app.handler", Code={"ZipFile": emu.zip_of({"a": "b"})})
    assert _code(err) == ("UnrecognizedClientException", 403)
    assert emu.invoke("auth-target")[1] == "ran"
    names = [f["FunctionName"] for f in emu.client("lambda").list_functions()["Functions"]]
    assert "evil" not in names


def test_tampered_body_and_headers_are_refused(emu: Any) -> None:
    emu.create_function("auth-echo", "def handler(e, c):\n    return e\n")
    path = "/2015-03-31/functions/auth-echo/invocations"
    body = b'{"n": 1}'
    headers = emu.sign("POST", emu.endpoint + path, body, service="lambda")
    assert _raw(emu, "POST", path, headers, body)[2] == body
    # Lambda signs the body's SHA-256: another body does not match the signature.
    status, got, _ = _raw(emu, "POST", path, headers, b'{"n": 2}')
    assert (status, got["x-amzn-errortype"]) == (403, "InvalidSignatureException")
    # A signed header changed after signing (the date) breaks the signature too.
    later = {**headers, "X-Amz-Date": headers["X-Amz-Date"][:-3] + "59Z"}
    assert _raw(emu, "POST", path, later, body)[1]["x-amzn-errortype"] == (
        "InvalidSignatureException")

    emu.client("s3").create_bucket(Bucket="auth-tamper")
    key = "/auth-tamper/a.txt"
    put = emu.sign("PUT", emu.endpoint + key, b"original")
    status, _, reply = _raw(emu, "PUT", key, put, b"tampered")
    assert status == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in reply
    status, _, reply = _raw(emu, "PUT", "/auth-tamper/other.txt", put, b"original")
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in reply  # another URL
    assert _raw(emu, "PUT", key, put, b"original")[0] == 200
    # An unsigned payload (S3 allows it) is still checked against its Content-MD5.
    import base64

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    md5 = base64.b64encode(hashlib.md5(b"original").digest()).decode()
    request = AWSRequest("PUT", emu.endpoint + key, data=b"original",
                         headers={"Content-MD5": md5})
    request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    S3SigV4Auth(Credentials(emu.connection.access_key_id, emu.connection.secret_access_key),
                "s3", "us-east-1").add_auth(request)
    unsigned = dict(request.headers.items())
    assert unsigned["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    status, _, reply = _raw(emu, "PUT", key, unsigned, b"tampered")
    assert status == 400 and b"<Code>BadDigest</Code>" in reply
    assert _raw(emu, "PUT", key, unsigned, b"original")[0] == 200


def test_unsigned_requests_and_control_paths(emu: Any) -> None:
    status, _, reply = _raw(emu, "GET", "/")
    assert status == 403 and b"<Code>AccessDenied</Code>" in reply
    status, got, _ = _raw(emu, "GET", "/2015-03-31/functions/")
    assert (status, got["x-amzn-errortype"]) == (403, "MissingAuthenticationTokenException")
    for path in ("/_resizer/status", "/_resizer/health", "/_resizer/drain?timeout=1",
                 "/moto-api/reset"):
        assert _raw(emu, "GET", path)[0] == 403, path
        assert _raw(emu, "POST", path)[0] == 403, path
    signed = emu.sign("GET", emu.endpoint + "/_resizer/health", service="resizer")
    status, _, reply = _raw(emu, "GET", "/_resizer/health", signed)
    assert status == 200 and json.loads(reply)["pid"] == emu.pid
    # A session token the emulator never issued is refused, as AWS refuses a bogus one.
    s3 = emu.client("s3", aws_session_token="testing")
    with pytest.raises(ClientError) as err:
        s3.list_buckets()
    assert _code(err) == ("InvalidToken", 400)


def test_clock_skew_is_refused(emu: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    stale = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: stale)
    with pytest.raises(ClientError) as err:
        emu.client("s3", config=Config(retries={"total_max_attempts": 1})).list_buckets()
    assert _code(err) == ("RequestTimeTooSkewed", 403)
    with pytest.raises(ClientError) as err:
        emu.client("lambda", config=Config(retries={"total_max_attempts": 1})).list_functions()
    assert _code(err) == ("InvalidSignatureException", 403)
    assert "Signature expired" in str(err.value)


def test_presigned_urls_are_accepted_until_expired_or_tampered(emu: Any) -> None:
    s3 = emu.client("s3", config=Config(signature_version="s3v4"))
    s3.create_bucket(Bucket="auth-presign")
    s3.put_object(Bucket="auth-presign", Key="photo one.jpg", Body=b"jpeg bytes")
    url = s3.generate_presigned_url("get_object", ExpiresIn=60,
                                    Params={"Bucket": "auth-presign", "Key": "photo one.jpg"})
    path = url[len(emu.endpoint):]
    assert _raw(emu, "GET", path)[2] == b"jpeg bytes"  # no credentials: the URL is the proof
    for bad in (path.replace("photo%20one", "photo%20two"),
                path.replace("X-Amz-Expires=60", "X-Amz-Expires=61"),
                path[:-4] + ("0000" if not path.endswith("0000") else "1111")):
        status, _, reply = _raw(emu, "GET", bad)
        assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in reply, bad
    short = s3.generate_presigned_url("get_object", ExpiresIn=1,
                                      Params={"Bucket": "auth-presign", "Key": "photo one.jpg"})
    time.sleep(2.1)
    status, _, reply = _raw(emu, "GET", short[len(emu.endpoint):])
    assert status == 403 and b"<Message>Request has expired</Message>" in reply
    other = emu.client("s3", config=Config(signature_version="s3v4"),
                       aws_access_key_id="AKIAOTHER", aws_secret_access_key="s")
    foreign = other.generate_presigned_url(
        "get_object", Params={"Bucket": "auth-presign", "Key": "photo one.jpg"})
    status, _, reply = _raw(emu, "GET", foreign[len(emu.endpoint):])
    assert status == 403 and b"<Code>InvalidAccessKeyId</Code>" in reply
    # boto3's default for us-east-1 is a SigV2 URL, which S3 no longer takes for new buckets.
    legacy = emu.client("s3", config=Config(signature_version="s3")).generate_presigned_url(
        "get_object", Params={"Bucket": "auth-presign", "Key": "photo one.jpg"})
    status, _, reply = _raw(emu, "GET", legacy[len(emu.endpoint):])
    assert status == 400 and b"Please use AWS4-HMAC-SHA256" in reply


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _streaming_put(emu: Any, path: str, chunks: list[bytes], tamper: int | None = None
                   ) -> tuple[int, bytes]:
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload, signed here from the AWS docs' recipe
    (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html), not by botocore,
    which never sends one."""
    conn = emu.connection
    data = b"".join(chunks)
    amz_date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{conn.region}/s3/aws4_request"
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{conn.secret_access_key}".encode(), amz_date[:8]),
                            conn.region), "s3"), "aws4_request")
    signed = {"content-encoding": "aws-chunked", "host": urlsplit(emu.endpoint).netloc,
              "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
              "x-amz-date": amz_date, "x-amz-decoded-content-length": str(len(data))}
    canonical = "\n".join(["PUT", path, "", *[f"{k}:{v}" for k, v in sorted(signed.items())],
                           "", ";".join(sorted(signed)), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])
    seed = hmac.new(key, "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(
        canonical.encode()).hexdigest()]).encode(), hashlib.sha256).hexdigest()
    previous, body = seed, b""
    empty = hashlib.sha256(b"").hexdigest()
    for i, chunk in enumerate([*chunks, b""]):
        text = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, empty,
                          hashlib.sha256(chunk).hexdigest()])
        previous = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
        sent = chunk[:-1] + b"!" if i == tamper else chunk
        body += f"{len(chunk):x};chunk-signature={previous}\r\n".encode() + sent + b"\r\n"
    headers = {**signed, "Authorization": (
        f"AWS4-HMAC-SHA256 Credential={conn.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(sorted(signed))}, Signature={seed}")}
    status, _, reply = _raw(emu, "PUT", path, headers, body)
    return status, reply


def test_aws_chunked_uploads_signed_per_chunk_and_with_a_trailer(emu: Any) -> None:
    s3 = emu.client("s3")
    s3.create_bucket(Bucket="auth-chunked")
    chunks = [b"a" * 8192, b"b" * 8192, b"tail"]
    assert _streaming_put(emu, "/auth-chunked/signed.bin", chunks)[0] == 200
    got = s3.get_object(Bucket="auth-chunked", Key="signed.bin")
    assert got["Body"].read() == b"".join(chunks) and got["ContentLength"] == 16388
    assert "ContentEncoding" not in got  # aws-chunked is transport only
    status, reply = _streaming_put(emu, "/auth-chunked/bad.bin", chunks, tamper=1)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in reply
    assert "bad.bin" not in [o["Key"] for o in s3.list_objects_v2(
        Bucket="auth-chunked").get("Contents", [])]

    # STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer, encoded by botocore itself
    # (what boto3 sends over HTTPS).
    import io

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

    def trailer_put(key: str, data: bytes, checksum_cls: Any) -> tuple[int, bytes]:
        body = AwsChunkedWrapper(io.BytesIO(data), checksum_cls=checksum_cls,
                                 checksum_name="x-amz-checksum-crc32", chunk_size=4096).read()
        request = AWSRequest("PUT", f"{emu.endpoint}/auth-chunked/{key}", data=body, headers={
            "Content-Encoding": "aws-chunked", "X-Amz-Trailer": "x-amz-checksum-crc32",
            "X-Amz-Decoded-Content-Length": str(len(data))})
        request.context["checksum"] = {"request_algorithm": {
            "in": "trailer", "name": "x-amz-checksum-crc32", "algorithm": "crc32"}}
        S3SigV4Auth(Credentials(emu.connection.access_key_id,
                                emu.connection.secret_access_key), "s3", "us-east-1"
                    ).add_auth(request)
        assert request.headers["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        status, _, reply = _raw(emu, "PUT", f"/auth-chunked/{key}", dict(request.headers.items()),
                                body)
        return status, reply

    data = b"0123456789" * 1000
    assert trailer_put("trailer.bin", data, Crc32Checksum)[0] == 200
    head = s3.head_object(Bucket="auth-chunked", Key="trailer.bin", ChecksumMode="ENABLED")
    assert s3.get_object(Bucket="auth-chunked", Key="trailer.bin")["Body"].read() == data
    assert head["ContentLength"] == len(data)

    class WrongCrc(Crc32Checksum):
        def update(self, chunk: bytes) -> None:
            super().update(chunk + b"x")

    status, reply = trailer_put("wrong-trailer.bin", data, WrongCrc)
    assert status == 400 and b"<Code>BadDigest</Code>" in reply
