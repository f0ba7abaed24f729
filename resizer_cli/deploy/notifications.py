"""Merging our entry into a bucket's notification configuration (pure functions).

`put_bucket_notification_configuration` replaces the whole configuration, so we always read it,
change only our entry, and write it all back. Entries that S3 would reject as overlapping, and
wirings that would make the function trigger itself, are refused before anything changes.
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


def our_entry(notification_id: str, function_arn: str, prefix: str) -> dict[str, Any]:
    return {
        "Id": notification_id,
        "LambdaFunctionArn": function_arn,
        "Events": [EVENT],
        # S3's API (and moto) spell the rule names in lower case.
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
    }


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
    """Our Id *and* our function: a rule someone else made (even one invoking our function,
    or one reusing our Id) is theirs, and is never rewritten or removed."""
    return entry.get("Id") == notification_id and entry.get("LambdaFunctionArn") == function_arn


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
    entry: dict[str, Any],
    notification_id: str,
    function_arn: str,
) -> None:
    found = conflicts(config, entry, notification_id, function_arn)
    if found:
        prefix, _ = filter_rules(entry)
        raise ResizerError(
            f"bucket {bucket} already has a notification overlapping ours "
            f"(s3:ObjectCreated:* on prefix {prefix!r}): {'; '.join(found)}",
            "S3 rejects overlapping rules: narrow or remove that rule, or use another bucket",
        )


def check_no_recursion(
    source_bucket: str,
    dest_bucket: str,
    source_prefix: str,
    dest_prefix: str,
    results_prefix: str,
) -> None:
    """Refuse wiring where the function's own writes would trigger it again."""
    if source_bucket != dest_bucket:
        return
    for what, prefix in (("thumbnails", dest_prefix), ("result records", results_prefix)):
        if _prefixes_overlap(prefix, source_prefix):
            raise ResizerError(
                f"the function would trigger itself: it writes {what} to "
                f"s3://{dest_bucket}/{prefix} inside the watched s3://{source_bucket}/{source_prefix}",
                "use a different destination bucket, or prefixes that do not overlap",
            )


def merge(
    config: dict[str, Any], entry: dict[str, Any], notification_id: str, function_arn: str
) -> dict[str, Any]:
    """The configuration with our entry replaced in place (or appended); the rest untouched."""
    out = copy.deepcopy(clean(config))
    lambdas: list[dict[str, Any]] = []
    placed = False
    for e in out.get("LambdaFunctionConfigurations", []):
        if is_ours(e, notification_id, function_arn):
            if not placed:
                lambdas.append(copy.deepcopy(entry))
                placed = True
            continue
        lambdas.append(e)
    if not placed:
        lambdas.append(copy.deepcopy(entry))
    out["LambdaFunctionConfigurations"] = lambdas
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
