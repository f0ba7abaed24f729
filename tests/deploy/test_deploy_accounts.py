"""Accounts, regions and partitions: whose bucket it must be, one stack in two regions, ARNs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from resizer_cli import faults
from resizer_cli.aws import Target
from resizer_cli.deploy.desired import desired_state
from resizer_cli.deploy.stack import stack_tags
from resizer_cli.deploy.teardown import teardown_stack
from resizer_cli.errors import ResizerError
from resizer_cli.faults import Fault
from resizer_cli.naming import Names, partition_for
from resizer_cli.output import Reporter
from resizer_cli.settings import Settings

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "444455556666"
# S3 calls that name no bucket of ours, or take no ExpectedBucketOwner.
NO_OWNER_PARAM = {"CreateBucket", "ListBuckets"}


class S3Params:
    """The API parameters of every S3 call a target's client makes."""

    def __init__(self, target: Target) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        target.client("s3").meta.events.register("before-call.s3.*", self._hook)

    def _hook(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, dict(context.get("resizer_params") or {})))


def test_every_s3_call_to_our_buckets_names_their_owner(aws, target_factory, deploy) -> None:
    target, _ = target_factory()
    seen = S3Params(target)
    deploy(target)
    s3 = target.client("s3")
    s3.put_object(Bucket=target.names.source_bucket, Key="raw/a.jpg", Body=b"x")
    teardown_stack(target, Reporter.silent())
    checked = [(op, p) for op, p in seen.calls if op not in NO_OWNER_PARAM]
    assert len(checked) > 20
    assert {p.get("ExpectedBucketOwner") for _, p in checked} == {ACCOUNT}
    assert {op for op, _ in seen.calls} >= {"HeadBucket", "PutBucketTagging", "PutObject",
                                            "DeleteObjects", "DeleteBucket"}


def test_a_presigned_url_carries_no_owner_header(aws, target_factory) -> None:
    target, _ = target_factory()
    url = target.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": target.names.dest_bucket, "Key": "k"}
    )
    assert "expected-bucket-owner" not in url.lower()


def _squatted(bucket: str) -> Fault:
    """As S3 answers for a bucket another account owns: 403 to every call that names us."""
    return Fault("s3", "*", "AccessDenied", "Access Denied", status=403, times=10_000,
                 params={"Bucket": bucket, "ExpectedBucketOwner": ACCOUNT})


def test_a_squatted_bucket_name_is_refused_before_any_change(
    aws, target_factory, deploy
) -> None:
    target, calls = target_factory()
    dest = target.names.dest_bucket
    target.client("s3").create_bucket(Bucket=dest)  # the squatter's, readable without the check
    faults.install(_squatted(dest))
    calls.clear()
    with pytest.raises(ResizerError, match=f"the bucket name {dest} is taken by another"):
        deploy(target)
    assert calls.mutating == []
    result = teardown_stack(target, Reporter.silent())
    assert any(dest in s and "another account" in s for s in result.skipped)


def test_a_brought_bucket_of_another_account_needs_its_owner_named(
    aws, target_factory, deploy
) -> None:
    target, calls = target_factory(source_bucket="partner-photos")
    target.client("s3").create_bucket(Bucket="partner-photos")
    faults.install(_squatted("partner-photos"))
    calls.clear()
    with pytest.raises(ResizerError) as info:
        deploy(target)
    assert "bucket partner-photos is not owned by account 123456789012" in str(info.value)
    assert "--source-bucket-owner" in str(info.value)
    assert calls.mutating == []

    # Named, it is used: every grant and check is made for that account.
    owned, _ = target_factory(source_bucket="partner-photos", source_bucket_owner=OTHER_ACCOUNT)
    seen = S3Params(owned)
    deploy(owned)
    to_source = [p for op, p in seen.calls if p.get("Bucket") == "partner-photos"]
    assert to_source and {p["ExpectedBucketOwner"] for p in to_source} == {OTHER_ACCOUNT}
    n = owned.names
    lam, iam = owned.client("lambda"), owned.client("iam")
    [stmt] = json.loads(lam.get_policy(FunctionName=n.function)["Policy"])["Statement"]
    assert stmt["Condition"]["StringEquals"]["AWS:SourceAccount"] == OTHER_ACCOUNT
    env = lam.get_function_configuration(FunctionName=n.function)["Environment"]["Variables"]
    assert (env["SOURCE_BUCKET_OWNER"], env["DEST_BUCKET_OWNER"]) == (OTHER_ACCOUNT, ACCOUNT)
    doc = iam.get_role_policy(RoleName=n.role, PolicyName=n.policy)["PolicyDocument"]
    owners = {s["Sid"]: s["Condition"]["StringEquals"]["aws:ResourceAccount"]
              for s in doc["Statement"] if s["Sid"] != "WriteLogs"}
    assert owners == {"ReadUploads": OTHER_ACCOUNT, "SeeDeletedUploads": OTHER_ACCOUNT,
                      "WriteThumbnails": ACCOUNT, "KeepFailedEvents": ACCOUNT,
                      "FollowDeletions": ACCOUNT}
    assert deploy(owned).actions == []
    # A fresh clone finds the owner on the function's tags, and teardown uses it.
    fresh, _ = target_factory()
    assert stack_tags(fresh)["resizer:source-bucket-owner"] == OTHER_ACCOUNT
    teardown_stack(fresh, Reporter.silent())
    conf = fresh.client("s3").get_bucket_notification_configuration(Bucket="partner-photos")
    assert "LambdaFunctionConfigurations" not in conf


