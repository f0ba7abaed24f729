"""The Lambda runtime inside the emulator: isolation, context, warm workers, limits, logs."""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
from pathlib import Path

LOCAL = f"python{sys.version_info.major}.{sys.version_info.minor}"

PROBE = """
import os, sys, json
INIT_PID = os.getpid()
print("init ran in", INIT_PID)

def handler(event, context):
    out = {"pid": os.getpid(), "init_pid": INIT_PID, "path": sys.path,
           "env": {k: v for k, v in os.environ.items()},
           "ctx": {a: getattr(context, a) for a in (
               "aws_request_id", "function_name", "function_version", "invoked_function_arn",
               "memory_limit_in_mb", "log_group_name", "log_stream_name")},
           "remaining": context.get_remaining_time_in_millis()}
    for mod in event.get("imports", []):
        try:
            m = __import__(mod)
            out.setdefault("imported", {})[mod] = getattr(m, "__file__", "")
        except ImportError as exc:
            out.setdefault("import_errors", {})[mod] = str(exc)
    print("handled", context.aws_request_id)
    return out
"""


def test_isolation_context_and_environment(emu) -> None:
    emu.create_function("probe", PROBE, Environment={"Variables": {"MY_VAR": "hello"}},
                        MemorySize=256, Timeout=7)
    resp, out = emu.invoke("probe", {"imports": ["PIL", "boto3", "botocore", "dateutil"]})
    assert "FunctionError" not in resp
    env, ctx = out["env"], out["ctx"]
    task = env["LAMBDA_TASK_ROOT"]
    # sys.path: task, layers under opt, the runtime dir, then only the standard library.
    assert out["path"][0] == task
    assert out["path"][1].endswith(f"/python/lib/{LOCAL}/site-packages")
    assert out["path"][2].endswith("/python")
    assert out["path"][3] == env["LAMBDA_RUNTIME_DIR"]
    assert not any("site-packages" in p for p in out["path"][4:])
    # Pillow is in our virtualenv but must not leak into a function without a layer.
    assert "No module named 'PIL'" in out["import_errors"]["PIL"]
    assert out["imported"]["boto3"].startswith(env["LAMBDA_RUNTIME_DIR"])
    assert set(out["imported"]) == {"boto3", "botocore", "dateutil"}
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "probe" == ctx["function_name"]
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST" == ctx["function_version"]
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256" == str(ctx["memory_limit_in_mb"])
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/probe" == ctx["log_group_name"]
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", ctx["log_stream_name"])
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == ctx["log_stream_name"]
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{LOCAL}"
    assert env["MY_VAR"] == "hello"
    assert env["AWS_ENDPOINT_URL"] == emu.endpoint
    # The emulator's own credentials (its gate refuses any other), and no session token.
    assert env["AWS_ACCESS_KEY_ID"] == emu.connection.access_key_id
    assert env["AWS_SECRET_ACCESS_KEY"] == emu.connection.secret_access_key
    assert "AWS_SESSION_TOKEN" not in env
    assert ctx["invoked_function_arn"].endswith(":function:probe")
    assert 0 < out["remaining"] <= 7000
    # The log tail returned with LogType=Tail carries this invocation's lines.
    tail = base64.b64decode(resp["LogResult"]).decode()
    assert f"START RequestId: {ctx['aws_request_id']} Version: $LATEST" in tail
    assert f"handled {ctx['aws_request_id']}" in tail


def test_warm_reuse_and_update_invalidates(emu) -> None:
    emu.create_function("warm", PROBE)
    _, first = emu.invoke("warm")
    _, second = emu.invoke("warm")
    assert second["pid"] == first["pid"] == second["init_pid"]  # init ran once
    emu.client("lambda").update_function_configuration(
        FunctionName="warm", Environment={"Variables": {"V": "2"}}
    )
    _, third = emu.invoke("warm")
    assert third["pid"] != first["pid"] and third["env"]["V"] == "2"
    emu.client("lambda").update_function_code(
        FunctionName="warm", ZipFile=emu.zip_of({"app.py": PROBE + "\nVERSION = 3\n"})
    )
    _, fourth = emu.invoke("warm")
    assert fourth["pid"] != third["pid"]
    messages = emu.log_messages("warm")
    inits = [m for m in messages if m.startswith("init ran in")]
    assert len(inits) == 3  # one per execution environment, not per invocation
    reports = [m for m in messages if m.startswith("REPORT")]
    assert len(reports) == 4
    assert sum("Init Duration:" in r for r in reports) == 3
    assert re.fullmatch(
        r"REPORT RequestId: [0-9a-f-]{36}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
        r"Memory Size: 256 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms",
        reports[0],
    )


CRASHY = """
import os, sys, time
def handler(event, context):
    print("about to", event["do"])
    if event["do"] == "raise":
        raise ValueError("boom " + context.aws_request_id)
    if event["do"] == "exit":
        sys.exit(3)
    if event["do"] == "os_exit":
        os._exit(7)
    if event["do"] == "hang":
        time.sleep(60)
    if event["do"] == "hog":
        chunks = []
        while True:
            chunks.append(bytearray(8 * 1024 * 1024))
            for i in range(0, len(chunks[-1]), 4096):
                chunks[-1][i] = 1
    if event["do"] == "unserializable":
        return {1, 2}
    return "ok"
"""


