"""Fault injection: our own seam for AWS behaviour that moto does not show.

Tests install faults here (or, for a `resizer` subprocess, through the RESIZER_FAULTS
environment variable holding a JSON list). Every client made by `resizer_cli.aws` consults
this before each API call, so the code under test runs unchanged.

A fault: {"service": "lambda", "operation": "CreateFunction",
          "code": "InvalidParameterValueException", "message": "...",
          "times": 3, "after": 0, "kind": "client_error" | "interrupt" | "bug"}
`after` lets that many matching calls through first; `times` is how many then fail.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError


@dataclass
class Fault:
    service: str
    operation: str
    code: str = "ThrottlingException"
    message: str = "Rate exceeded"
    times: int = 1
    after: int = 0
    # or "interrupt": raise KeyboardInterrupt, as Ctrl-C would; "bug": an unexpected exception
    kind: str = "client_error"
    status: int = 400
    seen: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def matches(self, service: str, operation: str) -> bool:
        return self.service in (service, "*") and self.operation in (operation, "*")


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
        return sum(f.fired for f in _faults if f.matches(service, operation))


def _load_env() -> None:
    global _loaded_env
    if _loaded_env:
        return
    _loaded_env = True
    raw = os.environ.get("RESIZER_FAULTS")
    if raw:
        _faults.extend(Fault(**spec) for spec in json.loads(raw))


def check(service: str, operation: str) -> None:
    """Raise the next injected fault for this call, if any."""
    with _lock:
        _load_env()
        for fault in _faults:
            if not fault.matches(service, operation):
                continue
            fault.seen += 1
            if fault.seen <= fault.after or fault.fired >= fault.times:
                continue
            fault.fired += 1
            break
        else:
            return
    if fault.kind == "interrupt":
        raise KeyboardInterrupt
    if fault.kind == "bug":
        raise RuntimeError(f"injected bug in {service}.{operation}")
    response: dict[str, Any] = {
        "Error": {"Code": fault.code, "Message": fault.message},
        "ResponseMetadata": {"HTTPStatusCode": fault.status},
    }
    raise ClientError(response, operation)
