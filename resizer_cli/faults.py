"""Fault injection: our own seam for AWS behaviour that moto does not show.

Tests install faults here (or, for a `resizer` subprocess, through the RESIZER_FAULTS
environment variable holding a JSON list). Every client made by `resizer_cli.aws` consults
this before each API call, and again with the parsed response, so the code under test runs
unchanged.

A fault: {"service": "lambda", "operation": "CreateFunction",
          "code": "InvalidParameterValueException", "message": "...",
          "times": 3, "after": 0, "kind": "client_error", "params": {"Bucket": "b"}}
`after` lets that many matching calls through first; `times` is how many then fail.
`params` narrows the match to calls whose API parameters have these values ("*": present
at all, null: absent). Kinds:
- client_error: the call fails with `code`/`message` (and `extra` error fields) before it is
  sent;
- interrupt: KeyboardInterrupt, as Ctrl-C would;
- bug: an unexpected exception (RuntimeError), as a bug of ours would raise;
- connect_error: botocore's EndpointConnectionError, as for a host that does not resolve;
- rewrite: the call goes through, and `fields` are merged into the parsed response (e.g.
  {"State": "Inactive"}).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError

ANY = "*"


@dataclass
class Fault:
    service: str
    operation: str
    code: str = "ThrottlingException"
    message: str = "Rate exceeded"
    times: int = 1
    after: int = 0
    kind: str = "client_error"  # or "interrupt", "bug", "connect_error", "rewrite"
    status: int = 400
    params: dict[str, Any] | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)  # more keys of the Error element
    seen: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def matches(self, service: str, operation: str, params: dict[str, Any] | None) -> bool:
        if self.service not in (service, ANY) or self.operation not in (operation, ANY):
            return False
        for key, want in (self.params or {}).items():
            have = (params or {}).get(key)
            if want is None:
                if have is not None:
                    return False
            elif have is None or (want != ANY and have != want):
                return False
        return True


_lock = threading.Lock()
_faults: list[Fault] = []
_loaded_env = False


def install(*faults: Fault) -> None:
    with _lock:
        _faults.extend(faults)


def clear() -> None:
    with _lock:
        _faults.clear()


def fired(service: str, operation: str) -> int:
    with _lock:
        return sum(
            f.fired
            for f in _faults
            if f.service in (service, ANY) and f.operation in (operation, ANY)
        )


def _load_env() -> None:
    global _loaded_env
    if _loaded_env:
        return
    _loaded_env = True
    raw = os.environ.get("RESIZER_FAULTS")
    if raw:
        _faults.extend(Fault(**spec) for spec in json.loads(raw))


def _next(
    service: str, operation: str, params: dict[str, Any] | None, rewrite: bool
) -> Fault | None:
    with _lock:
        _load_env()
        for fault in _faults:
            if (fault.kind == "rewrite") != rewrite:
                continue
            if not fault.matches(service, operation, params):
                continue
            fault.seen += 1
            if fault.seen <= fault.after or fault.fired >= fault.times:
                continue
            fault.fired += 1
            return fault
    return None


def check(service: str, operation: str, params: dict[str, Any] | None = None) -> None:
    """Raise the next injected fault for this call, if any."""
    fault = _next(service, operation, params, rewrite=False)
    if fault is None:
        return
    if fault.kind == "interrupt":
        raise KeyboardInterrupt
    if fault.kind == "bug":
        raise RuntimeError(f"injected bug in {service}.{operation}")
    if fault.kind == "connect_error":
        raise EndpointConnectionError(endpoint_url=fault.message)
    response: dict[str, Any] = {
        "Error": {"Code": fault.code, "Message": fault.message, **fault.extra},
        "ResponseMetadata": {"HTTPStatusCode": fault.status},
    }
    raise ClientError(response, operation)


def rewrite(
    service: str, operation: str, params: dict[str, Any] | None, parsed: dict[str, Any]
) -> None:
    """Merge the next matching rewrite fault's fields into a parsed response."""
    fault = _next(service, operation, params, rewrite=True)
    if fault is not None:
        parsed.update(fault.fields)