def test_crashes_exits_and_errors_never_take_the_emulator_down(emu) -> None:
    emu.create_function("crashy", CRASHY, Timeout=1, MemorySize=128)
    resp, err = emu.invoke("crashy", {"do": "raise"})
    assert resp["FunctionError"] == "Unhandled"
    assert err["errorType"] == "ValueError" and err["errorMessage"].startswith("boom ")
    assert any("raise ValueError" in frame for frame in err["stackTrace"])
    assert not any("worker.py" in frame for frame in err["stackTrace"])

    for action, detail in (("exit", "exit status 3"), ("os_exit", "exit status 7")):
        resp, err = emu.invoke("crashy", {"do": action})
        assert resp["FunctionError"] == "Unhandled"
        assert err["errorType"] == "Runtime.ExitError"
        assert err["errorMessage"].endswith(f"Error: Runtime exited with error: {detail}")

    resp, err = emu.invoke("crashy", {"do": "hang"})
    assert err["errorType"] == "Sandbox.Timedout"
    assert err["errorMessage"].endswith("Task timed out after 1.00 seconds")

    resp, err = emu.invoke("crashy", {"do": "hog"})
    assert err["errorType"] == "Runtime.OutOfMemory"
    assert err["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")

    resp, err = emu.invoke("crashy", {"do": "unserializable"})
    assert err["errorType"] == "Runtime.MarshalError"

    resp, ok = emu.invoke("crashy", {"do": "nothing"})  # a fresh worker took over
    assert ok == "ok" and "FunctionError" not in resp

    messages = emu.log_messages("crashy")
    text = "\n".join(messages)
    assert "[ERROR] ValueError: boom" in text
    assert any(re.fullmatch(r"\S+Z [0-9a-f-]{36} Task timed out after 1\.00 seconds", m)
               for m in messages)
    timeout_report = next(m for m in messages if "Duration: 1000.00 ms" in m)
    assert timeout_report.startswith("REPORT")
    oom_index = messages.index("Runtime.OutOfMemory")
    assert messages[oom_index - 1].endswith("Error: Runtime exited with error: signal: killed")
    oom_report = messages[oom_index - 2]
    assert oom_report.startswith("REPORT") and "Max Memory Used: 128 MB" in oom_report
    assert "Runtime.ExitError" in messages
    status = emu_status(emu)
    crashy = next(f for f in status["functions"] if f["name"] == "crashy")
    assert crashy["errors"] == 6 and crashy["timeouts"] == 1 and crashy["out_of_memory"] == 1


def emu_status(emu) -> dict:
    from resizer_cli.emulator import control

    status = control.status()
    assert status is not None
    return status


def test_async_failure_is_retried_twice_with_the_same_request_id(emu) -> None:
    emu.create_function("flaky", CRASHY)
    resp = emu.client("lambda").invoke(
        FunctionName="flaky", InvocationType="Event", Payload=json.dumps({"do": "raise"})
    )
    assert resp["StatusCode"] == 202
    messages = emu.wait_logs(
        "flaky", lambda m: sum(x.startswith("REPORT") for x in m) >= 3, timeout=30
    )
    starts = [m for m in messages if m.startswith("START")]
    assert len(starts) == 3 and len(set(starts)) == 1  # one request id, three attempts
    time.sleep(1.0)  # no fourth attempt
    assert sum(m.startswith("START") for m in emu.log_messages("flaky")) == 3
    flaky = next(f for f in emu_status(emu)["functions"] if f["name"] == "flaky")
    assert flaky["retries"] == 2 and flaky["async_failed"] == 1


def test_reserved_concurrency_limits_parallel_invocations(emu) -> None:
    code = (
        "import time\n"
        "def handler(event, context):\n"
        "    t0 = time.time(); time.sleep(1.0)\n"
        "    print('SPAN', t0, time.time())\n"
    )
    emu.create_function("limited", code)
    emu.client("lambda").put_function_concurrency(
        FunctionName="limited", ReservedConcurrentExecutions=2
    )
    for _ in range(4):
        emu.client("lambda").invoke(FunctionName="limited", InvocationType="Event", Payload="{}")
    messages = emu.wait_logs("limited", lambda m: sum(x.startswith("SPAN") for x in m) == 4)
    spans = [tuple(map(float, m.split()[1:])) for m in messages if m.startswith("SPAN")]
    most = max(sum(s <= t < e for s, e in spans) for t, _ in spans)
    assert most == 2  # they ran in parallel, never more than the reserved concurrency
    limited = next(f for f in emu_status(emu)["functions"] if f["name"] == "limited")
    assert limited["warm_workers"] == 2


