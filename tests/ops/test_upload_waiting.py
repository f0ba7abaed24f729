"""`resizer upload` when waiting goes wrong (moto in-process): an upload superseded by a newer
one, rights missing, a failure after the uploads, and `--download` paths that must not be
written."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from resizer_cli import faults
from resizer_cli.aws import Target
from resizer_cli.cli import main
from resizer_cli.errors import ResizerError
from resizer_cli.ops import upload as up
from resizer_cli.ops.collect import collect
from resizer_cli.ops.layout import stack_layout
from resizer_cli.ops.results import FileResult, exit_code
from resizer_cli.ops.watch import (
    CHECK_AFTER,
    CHECKS_PER_POLL,
    UPLOAD_TOKEN_META,
    Pending,
    ResultWatcher,
)
from resizer_cli.output import Reporter


def _start(target: Target, paths: list[str], **opts: Any) -> tuple[threading.Thread, list[Any]]:
    """run_upload in a thread (a test plays the other uploader meanwhile)."""
    out: list[Any] = []
    layout = stack_layout(target)
    items = collect(paths, layout=layout).items

    def run() -> None:
        out.append(up.run_upload(target, layout, items, up.UploadOptions(**opts),
                                 Reporter.silent()))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def _wait_for_object(target: Target, key: str) -> dict[str, Any]:
    s3 = target.client("s3")
    for _ in range(200):
        try:
            return dict(s3.head_object(Bucket=target.names.source_bucket, Key=key))
        except s3.exceptions.ClientError:
            time.sleep(0.02)
    raise AssertionError(f"{key} was never uploaded")


def _newer_upload(target: Target, key: str, *, record: bool) -> str:
    """What a second `resizer upload` of the same key does: PUT with its own token, and the
    function's record for that newer object."""
    s3 = target.client("s3")
    token = "b" * 32
    put = s3.put_object(Bucket=target.names.source_bucket, Key=key, Body=b"\xff\xd8\xffnewer",
                        Metadata={UPLOAD_TOKEN_META: token})
    if record:
        rel = key[len("raw/"):]
        doc = {"status": "ok", "source_key": key, "source_etag": put["ETag"].strip('"'),
               "upload_token": token, "outputs": [{"key": f"thumbnails/64x64/{rel}",
                                                   "width": 64, "height": 64, "bytes": 9}]}
        s3.put_object(Bucket=target.names.dest_bucket, Key=f"results/{rel}.json",
                      Body=json.dumps(doc).encode())
    return str(put["ETag"]).strip('"')


def test_an_upload_overwritten_by_a_newer_one_is_superseded_at_once(stack: Target,
                                                                    tmp_path: Path,
                                                                    image: Any) -> None:
    thread, out = _start(stack, [str(image(tmp_path / "same.jpg"))], timeout=60)
    _wait_for_object(stack, "raw/same.jpg")
    newer = _newer_upload(stack, "raw/same.jpg", record=True)
    thread.join(30)
    [res] = out[0].results
    assert res.status == "superseded" and res.error_code == "superseded"
    assert res.error and res.error.startswith("superseded by a newer upload of this key")
    assert newer in res.error and res.thumbnails == []  # the thumbnails are not this file's
    assert res.latency_ms is not None and res.latency_ms < 10_000  # not the 60 s timeout
    assert exit_code([res]) == 0
    assert res.to_json()["status"] == "superseded"


def test_superseded_without_a_record_is_told_at_the_deadline(stack: Target, tmp_path: Path,
                                                             image: Any) -> None:
    thread, out = _start(stack, [str(image(tmp_path / "x.jpg"))], timeout=1.5)
    _wait_for_object(stack, "raw/x.jpg")
    _newer_upload(stack, "raw/x.jpg", record=False)
    thread.join(30)
    assert [r.status for r in out[0].results] == ["superseded"]


def test_a_stale_record_with_our_object_in_place_keeps_waiting(stack: Target,
                                                               tmp_path: Path,
                                                               image: Any) -> None:
    # A record from an *earlier* upload, ours still the object: no superseded, a timeout.
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.names.dest_bucket, Key="results/p.jpg.json",
                  Body=json.dumps({"status": "ok", "upload_token": "a" * 32,
                                   "source_etag": "0" * 32, "outputs": []}).encode())
    thread, out = _start(stack, [str(image(tmp_path / "p.jpg"))], timeout=1)
    thread.join(30)
    [res] = out[0].results
    assert res.status == "timeout"


