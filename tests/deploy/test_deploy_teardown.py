"""`teardown` under moto: completeness, foreign resources left alone, a no-op second run."""

from __future__ import annotations

import json

import pytest

from resizer_cli.aws import Target
from resizer_cli.deploy.teardown import plan_teardown, teardown_stack
from resizer_cli.output import Reporter

OTHER_FN = "arn:aws:lambda:us-east-1:123456789012:function:foreign-fn"


def _everything_gone(target: Target) -> None:
    n = target.names
    s3, lam, iam, logs = (target.client(s) for s in ("s3", "lambda", "iam", "logs"))
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert n.dest_bucket not in buckets
    assert f"{n.stack}-src-{n.account}-{n.region}" not in buckets
    assert n.function not in {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert lam.list_layer_versions(LayerName=n.layer)["LayerVersions"] == []
    assert n.role not in {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert logs.describe_log_groups(logGroupNamePrefix=n.log_group)["logGroups"] == []


def _foreign_world(target: Target) -> None:
    """Resources that are not ours, some with names close to ours."""
    s3, lam, iam, logs = (target.client(s) for s in ("s3", "lambda", "iam", "logs"))
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    role = iam.create_role(RoleName="foreign-role", AssumeRolePolicyDocument=trust)["Role"]
    doc = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
        }
    )
    iam.put_role_policy(RoleName="foreign-role", PolicyName="p", PolicyDocument=doc)
    lam.create_function(
        FunctionName="foreign-fn",
        Runtime="python3.13",
        Role=role["Arn"],
        Handler="x.y",
        Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
    )
    logs.create_log_group(logGroupName="/aws/lambda/foreign-fn")
    s3.create_bucket(Bucket="foreign-bucket")
    s3.put_object(Bucket="foreign-bucket", Key="keep.txt", Body=b"x")


def _assert_foreign_intact(target: Target) -> None:
    s3, lam, iam, logs = (target.client(s) for s in ("s3", "lambda", "iam", "logs"))
    assert s3.get_object(Bucket="foreign-bucket", Key="keep.txt")["Body"].read() == b"x"
    assert lam.get_function(FunctionName="foreign-fn")
    assert iam.get_role_policy(RoleName="foreign-role", PolicyName="p")
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/foreign-fn")["logGroups"]


def test_teardown_removes_everything_including_versions(aws, target_factory, deploy, kit) -> None:
    target, calls = target_factory()
    _foreign_world(target)
    deploy(target)
    kit.layer_version = "2"
    deploy(target)  # a second layer version existed at some point
    n = target.names
    s3 = target.client("s3")
    for bucket in (n.source_bucket, n.dest_bucket):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        for i in range(3):
            s3.put_object(Bucket=bucket, Key="raw/a.jpg", Body=f"v{i}".encode())
        s3.delete_object(Bucket=bucket, Key="raw/a.jpg")  # a delete marker
        s3.put_object(Bucket=bucket, Key="results/b.json", Body=b"{}")
    s3.create_multipart_upload(Bucket=n.dest_bucket, Key="big.bin")
    versions = s3.list_object_versions(Bucket=n.dest_bucket)
    assert len(versions["Versions"]) == 4 and len(versions["DeleteMarkers"]) == 1

    result = teardown_stack(target, Reporter.silent())
    assert result.changed
    kinds = [(a.resource, a.action) for a in result.actions]
    # The trigger first, then a bounded wait for running invocations, then the rest.
    assert kinds == [
        ("notification", "remove"),
        ("permission", "remove"),
        ("function", "drain"),
        ("async-config", "remove"),
        ("function", "delete"),
        ("layer", "delete-versions"),
        ("role", "delete"),
        ("log-group", "delete"),
        ("bucket", "delete"),
        ("bucket", "delete"),
    ]
    _everything_gone(target)
    _assert_foreign_intact(target)

    calls.clear()
    again = teardown_stack(target, Reporter.silent())
    assert again.actions == [] and not again.changed
    assert calls.mutating == []