def test_one_stack_in_two_regions_side_by_side(aws, target_factory, deploy) -> None:
    east, _ = target_factory(stack="twin", region="us-east-1")
    west, _ = target_factory(stack="twin", region="eu-west-1")
    deploy(east)
    deploy(west)
    iam = east.client("iam")
    roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert {"twin-thumbnailer-us-east-1", "twin-thumbnailer-eu-west-1"} <= roles
    # Neither region rewrites the other's role: both stay in sync.
    assert deploy(east).actions == [] and deploy(west).actions == []

    teardown_stack(east, Reporter.silent())
    assert "twin-thumbnailer-us-east-1" not in {r["RoleName"] for r in iam.list_roles()["Roles"]}
    west_again, calls = target_factory(stack="twin", region="eu-west-1")
    assert deploy(west_again).actions == [] and calls.mutating == []
    cfg = west.client("lambda").get_function_configuration(FunctionName="twin-thumbnailer")
    assert cfg["Role"].endswith(":role/twin-thumbnailer-eu-west-1")
    teardown_stack(west, Reporter.silent())
    assert not any(r["RoleName"].startswith("twin-") for r in iam.list_roles()["Roles"])


@pytest.mark.parametrize(
    ("region", "partition", "suffix"),
    [
        ("us-east-1", "aws", "amazonaws.com"),
        ("cn-northwest-1", "aws-cn", "amazonaws.com.cn"),
        ("us-gov-west-1", "aws-us-gov", "amazonaws.com"),
        ("eusc-de-east-1", "aws-eusc", "amazonaws.eu"),
        ("us-iso-east-1", "aws-iso", "c2s.ic.gov"),
        ("us-isob-east-1", "aws-iso-b", "sc2s.sgov.gov"),
        ("eu-isoe-west-1", "aws-iso-e", "cloud.adc-e.uk"),
    ],
)
def test_arns_come_from_botocores_partitions(region: str, partition: str, suffix: str) -> None:
    assert partition_for(region) == partition
    d = desired_state(Settings(target="aws", region=region),
                      Names("p", ACCOUNT, region), architecture="x86_64")
    assert d.function_arn == f"arn:{partition}:lambda:{region}:{ACCOUNT}:function:p-thumbnailer"
    assert d.role_arn == f"arn:{partition}:iam::{ACCOUNT}:role/p-thumbnailer-{region}"
    resources = {r for s in d.role_policy("k")["Statement"] for r in s["Resource"]}
    assert all(r.startswith(f"arn:{partition}:") or r == "k" for r in resources)
    assert d.s3_service == f"s3.{region}.{suffix}"
    # A region no partition knows is not refused here: STS decides (see the CLI test).
    assert partition_for("mars-east-1") is None



def test_the_first_line_says_where_requests_really_go(
    aws, target_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_USE_DUALSTACK_ENDPOINT", "true")  # still AWS: *.api.aws
    target, _ = target_factory()
    target.__dict__["account_id"] = ACCOUNT  # (moto does not answer on dual-stack hosts)
    assert target.describe() == f"AWS account {ACCOUNT}, us-east-1, stack resizer"
    monkeypatch.delenv("AWS_USE_DUALSTACK_ENDPOINT")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    only_s3, _ = target_factory()
    assert only_s3.describe() == (
        f"not AWS: requests go to s3 at http://127.0.0.1:9; account {ACCOUNT}, us-east-1, "
        "stack resizer"
    )