def test_missing_read_rights_are_refused_before_any_upload(stack: Target, tmp_path: Path,
                                                           image: Any) -> None:
    layout = stack_layout(stack)
    items = collect([str(image(tmp_path / "a.jpg"))], layout=layout).items
    s3 = stack.client("s3")
    cases = [("ListObjectsV2", "s3:ListBucket on the bucket", {}),
             ("GetObject", "s3:GetObject on", {}),
             ("GetObject", f"--download needs s3:GetObject on {layout.dest_bucket}/thumbnails/*",
              {"download": tmp_path / "out", "after": 1})]
    for operation, message, extra in cases:
        faults.clear()
        faults.install(faults.Fault("s3", operation, code="AccessDenied", status=403,
                                    message="Access Denied", after=extra.pop("after", 0)))
        with pytest.raises(ResizerError, match=message) as err:
            up.run_upload(stack, layout, items, up.UploadOptions(timeout=5, **extra),
                          Reporter.silent())
        assert "--no-wait" in str(err.value.hint)
        assert "Contents" not in s3.list_objects_v2(Bucket=stack.names.source_bucket)
    faults.clear()
    run = up.run_upload(stack, layout, items, up.UploadOptions(wait=False), Reporter.silent())
    assert [r.status for r in run.results] == ["uploaded"]  # --no-wait needs neither


def test_a_failure_while_waiting_keeps_what_is_known(stack: Target, tmp_path: Path,
                                                     image: Any) -> None:
    faults.install(
        faults.Fault("s3", "PutObject", code="AccessDenied", message="not authorized to "
                     "perform: s3:PutObject", times=1),
        # The access check's GET passes; the first poll's fails, as a dead endpoint would.
        faults.Fault("s3", "GetObject", code="ServiceUnavailable", status=503, after=1,
                     times=99),
    )
    paths = [str(image(tmp_path / "a.jpg")), str(image(tmp_path / "b.jpg"))]
    layout = stack_layout(stack)
    run = up.run_upload(stack, layout, collect(paths, layout=layout).items,
                        up.UploadOptions(timeout=30), Reporter.silent())
    assert run.failure is not None and "stopped waiting for results" in str(run.failure)
    by_status = {r.status: r for r in run.results}
    assert set(by_status) == {"failed", "uploaded"}
    assert by_status["failed"].error_code == "upload"
    known = by_status["uploaded"]
    assert known.etag and known.error_code == "wait" and "unknown" in (known.error or "")


# --- through the CLI (in-process, on moto) --------------------------------------------------------

