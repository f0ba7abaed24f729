"""Nothing under one of our names is changed or deleted unless it carries our tag.

setup stops with one line naming what is not ours (and makes no change at all); teardown
leaves it and says so; `--adopt NAME` hands an untagged resource to the stack deliberately;
a bucket this machine was creating when setup stopped is remembered in a local journal.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from resizer_cli import faults
from resizer_cli.deploy import ownership
from resizer_cli.deploy.lock import stack_lock
from resizer_cli.deploy.stack import lock_scope
from resizer_cli.deploy.teardown import teardown_stack
from resizer_cli.errors import ResizerError
from resizer_cli.faults import Fault
from resizer_cli.naming import TAG_KEY
from resizer_cli.output import Reporter

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
             "Action": "sts:AssumeRole"}
        ],
    }
)
EMPTY_ZIP = b"PK\x05\x06" + b"\0" * 18


def _untagged_buckets_with_objects(target: Any) -> list[str]:
    n = target.names
    s3 = target.client("s3")
    for bucket in (n.own_source_bucket, n.dest_bucket):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="precious.txt", Body=b"mine")
    return [n.own_source_bucket, n.dest_bucket]


def test_teardown_never_deletes_untagged_buckets_with_our_names(aws, target_factory) -> None:
    target, calls = target_factory(stack="victim")
    buckets = _untagged_buckets_with_objects(target)
    calls.clear()
    result = teardown_stack(target, Reporter.silent())
    assert result.actions == [] and calls.mutating == []
    for bucket in buckets:
        assert f"bucket {bucket} (no resizer:stack tag)" in result.skipped
        body = target.client("s3").get_object(Bucket=bucket, Key="precious.txt")["Body"].read()
        assert body == b"mine"


def test_setup_stops_on_an_untagged_function_and_teardown_leaves_it(
    aws, target_factory, deploy
) -> None:
    target, calls = target_factory(stack="victim2")
    iam, lam = target.client("iam"), target.client("lambda")
    role = iam.create_role(RoleName="their-role", AssumeRolePolicyDocument=TRUST)["Role"]
    lam.create_function(
        FunctionName="victim2-thumbnailer", Runtime="python3.12", Role=role["Arn"],
        Handler="app.main", Code={"ZipFile": EMPTY_ZIP}, MemorySize=256,
    )
    calls.clear()
    with pytest.raises(ResizerError) as info:
        deploy(target)
    message = str(info.value)
    assert "function victim2-thumbnailer (no resizer:stack tag)" in message
    assert "\n" not in message and "--adopt" in message
    assert calls.mutating == []  # refused before any change, buckets included
    cfg = lam.get_function_configuration(FunctionName="victim2-thumbnailer")
    assert (cfg["Handler"], cfg["MemorySize"], cfg["Role"]) == ("app.main", 256, role["Arn"])

    result = teardown_stack(target, Reporter.silent())
    assert "function victim2-thumbnailer (no resizer:stack tag)" in result.skipped
    assert lam.get_function(FunctionName="victim2-thumbnailer")


def _make_foreign(kind: str, target: Any) -> str:
    """One resource of the stack's name that resizer did not create; returns its name."""
    n = target.names
    s3, iam, lam, logs = (target.client(s) for s in ("s3", "iam", "lambda", "logs"))
    if kind == "bucket":
        s3.create_bucket(Bucket=n.dest_bucket)
        return n.dest_bucket
    if kind == "bucket-of-another-stack":
        s3.create_bucket(Bucket=n.dest_bucket)
        s3.put_bucket_tagging(
            Bucket=n.dest_bucket, Tagging={"TagSet": [{"Key": TAG_KEY, "Value": "other"}]}
        )
        return n.dest_bucket
    if kind == "log-group":
        logs.create_log_group(logGroupName=n.log_group)
        return n.log_group
    if kind == "role":
        iam.create_role(RoleName=n.role, AssumeRolePolicyDocument=TRUST)
        return n.role
    if kind == "layer":
        lam.publish_layer_version(LayerName=n.layer, Content={"ZipFile": EMPTY_ZIP},
                                  Description="someone's own Pillow")
        return n.layer
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("bucket", "no resizer:stack tag"),
        ("bucket-of-another-stack", "tagged for stack other"),
        ("log-group", "no resizer:stack tag"),
        ("role", "no resizer:stack tag"),
        ("layer", "not published by resizer"),
    ],
)
def test_setup_stops_on_every_kind_of_foreign_resource(
    aws, target_factory, deploy, kind: str, why: str
) -> None:
    target, calls = target_factory()
    name = _make_foreign(kind, target)
    calls.clear()
    with pytest.raises(ResizerError) as info:
        deploy(target)
    assert name in str(info.value) and why in str(info.value)
    assert calls.mutating == []


