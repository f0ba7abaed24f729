"""Failed async events kept in an S3 on-failure destination, and ObjectRemoved events."""

from __future__ import annotations

import inspect
import json
import re
import time
from pathlib import Path
from typing import Any

from moto.awslambda import models as lambda_models
from moto.s3.models import S3Backend

from resizer_cli.emulator import motofixes
from resizer_cli.emulator.environment import FunctionSpec
from resizer_cli.emulator.runtime import Runtime

RAISES = "def handler(event, context):\n    raise ValueError('no luck: ' + event['why'])\n"
RECORDS = (
    "import json\n"
    "def handler(event, context):\n"
    "    for r in event.get('Records', []):\n"
    "        print('EVENT', r['eventName'], r['s3']['object']['key'])\n"
)
KEY_RE = re.compile(
    r"^aws/lambda/async/(?P<fn>[^/]+)/\d{4}/\d{2}/\d{2}/"
    r"\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}-[0-9a-f-]{36}$"
)


def test_the_moto_internals_the_fixes_patch_are_where_they_expect() -> None:
    found = {
        "LambdaBackend.put_function_event_invoke_config":
            lambda_models.LambdaBackend.put_function_event_invoke_config,
        "LambdaBackend.update_function_event_invoke_config":
            lambda_models.LambdaBackend.update_function_event_invoke_config,
        "S3Backend._set_delete_marker": S3Backend._set_delete_marker,
        "LambdaFunction.update_configuration": motofixes.ORIGINAL_UPDATE_CONFIGURATION,
        "LambdaFunction.update_function_code": motofixes.ORIGINAL_UPDATE_CODE,
    }
    for name, func in found.items():
        assert list(inspect.signature(func).parameters) == motofixes.EXPECTED_PARAMETERS[name]
    # What the fixes correct is still what moto does: it appends, and sends no marker event.
    put = inspect.getsource(motofixes.ORIGINAL_PUT_CONFIG)
    assert "fn.event_invoke_config.append(" in put
    delete = inspect.getsource(S3Backend.delete_object)
    assert "self._set_delete_marker(" in delete
    assert "DELETE_MARKER" not in inspect.getsource(S3Backend)
    for update in (motofixes.ORIGINAL_UPDATE_CONFIGURATION, motofixes.ORIGINAL_UPDATE_CODE):
        assert "last_modified" not in inspect.getsource(update)


def test_an_update_moves_the_functions_last_modified(emu) -> None:
    lam = emu.client("lambda")
    emu.create_function("touched", RAISES)
    first = lam.get_function_configuration(FunctionName="touched")["LastModified"]
    time.sleep(0.01)
    lam.update_function_configuration(FunctionName="touched", MemorySize=256)
    second = lam.get_function_configuration(FunctionName="touched")["LastModified"]
    lam.update_function_code(FunctionName="touched", ZipFile=emu.zip_of({"app.py": RAISES}))
    third = lam.get_function_configuration(FunctionName="touched")["LastModified"]
    assert first < second < third


def _failure_records(emu: Any, bucket: str, count: int, timeout: float = 30) -> list[Any]:
    s3 = emu.client("s3")
    end = time.monotonic() + timeout
    keys: list[str] = []
    while time.monotonic() < end:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        if len(keys) >= count:
            break
        time.sleep(0.1)
    assert len(keys) == count, keys
    return [(k, json.loads(s3.get_object(Bucket=bucket, Key=k)["Body"].read())) for k in keys]


