"""The failed-event destination and the deletions entry, as deploy resources, under moto."""

from __future__ import annotations

import pytest
from moto.awslambda import models as lambda_models

from resizer_cli.deploy import notifications as nt
from resizer_cli.deploy.status import stack_status
from resizer_cli.deploy.teardown import teardown_stack
from resizer_cli.emulator import motofixes
from resizer_cli.errors import ResizerError
from resizer_cli.output import Reporter

OTHER = "arn:aws:lambda:us-east-1:123456789012:function:someone-else"


@pytest.fixture(autouse=True)
def put_replaces(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto appends event invoke configs where AWS replaces them (see emulator.motofixes)."""
    backend = lambda_models.LambdaBackend
    monkeypatch.setattr(backend, "put_function_event_invoke_config", motofixes._put_config)
    monkeypatch.setattr(backend, "update_function_event_invoke_config",
                        motofixes._update_config)


def _config(target) -> dict:
    return target.client("lambda").get_function_event_invoke_config(
        FunctionName=target.names.function)


def test_setup_keeps_failed_events_in_the_destination_bucket(
    aws, target_factory, deploy, kit
) -> None:
    target, calls = target_factory()
    deploy(target)
    n = target.names
    config = _config(target)
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == 6 * 3600
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == (
        f"arn:aws:s3:::{n.dest_bucket}")
    ops = calls.mutating
    # After the function (it configures it) and after the role may write there.
    assert ops.index("PutRolePolicy") < ops.index("CreateFunction") < ops.index(
        "PutFunctionEventInvokeConfig")
    calls.clear()
    assert deploy(target).actions == [] and calls.mutating == []
    report = stack_status(target, code=kit.code)
    assert report["in_sync"]
    assert report["resources"]["async_config"] | {"name": None} == {
        "name": None, "exists": True, "retries": 2, "max_event_age_s": 21600,
        "on_failure": f"arn:aws:s3:::{n.dest_bucket}"}


@pytest.mark.parametrize("breakage", ["changed", "deleted"])
def test_drift_of_the_async_config_is_shown_then_repaired(
    aws, target_factory, deploy, kit, breakage: str
) -> None:
    target, calls = target_factory()
    deploy(target)
    lam = target.client("lambda")
    fn = target.names.function
    if breakage == "changed":
        lam.put_function_event_invoke_config(
            FunctionName=fn, MaximumRetryAttempts=0,
            DestinationConfig={"OnSuccess": {"Destination": "arn:aws:s3:::elsewhere"}})
    else:
        lam.delete_function_event_invoke_config(FunctionName=fn)
    drift = stack_status(target, code=kit.code)["drift"]
    [item] = drift
    assert (item["resource"], item["action"]) == ("async-config", "put")
    if breakage == "changed":
        assert "retries 0 → 2" in item["detail"] and "on-success destination" in item["detail"]
    calls.clear()
    deploy(target)
    assert calls.mutating == ["PutFunctionEventInvokeConfig"]
    config = _config(target)
    assert config["MaximumRetryAttempts"] == 2
    assert not (config["DestinationConfig"].get("OnSuccess") or {}).get("Destination")
    calls.clear()
    assert deploy(target).actions == [] and calls.mutating == []


def test_teardown_removes_the_destination_before_the_function_and_bucket(
    aws, target_factory, deploy
) -> None:
    target, calls = target_factory()
    deploy(target)
    calls.clear()
    teardown_stack(target, Reporter.silent())
    ops = calls.mutating
    assert ops.index("DeleteFunctionEventInvokeConfig") < ops.index("DeleteFunction")
    assert ops.index("DeleteFunction") < ops.index("DeleteBucket")


def test_a_stack_with_only_the_uploads_entry_gets_the_deletions_one(
    aws, target_factory, deploy
) -> None:
    target, calls = target_factory()
    deploy(target)
    n = target.names
    s3 = target.client("s3")
    fn_arn = f"arn:aws:lambda:us-east-1:{n.account}:function:{n.function}"
    before_this_change = {"LambdaFunctionConfigurations": [
        nt.our_entry(n.notification_id, fn_arn, "raw/")]}
    s3.put_bucket_notification_configuration(Bucket=n.source_bucket,
                                             NotificationConfiguration=before_this_change)
    calls.clear()
    result = deploy(target)
    assert [(a.resource, a.action) for a in result.actions] == [("notification", "put")]
    assert calls.mutating == ["PutBucketNotificationConfiguration"]
    conf = s3.get_bucket_notification_configuration(Bucket=n.source_bucket)
    assert [(e["Id"], e["Events"]) for e in conf["LambdaFunctionConfigurations"]] == [
        (n.notification_id, ["s3:ObjectCreated:*"]),
        (nt.removal_id(n.notification_id), ["s3:ObjectRemoved:*"]),
    ]


def _brought(target, rules: list[dict]) -> None:
    s3 = target.client("s3")
    s3.create_bucket(Bucket="their-photos")
    s3.put_bucket_notification_configuration(
        Bucket="their-photos", NotificationConfiguration={"LambdaFunctionConfigurations": rules})


def _rule(rid: str, event: str, prefix: str, arn: str = OTHER) -> dict:
    return {"Id": rid, "LambdaFunctionArn": arn, "Events": [event],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}}


def test_a_foreign_rule_on_the_deletions_leaves_ours_out_and_says_so(
    aws, target_factory, deploy
) -> None:
    target, _ = target_factory(source_bucket="their-photos")
    theirs = _rule("archive-deletions", "s3:ObjectRemoved:*", "raw/")
    _brought(target, [theirs])
    result = deploy(target)
    [put] = [a for a in result.actions if a.resource == "notification"]
    assert "deletions are not followed" in put.detail and "'archive-deletions'" in put.detail
    conf = target.client("s3").get_bucket_notification_configuration(Bucket="their-photos")
    assert [e["Id"] for e in conf["LambdaFunctionConfigurations"]] == [
        "archive-deletions", target.names.notification_id]
    assert deploy(target).actions == []  # nothing more it could do


def test_a_foreign_rule_under_our_deletions_id_is_refused(aws, target_factory, deploy) -> None:
    target, calls = target_factory(source_bucket="their-photos")
    rid = nt.removal_id(target.names.notification_id)
    _brought(target, [_rule(rid, "s3:ObjectRemoved:*", "elsewhere/")])
    calls.clear()
    with pytest.raises(ResizerError, match=f"notification rule {rid} .*someone-else"):
        deploy(target)
    assert calls.mutating == []


def test_merging_both_entries_keeps_foreign_rules_in_place() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    ours = nt.our_entries("s-resizer-raw", arn, "raw/")
    foreign = _rule("x", "s3:ObjectCreated:*", "other/")
    stale = nt.our_entry("s-resizer-raw", arn, "old/")
    merged = nt.merge({"LambdaFunctionConfigurations": [foreign, stale]}, ours,
                      "s-resizer-raw", arn)
    assert merged["LambdaFunctionConfigurations"] == [foreign, *ours]
    assert nt.same_entries(nt.find_ours(merged, "s-resizer-raw", arn), ours)
    assert not nt.same_entries([ours[0]], ours)
    assert nt.remove(merged, "s-resizer-raw", arn) == {"LambdaFunctionConfigurations": [foreign]}
    # An uploads overlap is still refused; a deletions overlap only leaves ours out.
    with pytest.raises(ResizerError, match="overlapping ours"):
        nt.check_no_overlap("b", {"QueueConfigurations": [
            _rule("q", "s3:ObjectCreated:Put", "raw/a")]}, ours, "s-resizer-raw", arn)
    nt.check_no_overlap("b", {"LambdaFunctionConfigurations": [
        _rule("r", "s3:ObjectRemoved:Delete", "ra")]}, ours, "s-resizer-raw", arn)


def test_lambdas_failure_folder_in_the_watched_prefix_is_refused() -> None:
    nt.check_no_recursion("same", "same", "raw/", "thumbnails/", "results/", "aws/lambda/async/f/")
    with pytest.raises(ResizerError, match="failed events"):
        nt.check_no_recursion("same", "same", "aws/", "t/", "r/", "aws/lambda/async/f/")
