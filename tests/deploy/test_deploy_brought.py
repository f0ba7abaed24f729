"""A bucket the user brings: its region, its other rules, its encryption and its policy."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from resizer_cli import faults
from resizer_cli.deploy.teardown import teardown_stack
from resizer_cli.errors import ResizerError, from_boto
from resizer_cli.faults import Fault
from resizer_cli.output import Reporter

FOREIGN_QUEUE = "arn:aws:sqs:us-east-1:123456789012:their-queue"
UNVALIDATED = "Unable to validate the following destination configurations"


def _bring(target: Any, name: str = "my-photos", **create: Any) -> Any:
    s3 = target.client("s3")
    s3.create_bucket(Bucket=name, **create)
    return s3


def test_a_bucket_in_another_region_is_refused_in_the_plan(aws, target_factory, deploy) -> None:
    target, calls = target_factory(source_bucket="my-photos")
    _bring(target, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    calls.clear()
    with pytest.raises(ResizerError) as info:
        deploy(target)
    assert "is in eu-west-1, the stack in us-east-1" in str(info.value)
    assert "--region eu-west-1" in str(info.value)
    assert calls.mutating == []  # nothing was created first


def _unvalidated(*destinations: str, times: int = 1) -> Fault:
    extra: dict[str, str] = {}
    for i, arn in enumerate(destinations, 1):
        extra[f"ArgumentName{i}"] = arn
        extra[f"ArgumentValue{i}"] = "Permissions on the destination do not allow S3 to publish"
    return Fault("s3", "PutBucketNotificationConfiguration", "InvalidArgument", UNVALIDATED,
                 times=times, extra=extra)


def test_a_broken_foreign_destination_fails_fast_and_is_named(
    aws, target_factory, deploy, sleeps: list[float]
) -> None:
    target, _ = target_factory(source_bucket="my-photos")
    _bring(target)
    ours = f"arn:aws:lambda:us-east-1:123456789012:function:{target.names.function}"
    faults.install(_unvalidated(ours, FOREIGN_QUEUE, times=100))
    with pytest.raises(ResizerError) as info:
        deploy(target)
    assert FOREIGN_QUEUE in str(info.value) and "another rule's destination" in str(info.value)
    assert ours not in str(info.value)
    assert faults.fired("s3", "PutBucketNotificationConfiguration") == 1  # no 95 s of retries
    assert sleeps == []


def test_our_own_destination_still_propagating_is_retried(
    aws, target_factory, deploy, sleeps: list[float]
) -> None:
    target, _ = target_factory(source_bucket="my-photos")
    _bring(target)
    ours = f"arn:aws:lambda:us-east-1:123456789012:function:{target.names.function}"
    faults.install(_unvalidated(ours, times=2))
    deploy(target)
    assert faults.fired("s3", "PutBucketNotificationConfiguration") == 2
    assert deploy(target).actions == []


def test_removing_our_entry_skips_destination_validation(aws, target_factory, deploy) -> None:
    target, _ = target_factory(source_bucket="my-photos")
    _bring(target)
    deploy(target)
    # From now on a foreign destination is broken: S3 refuses every validated PUT.
    faults.install(dataclasses.replace(_unvalidated(FOREIGN_QUEUE, times=100),
                                       params={"SkipDestinationValidation": None}))
    result = teardown_stack(target, Reporter.silent())
    assert ("notification", "remove") in [(a.resource, a.action) for a in result.actions]
    conf = target.client("s3").get_bucket_notification_configuration(Bucket="my-photos")
    assert "LambdaFunctionConfigurations" not in conf
    assert faults.fired("s3", "PutBucketNotificationConfiguration") == 0


KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _encrypt(s3: Any, bucket: str, key: str | None) -> None:
    default: dict[str, str] = {"SSEAlgorithm": "aws:kms"}
    if key:
        default["KMSMasterKeyID"] = key
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]
        },
    )


def _decrypt_grants(target: Any) -> list[dict[str, Any]]:
    n = target.names
    doc = target.client("iam").get_role_policy(RoleName=n.role, PolicyName=n.policy)
    return [s for s in doc["PolicyDocument"]["Statement"] if "kms:Decrypt" in s["Action"]]


def test_an_sse_kms_bucket_gets_kms_decrypt_through_s3_only(aws, target_factory, deploy) -> None:
    target, _ = target_factory(source_bucket="my-photos")
    _encrypt(_bring(target), "my-photos", KEY_ARN)
    deploy(target)
    [grant] = _decrypt_grants(target)
    assert grant["Resource"] in ([KEY_ARN], KEY_ARN)
    assert grant["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    assert deploy(target).actions == []


def test_an_alias_is_resolved_to_its_key_and_the_aws_managed_key_needs_nothing(
    aws, target_factory, deploy
) -> None:
    target, _ = target_factory(source_bucket="my-photos")
    s3 = _bring(target)
    kms = target.client("kms")
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/photos", TargetKeyId=key["KeyId"])
    _encrypt(s3, "my-photos", "alias/photos")
    deploy(target)
    [grant] = _decrypt_grants(target)
    assert grant["Resource"] in ([key["Arn"]], key["Arn"])

    _encrypt(s3, "my-photos", None)  # the AWS-managed aws/s3 key: S3 may use it for us
    deploy(target)
    assert _decrypt_grants(target) == []


def test_puts_to_a_bucket_that_denies_unencrypted_uploads(aws, target_factory, deploy) -> None:
    target, _ = target_factory(source_bucket="my-photos")
    s3 = _bring(target)
    _encrypt(s3, "my-photos", KEY_ARN)
    deploy(target)
    # The bucket policy's usual shape: deny PutObject without the encryption header.
    faults.install(
        Fault("s3", "PutObject", "AccessDenied",
              "User: arn:aws:iam::123456789012:user/me is not authorized to perform: "
              "s3:PutObject on resource: \"arn:aws:s3:::my-photos/raw/a.jpg\" with an explicit "
              "deny in a resource-based policy", status=403, times=100,
              params={"Bucket": "my-photos", "ServerSideEncryption": None})
    )
    sent: list[dict[str, Any]] = []
    s3.meta.events.register("before-call.s3.PutObject",
                            lambda context, **_: sent.append(dict(context["resizer_params"])))
    s3.put_object(Bucket="my-photos", Key="raw/a.jpg", Body=b"jpeg")
    assert sent[-1]["ServerSideEncryption"] == "aws:kms"
    assert sent[-1]["SSEKMSKeyId"] == KEY_ARN and sent[-1]["BucketKeyEnabled"] is True
    assert faults.fired("s3", "PutObject") == 0


def test_an_explicit_deny_is_called_what_it_is() -> None:
    from botocore.exceptions import ClientError

    exc = ClientError(
        {"Error": {"Code": "AccessDenied", "Message":
                   "User: arn:aws:iam::1:user/me is not authorized to perform: s3:PutObject on "
                   "resource: \"arn:aws:s3:::b/k\" with an explicit deny in a resource-based "
                   "policy"}},
        "PutObject",
    )
    err = from_boto(exc, "uploading a.jpg")
    assert err is not None and "\n" not in str(err)
    assert str(err).startswith(
        "uploading a.jpg: s3:PutObject is refused by an explicit deny in a resource-based "
        "policy (e.g. a bucket policy)"
    )
    assert "grant" not in str(err)  # granting more cannot help against a Deny
    assert json.dumps(str(err))


def test_a_brought_bucket_we_may_not_inspect_is_still_used_and_cleaned_up(
    aws, target_factory, deploy
) -> None:
    target, _ = target_factory(source_bucket="my-photos")
    _encrypt(_bring(target), "my-photos", "alias/theirs")  # a key we may not even describe
    faults.install(Fault("s3", "GetBucketEncryption", "AccessDenied", "Access Denied",
                         status=403, times=100, params={"Bucket": "my-photos"}))
    deploy(target)  # only our notification entry needs the bucket
    assert _decrypt_grants(target) == []
    teardown_stack(target, Reporter.silent())
    conf = target.client("s3").get_bucket_notification_configuration(Bucket="my-photos")
    assert "LambdaFunctionConfigurations" not in conf
