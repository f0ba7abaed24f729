"""Teardown while invocations are still running, against a real emulator.

The trigger is removed first and teardown waits for the invocations already queued or running
before it deletes the function and its log group; otherwise a late invocation writes its logs
after teardown and the log group reappears.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

from PIL import Image

from resizer_cli.emulator import control


def _busy(emulator: Any, function: str) -> int:
    doc = control.status()  # signed: the control paths refuse anonymous requests
    assert doc is not None
    return sum(f["running"] + f["queued"] for f in doc["functions"] if f["name"] == function)


def test_teardown_waits_for_running_invocations(emulator: Any, run_resizer: Any) -> None:
    run_resizer("setup", "--stack", "drainy", check=True)
    names = json.loads(run_resizer("status", "--stack", "drainy", "--json", check=True).stdout)
    function = names["resources"]["function"]["name"]
    source = names["resources"]["source_bucket"]["name"]
    group = names["resources"]["log_group"]["name"]

    # Large enough to keep the function busy for a while: PNG has no reduced-size decoding.
    buf = io.BytesIO()
    Image.linear_gradient("L").resize((4000, 4000)).save(buf, "PNG", compress_level=1)
    s3 = emulator.client("s3")
    for i in range(8):
        s3.put_object(Bucket=source, Key=f"raw/big-{i}.png", Body=buf.getvalue())
    deadline = time.monotonic() + 20
    while _busy(emulator, function) == 0:
        assert time.monotonic() < deadline, "the uploads never started the function"
        time.sleep(0.05)

    proc = run_resizer("teardown", "--stack", "drainy", "--yes", check=True)
    assert "let running invocations finish in function drainy-thumbnailer" in " ".join(
        proc.stderr.split()
    )
    assert _busy(emulator, function) == 0  # nothing left running when the function went
    time.sleep(0.5)  # a straggler would write now
    logs = emulator.client("logs")
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
