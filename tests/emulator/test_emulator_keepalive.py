"""The emulator keeps HTTP/1.1 connections open, with exact request and response framing."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit


def _connection(emu: Any) -> http.client.HTTPConnection:
    parts = urlsplit(emu.endpoint)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)


def test_one_connection_serves_many_requests(emu: Any) -> None:
    s3 = emu.client("s3")
    s3.create_bucket(Bucket="keepalive-bucket")
    s3.put_object(Bucket="keepalive-bucket", Key="a.txt", Body=b"hello")
    conn = _connection(emu)
    try:
        conn.request("GET", "/_resizer/health")
        first = conn.getresponse()
        assert json.loads(first.read())["ok"] is True
        assert first.getheader("Connection", "").lower() != "close"
        sock = conn.sock
        # A body of exactly Content-Length bytes, then more requests on the same socket.
        body = b"x" * 70_000
        conn.request("PUT", "/keepalive-bucket/b.bin", body=body,
                     headers={"Content-Type": "application/octet-stream",
                              "x-amz-acl": "public-read"})  # unsigned reads below
        put = conn.getresponse()
        put.read()
        assert put.status == 200
        conn.request("HEAD", "/keepalive-bucket/b.bin")
        head = conn.getresponse()
        assert head.status == 200 and head.read() == b""  # no body follows a HEAD
        assert head.getheader("Content-Length") == str(len(body))
        conn.request("GET", "/keepalive-bucket/b.bin")
        got = conn.getresponse()
        assert got.read() == body
        conn.request("GET", "/keepalive-bucket/nothing-here")
        missing = conn.getresponse()
        assert missing.status == 404 and b"NoSuchKey" in missing.read()
        assert conn.sock is sock  # never reconnected
    finally:
        conn.close()


def test_chunked_request_body_still_works_and_closes(emu: Any) -> None:
    emu.client("s3").create_bucket(Bucket="keepalive-chunked")
    conn = _connection(emu)
    try:
        conn.request("PUT", "/keepalive-chunked/c.txt", body=iter([b"chunk-1 ", b"chunk-2"]),
                     encode_chunked=True)
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("Connection", "").lower() == "close"
    finally:
        conn.close()
    got = emu.client("s3").get_object(Bucket="keepalive-chunked", Key="c.txt")["Body"].read()
    assert got == b"chunk-1 chunk-2"