def test_teardown_from_fresh_state_finds_the_brought_bucket(aws, target_factory, deploy) -> None:
    deployed, _ = target_factory(source_bucket="my-photos")
    s3 = deployed.client("s3")
    s3.create_bucket(Bucket="my-photos")
    foreign = {
        "Id": "theirs",
        "LambdaFunctionArn": OTHER_FN,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
    }
    s3.put_bucket_notification_configuration(
        Bucket="my-photos", NotificationConfiguration={"LambdaFunctionConfigurations": [foreign]}
    )
    s3.put_object(Bucket="my-photos", Key="raw/photo.jpg", Body=b"jpeg")
    deploy(deployed)

    # A fresh clone: no saved settings, no --source-bucket; the function's tag says where.
    fresh, _ = target_factory()
    tplan = plan_teardown(fresh)
    assert tplan.brought_bucket == "my-photos"
    teardown_stack(fresh, Reporter.silent())

    conf = s3.get_bucket_notification_configuration(Bucket="my-photos")
    assert conf["LambdaFunctionConfigurations"] == [foreign]
    assert s3.get_object(Bucket="my-photos", Key="raw/photo.jpg")["Body"].read() == b"jpeg"
    _everything_gone(fresh)


def test_brought_bucket_found_from_role_tag_when_function_is_gone(
    aws, target_factory, deploy
) -> None:
    deployed, _ = target_factory(source_bucket="my-photos")
    deployed.client("s3").create_bucket(Bucket="my-photos")
    deploy(deployed)
    deployed.client("lambda").delete_function(FunctionName=deployed.names.function)
    fresh, _ = target_factory()
    tplan = plan_teardown(fresh)
    assert tplan.brought_bucket == "my-photos"
    assert ("notification", "remove") in [(a.resource, a.action) for a in tplan.actions]
    teardown_stack(fresh, Reporter.silent())
    conf = fresh.client("s3").get_bucket_notification_configuration(Bucket="my-photos")
    assert "LambdaFunctionConfigurations" not in conf
    assert fresh.client("s3").head_bucket(Bucket="my-photos")


def test_resources_with_our_names_but_another_stacks_tag_are_left_alone(
    aws, target_factory, deploy
) -> None:
    target, _ = target_factory()
    deploy(target)
    lam = target.client("lambda")
    fn_arn = lam.get_function_configuration(FunctionName=target.names.function)["FunctionArn"]
    lam.tag_resource(Resource=fn_arn, Tags={"resizer:stack": "someone-else"})
    result = teardown_stack(target, Reporter.silent())
    assert any("function" in s for s in result.skipped)
    assert lam.get_function(FunctionName=target.names.function)


def test_teardown_only_touches_its_own_stack(aws, target_factory, deploy) -> None:
    dev, _ = target_factory(stack="dev")
    prod, _ = target_factory(stack="prod")
    deploy(dev)
    deploy(prod)
    teardown_stack(dev, Reporter.silent())
    _everything_gone(dev)
    prod_calls_target, calls = target_factory(stack="prod")
    assert deploy(prod_calls_target).actions == []
    assert calls.mutating == []


@pytest.mark.parametrize("region", ["eu-west-1"])
def test_teardown_in_another_region(aws, target_factory, deploy, region: str) -> None:
    target, _ = target_factory(region=region)
    deploy(target)
    teardown_stack(target, Reporter.silent())
    _everything_gone(target)


def test_inaccessible_bucket_is_skipped_not_fatal(aws, target_factory, deploy) -> None:
    from resizer_cli import faults
    from resizer_cli.faults import Fault

    target, _ = target_factory()
    deploy(target)
    # As for buckets another account owns: refused whenever our account is expected.
    faults.install(
        Fault("s3", "HeadBucket", "403", "Forbidden", times=2,
              params={"ExpectedBucketOwner": "*"})
    )
    result = teardown_stack(target, Reporter.silent())
    assert sum("not accessible" in s for s in result.skipped) == 2
    assert ("bucket", "delete") not in [(a.resource, a.action) for a in result.actions]
    assert ("function", "delete") in [(a.resource, a.action) for a in result.actions]
    # Once the buckets are readable again, a second teardown finishes the job.
    teardown_stack(target, Reporter.silent())
    _everything_gone(target)
