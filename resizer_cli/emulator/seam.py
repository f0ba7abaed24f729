"""The patch that puts our runtime where moto would start a Docker container.

moto 5.x stores functions and layers fully but executes them only in Docker, inside
`LambdaFunction._invoke_lambda(self, event)`. We replace exactly that step, plus the two places
that decide *when* it runs:

- `LambdaFunction.invoke(self, body, request_headers, response_headers)`: InvocationType=Event
  is queued (202 at once) instead of running inline, and errors are reported as `Unhandled`.
- `moto.s3.notifications._invoke_awslambda(account_id, event_body, fn_arn, region_name)`: the
  S3 event path enqueues asynchronously, so an upload's PUT returns at once, as on AWS.

moto's `S3Backend.complete_multipart_upload` stores the object through `put_object`, which
sends an `ObjectCreated:Put` event, and then sends `ObjectCreated:CompleteMultipartUpload`;
S3 sends only the second, so the first is dropped (one invocation per upload, as on AWS).

Moto's CloudWatch Logs backend is not thread-safe (its own TODO says so) and our runtime writes
to it from worker threads while the server reads it, so its methods get one lock.

`tests/emulator/test_emulator_seam.py` fails loudly if any of these move in a moto upgrade.
"""

from __future__ import annotations

import functools
import json
import threading
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from moto.awslambda import models as lambda_models
from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.utils import get_backend
from moto.logs import models as logs_models
from moto.s3 import notifications
from moto.s3.models import S3Backend

from resizer_cli.emulator import destinations, motofixes
from resizer_cli.emulator.runtime import INVALID_ZIP, FunctionSpec, Runtime, Throttled

ORIGINAL_INVOKE_LAMBDA = lambda_models.LambdaFunction._invoke_lambda
ORIGINAL_INVOKE = lambda_models.LambdaFunction.invoke
ORIGINAL_S3_INVOKE = notifications._invoke_awslambda
ORIGINAL_COMPLETE_MULTIPART = S3Backend.complete_multipart_upload

# Parameters the patch relies on (checked by the seam test against the installed moto).
EXPECTED_PARAMETERS = {
    "LambdaFunction._invoke_lambda": ["self", "event"],
    "LambdaFunction.invoke": ["self", "body", "request_headers", "response_headers"],
    "notifications._invoke_awslambda": ["account_id", "event_body", "fn_arn", "region_name"],
    "S3Backend.complete_multipart_upload": ["self", "bucket_name", "multipart_id", "body"],
}

_LOGS_METHODS = (
    "create_log_group", "ensure_log_group", "delete_log_group", "describe_log_groups",
    "create_log_stream", "delete_log_stream", "describe_log_streams", "put_log_events",
    "get_log_events", "filter_log_events", "put_retention_policy",
)

_runtime: Runtime | None = None
_completing = threading.local()  # set while moto completes a multipart upload in this thread
_logs_lock = threading.RLock()


class MotoLogSink:
    """Writes straight into moto's in-process CloudWatch Logs backend of the function's region."""

    def _backend(self, account: str, region: str) -> Any:
        return logs_models.logs_backends[account][region]

    def create_stream(self, account: str, region: str, group: str, stream: str) -> None:
        backend = self._backend(account, region)
        with _logs_lock:
            # Lambda's execution role creates the group on first write (logs:CreateLogGroup).
            backend.ensure_log_group(group)
            if stream not in backend.groups[group].streams:
                backend.create_log_stream(group, stream)

    def put(
        self, account: str, region: str, group: str, stream: str, events: list[dict[str, Any]]
    ) -> None:
        backend = self._backend(account, region)
        with _logs_lock:
            if group not in backend.groups or stream not in backend.groups[group].streams:
                self.create_stream(account, region, group, stream)  # group deleted meanwhile
            backend.put_log_events(group, stream, events)


def spec_from_moto(fn: Any) -> FunctionSpec:
    """Snapshot of a moto LambdaFunction, reading code and layers from moto's stored bytes."""
    backend = get_backend(fn.account_id, fn.region)

    def layer_code(arn: str) -> bytes:
        layer = backend.layers_versions_by_arn(arn)
        return bytes(getattr(layer, "code_bytes", b"") or b"") if layer else b""

    retries, max_age, on_failure = destinations.async_settings(fn)

    def exists() -> bool:
        try:
            return backend.get_function(fn.function_name) is not None
        except Exception:
            return False

    reserved = fn.reserved_concurrency
    code_bytes = getattr(fn, "code_bytes", b"") or b""
    return FunctionSpec(
        account=fn.account_id,
        region=fn.region,
        name=fn.function_name,
        arn=fn.function_arn,
        version=str(fn.version),
        handler=fn.handler or "",
        runtime=fn.run_time or "",
        memory_mb=int(fn.memory_size),
        timeout_s=float(fn.timeout),
        env={str(k): str(v) for k, v in (fn.environment_vars or {}).items()},
        code_sha256=getattr(fn, "code_sha_256", "") or "",
        layer_arns=tuple(layer["Arn"] for layer in fn.layers),
        code=lambda: bytes(code_bytes),
        layer_code=layer_code,
        reserved_concurrency=int(reserved) if reserved not in (None, "") else None,
        max_retries=retries,
        exists=exists,
        max_event_age_s=max_age,
        on_failure=on_failure,
    )


