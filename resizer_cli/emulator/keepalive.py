"""HTTP/1.1 keep-alive for the emulator's WSGI server.

werkzeug's development server answers every request with `Connection: close` (and then waits
up to 10 ms for stray request bytes), so each boto3 call pays a new TCP connection and a new
server thread. Its own comment says why: it cannot tell where a request body ends. Here the
body is read exactly (Content-Length) before the app runs and the response is sent with a
Content-Length, so the connection can serve the next request. Chunked request bodies, which
have no length up front, still go through werkzeug and close the connection.
"""

from __future__ import annotations

import io
import logging
import socket
from typing import Any

from werkzeug.serving import WSGIRequestHandler

log = logging.getLogger("resizer.emulator")

_NO_BODY_CODES = frozenset({204, 304})


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    # An idle kept-alive connection frees its thread after this many seconds.
    timeout = 300

    def setup(self) -> None:
        super().setup()
        # Headers and body are separate writes: with Nagle's algorithm the body of a small
        # response would wait for the client's delayed ACK (40 ms) on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def run_wsgi(self) -> None:
        length_header = self.headers.get("Content-Length")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        try:
            length = int(length_header) if length_header else 0
        except ValueError:
            length = -1
        if chunked or length < 0:
            self.close_connection = True
            super().run_wsgi()
            return
        # http.server's parse_request has already answered "Expect: 100-continue".
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client went away mid-body
            self.close_connection = True
            return
        environ = self.make_environ()
        environ["wsgi.input"] = io.BytesIO(body)
        self.environ = environ
        status, headers, payload = self._call_app(environ)
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        self.send_response(code, reason)
        has_length = False
        for key, value in headers:
            lower = key.lower()
            if lower in ("connection", "transfer-encoding"):
                continue
            has_length = has_length or lower == "content-length"
            self.send_header(key, value)
        no_body = self.command == "HEAD" or code < 200 or code in _NO_BODY_CODES
        if not has_length and not no_body:
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if payload and not no_body:
            self.wfile.write(payload)
        self.wfile.flush()

    def _call_app(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """Run the app to completion; the whole response body is buffered (moto's are)."""
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return chunks.append

        try:
            result = self.server.app(environ, start_response)
            try:
                for chunk in result:
                    chunks.append(chunk)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:
            log.exception("error on %s %s", self.command, self.path)
            self.close_connection = True
            message = b"Internal Server Error"
            return "500 Internal Server Error", [("Content-Type", "text/plain")], message
        if not started:
            self.close_connection = True
            return "500 Internal Server Error", [("Content-Type", "text/plain")], b""
        return started[0], list(started[1]), b"".join(chunks)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # One line per request is noise at the emulator's log level (werkzeug logs at INFO).
        pass
