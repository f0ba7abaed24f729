"""Lambda's REPORT line, one per invocation, parsed into numbers.

    REPORT RequestId: 8f5…  Duration: 102.25 ms  Billed Duration: 103 ms  Memory Size: 512 MB
    Max Memory Used: 71 MB  Init Duration: 184.91 ms

Fields are tab-separated. Newer runtimes add `Status: error|timeout` and `Error Type: …` when an
invocation fails; SnapStart functions have `Restore Duration` instead of `Init Duration`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_REPORT_RE = re.compile(r"^REPORT RequestId: (?P<id>\S+)")
_FIELD_RE = re.compile(r"(?P<name>[A-Za-z][A-Za-z ]*?): (?P<value>[^\t]+?)\s*(?:\t|$)")
_NUM_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)")

# REPORT field name -> attribute
FIELDS = {
    "Duration": "duration_ms",
    "Billed Duration": "billed_ms",
    "Memory Size": "memory_mb",
    "Max Memory Used": "max_memory_mb",
    "Init Duration": "init_ms",
    "Restore Duration": "restore_ms",
}


@dataclass(frozen=True)
class Report:
    request_id: str
    duration_ms: float | None = None
    billed_ms: float | None = None
    memory_mb: float | None = None
    max_memory_mb: float | None = None
    init_ms: float | None = None
    restore_ms: float | None = None
    status: str | None = None  # "error", "timeout"… when the runtime says so
    error_type: str | None = None

    @property
    def cold(self) -> bool:
        return self.init_ms is not None or self.restore_ms is not None


def number(value: str) -> float | None:
    head = value.strip().split(" ", 1)[0]
    if head.replace(".", "", 1).isdigit():  # the usual "102.25 ms": no regex needed
        return float(head)
    m = _NUM_RE.match(value.strip())
    return float(m.group(1)) if m else None


_PREFIX = "REPORT RequestId: "


def parse_report(message: str) -> Report | None:
    """The REPORT line's fields, or None if `message` is not a REPORT line."""
    if not message.startswith(_PREFIX):
        return None
    # Fields are tab-separated: split and partition (stats parses hundreds of thousands).
    first, *rest = message.rstrip().split("\t")
    request_id = first[len(_PREFIX):]
    if not request_id or " " in request_id:  # not the usual layout: the general parser
        return _parse_loose(message)
    values: dict[str, float | str | None] = {}
    for part in rest:
        name, sep, raw = part.partition(": ")
        if sep and raw.strip():
            _field(values, name.strip(), raw.strip())
    return Report(request_id, **values)  # type: ignore[arg-type]


def _field(values: dict[str, float | str | None], name: str, raw: str) -> None:
    if name in FIELDS:
        values[FIELDS[name]] = number(raw)
    elif name == "Status":
        values["status"] = raw
    elif name == "Error Type":
        values["error_type"] = raw


def _parse_loose(message: str) -> Report | None:
    m = _REPORT_RE.match(message)
    if not m:
        return None
    values: dict[str, float | str | None] = {}
    for f in _FIELD_RE.finditer(message[m.end():]):
        _field(values, f.group("name").strip(), f.group("value").strip())
    return Report(m.group("id"), **values)  # type: ignore[arg-type]
