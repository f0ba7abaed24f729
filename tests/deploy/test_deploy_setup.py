"""`setup` under moto: creation, a no-op re-run, targeted updates and drift repair."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from resizer_cli.deploy.plan import Action
from resizer_cli.naming import TAG_KEY


def _actions(result: Any) -> list[tuple[str, str]]:
    return [(a.resource, a.action) for a in result.actions]


def test_fresh_setup_creates_everything(aws, target_factory, deploy, kit) -> None:
    target, calls = target_factory(stack="dev", memory=640, sizes="100x100,300x200")
    result = deploy(target)
    assert result.changed
    n = target.names
    s3, lam, iam, logs = (target.client(s) for s in ("s3", "lambda", "iam", "logs"))

    for bucket in (n.source_bucket, n.dest_bucket):
        pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(pab.values()) and len(pab) == 4
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert {"Key": TAG_KEY, "Value": "dev"} in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]

    group = logs.describe_log_groups(logGroupNamePrefix=n.log_group)["logGroups"][0]
    assert group["logGroupName"] == "/aws/lambda/dev-thumbnailer"
    assert group["retentionInDays"] == 14

    cfg = lam.get_function_configuration(FunctionName=n.function)
    assert cfg["Handler"] == "lambda_handler.handler.handler"
    assert cfg["Runtime"] == "python3.13"
    assert cfg["MemorySize"] == 640 and cfg["Timeout"] == 30
    assert cfg["Architectures"] == ["x86_64"]
    assert cfg["Role"].endswith(":role/dev-thumbnailer-us-east-1")  # IAM is global: per region
    assert cfg["Environment"]["Variables"] == {
        "DEST_BUCKET": n.dest_bucket,
        "SOURCE_PREFIX": "raw/",
        "DEST_PREFIX": "thumbnails/",
        "RESULTS_PREFIX": "results/",
        "SIZES": "100x100,300x200",
        "FIT": "inside",
        "OUTPUT_FORMAT": "auto",
        "QUALITY": "85",
        "MAX_PIXELS": "50000000",
        "SOURCE_BUCKET_OWNER": n.account,
        "DEST_BUCKET_OWNER": n.account,
    }
    code = kit.code()
    digest = hashlib.sha256(code.path.read_bytes()).digest()
    assert cfg["CodeSha256"] == base64.b64encode(digest).decode()
    assert lam.list_tags(Resource=cfg["FunctionArn"])["Tags"][TAG_KEY] == "dev"

    versions = lam.list_layer_versions(LayerName=n.layer)["LayerVersions"]
    assert len(versions) == 1
    assert versions[0]["Description"] == f"resizer:dev sha256:{kit.layers_built[-1]}"
    assert [x["Arn"] for x in cfg["Layers"]] == [versions[0]["LayerVersionArn"]]

    stmt = json.loads(lam.get_policy(FunctionName=n.function)["Policy"])["Statement"]
    assert len(stmt) == 1 and stmt[0]["Sid"].startswith(n.permission_sid + "-")
    assert stmt[0]["Principal"] == {"Service": "s3.amazonaws.com"}
    assert stmt[0]["Condition"]["ArnLike"]["AWS:SourceArn"] == f"arn:aws:s3:::{n.source_bucket}"
    assert stmt[0]["Condition"]["StringEquals"]["AWS:SourceAccount"] == n.account

    conf = s3.get_bucket_notification_configuration(Bucket=n.source_bucket)
    assert conf["LambdaFunctionConfigurations"] == [
        {
            "Id": n.notification_id,
            "LambdaFunctionArn": cfg["FunctionArn"],
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"}]}},
        },
        {
            "Id": n.notification_id + "-removed",
            "LambdaFunctionArn": cfg["FunctionArn"],
            "Events": ["s3:ObjectRemoved:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"}]}},
        }
    ]
    role = iam.get_role(RoleName=n.role)["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=n.role)["Tags"]}
    assert tags == {TAG_KEY: "dev"}
    # Dependency order: buckets, log group, role, layer, function, permission, notification.
    order = [op for op in calls.mutating]
    assert order.index("CreateBucket") < order.index("CreateLogGroup") < order.index("CreateRole")
    assert order.index("PutRolePolicy") < order.index("PublishLayerVersion")
    assert order.index("PublishLayerVersion") < order.index("CreateFunction")
    assert order.index("CreateFunction") < order.index("AddPermission")
    assert order.index("AddPermission") < order.index("PutBucketNotificationConfiguration")
    assert result.resources["function"] == n.function


def test_second_setup_makes_no_mutating_call(aws, target_factory, deploy) -> None:
    target, calls = target_factory()
    deploy(target)
    calls.clear()
    again = deploy(target)
    assert again.actions == [] and not again.changed
    assert calls.mutating == []
    assert calls.ops, "the second run must still read the stack"


def test_dry_run_changes_nothing(aws, target_factory, deploy) -> None:
    target, calls = target_factory()
    result = deploy(target, dry_run=True)
    assert calls.mutating == []
    assert not result.changed and result.dry_run
    assert ("function", "create") in _actions(result)
    assert ("bucket", "create") in _actions(result)
    assert target.client("s3").list_buckets()["Buckets"] == []
    # After a real deploy, a dry run on a changed setting lists just that change.
    deploy(target)
    target2, calls2 = target_factory(memory=1024)
    plan = deploy(target2, dry_run=True)
    assert _actions(plan) == [("function", "update-config")]
    assert "memory 512 → 1024" in plan.actions[0].detail
    assert calls2.mutating == []


def test_changed_code_updates_only_the_code(aws, target_factory, deploy, kit) -> None:
    target, calls = target_factory()
    deploy(target)
    (kit.handler_dir / "handler.py").write_text("def handler(event, context):\n    return 2\n")
    calls.clear()
    result = deploy(target)
    assert _actions(result) == [("function", "update-code")]
    assert calls.mutating == ["UpdateFunctionCode"]
    cfg = target.client("lambda").get_function_configuration(FunctionName=target.names.function)
    assert cfg["CodeSha256"] == kit.code().code_sha256


def test_changed_setting_updates_only_the_configuration(aws, target_factory, deploy) -> None:
    target, _ = target_factory()
    deploy(target)
    target2, calls = target_factory(memory=1024, quality=70, timeout=60)
    result = deploy(target2)
    assert calls.mutating == ["UpdateFunctionConfiguration"]
    cfg = target2.client("lambda").get_function_configuration(FunctionName=target2.names.function)
    assert cfg["MemorySize"] == 1024 and cfg["Timeout"] == 60
    assert cfg["Environment"]["Variables"]["QUALITY"] == "70"
    assert "quality" not in result.actions[0].detail  # env vars are listed by name
    assert "QUALITY" in result.actions[0].detail


def test_changed_layer_publishes_and_removes_the_old_version(
    aws, target_factory, deploy, kit
) -> None:
    target, calls = target_factory()
    deploy(target)
    lam = target.client("lambda")
    old = lam.list_layer_versions(LayerName=target.names.layer)["LayerVersions"]
    kit.layer_version = "2"
    calls.clear()
    deploy(target)
    assert calls.mutating == [
        "PublishLayerVersion",
        "UpdateFunctionConfiguration",
        "DeleteLayerVersion",
    ]
    now = lam.list_layer_versions(LayerName=target.names.layer)["LayerVersions"]
    assert [v["Version"] for v in now] == [old[0]["Version"] + 1]
    cfg = lam.get_function_configuration(FunctionName=target.names.function)
    assert [x["Arn"] for x in cfg["Layers"]] == [now[0]["LayerVersionArn"]]
    calls.clear()
    deploy(target)
    assert calls.mutating == []


def test_architecture_change_rebuilds_layer_and_code_arch(aws, target_factory, deploy) -> None:
    target, _ = target_factory()
    deploy(target)
    target2, calls = target_factory(architecture="arm64")
    sent: list[dict[str, Any]] = []
    target2.client("lambda").meta.events.register(
        "before-parameter-build.lambda.UpdateFunctionCode",
        lambda params, **_: sent.append(dict(params)),
    )
    deploy(target2)
    # Invocations are paused (reserved concurrency 0) from before the code switches the
    # architecture until the layer of that architecture is attached.
    assert calls.mutating == [
        "PublishLayerVersion",
        "TagResource",
        "PutFunctionConcurrency",
        "UpdateFunctionCode",
        "UpdateFunctionConfiguration",
        "DeleteFunctionConcurrency",
        "UntagResource",
        "DeleteLayerVersion",
    ]
    # The architecture is switched by UpdateFunctionCode (moto accepts but ignores it).
    assert sent[0]["Architectures"] == ["arm64"]
    lam = target2.client("lambda")
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(
        FunctionName=target2.names.function
    )
    versions = target2.client("lambda").list_layer_versions(LayerName=target2.names.layer)
    assert versions["LayerVersions"][0]["CompatibleArchitectures"] == ["arm64"]


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("delete_function", ["CreateFunction", "PutFunctionEventInvokeConfig", "AddPermission"]),
        ("change_memory", ["UpdateFunctionConfiguration"]),
        ("remove_notification", ["PutBucketNotificationConfiguration"]),
        ("delete_log_group", ["CreateLogGroup", "PutRetentionPolicy"]),
        ("loosen_policy", ["PutRolePolicy"]),
        ("remove_permission", ["AddPermission"]),
        ("drop_encryption", ["PutBucketEncryption"]),
        ("delete_layer", ["PublishLayerVersion", "UpdateFunctionConfiguration"]),
    ],
)
def test_drift_is_repaired_exactly(
    aws, target_factory, deploy, breakage: str, expected: list[str]
) -> None:
    target, calls = target_factory()
    deploy(target)
    n = target.names
    s3, lam, iam, logs = (target.client(s) for s in ("s3", "lambda", "iam", "logs"))
    if breakage == "delete_function":
        lam.delete_function(FunctionName=n.function)
    elif breakage == "change_memory":
        lam.update_function_configuration(FunctionName=n.function, MemorySize=2048)
    elif breakage == "remove_notification":
        s3.put_bucket_notification_configuration(
            Bucket=n.source_bucket, NotificationConfiguration={}
        )
    elif breakage == "delete_log_group":
        logs.delete_log_group(logGroupName=n.log_group)
    elif breakage == "loosen_policy":
        doc = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_role_policy(RoleName=n.role, PolicyName=n.policy, PolicyDocument=json.dumps(doc))
    elif breakage == "remove_permission":
        [stmt] = json.loads(lam.get_policy(FunctionName=n.function)["Policy"])["Statement"]
        lam.remove_permission(FunctionName=n.function, StatementId=stmt["Sid"])
    elif breakage == "drop_encryption":
        s3.delete_bucket_encryption(Bucket=n.dest_bucket)
    elif breakage == "delete_layer":
        lam.delete_layer_version(LayerName=n.layer, VersionNumber=1)
    calls.clear()
    deploy(target)
    assert calls.mutating == expected
    calls.clear()
    assert deploy(target).actions == []
    assert calls.mutating == []


def test_extra_role_permissions_are_removed(aws, target_factory, deploy) -> None:
    target, calls = target_factory()
    deploy(target)
    iam = target.client("iam")
    iam.put_role_policy(
        RoleName=target.names.role,
        PolicyName="extra",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    calls.clear()
    deploy(target)
    assert calls.mutating == ["DeleteRolePolicy"]
    assert iam.list_role_policies(RoleName=target.names.role)["PolicyNames"] == [
        target.names.policy
    ]


def test_other_region_uses_location_constraint(aws, target_factory, deploy) -> None:
    target, _ = target_factory(region="eu-west-1", stack="prod")
    deploy(target)
    s3 = target.client("s3")
    loc = s3.get_bucket_location(Bucket=target.names.dest_bucket)["LocationConstraint"]
    assert loc == "eu-west-1"
    assert target.names.dest_bucket.endswith("-eu-west-1")


def test_two_stacks_side_by_side(aws, target_factory, deploy, snap) -> None:
    dev, _ = target_factory(stack="dev")
    prod, _ = target_factory(stack="prod", memory=1024)
    deploy(dev)
    deploy(prod)
    state = snap(dev)
    assert {"dev-thumbnailer", "prod-thumbnailer"} <= set(state["functions"])
    assert state["functions"]["prod-thumbnailer"]["MemorySize"] == 1024
    assert deploy(dev).actions == [] and deploy(prod).actions == []


def test_action_json_shape() -> None:
    a = Action("function", "f", "update-config", "memory 1 → 2")
    assert a.to_json() == {
        "resource": "function",
        "name": "f",
        "action": "update-config",
        "detail": "memory 1 → 2",
    }


def test_local_target_uses_the_host_and_this_interpreter() -> None:
    from resizer_cli.deploy.desired import desired_state
    from resizer_cli.deploy.stack import effective_architecture
    from resizer_cli.layer import host_architecture
    from resizer_cli.naming import Names
    from resizer_cli.settings import Settings, local_runtime

    local = Settings(
        target="local", architecture="arm64" if host_architecture() == "x86_64" else "x86_64"
    )
    assert effective_architecture(local) == host_architecture()
    d = desired_state(
        local, Names("s", "123456789012", "us-east-1"), architecture=effective_architecture(local)
    )
    assert d.runtime == local_runtime() and d.architecture == host_architecture()
    remote = Settings(target="aws", architecture="arm64")
    assert effective_architecture(remote) == "arm64" and remote.effective_runtime == "python3.13"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a" * 64, "64 characters"),
        ("ab", "3 to 63"),
        ("Upper-case", "lowercase"),
        ("under_score", "lowercase"),
        ("a..b", "adjacent"),
        ("192.168.1.1", "IP address"),
        ("-leading", "lowercase"),
    ],
)
def test_bucket_names_are_validated(name: str, problem: str) -> None:
    from resizer_cli.deploy.desired import validate_bucket_name
    from resizer_cli.errors import ResizerError

    with pytest.raises(ResizerError, match=problem):
        validate_bucket_name(name)
    validate_bucket_name("resizer-thumbs-123456789012-ap-southeast-2")
