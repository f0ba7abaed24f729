"""The HTTP entry: checks in the order that keeps S3 (and the bill) out of bad requests.

1. the function's settings (500 config_error, logged);
2. the path: `/<W>x<H>/<key>` (400 bad_request);
3. the signature and expiry, before any S3 call (403 forbidden);
4. the size against the allowlist, SIZES plus API_SIZES: no other size is ever made (400
   size_not_allowed), then `?format=` (400);
5. the rendition: stored (200, or 304 for If-None-Match, or 302 when too large to answer
   inline), or made from the original (404 not_found when there is none; 422 with the error
   class and reason of a result record when the image cannot be made);
6. S3 trouble: 503 unavailable when it is worth retrying (throttling, 5xx, timeouts), else 500.

One JSON log line per request, like the upload path's.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

from lambda_handler.config import Config, ConfigError
from lambda_handler.s3client import error_code, is_transient
from lambda_handler.web import negotiate, rendition, request, respond, signing
from lambda_handler.web.config import WebConfig


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from lambda_handler.handler import _log, _ms

    started = time.perf_counter()
    fields: dict[str, Any] = {"request_id": getattr(context, "aws_request_id", None),
                              "path": event.get("rawPath")}
    response, how, level = _answer(event, context, fields)
    _log(level, "http", **fields, status=response["statusCode"], rendition=how,
         ms=_ms(started))
    return response


def _answer(
    event: dict[str, Any], context: Any, fields: dict[str, Any]
) -> tuple[dict[str, Any], str | None, str]:
    """(the response, what happened to the rendition, the log level)."""
    try:
        config = Config.from_env()
        web = WebConfig.from_env()
    except ConfigError as exc:
        fields["reason"] = str(exc)
        return respond.error(500, "config_error", "the function's settings are invalid"), None, (
            "error")
    try:
        req = request.parse(event)
    except request.BadRequest as exc:
        return respond.error(400, "bad_request", str(exc)), None, "info"
    if req.method != "GET":
        return respond.error(405, "method_not_allowed", "only GET is served",
                             {"Allow": "GET"}), None, "info"
    denied = _signature_problem(req, web)
    if denied:
        fields["reason"] = denied
        return respond.error(403, "forbidden", denied), None, "info"
    allowed = web.allowlist(config.sizes)
    if req.box not in allowed:
        sizes = ", ".join(f"{w}x{h}" for w, h in allowed)
        return respond.error(400, "size_not_allowed",
                             f"{req.box[0]}x{req.box[1]} is not served; sizes: {sizes}"), None, (
            "info")
    try:
        choice = negotiate.choose(config.output_format, req.query.get("format"),
                                  req.header("accept"))
    except negotiate.BadFormat as exc:
        return respond.error(400, "bad_request", str(exc)), None, "info"
    if web.source_bucket is None:
        fields["reason"] = "SOURCE_BUCKET is not set"
        return respond.error(500, "config_error", "the function's settings are invalid"), None, (
            "error")
    return _rendition(req, choice, config, web.source_bucket, context, fields)


def _signature_problem(req: request.Request, web: WebConfig) -> str | None:
    if web.secret is None:
        return None if web.unsigned else "the function has no URL secret: run `resizer setup`"
    return signing.problem(web.secret, req.path, req.query.get("sig"),
                           req.query.get("expires"), time.time())


def _rendition(
    req: request.Request, choice: negotiate.Choice, config: Config, source_bucket: str,
    context: Any, fields: dict[str, Any],
) -> tuple[dict[str, Any], str | None, str]:
    from lambda_handler.handler import s3_client
    from lambda_handler.thumbnail import ThumbnailError

    place = rendition.where(config, source_bucket, context)
    server = rendition.Server(s3_client(), config, place, req, choice)
    try:
        outcome = rendition.serve(server)
    except rendition.SourceMissing as exc:
        return respond.error(404, "not_found", f"no image {exc.args[0]}"), None, "info"
    except ThumbnailError as err:
        fields.update(error=err.kind, reason=err.reason)
        return respond.error(422, err.kind, err.reason), None, "error"
    except rendition.S3Trouble as trouble:
        transient = is_transient(trouble.exc)
        code = error_code(trouble.exc) or type(trouble.exc).__name__
        fields.update(operation=trouble.operation, error=code, transient=transient)
        if transient:
            return respond.error(503, "unavailable", f"S3 is busy ({code}); try again",
                                 {"Retry-After": "1"}), None, "error"
        return respond.error(500, "s3_error", f"{trouble.operation} failed: {code}"), None, (
            "error")
    except Exception as exc:  # a bug of ours: logged with its traceback, never sent
        fields.update(error="internal", reason=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc())
        return respond.error(500, "internal", "the function failed; see its logs"), None, "error"
    fields.update(key=outcome.key, bytes=outcome.bytes or None)
    return outcome.response, outcome.how, "info"
