"""AWS behaviour moto does not show, injected through resizer_cli.faults."""

from __future__ import annotations

from typing import Any

import pytest
from moto import mock_aws

from resizer_cli import faults
from resizer_cli.aws import Target
from resizer_cli.deploy.stack import setup_stack
from resizer_cli.errors import ResizerError
from resizer_cli.faults import Fault
from resizer_cli.output import Reporter

ROLE_MESSAGES = [
    "The role defined for the function cannot be assumed by Lambda.",
    "The provided execution role does not have permissions to call CreateNetworkInterface",
    "InvalidArnException: The principal is not a valid principal",
]


@pytest.fixture(autouse=True)
def _unscaled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESIZER_RETRY_SCALE", raising=False)


@pytest.mark.parametrize("message", ROLE_MESSAGES)
def test_create_function_waits_for_the_role(
    aws, target_factory, deploy, sleeps: list[float], message: str
) -> None:
    target, calls = target_factory()
    faults.install(
        Fault("lambda", "CreateFunction", "InvalidParameterValueException", message, times=3)
    )
    deploy(target)
    assert faults.fired("lambda", "CreateFunction") == 3
    assert sleeps == [5.0, 5.0, 5.0]  # chalice's budget: 5 s apart, through retry.sleep
    assert calls.mutating.count("CreateFunction") == 1  # the injected failures never reach moto
    assert target.client("lambda").get_function(FunctionName=target.names.function)


def test_role_retries_are_bounded(aws, target_factory, deploy, sleeps: list[float]) -> None:
    target, _ = target_factory()
    faults.install(
        Fault(
            "lambda",
            "CreateFunction",
            "InvalidParameterValueException",
            ROLE_MESSAGES[0],
            times=1000,
        )
    )
    with pytest.raises(ResizerError, match="cannot be assumed"):
        deploy(target)
    assert faults.fired("lambda", "CreateFunction") == 30
    assert len(sleeps) == 29  # no sleep after the last attempt


def test_other_invalid_parameter_is_not_retried(
    aws, target_factory, deploy, sleeps: list[float]
) -> None:
    target, _ = target_factory()
    faults.install(
        Fault("lambda", "CreateFunction", "InvalidParameterValueException", "Unzipped size too big")
    )
    with pytest.raises(ResizerError, match="Unzipped size too big"):
        deploy(target)
    assert sleeps == []


def test_unable_to_validate_destination_is_retried(
    aws, target_factory, deploy, sleeps: list[float]
) -> None:
    target, _ = target_factory()
    faults.install(
        Fault(
            "s3",
            "PutBucketNotificationConfiguration",
            "InvalidArgument",
            "Unable to validate the following destination configurations",
            times=2,
        )
    )
    deploy(target)
    assert faults.fired("s3", "PutBucketNotificationConfiguration") == 2
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]
    conf = target.client("s3").get_bucket_notification_configuration(
        Bucket=target.names.source_bucket
    )
    assert len(conf["LambdaFunctionConfigurations"]) == 2  # uploads and deletions


@pytest.mark.parametrize(
    ("service", "operation", "code"),
    [
        ("iam", "CreateRole", "Throttling"),
        ("lambda", "PublishLayerVersion", "TooManyRequestsException"),
        ("s3", "CreateBucket", "SlowDown"),
        ("logs", "CreateLogGroup", "ThrottlingException"),
        ("lambda", "GetFunctionConfiguration", "RequestLimitExceeded"),
    ],
)
def test_throttling_is_retried_with_backoff(
    aws, target_factory, deploy, sleeps: list[float], service: str, operation: str, code: str
) -> None:
    target, _ = target_factory()
    faults.install(Fault(service, operation, code, "Rate exceeded", times=3))
    deploy(target)
    assert faults.fired(service, operation) == 3
    assert len(sleeps) == 3
    assert sleeps[0] < sleeps[1] < sleeps[2]  # exponential backoff (jitter is at most 20 %)
    assert deploy(target).actions == []


