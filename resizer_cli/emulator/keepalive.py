"""HTTP/1.1 keep-alive for the emulator's WSGI server, with bodies that need not fit in memory.

werkzeug's development server answers every request with `Connection: close` (and then waits
up to 10 ms for stray request bytes), so each boto3 call pays a new TCP connection and a new
server thread. Its own comment says why: it cannot tell where a request body ends. Here the
body is read exactly (Content-Length, or HTTP chunked framing decoded here) into a spool file
before the app runs (`payload.new_spool`: in memory up to 8 MB, on disk beyond), and the
response goes out with a Content-Length: streamed chunk by chunk when the app declared one (a
large S3 object), else buffered and measured. So the connection can serve the next request.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterable
from typing import IO, Any

from werkzeug.serving import WSGIRequestHandler

from resizer_cli.emulator import payload

log = logging.getLogger("resizer.emulator")

_NO_BODY_CODES = frozenset({204, 304})


class BodyError(Exception):
    pass


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    # An idle kept-alive connection frees its thread after this many seconds.
    timeout = 300

    def setup(self) -> None:
        super().setup()
        # Headers and body are separate writes: with Nagle's algorithm the body of a small
        # response would wait for the client's delayed ACK (40 ms) on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _read_body(self, spool: IO[bytes]) -> int:
        """Copy the request body into `spool`; returns its length."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(spool)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise BodyError("bad Content-Length") from None
        if length < 0:
            raise BodyError("bad Content-Length")
        remaining = length
        while remaining:  # http.server's parse_request has answered "Expect: 100-continue"
            data = self.rfile.read(min(payload.CHUNK, remaining))
            if not data:
                raise BodyError("the client went away mid-body")
            spool.write(data)
            remaining -= len(data)
        return length

    def _read_chunked(self, spool: IO[bytes]) -> int:
        total = 0
        while True:
            line = self.rfile.readline(4096)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BodyError("bad chunk size") from None
            if size == 0:
                while self.rfile.readline(4096) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields
                return total
            remaining = size
            while remaining:
                data = self.rfile.read(min(payload.CHUNK, remaining))
                if not data:
                    raise BodyError("the client went away mid-chunk")
                spool.write(data)
                remaining -= len(data)
            total += size
            self.rfile.readline(4096)  # the CRLF after the chunk data

    def run_wsgi(self) -> None:
        with payload.new_spool() as spool:
            try:
                size = self._read_body(spool)
            except BodyError:
                self.close_connection = True
                return
            spool.seek(0)
            environ = self.make_environ()
            environ["wsgi.input"] = spool
            environ["resizer.spooled"] = True
            environ["CONTENT_LENGTH"] = str(size)
            if "HTTP_TRANSFER_ENCODING" in environ:
                environ["wsgi.input_terminated"] = True  # werkzeug reads the spool to its end
            self.environ = environ
            try:
                self._respond(environ)
            finally:
                with contextlib.suppress(Exception):
                    environ["wsgi.input"].close()
                environ.clear()  # a kept-alive handler must not pin the last request's data

    def _respond(self, environ: dict[str, Any]) -> None:
        status, headers, body, length = self._call_app(environ)
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        no_body = self.command == "HEAD" or code < 200 or code in _NO_BODY_CODES
        # Only a large body with a declared length is streamed; anything else is measured.
        stream = length is not None and length > payload.MEMORY_MAX and not no_body
        chunks: Iterable[bytes] = body
        if not stream and not no_body:
            try:
                data = b"".join(body)
            except Exception:
                log.exception("error on %s %s", self.command, self.path)
                self.close_connection = True
                code, reason, headers = 500, "Internal Server Error", []
                data = b"Internal Server Error"
            chunks = [data]
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(data))))
        try:
            self.send_response(code, reason)
            for key, value in headers:
                if key.lower() not in ("connection", "transfer-encoding"):
                    self.send_header(key, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            sent = 0
            if not no_body:
                for chunk in chunks:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            self.wfile.flush()
            if stream and sent != length:
                self.close_connection = True  # the framing is broken: the client must see it
        except OSError:
            self.close_connection = True
        except Exception:  # the body failed mid-stream: the client sees a short response
            log.exception("error streaming %s %s", self.command, self.path)
            self.close_connection = True
        finally:
            with contextlib.suppress(Exception):
                body.close()

    def _call_app(
        self, environ: dict[str, Any]
    ) -> tuple[str, list[tuple[str, str]], _Body, int | None]:
        """Run the app up to its first body chunk; (status, headers, body, declared length)."""
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return written.append

        try:
            result = self.server.app(environ, start_response)
            chunks = iter(result)
            first = next(chunks, b"")  # start_response may only be called now
        except Exception:
            log.exception("error on %s %s", self.command, self.path)
            self.close_connection = True
            return ("500 Internal Server Error", [("Content-Type", "text/plain")],
                    _Body([b"Internal Server Error"], iter(()), None), None)
        if not started:
            self.close_connection = True
            return ("500 Internal Server Error", [("Content-Type", "text/plain")],
                    _Body([], iter(()), result), None)
        status, headers = started[0], list(started[1])
        declared = next((v for k, v in headers if k.lower() == "content-length"), None)
        length = int(declared) if declared is not None and declared.isdigit() else None
        return status, headers, _Body([*written, first], chunks, result), length

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # One line per request is noise at the emulator's log level (werkzeug logs at INFO).
        pass


class _Body:
    """The response body: what was produced so far, then the rest of the app's iterable."""

    def __init__(self, head: list[bytes], rest: Any, result: Any) -> None:
        self._head = head
        self._rest = rest
        self._result = result

    def __iter__(self) -> Any:
        yield from self._head
        yield from self._rest

    def close(self) -> None:
        close = getattr(self._result, "close", None)
        if close is not None:
            close()