def _resolver(account: str, region: str, name: str, qualifier: str | None) -> Any:
    def resolve() -> FunctionSpec | None:
        try:
            fn = get_backend(account, region).get_function(name, qualifier)
        except Exception:
            return None
        return spec_from_moto(fn) if fn is not None else None

    return resolve


def runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the resizer emulator seam is not installed")
    return _runtime


class InvalidZipFile(LambdaClientError):
    """What Invoke answers when Lambda cannot unzip the deployment package."""

    code = 502

    def __init__(self, message: str) -> None:
        super().__init__(INVALID_ZIP, message)


class TooManyRequests(LambdaClientError):
    """Invoke's answer for a function that may run nothing now (reserved concurrency 0)."""

    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")


def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
    """Replacement for moto's Docker execution: run in our runtime, synchronously."""
    if event is None or event == "{}":
        event = {}
    try:
        result = runtime().invoke(spec_from_moto(self), json.dumps(event))
    except Throttled:
        raise TooManyRequests() from None
    if result.error_type == INVALID_ZIP:
        raise InvalidZipFile(json.loads(result.payload)["errorMessage"])
    return result.payload, result.failed, result.log_tail


def _submit(fn: Any, body: str | None) -> str:
    spec = spec_from_moto(fn)
    qualifier = None if str(fn.version) == "$LATEST" else str(fn.version)
    return runtime().submit(
        spec, _resolver(spec.account, spec.region, spec.name, qualifier), body or "{}"
    )


def _invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
    invocation_type = request_headers.get("x-amz-invocation-type", "RequestResponse")
    if invocation_type == "Event":
        response_headers["x-amzn-requestid"] = _submit(self, body)
        return b""
    if invocation_type == "DryRun":
        return b""
    result = ORIGINAL_INVOKE(self, body, request_headers, response_headers)
    if "x-amz-function-error" in response_headers:
        response_headers["x-amz-function-error"] = "Unhandled"  # what Lambda says for these
    response_headers["x-amz-executed-version"] = str(self.version)
    return result


def _invoke_awslambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
    """S3 → Lambda is asynchronous on AWS: queue it; a missing function is silently dropped."""
    records = event_body.get("Records", [])
    if getattr(_completing, "active", False) and any(
        r.get("eventName") == "ObjectCreated:Put" for r in records
    ):
        return  # moto's extra event for a multipart upload: S3 sends only the Complete one
    try:
        fn = get_backend(account_id, region_name).get_function(fn_arn)
    except Exception:
        return
    for record in records:
        obj = record.get("s3", {}).get("object", {})
        if "key" in obj:  # moto encodes "/" too; S3 keeps it: "raw/a+b%2Bc.jpg"
            obj["key"] = quote_plus(unquote_plus(obj["key"]), safe="/")
    _submit(fn, json.dumps(event_body))


def _complete_multipart_upload(self: Any, *args: Any, **kwargs: Any) -> Any:
    _completing.active = True
    try:
        return ORIGINAL_COMPLETE_MULTIPART(self, *args, **kwargs)
    finally:
        _completing.active = False


def _locked(method: Any) -> Any:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _logs_lock:
            return method(*args, **kwargs)

    wrapper.__resizer_locked__ = True  # type: ignore[attr-defined]
    return wrapper


def install(rt: Runtime) -> None:
    """Patch moto (in this process) so that Lambda functions run in `rt`."""
    global _runtime
    _runtime = rt
    rt.failures = destinations.MotoFailureSink()  # failed async events, into moto's S3
    motofixes.install()
    lambda_models.LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
    lambda_models.LambdaFunction.invoke = _invoke  # type: ignore[method-assign]
    notifications._invoke_awslambda = _invoke_awslambda
    S3Backend.complete_multipart_upload = _complete_multipart_upload  # type: ignore[method-assign]
    for name in _LOGS_METHODS:
        method = getattr(logs_models.LogsBackend, name, None)
        if method is not None and not getattr(method, "__resizer_locked__", False):
            setattr(logs_models.LogsBackend, name, _locked(method))
