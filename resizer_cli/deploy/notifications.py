"""Merging our entries into a bucket's notification configuration (pure functions).

`put_bucket_notification_configuration` replaces the whole configuration, so we always read it,
change only our entries, and write it all back. We have two: uploads (`s3:ObjectCreated:*`) make
thumbnails, deletions (`s3:ObjectRemoved:*`) remove them; both invoke our function on the source
prefix and are told apart by their Ids. An upload entry that S3 would reject as overlapping a
foreign rule, and wirings that would make the function trigger itself, are refused before
anything changes; a foreign rule on the deletions of the prefix only leaves ours out (deletions
are then not followed), since refusing would stop a stack that worked before.
"""

from __future__ import annotations

import copy
from typing import Any

from resizer_cli.errors import ResizerError

KINDS = ("LambdaFunctionConfigurations", "QueueConfigurations", "TopicConfigurations")
_TARGET_KEY = {
    "LambdaFunctionConfigurations": "LambdaFunctionArn",
    "QueueConfigurations": "QueueArn",
    "TopicConfigurations": "TopicArn",
}
EVENT = "s3:ObjectCreated:*"
REMOVED_EVENT = "s3:ObjectRemoved:*"
REMOVED_SUFFIX = "-removed"
Entries = dict[str, Any] | list[dict[str, Any]]


def removal_id(notification_id: str) -> str:
    """The Id of our deletions entry, derived from the uploads entry's."""
    return notification_id + REMOVED_SUFFIX


def our_ids(notification_id: str) -> tuple[str, str]:
    return notification_id, removal_id(notification_id)


def our_entry(
    notification_id: str, function_arn: str, prefix: str, event: str = EVENT
) -> dict[str, Any]:
    return {
        "Id": notification_id,
        "LambdaFunctionArn": function_arn,
        "Events": [event],
        # S3's API (and moto) spell the rule names in lower case.
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
    }


def our_entries(notification_id: str, function_arn: str, prefix: str) -> list[dict[str, Any]]:
    """Uploads first, then deletions, on the same prefix."""
    return [
        our_entry(notification_id, function_arn, prefix),
        our_entry(removal_id(notification_id), function_arn, prefix, REMOVED_EVENT),
    ]


def _as_list(entries: Entries) -> list[dict[str, Any]]:
    return [entries] if isinstance(entries, dict) else list(entries)


def clean(config: dict[str, Any] | None) -> dict[str, Any]:
    """The configuration without response metadata or empty lists."""
    if not config:
        return {}
    return {k: v for k, v in config.items() if k != "ResponseMetadata" and v not in ([], None)}


def filter_rules(entry: dict[str, Any]) -> tuple[str, str]:
    """(prefix, suffix) of an entry; empty strings match everything."""
    prefix = suffix = ""
    for rule in entry.get("Filter", {}).get("Key", {}).get("FilterRules", []):
        name = str(rule.get("Name", "")).lower()
        if name == "prefix":
            prefix = str(rule.get("Value", ""))
        elif name == "suffix":
            suffix = str(rule.get("Value", ""))
    return prefix, suffix


def is_ours(entry: dict[str, Any], notification_id: str, function_arn: str) -> bool:
    """One of our Ids *and* our function: a rule someone else made (even one invoking our
    function, or one reusing our Id) is theirs, and is never rewritten or removed."""
    return (
        entry.get("Id") in our_ids(notification_id)
        and entry.get("LambdaFunctionArn") == function_arn
    )


def find_ours(
    config: dict[str, Any], notification_id: str, function_arn: str
) -> list[dict[str, Any]]:
    return [
        e
        for e in config.get("LambdaFunctionConfigurations", [])
        if is_ours(e, notification_id, function_arn)
    ]


def same_entry(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        a.get("Id") == b.get("Id")
        and a.get("LambdaFunctionArn") == b.get("LambdaFunctionArn")
        and sorted(a.get("Events", [])) == sorted(b.get("Events", []))
        and filter_rules(a) == filter_rules(b)
    )


def same_entries(found: list[dict[str, Any]], wanted: Entries) -> bool:
    """Exactly the wanted entries, once each (order aside)."""
    want = _as_list(wanted)
    if len(found) != len(want):
        return False
    by_id = {e.get("Id"): e for e in found}
    return len(by_id) == len(found) and all(
        w.get("Id") in by_id and same_entry(by_id[w.get("Id")], w) for w in want
    )


def events_overlap(a: list[str], b: list[str]) -> bool:
    for x in a:
        for y in b:
            fx, _, sx = x.removeprefix("s3:").partition(":")
            fy, _, sy = y.removeprefix("s3:").partition(":")
            if fx == fy and (sx in ("*", "") or sy in ("*", "") or sx == sy):
                return True
    return False


