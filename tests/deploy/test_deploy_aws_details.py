"""Lambda, S3 and CloudWatch details of real accounts, mostly through the fault seam.

Each case is what AWS does and moto does not (function states, eventual consistency right
after CreateBucket, per-key DeleteObjects errors, regions without CompatibleArchitectures,
late log lines), injected with resizer_cli.faults so the code under test runs unchanged.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from resizer_cli import faults, retry
from resizer_cli.deploy import drain
from resizer_cli.deploy.desired import PAUSE_TAG
from resizer_cli.deploy.status import recent_invocations
from resizer_cli.deploy.teardown import teardown_stack
from resizer_cli.errors import ResizerError
from resizer_cli.faults import Fault
from resizer_cli.output import Reporter


def _state(**fields: Any) -> Fault:
    """Every GetFunctionConfiguration answers with these fields (as Lambda would)."""
    return Fault("lambda", "GetFunctionConfiguration", kind="rewrite", fields=fields,
                 times=10_000)


@pytest.mark.parametrize("state", ["Inactive", "Deactivating", "ActiveNonInvocable"])
def test_an_idle_function_is_updated_without_waiting_for_active(
    aws, target_factory, deploy, sleeps: list[float], state: str
) -> None:
    target, _ = target_factory()
    deploy(target)
    changed, calls = target_factory(memory=1024)
    faults.install(_state(State=state, LastUpdateStatus="Successful",
                          StateReason="The function is idle"))
    result = deploy(changed)
    assert calls.mutating == ["UpdateFunctionConfiguration"]
    assert sleeps == []  # updates are allowed in these states: nothing to wait for
    assert result.changed


def test_an_update_in_progress_is_waited_for_whatever_the_state(
    aws, target_factory, deploy, sleeps: list[float]
) -> None:
    target, _ = target_factory()
    deploy(target)
    changed, _ = target_factory(memory=1024)
    for last in ("Successful", "InProgress", "InProgress"):  # inventory, then two polls
        faults.install(Fault("lambda", "GetFunctionConfiguration", kind="rewrite",
                             fields={"State": "Inactive", "LastUpdateStatus": last}))
    deploy(changed)
    assert len(sleeps) == 2


def test_a_new_function_must_become_active(
    aws, target_factory, deploy, sleeps: list[float]
) -> None:
    target, _ = target_factory()
    for state in ("Pending", "Pending"):
        faults.install(Fault("lambda", "GetFunctionConfiguration", kind="rewrite",
                             fields={"State": state}))
    deploy(target)
    assert len(sleeps) == 2
    again, _ = target_factory(stack="other")
    faults.install(_state(State="Failed", StateReason="InvalidZipFileException"))
    with pytest.raises(ResizerError, match="failed to deploy: InvalidZipFileException"):
        deploy(again)


@pytest.mark.parametrize("code", ["NoSuchBucket", "OperationAborted"])
def test_calls_right_after_create_bucket_wait_for_it(
    aws, target_factory, deploy, sleeps: list[float], code: str
) -> None:
    target, _ = target_factory()
    for op in ("PutBucketTagging", "PutPublicAccessBlock", "PutBucketEncryption"):
        faults.install(Fault("s3", op, code, "not yet", status=404, times=2))
    deploy(target)
    assert faults.fired("s3", "PutBucketEncryption") == 2
    assert deploy(target).actions == []


def test_no_such_bucket_on_an_existing_bucket_is_not_retried(
    aws, target_factory, deploy, sleeps: list[float]
) -> None:
    target, _ = target_factory()
    deploy(target)
    target.client("s3").delete_bucket_encryption(Bucket=target.names.dest_bucket)
    faults.install(Fault("s3", "PutBucketEncryption", "NoSuchBucket", "gone", status=404))
    with pytest.raises(ResizerError, match="NoSuchBucket"):
        deploy(target)
    assert sleeps == []


def test_layer_publish_retries_without_compatible_architectures(
    aws, target_factory, deploy
) -> None:
    target, _ = target_factory(region="af-south-1")
    sent: list[dict[str, Any]] = []
    target.client("lambda").meta.events.register(
        "before-parameter-build.lambda.PublishLayerVersion",
        lambda params, **_: sent.append(dict(params)),
    )
    faults.install(
        Fault("lambda", "PublishLayerVersion", "InvalidParameterValueException",
              "CompatibleArchitectures are not supported in af-south-1. Please remove the "
              "CompatibleArchitectures value from your request and try again",
              params={"CompatibleArchitectures": "*"}, times=10)
    )
    deploy(target)
    assert ["CompatibleArchitectures" in p for p in sent] == [True, False]
    assert deploy(target).actions == []


def test_the_new_invoke_permission_is_added_before_the_old_one_goes(
    aws, target_factory, deploy
) -> None:
    first, _ = target_factory(source_bucket="bucket-a")
    for name in ("bucket-a", "bucket-b"):
        first.client("s3").create_bucket(Bucket=name)
    deploy(first)
    lam = first.client("lambda")
    statements: list[int] = []

    def count(**_: Any) -> None:
        pol = json.loads(lam.get_policy(FunctionName=first.names.function)["Policy"])
        statements.append(len(pol["Statement"]))

    second, calls = target_factory(source_bucket="bucket-b")
    second.client("lambda").meta.events.register("after-call.lambda.AddPermission", count)
    second.client("lambda").meta.events.register("after-call.lambda.RemovePermission", count)
    deploy(second)
    order = [op for op in calls.mutating if op in ("AddPermission", "RemovePermission",
                                                  "PutBucketNotificationConfiguration")]
    assert order == ["PutBucketNotificationConfiguration",  # our entry out of bucket-a
                     "AddPermission", "PutBucketNotificationConfiguration", "RemovePermission"]
    assert statements == [2, 1]  # never zero: S3's invokes are allowed throughout
    [stmt] = json.loads(lam.get_policy(FunctionName=first.names.function)["Policy"])["Statement"]
    assert stmt["Condition"]["ArnLike"]["AWS:SourceArn"] == "arn:aws:s3:::bucket-b"


def test_an_architecture_switch_cut_short_is_finished_and_resumed(
    aws, target_factory, deploy
) -> None:
    target, _ = target_factory()
    deploy(target)
    arm, _ = target_factory(architecture="arm64")
    faults.install(Fault("lambda", "UpdateFunctionCode", kind="interrupt"))
    with pytest.raises(KeyboardInterrupt):
        deploy(arm)
    lam = target.client("lambda")
    name = target.names.function
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 0
    fn_arn = lam.get_function_configuration(FunctionName=name)["FunctionArn"]
    assert PAUSE_TAG in lam.list_tags(Resource=fn_arn)["Tags"]
    again, calls = target_factory(architecture="arm64")
    deploy(again)
    assert "PutFunctionConcurrency" not in calls.mutating  # already paused
    assert calls.mutating.index("UpdateFunctionCode") < calls.mutating.index(
        "UpdateFunctionConfiguration") < calls.mutating.index("DeleteFunctionConcurrency")
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
    assert PAUSE_TAG not in lam.list_tags(Resource=fn_arn)["Tags"]


def test_a_users_reserved_concurrency_survives_an_architecture_switch(
    aws, target_factory, deploy
) -> None:
    target, _ = target_factory()
    deploy(target)
    lam = target.client("lambda")
    name = target.names.function
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=7)
    arm, _ = target_factory(architecture="arm64")
    deploy(arm)
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 7


def test_delete_objects_retries_the_keys_s3_could_not_delete(aws, target_factory, deploy) -> None:
    target, _ = target_factory()
    deploy(target)
    s3 = target.client("s3")
    for i in range(5):
        s3.put_object(Bucket=target.names.dest_bucket, Key=f"thumbnails/{i}.jpg", Body=b"x")
    sent: list[int] = []
    s3.meta.events.register(
        "before-call.s3.DeleteObjects",
        lambda context, **_: sent.append(len(context["resizer_params"]["Delete"]["Objects"])),
    )
    slow = {"Key": "thumbnails/3.jpg", "VersionId": "null", "Code": "SlowDown",
            "Message": "Please reduce your request rate."}
    faults.install(Fault("s3", "DeleteObjects", kind="rewrite", fields={"Errors": [slow]},
                         params={"Bucket": target.names.dest_bucket}, times=2))
    teardown_stack(target, Reporter.silent())
    assert sent == [5, 1, 1]  # the batch, then only the key S3 refused, until it went
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert target.names.dest_bucket not in names


def test_delete_objects_access_denied_for_a_key_stops_with_one_line(
    aws, target_factory, deploy
) -> None:
    target, _ = target_factory()
    deploy(target)
    s3 = target.client("s3")
    s3.put_object(Bucket=target.names.dest_bucket, Key="locked.jpg", Body=b"x")
    denied = {"Key": "locked.jpg", "VersionId": "null", "Code": "AccessDenied",
              "Message": "Access Denied"}
    faults.install(Fault("s3", "DeleteObjects", kind="rewrite", fields={"Errors": [denied]}))
    with pytest.raises(ResizerError) as info:
        teardown_stack(target, Reporter.silent())
    assert "locked.jpg" in str(info.value) and "\n" not in str(info.value)


# --- teardown while invocations run -----------------------------------------------------------


def _log(target: Any, *lines: str) -> None:
    logs = target.client("logs")
    group = target.names.log_group
    stream = f"s{time.monotonic_ns()}"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": now + i, "message": m}
                                   for i, m in enumerate(lines)])


def test_teardown_waits_for_a_running_invocation_before_deleting(
    aws, target_factory, deploy, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, calls = target_factory()
    deploy(target)
    _log(target, "START RequestId: done-1 Version: $LATEST", "REPORT RequestId: done-1\tx",
         "START RequestId: busy-2 Version: $LATEST")
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 4:  # the invocation ends while teardown waits
            _log(target, "END RequestId: busy-2", "REPORT RequestId: busy-2\tDuration: 1 ms")

    monkeypatch.setattr(retry, "sleep", sleep)
    calls.clear()
    result = teardown_stack(target, Reporter.silent())
    assert len(polls) == 4 and set(polls) == {drain.POLL_S}
    kinds = [(a.resource, a.action) for a in result.actions]
    assert kinds[:5] == [("notification", "remove"), ("permission", "remove"),
                         ("function", "drain"), ("async-config", "remove"),
                         ("function", "delete")]
    ops = calls.mutating
    assert ops.index("PutBucketNotificationConfiguration") < ops.index("RemovePermission")
    assert ops.index("RemovePermission") < ops.index("PutFunctionConcurrency")
    assert ops.index("PutFunctionConcurrency") < ops.index("DeleteFunction")
    assert ops.index("DeleteFunction") < ops.index("DeleteLogGroup")


def test_the_wait_is_bounded_by_the_function_timeout(
    aws, target_factory, deploy, sleeps: list[float]
) -> None:
    target, _ = target_factory(timeout=10)
    deploy(target)
    _log(target, "START RequestId: stuck Version: $LATEST")  # never reports
    result = teardown_stack(target, Reporter.silent())
    # (10 s + 6 s of ingestion margin) / 2 s a poll: 8 polls, 7 sleeps, then on.
    assert len(sleeps) == 7
    assert ("function", "delete") in [(a.resource, a.action) for a in result.actions]
    assert target.names.function not in {
        f["FunctionName"] for f in target.client("lambda").list_functions()["Functions"]
    }


# --- status at volume ----------------------------------------------------------------------------


def test_status_counts_exactly_with_server_side_filters(aws, target_factory, deploy) -> None:
    target, _ = target_factory()
    deploy(target)
    logs = target.client("logs")
    group = target.names.log_group
    logs.create_log_stream(logGroupName=group, logStreamName="busy")
    now = int(time.time() * 1000)
    reports = 0
    for batch in range(5):  # 25,000 invocations in the hour: past the old 20,000 cap
        events = []
        for i in range(10_000):
            report = i % 2 == 0
            reports += report
            events.append({"timestamp": now - 600_000 + batch * 10_000 + i,
                           "message": f"REPORT RequestId: {batch}-{i}\tDuration: 1 ms"
                           if report else f"START RequestId: {batch}-{i} Version: $LATEST"})
        logs.put_log_events(logGroupName=group, logStreamName="busy", logEvents=events)
    logs.put_log_events(logGroupName=group, logStreamName="busy", logEvents=[
        {"timestamp": now - 1000, "message": '{"level": "error", "event": "rejected"}'},
        {"timestamp": now - 999, "message": '{"level": "info", "event": "no error here"}'},
    ])
    patterns: list[str] = []
    logs.meta.events.register(
        "before-call.logs.FilterLogEvents",
        lambda context, **_: patterns.append(context["resizer_params"].get("filterPattern")),
    )
    recent = recent_invocations(target, group)
    assert recent["invocations"] == reports == 25_000
    assert recent["errors"] == 1 and recent["truncated"] is False
    assert set(patterns) == {'"REPORT RequestId"', *[p for p in patterns if p.startswith("?")]}
    assert all(patterns)  # never an unfiltered scan
