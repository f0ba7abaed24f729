"""Notification merging: pure rules, then a brought bucket with foreign rules under moto."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from resizer_cli.deploy import notifications as nt
from resizer_cli.deploy.inventory import BucketState, Inventory
from resizer_cli.deploy.plan import plan
from resizer_cli.deploy.stack import compute_plan
from resizer_cli.errors import ResizerError
from resizer_cli.output import Reporter

ARN = "arn:aws:lambda:us-east-1:123456789012:function:resizer-thumbnailer"
OTHER = "arn:aws:lambda:us-east-1:123456789012:function:someone-else"
OURS = nt.our_entry("resizer-resizer-raw", ARN, "raw/")


def rule(rid: str, events: list[str], prefix: str = "", suffix: str = "", arn: str = "x") -> dict:
    rules = []
    if prefix:
        rules.append({"Name": "prefix", "Value": prefix})
    if suffix:
        rules.append({"Name": "Suffix", "Value": suffix})
    entry: dict[str, Any] = {"Id": rid, "Events": events}
    if rules:
        entry["Filter"] = {"Key": {"FilterRules": rules}}
    return entry | {"LambdaFunctionArn": arn}


def queue(rid: str, events: list[str], prefix: str = "") -> dict:
    entry = rule(rid, events, prefix)
    entry.pop("LambdaFunctionArn")
    return entry | {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:q"}


def test_merge_appends_and_keeps_everything_else() -> None:
    config = {
        "LambdaFunctionConfigurations": [rule("other", ["s3:ObjectCreated:*"], "uploads/")],
        "QueueConfigurations": [queue("q", ["s3:ObjectRemoved:*"], "raw/")],
        "EventBridgeConfiguration": {},
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }
    merged = nt.merge(config, OURS, OURS["Id"], ARN)
    assert "ResponseMetadata" not in merged
    assert merged["LambdaFunctionConfigurations"] == [
        config["LambdaFunctionConfigurations"][0],
        OURS,
    ]
    assert merged["QueueConfigurations"] == config["QueueConfigurations"]
    assert merged["EventBridgeConfiguration"] == {}
    assert nt.merge(merged, OURS, OURS["Id"], ARN) == merged  # idempotent


def test_merge_replaces_only_our_own_entry_in_place() -> None:
    stale = rule(OURS["Id"], ["s3:ObjectCreated:Put"], "old/", arn=ARN)  # ours, outdated
    our_id_their_function = rule(OURS["Id"], ["s3:ObjectCreated:*"], "a/", arn=ARN + "-x")
    their_id_our_function = rule("renamed", ["s3:ObjectCreated:*"], "b/", arn=ARN)
    other = rule("other", ["s3:ObjectCreated:*"], "x/")
    config = {
        "LambdaFunctionConfigurations": [
            our_id_their_function, stale, other, their_id_our_function
        ]
    }
    merged = nt.merge(config, OURS, OURS["Id"], ARN)
    # Only the rule with our Id *and* our function is ours; the others are someone's own.
    assert merged["LambdaFunctionConfigurations"] == [
        our_id_their_function, OURS, other, their_id_our_function
    ]
    removed = nt.remove(merged, OURS["Id"], ARN)
    assert removed["LambdaFunctionConfigurations"] == [
        our_id_their_function, other, their_id_our_function
    ]
    assert nt.remove({"LambdaFunctionConfigurations": [OURS]}, OURS["Id"], ARN) == {}


@pytest.mark.parametrize(
    ("other", "overlaps"),
    [
        (rule("a", ["s3:ObjectCreated:Put"], "raw/"), True),
        (rule("b", ["s3:ObjectCreated:*"]), True),  # no filter: matches everything
        (rule("c", ["s3:ObjectCreated:Put"], "raw/photos/", ".jpg"), True),
        (rule("d", ["s3:ObjectCreated:Copy"], "r"), True),  # "r" is a prefix of "raw/"
        (queue("e", ["s3:ObjectCreated:*"], "raw/"), True),  # any destination kind counts
        (rule("f", ["s3:ObjectRemoved:*"], "raw/"), False),  # other event family
        (rule("g", ["s3:ObjectCreated:*"], "uploads/"), False),  # disjoint prefixes
        (rule("h", ["s3:ObjectCreated:*"], "rawfiles/"), False),
    ],
)
def test_overlap_detection(other: dict, overlaps: bool) -> None:
    config = {
        ("QueueConfigurations" if "QueueArn" in other else "LambdaFunctionConfigurations"): [other]
    }
    found = nt.conflicts(config, OURS, OURS["Id"], ARN)
    assert bool(found) is overlaps
    if overlaps:
        with pytest.raises(ResizerError, match=f"rule '{other['Id']}'"):
            nt.check_no_overlap("b", config, OURS, OURS["Id"], ARN)


def test_suffix_overlap_rules() -> None:
    ours_jpg = nt.our_entry("id", ARN, "raw/") | {
        "Filter": {
            "Key": {
                "FilterRules": [
                    {"Name": "prefix", "Value": "raw/"},
                    {"Name": "suffix", "Value": ".jpg"},
                ]
            }
        }
    }
    png = {"LambdaFunctionConfigurations": [rule("p", ["s3:ObjectCreated:*"], "raw/", ".png")]}
    jpg = {"LambdaFunctionConfigurations": [rule("j", ["s3:ObjectCreated:*"], "", "photo.jpg")]}
    assert nt.conflicts(png, ours_jpg, "id", ARN) == []
    assert nt.conflicts(jpg, ours_jpg, "id", ARN) != []


def test_recursion_is_refused() -> None:
    nt.check_no_recursion("src", "dst", "raw/", "raw/thumbs/", "raw/results/")  # other bucket
    nt.check_no_recursion("same", "same", "raw/", "thumbnails/", "results/")  # disjoint prefixes
    with pytest.raises(ResizerError, match="trigger itself"):
        nt.check_no_recursion("same", "same", "raw/", "raw/thumbs/", "results/")
    with pytest.raises(ResizerError, match="result records"):
        nt.check_no_recursion("same", "same", "raw/", "thumbnails/", "raw/results/")
    with pytest.raises(ResizerError, match="trigger itself"):
        nt.check_no_recursion("same", "same", "", "thumbnails/", "results/")


def test_plan_refuses_a_recursive_stack_before_any_change(aws, target_factory, kit) -> None:
    target, calls = target_factory()
    desired, _ = compute_plan(target, Reporter.silent(), kit.sources)
    looped = dataclasses.replace(
        desired, dest_bucket=desired.source_bucket, dest_prefix="raw/thumbnails/"
    )
    empty = Inventory(
        BucketState(looped.source_bucket),
        BucketState(looped.dest_bucket),
        None,
        None,
        [],
        None,
        None,
    )
    with pytest.raises(ResizerError, match="trigger itself"):
        plan(looped, empty)
    assert calls.mutating == []


def _brought_bucket(target: Any, name: str, rules: list[dict]) -> None:
    s3 = target.client("s3")
    s3.create_bucket(Bucket=name)
    if rules:
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"LambdaFunctionConfigurations": rules}
        )


def test_brought_bucket_keeps_its_foreign_rule(aws, target_factory, deploy) -> None:
    target, calls = target_factory(source_bucket="my-photos")
    foreign = rule(
        "thumbs-for-uploads",
        ["s3:ObjectCreated:*"],
        "uploads/",
        arn="arn:aws:lambda:us-east-1:123456789012:function:someone-else",
    )
    _brought_bucket(target, "my-photos", [foreign])
    calls.clear()
    deploy(target)
    s3 = target.client("s3")
    conf = s3.get_bucket_notification_configuration(Bucket="my-photos")
    ids = [e["Id"] for e in conf["LambdaFunctionConfigurations"]]
    assert ids == ["thumbs-for-uploads", target.names.notification_id,
                   nt.removal_id(target.names.notification_id)]
    assert conf["LambdaFunctionConfigurations"][0] == foreign
    # We never create or configure the brought bucket itself.
    assert "PutBucketTagging" in calls.mutating  # for the destination bucket only
    assert calls.mutating.count("CreateBucket") == 1
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_bucket_tagging(Bucket="my-photos")
    calls.clear()
    assert deploy(target).actions == [] and calls.mutating == []


def test_overlapping_foreign_rule_is_refused_before_any_change(aws, target_factory, deploy) -> None:
    target, calls = target_factory(source_bucket="my-photos")
    _brought_bucket(
        target, "my-photos", [rule("theirs", ["s3:ObjectCreated:Put"], "raw/img/", arn=OTHER)]
    )
    calls.clear()
    with pytest.raises(ResizerError, match=r"overlapping ours.*'theirs'"):
        deploy(target)
    assert calls.mutating == []


def test_missing_brought_bucket_is_an_error(aws, target_factory, deploy) -> None:
    target, calls = target_factory(source_bucket="does-not-exist-anywhere")
    with pytest.raises(ResizerError, match="does not exist"):
        deploy(target)
    assert calls.mutating == []


def test_switching_brought_buckets_moves_our_entry(aws, target_factory, deploy) -> None:
    first, _ = target_factory(source_bucket="bucket-a")
    foreign = rule("theirs", ["s3:ObjectCreated:*"], "uploads/", arn=OTHER)
    _brought_bucket(first, "bucket-a", [foreign])
    _brought_bucket(first, "bucket-b", [])
    deploy(first)
    second, calls = target_factory(source_bucket="bucket-b")
    result = deploy(second)
    kinds = [(a.resource, a.name, a.action) for a in result.actions]
    assert ("notification", "bucket-a", "remove") in kinds
    assert kinds.index(("notification", "bucket-a", "remove")) < kinds.index(
        ("function", second.names.function, "tag")
    )
    s3 = second.client("s3")
    assert s3.get_bucket_notification_configuration(Bucket="bucket-a")[
        "LambdaFunctionConfigurations"
    ] == [foreign]
    ours = s3.get_bucket_notification_configuration(Bucket="bucket-b")
    assert [e["Id"] for e in ours["LambdaFunctionConfigurations"]] == [
        second.names.notification_id, nt.removal_id(second.names.notification_id)
    ]
    calls.clear()
    assert deploy(second).actions == [] and calls.mutating == []