def _prefixes_overlap(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def _suffixes_overlap(a: str, b: str) -> bool:
    return a.endswith(b) or b.endswith(a)


def conflicts(
    config: dict[str, Any], entry: dict[str, Any], notification_id: str, function_arn: str
) -> list[str]:
    """Explanations of every foreign rule that overlaps `entry` (S3 would reject them)."""
    prefix, suffix = filter_rules(entry)
    found: list[str] = []
    for kind in KINDS:
        for other in config.get(kind, []):
            if kind == "LambdaFunctionConfigurations" and is_ours(
                other, notification_id, function_arn
            ):
                continue
            o_prefix, o_suffix = filter_rules(other)
            if (
                events_overlap(entry["Events"], other.get("Events", []))
                and _prefixes_overlap(prefix, o_prefix)
                and _suffixes_overlap(suffix, o_suffix)
            ):
                target = other.get(_TARGET_KEY[kind], "?")
                found.append(
                    f"rule {other.get('Id', '(no id)')!r} ({', '.join(other.get('Events', []))}, "
                    f"prefix {o_prefix!r}, suffix {o_suffix!r} → {target})"
                )
    return found


def check_no_overlap(
    bucket: str,
    config: dict[str, Any],
    entries: Entries,
    notification_id: str,
    function_arn: str,
) -> None:
    """Refuse when a foreign rule overlaps our uploads entry (the deletions entry is left out
    instead: see `wanted`)."""
    for entry in _as_list(entries):
        if REMOVED_EVENT in entry.get("Events", []):
            continue
        found = conflicts(config, entry, notification_id, function_arn)
        if found:
            prefix, _ = filter_rules(entry)
            raise ResizerError(
                f"bucket {bucket} already has a notification overlapping ours "
                f"({', '.join(entry['Events'])} on prefix {prefix!r}): {'; '.join(found)}",
                "S3 rejects overlapping rules: narrow or remove that rule, or use another bucket",
            )


def wanted(
    config: dict[str, Any], entries: Entries, notification_id: str, function_arn: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """(our entries S3 will accept next to the foreign rules, why any was left out)."""
    keep: list[dict[str, Any]] = []
    left_out: list[str] = []
    for entry in _as_list(entries):
        found = conflicts(config, entry, notification_id, function_arn)
        if found and REMOVED_EVENT in entry.get("Events", []):
            left_out.append(f"deletions are not followed: {'; '.join(found)} overlaps them")
            continue
        keep.append(entry)
    return keep, left_out


def check_no_recursion(
    source_bucket: str,
    dest_bucket: str,
    source_prefix: str,
    dest_prefix: str,
    results_prefix: str,
    failures_prefix: str = "",
) -> None:
    """Refuse wiring where the function's own writes (and deletions of them) would trigger it
    again; `failures_prefix` is where Lambda keeps its failed events, in the same bucket."""
    if source_bucket != dest_bucket:
        return
    for what, prefix in (
        ("thumbnails", dest_prefix),
        ("result records", results_prefix),
        ("failed events", failures_prefix),
    ):
        if not prefix and what == "failed events":
            continue
        if _prefixes_overlap(prefix, source_prefix):
            raise ResizerError(
                f"the function would trigger itself: it writes {what} to "
                f"s3://{dest_bucket}/{prefix} inside the watched s3://{source_bucket}/{source_prefix}",
                "use a different destination bucket, or prefixes that do not overlap",
            )


def merge(
    config: dict[str, Any], entries: Entries, notification_id: str, function_arn: str
) -> dict[str, Any]:
    """The configuration with our entries replaced in place (where the first of ours was, or
    appended); every other rule untouched, and any entry of ours not wanted dropped."""
    out = copy.deepcopy(clean(config))
    ours = [copy.deepcopy(e) for e in _as_list(entries)]
    lambdas: list[dict[str, Any]] = []
    placed = False
    for e in out.get("LambdaFunctionConfigurations", []):
        if is_ours(e, notification_id, function_arn):
            if not placed:
                lambdas += ours
                placed = True
            continue
        lambdas.append(e)
    if not placed:
        lambdas += ours
    if lambdas:
        out["LambdaFunctionConfigurations"] = lambdas
    else:
        out.pop("LambdaFunctionConfigurations", None)
    return out


def remove(config: dict[str, Any], notification_id: str, function_arn: str) -> dict[str, Any]:
    out = copy.deepcopy(clean(config))
    kept = [
        e
        for e in out.get("LambdaFunctionConfigurations", [])
        if not is_ours(e, notification_id, function_arn)
    ]
    if kept:
        out["LambdaFunctionConfigurations"] = kept
    else:
        out.pop("LambdaFunctionConfigurations", None)
    return out
