"""The emulator keeps HTTP/1.1 connections open, with exact request and response framing."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit


def _connection(emu: Any) -> http.client.HTTPConnection:
    parts = urlsplit(emu.endpoint)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)


def _request(conn: http.client.HTTPConnection, emu: Any, method: str, path: str,
             body: bytes = b"", service: str = "s3", **kw: Any) -> http.client.HTTPResponse:
    headers = emu.sign(method, emu.endpoint + path, body, service=service)
    conn.request(method, path, body=kw.pop("send", body) if body else None, headers=headers,
                 **kw)
    return conn.getresponse()


def test_one_connection_serves_many_requests(emu: Any) -> None:
    s3 = emu.client("s3")
    s3.create_bucket(Bucket="keepalive-bucket")
    s3.put_object(Bucket="keepalive-bucket", Key="a.txt", Body=b"hello")
    conn = _connection(emu)
    try:
        first = _request(conn, emu, "GET", "/_resizer/health", service="resizer")
        assert json.loads(first.read())["ok"] is True
        assert first.getheader("Connection", "").lower() != "close"
        sock = conn.sock
        # A body of exactly Content-Length bytes, then more requests on the same socket.
        body = b"x" * 70_000
        put = _request(conn, emu, "PUT", "/keepalive-bucket/b.bin", body)
        put.read()
        assert put.status == 200
        head = _request(conn, emu, "HEAD", "/keepalive-bucket/b.bin")
        assert head.status == 200 and head.read() == b""  # no body follows a HEAD
        assert head.getheader("Content-Length") == str(len(body))
        got = _request(conn, emu, "GET", "/keepalive-bucket/b.bin")
        assert got.read() == body
        missing = _request(conn, emu, "GET", "/keepalive-bucket/nothing-here")
        assert missing.status == 404 and b"NoSuchKey" in missing.read()
        assert conn.sock is sock  # never reconnected
    finally:
        conn.close()


def test_chunked_request_body_is_decoded_and_keeps_the_connection(emu: Any) -> None:
    emu.client("s3").create_bucket(Bucket="keepalive-chunked")
    conn = _connection(emu)
    try:
        body = b"chunk-1 chunk-2"
        response = _request(conn, emu, "PUT", "/keepalive-chunked/c.txt", body,
                            send=iter([b"chunk-1 ", b"chunk-2"]), encode_chunked=True)
        response.read()
        assert response.status == 200
        assert response.getheader("Connection", "").lower() != "close"
        sock = conn.sock
        again = _request(conn, emu, "GET", "/keepalive-chunked/c.txt")
        assert again.read() == body and conn.sock is sock
    finally:
        conn.close()
