"""What is ours: the tag rule, deliberate adoption, and the journal of buckets being made.

Whatever carries one of our names without our tag was not made by resizer, so it is never
changed or deleted: `setup` stops and names it, `teardown` leaves it and says so. Two ways
out, both deliberate:
- `setup --adopt NAME` tags an untagged resource for the stack (from then on it is ours);
- a bucket this machine was creating when setup was cut short (CreateBucket and
  PutBucketTagging are two calls) is remembered in a local journal, so the next setup (or
  teardown) knows it is ours. From another machine, that bucket needs --adopt.
Everything else resizer creates carries its tag from the creating call itself.

HTTP APIs are the exception to adoption: API names are not unique, so an API of our name
without our tag is refused when the stack wants one (never adopted), and otherwise ignored.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from resizer_cli.deploy import notifications
from resizer_cli.deploy.desired import Desired
from resizer_cli.deploy.inventory import BucketState, Inventory
from resizer_cli.errors import ResizerError
from resizer_cli.naming import TAG_KEY
from resizer_cli.paths import state_dir


def _journal(bucket: str) -> Path:
    folder = state_dir() / "creating"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{bucket}.json"


def note_creating(bucket: str, stack: str) -> None:
    """Before CreateBucket: if we are cut short after it, the bucket is still known as ours."""
    path = _journal(bucket)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"stack": stack, "since": int(time.time())}))
    tmp.replace(path)


def done_creating(bucket: str) -> None:
    _journal(bucket).unlink(missing_ok=True)


def was_creating(bucket: str, stack: str) -> bool:
    try:
        return json.loads(_journal(bucket).read_text()).get("stack") == stack
    except (OSError, ValueError):
        return False


def describe_tag(tags: dict[str, str], stack: str) -> str | None:
    """Why a tagged-or-not resource is not ours; None when it is."""
    owner = tags.get(TAG_KEY)
    if owner == stack:
        return None
    if owner is None:
        return "no resizer:stack tag"
    return f"tagged for stack {owner}"


def _bucket_problem(bucket: BucketState, stack: str, adopt: set[str]) -> str | None:
    if not bucket.exists:
        return None
    why = describe_tag(bucket.tags, stack)
    if why is None:
        return None
    if not bucket.tagged and (bucket.name in adopt or was_creating(bucket.name, stack)):
        return None
    return f"bucket {bucket.name} ({why})"


def foreign(d: Desired, inv: Inventory, adopt: Iterable[str] = ()) -> list[str]:
    """Resources under our names that are not ours (and not adopted), each with the reason."""
    chosen = set(adopt)
    found: list[str] = []

    def check(kind: str, name: str, tags: dict[str, str]) -> None:
        why = describe_tag(tags, d.stack)
        if why is not None and not (TAG_KEY not in tags and name in chosen):
            found.append(f"{kind} {name} ({why})")

    buckets = ([inv.source] if d.owns_source_bucket else []) + [inv.dest]
    for bucket in buckets:
        problem = _bucket_problem(bucket, d.stack, chosen)
        if problem:
            found.append(problem)
    if inv.log_group is not None:
        check("log group", inv.log_group.name, inv.log_group.tags)
    if inv.role is not None:
        check("role", inv.role.name, inv.role.tags)
    if inv.function is not None:
        check("function", d.function, inv.function.tags)
    # Layers cannot be tagged: once a version of ours is there (adopted before), the name is
    # shared, and the versions we did not publish are simply never deleted.
    if inv.foreign_layers and not inv.layers and d.layer_name not in chosen:
        versions = ", ".join(f"v{v.version}" for v in inv.foreign_layers)
        found.append(f"layer {d.layer_name} (versions {versions} not published by resizer)")
    for entry in inv.source.notification.get("LambdaFunctionConfigurations", []):
        # Our rule's Id invoking another function: someone else's rule, never rewritten.
        theirs = entry.get("LambdaFunctionArn") != d.function_arn
        if entry.get("Id") in notifications.our_ids(d.notification_id) and theirs:
            found.append(
                f"notification rule {entry.get('Id')} on bucket {d.source_bucket} "
                f"(it invokes {entry.get('LambdaFunctionArn')})"
            )
    return found


def check(d: Desired, inv: Inventory, adopt: Iterable[str] = ()) -> None:
    """Stop, naming them, when resources with our names are not ours."""
    found = foreign(d, inv, adopt)
    if found:
        raise ResizerError(
            f"resizer did not create {'; '.join(found)}, so it will not change "
            f"{'it' if len(found) == 1 else 'them'}",
            f"remove or rename {'it' if len(found) == 1 else 'them'}, or pass --adopt NAME to "
            f"let stack {d.stack} manage an untagged one",
        )


def check_api(d: Desired, inv: Inventory) -> None:
    """Stop before any change when an HTTP API of our name is not ours and we need one."""
    found = inv.api.foreign if inv.api is not None else []
    if d.api is None or not found:
        return
    named = "; ".join(
        f"HTTP API {a.name} ({a.api_id}, {describe_tag(a.tags, d.stack)})" for a in found
    )
    raise ResizerError(
        f"resizer did not create {named}, so it will not use or change it",
        "delete or rename it, or choose another --stack name (an API is never adopted)",
    )