def test_a_rule_with_our_id_for_another_function_is_not_ours(
    aws, target_factory, deploy
) -> None:
    target, calls = target_factory(source_bucket="my-photos")
    s3 = target.client("s3")
    s3.create_bucket(Bucket="my-photos")
    theirs = {
        "Id": target.names.notification_id,
        "LambdaFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:theirs",
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "other/"}]}},
    }
    s3.put_bucket_notification_configuration(
        Bucket="my-photos", NotificationConfiguration={"LambdaFunctionConfigurations": [theirs]}
    )
    calls.clear()
    with pytest.raises(ResizerError, match="notification rule resizer-resizer-raw on bucket"):
        deploy(target)
    assert calls.mutating == []
    conf = s3.get_bucket_notification_configuration(Bucket="my-photos")
    assert conf["LambdaFunctionConfigurations"] == [theirs]


@pytest.mark.parametrize("kind", ["bucket", "log-group", "role", "layer"])
def test_adopt_hands_an_untagged_resource_to_the_stack(
    aws, target_factory, deploy, kind: str
) -> None:
    target, _ = target_factory()
    name = _make_foreign(kind, target)
    deploy(target, adopt=(name,))
    assert deploy(target).actions == []  # from now on it is ours: tagged, in sync
    result = teardown_stack(target, Reporter.silent())
    assert name in {a.name for a in result.actions}
    if kind == "layer":  # a layer cannot be tagged: the version we did not publish stays
        assert result.skipped == [f"layer {name} versions v1 (not published by resizer)"]
        versions = target.client("lambda").list_layer_versions(LayerName=name)["LayerVersions"]
        assert [v["Description"] for v in versions] == ["someone's own Pillow"]
    else:
        assert not result.skipped


def test_adopt_never_takes_what_another_stack_owns(aws, target_factory, deploy) -> None:
    target, _ = target_factory()
    name = _make_foreign("bucket-of-another-stack", target)
    with pytest.raises(ResizerError, match="tagged for stack other"):
        deploy(target, adopt=(name,))


def test_a_bucket_left_untagged_by_an_interrupted_setup(
    aws, target_factory, deploy, kit: Any, sleeps: list[float]
) -> None:
    target, _ = target_factory()
    dest = target.names.dest_bucket
    # Ctrl-C right after the destination bucket was created, before it was tagged.
    faults.install(Fault("s3", "PutBucketTagging", kind="interrupt", after=1))
    with pytest.raises(KeyboardInterrupt):
        deploy(target)
    with pytest.raises(ClientError):  # created, never tagged
        target.client("s3").get_bucket_tagging(Bucket=dest)
    assert ownership.was_creating(dest, "resizer")

    # Another machine (no journal) refuses the untagged bucket, and teardown leaves it...
    journal = ownership._journal(dest)
    saved = journal.read_text()
    journal.unlink()
    faults.clear()
    with pytest.raises(ResizerError, match=f"bucket {dest} .no resizer:stack tag."):
        deploy(target)
    assert f"bucket {dest} (no resizer:stack tag)" in teardown_stack(
        target, Reporter.silent()
    ).skipped
    # ...while this machine, which was creating it, finishes the job.
    journal.write_text(saved)
    deploy(target)
    assert not ownership.was_creating(dest, "resizer")
    assert deploy(target).actions == []


def test_one_setup_at_a_time_per_stack(aws, target_factory, deploy) -> None:
    target, calls = target_factory()
    with stack_lock("resizer", lock_scope(target), "setup"):
        with pytest.raises(ResizerError) as info:
            deploy(target)
        assert "stack resizer is busy" in str(info.value)
        assert f"(pid {os.getpid()})" in str(info.value)
        assert calls.mutating == []
        other, _ = target_factory(stack="other")
        assert deploy(other).changed  # another stack is not blocked
        dry = deploy(target, dry_run=True)  # a dry run changes nothing: no lock needed
        assert dry.actions
    assert deploy(target).changed  # released with the block (or the process)