def test_access_denied_is_one_line_naming_the_action(
    aws, target_factory, deploy, sleeps: list[float]
) -> None:
    target, _ = target_factory()
    faults.install(
        Fault(
            "iam",
            "CreateRole",
            "AccessDenied",
            "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: "
            "iam:CreateRole on resource: arn:aws:iam::123456789012:role/resizer-thumbnailer-role",
        )
    )
    with pytest.raises(ResizerError) as info:
        deploy(target)
    assert "access denied for iam:CreateRole" in str(info.value)
    assert "grant iam:CreateRole" in str(info.value)
    assert "\n" not in str(info.value)
    assert sleeps == []


def _after_call_status(target: Target, states: list[tuple[str, str]]) -> None:
    """Make the next GetFunctionConfiguration answers report these (State, LastUpdateStatus)."""
    for state, last in states:  # one rewrite each, consumed in order
        faults.install(
            Fault(
                "lambda",
                "GetFunctionConfiguration",
                kind="rewrite",
                fields={
                    "State": state,
                    "LastUpdateStatus": last,
                    "LastUpdateStatusReason": "The layer is bad",
                },
            )
        )


def test_updates_wait_until_the_function_is_ready(
    aws, target_factory, deploy, sleeps: list[float]
) -> None:
    target, _ = target_factory()
    deploy(target)
    target2, calls = target_factory(memory=1024)
    # The inventory read comes first, then the waits around the update.
    _after_call_status(
        target2,
        [("Active", "Successful"), ("Pending", "InProgress"), ("Active", "InProgress")],
    )
    deploy(target2)
    assert calls.mutating == ["UpdateFunctionConfiguration"]
    assert len(sleeps) == 2
    reads = [op for _, op in calls.ops if op == "GetFunctionConfiguration"]
    assert len(reads) == 1 + 3 + 1  # inventory, 3 polls before the update, 1 after


def test_failed_update_is_reported(aws, target_factory, deploy) -> None:
    target, _ = target_factory()
    deploy(target)
    target2, _ = target_factory(memory=1024)
    # Inventory, the wait before the update, then the update's own outcome.
    _after_call_status(
        target2, [("Active", "Successful"), ("Active", "Successful"), ("Active", "Failed")]
    )
    with pytest.raises(ResizerError, match="failed to deploy: The layer is bad"):
        deploy(target2)


INTERRUPT_POINTS = [
    ("s3", "PutBucketTagging", 0),
    ("s3", "CreateBucket", 1),
    ("iam", "PutRolePolicy", 0),
    ("lambda", "PublishLayerVersion", 0),
    ("lambda", "CreateFunction", 0),
    ("lambda", "AddPermission", 0),
    ("s3", "PutBucketNotificationConfiguration", 0),
]


@pytest.mark.parametrize(("service", "operation", "after"), INTERRUPT_POINTS)
def test_ctrl_c_midway_then_rerun_converges(
    sleeps: list[float], kit: Any, snap: Any, service: str, operation: str, after: int
) -> None:
    from resizer_cli.settings import Settings

    settings = Settings(target="aws", region="us-east-1")
    with mock_aws():
        reference = Target(settings)
        setup_stack(reference, Reporter.silent(), sources=kit.sources)
        fresh = snap(reference)

    with mock_aws():
        target = Target(settings)
        faults.install(Fault(service, operation, kind="interrupt", after=after, times=1))
        with pytest.raises(KeyboardInterrupt):
            setup_stack(target, Reporter.silent(), sources=kit.sources)
        assert faults.fired(service, operation) == 1
        second = setup_stack(target, Reporter.silent(), sources=kit.sources)
        assert second.changed
        assert snap(target) == fresh
        third = setup_stack(target, Reporter.silent(), sources=kit.sources)
        assert third.actions == []
