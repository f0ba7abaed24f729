"""Reserved concurrency under moto: planned, applied, repaired, removed, torn down, and kept
through the pauses (an architecture switch, a teardown's drain) even when they are cut short."""

from __future__ import annotations

from typing import Any

import pytest

from resizer_cli import faults
from resizer_cli.aws import Target
from resizer_cli.deploy.desired import PAUSE_TAG
from resizer_cli.deploy.stack import setup_stack
from resizer_cli.deploy.status import stack_status
from resizer_cli.deploy.teardown import plan_teardown, teardown_stack
from resizer_cli.errors import ResizerError
from resizer_cli.faults import Fault
from resizer_cli.output import Reporter


def _reserved(target: Target) -> int | None:
    resp = target.client("lambda").get_function_concurrency(FunctionName=target.names.function)
    return resp.get("ReservedConcurrentExecutions")


def _tags(target: Target) -> dict[str, str]:
    lam = target.client("lambda")
    arn = lam.get_function_configuration(FunctionName=target.names.function)["FunctionArn"]
    return dict(lam.list_tags(Resource=arn)["Tags"])


def _titles(result: Any) -> list[str]:
    return [f"{a.action} {a.detail}" for a in result.actions if a.resource == "function"]


def test_planned_applied_repaired_and_removed(aws, target_factory, deploy, kit) -> None:
    target, _ = target_factory(reserved_concurrency=5)
    planned = setup_stack(target, Reporter.silent(), dry_run=True, sources=kit.sources)
    assert "reserve 5, was none" in _titles(planned)
    assert target.client("lambda").list_functions()["Functions"] == []  # a dry run
    deploy(target)
    assert _reserved(target) == 5
    again, calls = target_factory(reserved_concurrency=5)
    assert not deploy(again).changed  # in sync: nothing to do
    assert "PutFunctionConcurrency" not in calls.mutating

    # Changed behind resizer's back: status shows the drift, setup puts the value back.
    target.client("lambda").put_function_concurrency(
        FunctionName=target.names.function, ReservedConcurrentExecutions=2)
    report = stack_status(again, code=kit.code)
    assert report["resources"]["function"]["reserved_concurrency"] == 2
    assert [(d["action"], d["detail"]) for d in report["drift"]] == [("reserve", "5, was 2")]
    deploy(again)
    assert _reserved(target) == 5

    # `none` removes the reservation; without the setting a hand-set value is left alone.
    none, _ = target_factory(reserved_concurrency="none")
    assert "unreserve was 5" in _titles(deploy(none))
    assert _reserved(target) is None
    target.client("lambda").put_function_concurrency(
        FunctionName=target.names.function, ReservedConcurrentExecutions=3)
    unmanaged, _ = target_factory()
    assert not deploy(unmanaged).changed
    assert _reserved(target) == 3


def test_zero_pauses_and_status_says_so(aws, target_factory, deploy, kit) -> None:
    target, _ = target_factory(reserved_concurrency=0)
    deploy(target)
    assert _reserved(target) == 0
    fn = stack_status(target, code=kit.code)["resources"]["function"]
    assert (fn["reserved_concurrency"], fn["paused"]) == (0, True)


def test_teardown_plan_names_the_reservation(aws, target_factory, deploy) -> None:
    target, _ = target_factory(reserved_concurrency=4)
    deploy(target)
    [delete] = [a for a in plan_teardown(target).actions if a.action == "delete"
                and a.resource == "function"]
    assert delete.detail == "with its reserved concurrency 4"
    teardown_stack(target, Reporter.silent())
    assert target.names.function not in {
        f["FunctionName"] for f in target.client("lambda").list_functions()["Functions"]}


@pytest.mark.parametrize("desired", [6])  # None: test_deploy_aws_details.py
def test_architecture_switch_restores_the_wanted_value(
    aws, target_factory, deploy, desired: int | None
) -> None:
    target, _ = target_factory()
    deploy(target)
    target.client("lambda").put_function_concurrency(
        FunctionName=target.names.function, ReservedConcurrentExecutions=7)
    arm, calls = target_factory(architecture="arm64", reserved_concurrency=desired)
    deploy(arm)
    # Paused at 0 around the switch, then the setting's value (or, none set, the previous).
    puts = [op for op in calls.mutating if "Concurrency" in op]
    assert puts == ["PutFunctionConcurrency", "PutFunctionConcurrency"]
    assert _reserved(target) == (desired if desired is not None else 7)
    assert PAUSE_TAG not in _tags(target)


def test_a_switch_cut_short_is_resumed_to_the_wanted_value(
    aws, target_factory, deploy, kit
) -> None:
    target, _ = target_factory(reserved_concurrency=5)
    deploy(target)
    arm, _ = target_factory(architecture="arm64", reserved_concurrency=5)
    faults.install(Fault("lambda", "UpdateFunctionCode", kind="interrupt"))
    with pytest.raises(KeyboardInterrupt):
        deploy(arm)
    assert _reserved(target) == 0
    assert _tags(target)[PAUSE_TAG] == "5"
    drift = stack_status(arm, code=kit.code)["drift"]
    assert [d["detail"] for d in drift if d["action"] == "resume"] == [
        "code and layer agree; reserved concurrency 5"]
    deploy(arm)
    assert _reserved(target) == 5
    assert PAUSE_TAG not in _tags(target)


@pytest.mark.parametrize(
    ("before", "setting", "after"), [(3, None, 3), (None, 8, 8)]
)
def test_a_teardown_cut_short_after_the_drain_is_undone_by_setup(
    aws, target_factory, deploy, before: int | None, setting: int | None, after: int | None
) -> None:
    target, _ = target_factory()
    deploy(target)
    lam = target.client("lambda")
    if before is not None:
        lam.put_function_concurrency(FunctionName=target.names.function,
                                     ReservedConcurrentExecutions=before)
    # Ctrl-C while the drain watches the logs: the function is held at 0.
    faults.install(Fault("logs", "FilterLogEvents", kind="interrupt"))
    with pytest.raises(KeyboardInterrupt):
        teardown_stack(target, Reporter.silent())
    faults.clear()
    assert _reserved(target) == 0
    again, _ = target_factory(reserved_concurrency=setting)
    result = deploy(again)
    assert [a.action for a in result.actions if a.resource == "function"] == ["resume"]
    assert _reserved(target) == after
    assert PAUSE_TAG not in _tags(target)


def test_the_accounts_unreserved_minimum_is_one_line(aws, target_factory, deploy) -> None:
    target, _ = target_factory(reserved_concurrency=950)
    # What Lambda answers; moto only enforces it with MOTO_LAMBDA_CONCURRENCY_QUOTA.
    faults.install(Fault(
        "lambda", "PutFunctionConcurrency", "InvalidParameterValueException",
        "Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [100].",
        params={"ReservedConcurrentExecutions": 950}, times=5))
    with pytest.raises(ResizerError) as info:
        deploy(target)
    text = str(info.value)
    assert "Lambda refused reserved concurrency 950" in text
    assert "at least 100 executions unreserved in us-east-1" in text
    assert "smaller --reserved-concurrency" in text
    assert "\n" not in text
    assert faults.fired("lambda", "PutFunctionConcurrency") == 1  # not retried
    # Before the trigger is wired; a smaller value finishes the job.
    smaller, _ = target_factory(reserved_concurrency=50)
    assert "reserve" in [a.action for a in deploy(smaller).actions]
    assert _reserved(target) == 50
