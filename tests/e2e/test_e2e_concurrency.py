"""Reserved concurrency 0 pauses the emulator's pipeline; lifting it delivers the kept events.

Through the installed `resizer` command, against a real emulator: setup with 0, status says
paused, `upload --wait` says so at once instead of waiting for its timeout, an upload without
--wait is kept (S3's event throttled in the queue, as on Lambda), and `setup
--reserved-concurrency none` lets it run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from PIL import Image


def test_zero_pauses_the_pipeline_and_lifting_it_delivers(
    emulator: Any, run_resizer: Any, tmp_path: Path
) -> None:
    first = run_resizer("setup", "--stack", "held", "--reserved-concurrency", "0", check=True)
    assert "warning: the pipeline is paused (reserved concurrency 0)" in " ".join(
        first.stderr.split())
    status = json.loads(run_resizer("status", "--stack", "held", "--json", check=True).stdout)
    fn = status["resources"]["function"]
    assert (fn["reserved_concurrency"], fn["paused"], status["in_sync"]) == (0, True, True)
    human = run_resizer("status", "--stack", "held", check=True).stdout
    assert "PAUSED (reserved concurrency 0)" in " ".join(human.split())

    photo = tmp_path / "cat.jpg"
    Image.new("RGB", (300, 200), "orange").save(photo, "JPEG")
    started = time.monotonic()
    waited = run_resizer("upload", str(photo), "--stack", "held", "--timeout", "60")
    assert waited.returncode == 1
    lines = waited.stderr.strip().splitlines()
    assert lines[-1].startswith("error: the pipeline is paused: function held-thumbnailer "
                                "has reserved concurrency 0"), waited.stderr
    assert "--reserved-concurrency none" in lines[-1] and "Traceback" not in waited.stderr
    assert time.monotonic() - started < 30  # said at once, not at the 60 s timeout

    s3 = emulator.client("s3")  # an upload without --wait: S3's event goes to the queue
    s3.put_object(Bucket=status["resources"]["source_bucket"]["name"], Key="raw/cat.jpg",
                  Body=photo.read_bytes(), ContentType="image/jpeg")
    dest = status["resources"]["dest_bucket"]["name"]
    time.sleep(1.0)
    assert s3.list_objects_v2(Bucket=dest, Prefix="results/").get("KeyCount") == 0

    lifted = run_resizer("setup", "--stack", "held", "--reserved-concurrency", "none",
                         check=True)
    assert "remove the reserved concurrency of function held-thumbnailer" in " ".join(
        lifted.stderr.split())
    deadline = time.monotonic() + 20
    while not s3.list_objects_v2(Bucket=dest, Prefix="results/").get("KeyCount"):
        assert time.monotonic() < deadline, "the kept event never ran after the pause ended"
        time.sleep(0.2)
    record = json.loads(s3.get_object(Bucket=dest, Key="results/cat.jpg.json")["Body"].read())
    assert record["status"] == "ok", record
