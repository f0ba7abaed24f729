"""Rendering of CloudWatch log events: Lambda's START/END/REPORT lines made readable.

Human formats return rich `Text` (styles are dropped by rich when stdout is not a terminal);
messages are never parsed as markup, so a log line with brackets prints as written.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from rich.text import Text

from resizer_cli.ops.reports import FIELDS, parse_report

FORMATS = ("short", "detailed", "json")

_START_RE = re.compile(r"^START RequestId: (?P<id>\S+)(?: Version: (?P<version>\S+))?")
_END_RE = re.compile(r"^END RequestId: (?P<id>\S+)")


def classify(message: str) -> dict[str, Any]:
    """What a log line is: {"type": start|end|report|init|log, ...fields}."""
    line = message.rstrip("\n")
    if m := _START_RE.match(line):
        return {"type": "start", "request_id": m.group("id"), "version": m.group("version")}
    if m := _END_RE.match(line):
        return {"type": "end", "request_id": m.group("id")}
    if (report := parse_report(line)) is not None:
        info: dict[str, Any] = {"type": "report", "request_id": report.request_id}
        for attr in (*FIELDS.values(), "status", "error_type"):
            value = getattr(report, attr)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if value is not None:
                info[attr] = value
        return info
    if line.startswith("INIT_START"):
        return {"type": "init"}
    return {"type": "log"}


def event_time(event: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(event["timestamp"]) / 1000, tz=UTC)


def _iso(event: dict[str, Any]) -> str:
    return event_time(event).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(value: float | int | None) -> str:
    if value is None:
        return "?"
    return f"{value:g} ms" if isinstance(value, int) else f"{value:.2f} ms"


def _report_text(info: dict[str, Any], short: bool) -> Text:
    rid = info["request_id"]
    text = Text()
    text.append("● REPORT ", style="bold blue")
    text.append(rid[:8] if short else rid, style="dim")
    text.append("  duration ")
    text.append(_ms(info.get("duration_ms")), style="bold cyan")
    if info.get("billed_ms") is not None:
        text.append(f" (billed {_ms(info['billed_ms'])})", style="dim")
    used, size = info.get("max_memory_mb"), info.get("memory_mb")
    if used is not None or size is not None:
        text.append("  memory ")
        heavy = used is not None and size and used >= 0.9 * size
        text.append(f"{used if used is not None else '?'}/{size if size else '?'} MB",
                    style="bold red" if heavy else "bold magenta")
    if info.get("init_ms") is not None:
        text.append("  init ")
        text.append(_ms(info["init_ms"]), style="bold yellow")
    return text


_LEVEL_STYLE = {"error": "bold red", "warning": "bold yellow", "warn": "bold yellow"}


def _handler_line(message: str) -> Text | None:
    """The handler's one JSON line per image, condensed; None for anything else."""
    if not message.startswith("{"):
        return None
    try:
        doc = json.loads(message)
    except ValueError:
        return None
    if not isinstance(doc, dict) or "event" not in doc or "level" not in doc:
        return None
    text = Text()
    level = str(doc.get("level"))
    text.append(str(doc["event"]), style=_LEVEL_STYLE.get(level, "bold"))
    if doc.get("key"):
        text.append(f" {doc['key']}")
    if doc.get("width") and doc.get("height"):
        text.append(f" {doc['width']}x{doc['height']}", style="dim")
    outputs = doc.get("outputs")
    if isinstance(outputs, list) and outputs:
        sizes = ", ".join(f"{o.get('width')}x{o.get('height')}" for o in outputs
                          if isinstance(o, dict))
        text.append(f" → {sizes}")
    if doc.get("error") or doc.get("reason"):
        text.append(f" {doc.get('error') or 'error'}: {doc.get('reason') or ''}".rstrip(": "),
                    style="red")
    if isinstance(doc.get("ms"), int | float):
        text.append(f" ({doc['ms']} ms)", style="dim")
    return text


def render(event: dict[str, Any], fmt: str = "short") -> Text:
    """One event as a line for humans (short or detailed)."""
    message = str(event.get("message", "")).rstrip("\n")
    info = classify(message)
    short = fmt != "detailed"
    line = Text()
    if short:
        line.append(event_time(event).strftime("%H:%M:%S.%f")[:-3], style="dim")
    else:
        line.append(_iso(event), style="dim")
        line.append(f" {event.get('logStreamName', '')}", style="dim cyan")
    line.append("  ")
    kind = info["type"]
    rid = info.get("request_id", "")
    if kind == "start":
        line.append("▶ START ", style="bold green")
        line.append(rid[:8] if short else rid, style="dim")
        if info.get("version") and not short:
            line.append(f" {info['version']}", style="dim")
    elif kind == "end":
        line.append("■ END ", style="bold green")
        line.append(rid[:8] if short else rid, style="dim")
    elif kind == "report":
        line.append_text(_report_text(info, short))
    elif kind == "init":
        line.append(message, style="dim")
    elif short and (condensed := _handler_line(message)) is not None:
        line.append_text(condensed)
    else:
        line.append(message)
    return line


def to_json(event: dict[str, Any]) -> dict[str, Any]:
    """One event as a JSON object (documented in the README)."""
    message = str(event.get("message", "")).rstrip("\n")
    out: dict[str, Any] = {
        "timestamp": int(event["timestamp"]),
        "time": _iso(event),
        "stream": event.get("logStreamName"),
        "event_id": event.get("eventId"),
        "message": message,
    }
    out.update(classify(message))
    return out
