"""`status` and `require_stack` under moto."""

from __future__ import annotations

import time

import pytest

from resizer_cli.deploy.stack import require_stack
from resizer_cli.deploy.status import stack_status
from resizer_cli.errors import StackNotFound


def test_status_of_a_missing_stack(aws, target_factory, kit) -> None:
    target, _ = target_factory()
    with pytest.raises(StackNotFound, match="no stack 'resizer' is deployed on AWS us-east-1"):
        stack_status(target, code=kit.code)
    with pytest.raises(StackNotFound):
        require_stack(target)


def test_require_stack(aws, target_factory, deploy) -> None:
    target, calls = target_factory()
    deploy(target)
    require_stack(target)
    target.client("lambda").delete_function(FunctionName=target.names.function)
    with pytest.raises(StackNotFound, match="run `resizer setup` first"):
        require_stack(target)
    assert calls.mutating.count("DeleteFunction") == 1


def test_status_in_sync_with_hashes_and_recent_invocations(
    aws, target_factory, deploy, kit
) -> None:
    target, calls = target_factory()
    deploy(target)
    logs = target.client("logs")
    group = target.names.log_group
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    now = int(time.time() * 1000)
    lines = [
        "START RequestId: 1 Version: $LATEST",
        '{"status": "ok", "source_key": "raw/a.jpg"}',
        "END RequestId: 1",
        "REPORT RequestId: 1\tDuration: 10 ms",
        '{"status": "error", "error": "corrupt", "source_key": "raw/b.jpg"}',
        "REPORT RequestId: 2\tDuration: 12 ms",
        '{"level": "error", "event": "rejected", "key": "raw/c.jpg", "error": "corrupt"}',
        '{"level": "info", "event": "thumbnails", "key": "raw/a.jpg"}',
        "[ERROR] Runtime.ImportModuleError: Unable to import module",
        "REPORT RequestId: 3\tDuration: 1 ms",
    ]
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s1",
        logEvents=[{"timestamp": now - 1000 + i, "message": m} for i, m in enumerate(lines)],
    )
    logs.put_log_events(  # older than the window: not counted
        logGroupName=group,
        logStreamName="s1",
        logEvents=[{"timestamp": now - 2 * 3600 * 1000, "message": "REPORT RequestId: 0"}],
    )
    calls.clear()
    report = stack_status(target, code=kit.code)
    assert calls.mutating == []
    assert report["in_sync"] and report["drift"] == []
    assert report["code"]["up_to_date"]
    assert report["code"]["deployed_sha256"] == kit.code().code_sha256
    versions = report["resources"]["layer"]["versions"]
    assert [v["in_use"] for v in versions] == [True]
    assert versions[0]["sha256"] == kit.layers_built[-1]
    assert report["recent"]["invocations"] == 3
    assert report["recent"]["errors"] == 3
    assert "ImportModuleError" in report["recent"]["last_error"]
    assert all(r["exists"] for k, r in report["resources"].items() if k != "layer")


def test_status_reports_drift(aws, target_factory, deploy, kit) -> None:
    target, _ = target_factory()
    deploy(target)
    n = target.names
    target.client("lambda").update_function_configuration(FunctionName=n.function, MemorySize=256)
    target.client("s3").put_bucket_notification_configuration(
        Bucket=n.source_bucket, NotificationConfiguration={}
    )
    (kit.handler_dir / "handler.py").write_text("# changed\n")
    report = stack_status(target, code=kit.code)
    assert not report["in_sync"]
    drift = {(d["resource"], d["action"]) for d in report["drift"]}
    assert drift == {
        ("function", "update-code"),
        ("function", "update-config"),
        ("notification", "put"),
    }
    assert not report["code"]["up_to_date"]
    assert report["resources"]["notification"]["exists"] is False
    assert report["recent"]["invocations"] == 0


def test_fresh_clone_finds_the_brought_bucket(aws, target_factory, deploy, kit) -> None:
    deployed, _ = target_factory(source_bucket="my-photos")
    deployed.client("s3").create_bucket(Bucket="my-photos")
    deploy(deployed)
    fresh, _ = target_factory()  # no saved settings, no --source-bucket
    require_stack(fresh)
    report = stack_status(fresh, code=kit.code)
    assert report["in_sync"], report["drift"]
    assert report["resources"]["source_bucket"] == {
        "name": "my-photos",
        "exists": True,
        "owned": False,
    }