def test_layers_are_extracted_under_opt_in_order(emu) -> None:
    lam = emu.client("lambda")
    pillow = lam.publish_layer_version(
        LayerName="pillow-local", Content={"ZipFile": emu.pillow_layer_zip()},
        CompatibleRuntimes=[LOCAL],
    )["LayerVersionArn"]
    override = lam.publish_layer_version(
        LayerName="override",
        Content={"ZipFile": emu.zip_of({"python/which.py": "NAME = 'second'"})},
    )["LayerVersionArn"]
    first = lam.publish_layer_version(
        LayerName="first",
        Content={"ZipFile": emu.zip_of({"python/which.py": "NAME = 'first'"})},
    )["LayerVersionArn"]
    code = (
        "import which\n"
        "from PIL import Image, features\n"
        "def handler(event, context):\n"
        "    img = Image.new('RGB', (64, 48)); img.thumbnail((16, 16))\n"
        "    return {'which': which.NAME, 'size': img.size, 'pil': Image.__file__,\n"
        "            'jpeg': features.check('jpg'), 'app': __file__}\n"
    )
    emu.create_function("layered", code, layers=[pillow, first, override])
    resp, out = emu.invoke("layered")
    assert "FunctionError" not in resp, out
    assert out["which"] == "second"  # a later layer overwrites an earlier one
    assert out["size"] == [16, 12] and out["jpeg"] is True
    assert "/emulator/opt/" in out["pil"]
    # Read-only on Lambda: nothing is compiled into them for the next cold start.
    for module in (out["pil"], out["app"]):
        assert not (Path(module).parent / "__pycache__").exists(), module


def test_import_errors_use_lambdas_text_and_runtime_mismatch_is_reported(emu) -> None:
    emu.create_function("noimport", "import PIL\ndef handler(e, c):\n    return 1\n",
                        Handler="app.handler")
    resp, err = emu.invoke("noimport")
    assert resp["FunctionError"] == "Unhandled"
    assert err["errorType"] == "Runtime.ImportModuleError"
    assert err["errorMessage"] == "Unable to import module 'app': No module named 'PIL'"
    messages = emu.log_messages("noimport")
    assert messages[0] == (
        "[ERROR] Runtime.ImportModuleError: Unable to import module 'app': "
        "No module named 'PIL'\nTraceback (most recent call last):"
    )

    other = "python3.12" if LOCAL != "python3.12" else "python3.13"
    emu.create_function("otherpy", "def handler(e, c):\n    return 1\n", Runtime=other)
    resp, out = emu.invoke("otherpy")
    assert out == 1
    warning = [m for m in emu.log_messages("otherpy") if "WARNING" in m]
    assert len(warning) == 1 and other in warning[0] and LOCAL in warning[0]
    assert any(other in w for w in emu_status(emu)["warnings"])


def test_concurrent_sync_invocations_wait_for_a_slot(emu) -> None:
    code = "import time\ndef handler(e, c):\n    time.sleep(0.2)\n    return e['n']\n"
    emu.create_function("queued", code)
    emu.client("lambda").put_function_concurrency(
        FunctionName="queued", ReservedConcurrentExecutions=1
    )
    results: list[int] = []

    def call(n: int) -> None:
        client = emu.client("lambda", region_name="us-east-1")  # a client per thread
        resp = client.invoke(FunctionName="queued", Payload=json.dumps({"n": n}))
        results.append(json.loads(resp["Payload"].read()))

    threads = [threading.Thread(target=call, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [0, 1, 2]
    queued = next(f for f in emu_status(emu)["functions"] if f["name"] == "queued")
    assert queued["warm_workers"] == 1 and queued["cold_starts"] == 1


def test_reserved_concurrency_zero_throttles_and_keeps_events(emu) -> None:
    import botocore.exceptions

    emu.create_function("held", "def handler(e, c):\n    print('RAN', e.get('n'))\n")
    lam = emu.client("lambda")
    lam.put_function_concurrency(FunctionName="held", ReservedConcurrentExecutions=0)
    try:
        lam.invoke(FunctionName="held", Payload="{}")
        raise AssertionError("a synchronous invoke of a paused function must be throttled")
    except botocore.exceptions.ClientError as exc:
        err = exc.response["Error"]
        assert (err["Code"], err["Message"]) == ("TooManyRequestsException", "Rate Exceeded.")
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    resp = lam.invoke(FunctionName="held", InvocationType="Event", Payload='{"n": 1}')
    assert resp["StatusCode"] == 202  # accepted into the queue, as Lambda does
    time.sleep(1.5)  # tried and throttled several times meanwhile (0.2 s / 60, doubling)
    held = next(f for f in emu_status(emu)["functions"] if f["name"] == "held")
    assert held["invocations"] == 0  # nothing ran (its log group does not even exist yet)
    assert held["throttles"] >= 3 and held["retries"] == 0  # throttles use no retries
    lam.delete_function_concurrency(FunctionName="held")
    messages = emu.wait_logs("held", lambda m: any(x.startswith("RAN") for x in m), timeout=10)
    assert [m for m in messages if m.startswith("RAN")] == ["RAN 1"]  # once, once lifted
