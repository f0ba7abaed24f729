"""What exists, how it differs from the settings (drift), hashes, and recent invocations."""

from __future__ import annotations

import base64
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from resizer_cli.aws import Target
from resizer_cli.deploy import async_invoke, desired_api, inventory_api, notifications, stack
from resizer_cli.deploy.apply import translate
from resizer_cli.deploy.desired import desired_state
from resizer_cli.deploy.plan import plan
from resizer_cli.deploy.stack import (
    CodeProvider,
    effective_architecture,
    inventory_for,
)
from resizer_cli.errors import ResizerError, error_code
from resizer_cli.logscan import ERROR_PATTERN, REPORT_PATTERN, count_lines, is_error_line

WINDOW_S = 3600
MAX_PAGES = 200  # a safety net: at 10,000 events a page, far beyond "recent"


def recent_invocations(
    target: Target, log_group: str, *, now: float | None = None
) -> dict[str, Any]:
    """Count REPORT lines (one per invocation) and error lines in the last hour."""
    logs = target.client("logs")
    end = int((now if now is not None else time.time()) * 1000)
    start = end - WINDOW_S * 1000
    invocations = errors = 0
    last_error = ""
    truncated = False
    try:
        invocations, _, cut = count_lines(
            logs, log_group, start, REPORT_PATTERN, lambda m: m.startswith("REPORT "),
            max_pages=MAX_PAGES,
        )
        errors, last_error, cut2 = count_lines(
            logs, log_group, start, ERROR_PATTERN, is_error_line, max_pages=MAX_PAGES
        )
        truncated = cut or cut2
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    return {
        "window_minutes": WINDOW_S // 60,
        "invocations": invocations,
        "errors": errors,
        "last_error": last_error.strip()[:200] or None,
        "truncated": truncated,
    }


def stack_status(
    target: Target, *, code: CodeProvider | None = None
) -> dict[str, Any]:
    target = stack.with_discovered_source(target)
    settings = target.settings
    bundle = (code or stack.default_sources().code)(settings)
    # The layer is not rebuilt here (that may download wheels): drift compares against the
    # latest version we published.
    d = desired_state(
        settings,
        target.names,
        architecture=effective_architecture(settings),
        code_sha256=bundle.sha256,
        code_path=bundle.path,
    )
    inv = inventory_for(target, d)
    d = desired_api.settle(d, inv)
    if not inv.anything:
        raise target.stack_not_found()
    problems: list[str] = []
    try:
        drift = [a.to_json() for a in plan(d, inv).actions]
    except ResizerError as exc:
        drift = []
        problems.append(str(exc))

    fn = inv.function
    deployed_code = fn.config.get("CodeSha256") if fn else None
    local_code = base64.b64encode(bytes.fromhex(bundle.sha256)).decode()
    in_use = fn.layers if fn else []
    layer_info = [
        {"version": v.version, "arn": v.arn, "sha256": v.sha256, "in_use": v.arn in in_use}
        for v in inv.layers
    ]
    ours = notifications.find_ours(inv.source.notification, d.notification_id, d.function_arn)
    resources = {
        "source_bucket": {
            "name": d.source_bucket,
            "exists": inv.source.exists,
            "owned": d.owns_source_bucket,
        },
        "dest_bucket": {"name": d.dest_bucket, "exists": inv.dest.exists},
        "log_group": {
            "name": d.log_group,
            "exists": inv.log_group is not None,
            "retention_days": inv.log_group.retention_days if inv.log_group else None,
        },
        "role": {"name": d.role, "exists": inv.role is not None},
        "function": {
            "name": d.function,
            "exists": fn is not None,
            "runtime": fn.config.get("Runtime") if fn else None,
            "architecture": (fn.config.get("Architectures") or [None])[0] if fn else None,
            "memory": fn.config.get("MemorySize") if fn else None,
            "timeout": fn.config.get("Timeout") if fn else None,
            "state": fn.config.get("State") if fn else None,
            "last_update": fn.config.get("LastUpdateStatus") if fn else None,
            # None: no reservation (the account's unreserved pool); 0: nothing runs.
            "reserved_concurrency": fn.reserved_concurrency if fn else None,
            "paused": fn is not None and fn.reserved_concurrency == 0,
        },
        "permission": {
            "name": d.permission_sid,
            "exists": any(s.get("Sid") == d.permission_sid for s in inv.permissions),
        },
        "notification": {"name": d.notification_id, "exists": bool(ours),
                         "events": sorted(e for o in ours for e in o.get("Events", []))},
        "async_config": {"name": d.function, "exists": inv.event_invoke is not None,
                         **async_invoke.describe(inv.event_invoke)},
        "layer": {"name": d.layer_name, "versions": layer_info},
        **inventory_api.report(target, d.stack, inv, wanted=d.api is not None),
    }
    try:
        activity = (
            recent_invocations(target, d.log_group)
            if inv.log_group
            else {"window_minutes": 60, "invocations": 0, "errors": 0, "last_error": None}
        )
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, "reading recent logs") from None
    return {
        "stack": settings.stack,
        "target": settings.target,
        "settings": settings.to_json(),
        "resources": resources,
        "code": {
            "deployed_sha256": deployed_code,
            "local_sha256": local_code,
            "up_to_date": deployed_code == local_code,
        },
        "drift": drift,
        "problems": problems,
        "in_sync": not drift and not problems,
        "recent": activity,
    }