def test_a_failed_event_lands_in_the_bucket_after_its_retries(emu) -> None:
    s3, lam = emu.client("s3"), emu.client("lambda")
    s3.create_bucket(Bucket="dest-failures")
    arn = emu.create_function("doomed", RAISES)
    # Put twice: the second replaces the first, as on AWS (moto alone would keep the first).
    lam.put_function_event_invoke_config(FunctionName="doomed", MaximumRetryAttempts=0)
    lam.put_function_event_invoke_config(
        FunctionName="doomed", MaximumRetryAttempts=1, MaximumEventAgeInSeconds=600,
        DestinationConfig={"OnFailure": {"Destination": "arn:aws:s3:::dest-failures"}},
    )
    got = lam.get_function_event_invoke_config(FunctionName="doomed")
    assert got["MaximumRetryAttempts"] == 1
    lam.update_function_event_invoke_config(FunctionName="doomed", MaximumEventAgeInSeconds=900)
    got = lam.get_function_event_invoke_config(FunctionName="doomed")
    assert (got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]) == (1, 900)

    lam.invoke(FunctionName="doomed", InvocationType="Event", Payload=json.dumps({"why": "x"}))
    [(key, record)] = _failure_records(emu, "dest-failures", 1)
    assert KEY_RE.match(key) and KEY_RE.match(key)["fn"] == "doomed"
    assert set(record) == {"version", "timestamp", "requestContext", "requestPayload",
                           "responseContext", "responsePayload"}
    ctx = record["requestContext"]
    assert ctx["functionArn"] == f"{arn}:$LATEST" and ctx["condition"] == "RetriesExhausted"
    assert ctx["approximateInvokeCount"] == 2  # the first attempt and one retry
    assert record["requestPayload"] == {"why": "x"}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                         "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "no luck: x"


def test_an_event_too_old_goes_to_the_destination_without_running(tmp_path: Path) -> None:
    delivered: list[dict[str, Any]] = []

    class Sink:
        def deliver(self, spec: FunctionSpec, record: dict[str, Any]) -> str:
            delivered.append(record)
            return "key"

    def never(arn: str) -> bytes:
        raise AssertionError("the function must not start")

    spec = FunctionSpec(
        account="123456789012", region="us-east-1", name="late",
        arn="arn:aws:lambda:us-east-1:123456789012:function:late", version="$LATEST",
        handler="app.handler", runtime="python3.12", memory_mb=128, timeout_s=3, env={},
        code_sha256="x", layer_arns=(), code=lambda: never(""), layer_code=never,
        max_event_age_s=0.0, on_failure="arn:aws:s3:::somewhere",
    )
    class NoLogs:
        def create_stream(self, *args: Any) -> None:
            pass

        def put(self, *args: Any) -> None:
            pass

    runtime = Runtime(tmp_path, "http://127.0.0.1:9", NoLogs())
    runtime.failures = Sink()
    try:
        runtime.submit(spec, lambda: spec, json.dumps({"Records": []}))
        assert runtime.drain(10)
    finally:
        runtime.shutdown()
    [record] = delivered
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert "responsePayload" not in record


def test_object_removed_events_for_delete_delete_objects_and_delete_markers(emu) -> None:
    s3, lam = emu.client("s3"), emu.client("lambda")
    arn = emu.create_function("removals", RECORDS)
    for bucket, versioned in (("plain-bucket", False), ("versioned-bucket", True)):
        s3.create_bucket(Bucket=bucket)
        if versioned:
            s3.put_bucket_versioning(Bucket=bucket,
                                     VersioningConfiguration={"Status": "Enabled"})
        lam.add_permission(FunctionName="removals", StatementId=bucket,
                           Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                           SourceArn=f"arn:aws:s3:::{bucket}")
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn,
                                              "Events": ["s3:ObjectRemoved:*"]}]})
        for key in ("one.jpg", "two.jpg", "three.jpg"):
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        s3.delete_object(Bucket=bucket, Key="one.jpg")
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "two.jpg"},
                                                             {"Key": "three.jpg"}]})
    messages = emu.wait_logs(
        "removals", lambda m: sum(x.startswith("EVENT") for x in m) >= 6, timeout=30
    )
    events = sorted(m for m in messages if m.startswith("EVENT"))
    assert events == sorted(
        [f"EVENT ObjectRemoved:Delete {k}" for k in ("one.jpg", "two.jpg", "three.jpg")]
        + [f"EVENT ObjectRemoved:DeleteMarkerCreated {k}"
           for k in ("one.jpg", "two.jpg", "three.jpg")]
    )