def _failing_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`resizer ARGS` in-process, expected to exit non-zero: (code, stdout, stderr)."""
    with pytest.raises(SystemExit) as stopped:
        main(args)
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out, err


@pytest.fixture
def cli_stack(stack: Target, monkeypatch: pytest.MonkeyPatch) -> Target:
    """The moto stack, as `resizer --target aws --stack optest` finds it."""
    monkeypatch.setenv("RESIZER_TARGET", "aws")
    monkeypatch.setenv("RESIZER_STACK", stack.settings.stack)
    monkeypatch.setenv("RESIZER_REGION", stack.settings.region)
    return stack


def test_cli_prints_known_results_then_the_late_failure(cli_stack: Target, tmp_path: Path,
                                                        image: Any,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    faults.install(faults.Fault("s3", "GetObject", code="InternalError", status=500, after=1,
                                times=99))
    code, out, err = _failing_cli(["upload", str(image(tmp_path / "a.jpg")), "--json"], capsys)
    assert code == 1
    [doc] = [json.loads(line) for line in out.splitlines()]
    assert doc["status"] == "uploaded" and doc["etag"] and doc["error_code"] == "wait"
    assert err.strip().splitlines()[-1].startswith("error: stopped waiting for results")
    assert "Traceback" not in err


def test_cli_refuses_an_unwritable_download_folder_before_uploading(
        cli_stack: Target, tmp_path: Path, image: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    # A folder under a regular file cannot be made, root or not.
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    code, _, err = _failing_cli(["upload", str(image(tmp_path / "a.jpg")), "--download",
                         str(blocker / "out")], capsys)
    assert code == 1
    assert err.strip().splitlines() == [
        f"error: cannot write to --download {blocker / 'out'}: Not a directory "
        "(choose a folder you can write to)"]
    s3 = cli_stack.client("s3")
    assert "Contents" not in s3.list_objects_v2(Bucket=cli_stack.names.source_bucket)


# --- --download paths -----------------------------------------------------------------------------

def test_download_refuses_dot_segments_and_saves_a_key_once(stack: Target, tmp_path: Path,
                                                            image: Any,
                                                            fake_handler: Any) -> None:
    class OddKeys(fake_handler):  # type: ignore[misc,valid-type]
        """Records whose outputs name keys no local file may be made of, and one key twice."""

        def process(self, key: str) -> None:
            super().process(key)
            if not key.endswith("odd.jpg"):
                return
            rec_key = "results/odd.jpg.json"
            doc = json.loads(self.s3.get_object(Bucket=self.dst, Key=rec_key)["Body"].read())
            good = doc["outputs"][0]
            # The old bug: two sizes of raw/x/../odd.jpg landing on one local file.
            doc["outputs"] = [good, dict(good),
                              {**good, "key": "thumbnails/128x128/../odd.jpg"},
                              {**good, "key": "thumbnails/512x512/../odd.jpg"}]
            self.s3.put_object(Bucket=self.dst, Key=rec_key, Body=json.dumps(doc).encode())

    items = collect([str(image(tmp_path / "odd.jpg")), str(image(tmp_path / "fine.jpg"))],
                    layout=stack_layout(stack)).items
    out = tmp_path / "out"
    with OddKeys(stack):
        run = up.run_upload(stack, stack_layout(stack), items,
                            up.UploadOptions(timeout=30, download=out), Reporter.silent())
    assert run.failure is None
    by_key: dict[str | None, FileResult] = {r.key: r for r in run.results}
    fine = by_key["raw/fine.jpg"]
    assert fine.status == "ok" and Path(fine.thumbnails[0].local_path or "").is_file()
    odd = by_key["raw/odd.jpg"]
    assert odd.status == "failed" and odd.error_code == "download"
    assert "'..' segment" in (odd.error or "")
    first, again, up1, up2 = odd.thumbnails
    assert first.local_path and first.local_path == again.local_path  # one object, one file
    assert up1.local_path is None and up2.local_path is None
    assert not (out / "thumbnails" / "odd.jpg").exists()
    assert sorted(p.name for p in (out / "thumbnails" / "64x64").iterdir()) == [
        "fine.jpg", "odd.jpg"]  # no leftovers of partial downloads


def test_long_pending_files_get_their_source_checked_a_few_per_round(stack: Target) -> None:
    s3 = stack.client("s3")
    src, dst = stack.names.source_bucket, stack.names.dest_bucket
    total = CHECKS_PER_POLL + 10
    for i in range(total):  # each key now holds another upload's object; no record anywhere
        s3.put_object(Bucket=src, Key=f"raw/k{i}.jpg", Body=b"x",
                      Metadata={UPLOAD_TOKEN_META: "other"})
    now = [0.0]
    watcher = ResultWatcher(s3, dst, source_bucket=src, clock=lambda: now[0])
    for i in range(total):
        watcher.add(Pending(i, f"results/k{i}.jpg.json", "etag", 0.0, 100.0, token=f"t{i}",
                            source_key=f"raw/k{i}.jpg"))
    assert watcher.poll() == []  # young: no HEAD yet
    before = watcher.requests
    now[0] = CHECK_AFTER
    first = watcher.poll()
    assert len(first) == CHECKS_PER_POLL and {f.outcome for f in first} == {"superseded"}
    assert watcher.requests - before == 1 + CHECKS_PER_POLL  # one listing, the HEADs
    assert len(watcher.poll()) == 10 and not watcher.pending
