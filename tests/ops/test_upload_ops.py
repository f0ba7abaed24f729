"""`resizer upload` logic against moto in-process: keys, content types, multipart, waiting."""

from __future__ import annotations

import json
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from resizer_cli.aws import Target
from resizer_cli.errors import ResizerError, StackNotFound
from resizer_cli.ops import upload as up
from resizer_cli.ops.collect import UploadItem, collect
from resizer_cli.ops.content import content_type_for
from resizer_cli.ops.layout import require_deployed, stack_layout
from resizer_cli.ops.results import FileResult, exit_code
from resizer_cli.ops.watch import Pending, ResultWatcher
from resizer_cli.output import Reporter


def items_of(*args: Any, **kwargs: Any) -> list[UploadItem]:
    return collect(*args, **kwargs).items


# --- key mapping and content types ---------------------------------------------------------------


def test_folder_keys_keep_relative_paths_with_spaces_plus_and_unicode(tmp_path: Path,
                                                                      image: Any) -> None:
    root = tmp_path / "pics"
    image(root / "a b.jpg")
    image(root / "c+d.png", fmt="PNG")
    nfd = unicodedata.normalize("NFD", "ünï©ødé.jpg")
    image(root / "nested" / "deeper" / nfd)
    image(root / ".hidden" / "skip.jpg")
    (root / ".DS_Store").write_bytes(b"junk")
    items = items_of([str(root)])
    assert sorted(i.key for i in items) == [
        "raw/a b.jpg", "raw/c+d.png", "raw/nested/deeper/ünï©ødé.jpg",
    ]
    # Keys are NFC even when the file system hands out a decomposed name.
    assert unicodedata.is_normalized("NFC", items[-1].key) or any(
        unicodedata.is_normalized("NFC", i.key) for i in items
    )
    assert all(unicodedata.is_normalized("NFC", i.key) for i in items)


def test_file_argument_maps_to_basename_and_prefix_goes_under_raw(tmp_path: Path,
                                                                  image: Any) -> None:
    f = image(tmp_path / "x" / "y" / "photo.jpg")
    [item] = items_of([str(f)], prefix="/trip/2024/")
    assert item.key == "raw/trip/2024/photo.jpg"
    with pytest.raises(ResizerError, match="invalid --prefix"):
        items_of([str(f)], prefix="../escape")


def test_globs_expand_relative_to_their_fixed_part(tmp_path: Path, image: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    image(tmp_path / "g" / "one.jpg")
    image(tmp_path / "g" / "sub" / "two.jpg")
    (tmp_path / "g" / "notes.txt").write_text("hi")
    monkeypatch.chdir(tmp_path)
    keys = sorted(i.key for i in items_of(["g/**/*.jpg"]))
    assert keys == ["raw/one.jpg", "raw/sub/two.jpg"]
    assert [i.key for i in items_of(["g/*.txt"])] == ["raw/notes.txt"]
    with pytest.raises(ResizerError, match="no file matches"):
        items_of(["g/*.gif"])


def test_missing_path_and_key_collisions_are_one_line_errors(tmp_path: Path, image: Any) -> None:
    with pytest.raises(ResizerError, match="no such file or folder") as err:
        items_of([str(tmp_path / "nope.jpg")])
    assert err.value.hint
    a = image(tmp_path / "a" / "same.jpg")
    b = image(tmp_path / "b" / "same.jpg")
    with pytest.raises(ResizerError, match=r"would both upload to raw/same\.jpg"):
        items_of([str(a), str(b)])
    # The same file named twice is not a collision.
    assert len(items_of([str(a), str(a)])) == 1
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResizerError, match="nothing to upload"):
        items_of([str(tmp_path / "empty")])


@pytest.mark.parametrize(
    ("name", "head", "expected", "is_image"),
    [
        ("a.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg", True),
        ("a.jpg", b"\x89PNG\r\n\x1a\n\x00\x00", "image/png", True),  # bytes beat the extension
        ("a.gif", b"GIF89a\x01\x00", "image/gif", True),
        ("a", b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp", True),
        ("a.tif", b"II*\x00\x08\x00\x00\x00", "image/tiff", True),
        ("a.tif", b"MM\x00*\x00\x00\x00\x08", "image/tiff", True),
        ("a.bmp", b"BM" + b"\x00" * 14, "image/bmp", True),
        ("a.heic", b"\x00\x00\x00\x18ftypheic\x00\x00", "image/heic", True),
        ("a.avif", b"\x00\x00\x00\x1cftypavif\x00\x00", "image/avif", True),
        ("notes.txt", b"hello world", "text/plain", False),
        ("blob", b"\x00\x01\x02", "application/octet-stream", False),
        ("clip.mp4", b"\x00\x00\x00\x18ftypisom", "video/mp4", False),
    ],
)
def test_content_type_from_magic_bytes(name: str, head: bytes, expected: str,
                                       is_image: bool) -> None:
    assert content_type_for(Path(name), head) == (expected, is_image)


# --- stack checks --------------------------------------------------------------------------------


def test_no_stack_raises_stack_not_found(aws_target: Target) -> None:
    with pytest.raises(StackNotFound, match="resizer setup"):
        require_deployed(aws_target)


def test_layout_follows_the_function_environment(stack: Target) -> None:
    require_deployed(stack)
    layout = stack_layout(stack)
    assert layout.dest_bucket == stack.names.dest_bucket
    assert layout.record_key("raw/a/b c.jpg") == "results/a/b c.jpg.json"


# --- uploading and waiting -----------------------------------------------------------------------


def _run(target: Target, items: list[UploadItem], **opts: Any) -> list[FileResult]:
    layout = stack_layout(target)
    run = up.run_upload(target, layout, items, up.UploadOptions(**opts), Reporter.silent())
    assert run.failure is None, run.failure
    return run.results


def test_upload_waits_for_thumbnails_and_reports_failures(stack: Target, tmp_path: Path,
                                                          image: Any, fake_handler: Any) -> None:
    root = tmp_path / "in"
    image(root / "a b.jpg", (300, 200))
    image(root / "c+d.png", (100, 400), "PNG")
    image(root / "nested" / "ünï©ødé.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 50)
    (root / "notes.txt").write_text("not an image")
    items = items_of([str(root)])
    assert {i.key: i.content_type for i in items}["raw/notes.txt"] == "text/plain"
    with fake_handler(stack):
        results = _run(stack, items, timeout=30, download=tmp_path / "out")
    by_key = {r.key: r for r in results}
    ok = by_key["raw/a b.jpg"]
    assert ok.status == "ok"
    [thumb] = ok.thumbnails
    assert (thumb.key, thumb.width, thumb.height) == ("thumbnails/64x64/a b.jpg", 64, 43)
    assert thumb.bytes > 0 and ok.latency_ms is not None and ok.etag
    assert by_key["raw/c+d.png"].thumbnails[0].height == 64
    assert by_key["raw/nested/ünï©ødé.jpg"].status == "ok"
    # Rejections come from the handler's record, not from a timeout.
    for key in ("raw/broken.jpg", "raw/notes.txt"):
        assert by_key[key].status == "failed"
        assert by_key[key].error_code == "corrupt"
        assert "cannot decode" in (by_key[key].error or "")
    assert exit_code(results) == 1
    # --download mirrors the keys.
    saved = tmp_path / "out" / "thumbnails" / "64x64" / "nested" / "ünï©ødé.jpg"
    assert saved.read_bytes()[:3] == b"\xff\xd8\xff"
    assert by_key["raw/nested/ünï©ødé.jpg"].thumbnails[0].local_path == str(saved.resolve())
    # Objects carry the content type found from their bytes.
    s3 = stack.client("s3")
    head = s3.head_object(Bucket=stack.names.source_bucket, Key="raw/c+d.png")
    assert head["ContentType"] == "image/png"
    doc = by_key["raw/a b.jpg"].to_json()
    assert set(doc) == {"file", "key", "status", "bytes", "etag", "latency_ms", "thumbnails"}
    assert set(doc["thumbnails"][0]) == {"key", "width", "height", "bytes", "local_path"}
    assert {"error", "error_code"} <= set(by_key["raw/broken.jpg"].to_json())


def test_stale_record_from_an_earlier_upload_does_not_count(stack: Target, tmp_path: Path,
                                                            image: Any,
                                                            fake_handler: Any) -> None:
    s3 = stack.client("s3")
    stale = {"status": "ok", "source_etag": "0123456789abcdef0123456789abcdef",
             "outputs": [{"key": "thumbnails/64x64/stale.jpg", "width": 1, "height": 1,
                          "bytes": 1}]}
    s3.put_object(Bucket=stack.names.dest_bucket, Key="results/p.jpg.json",
                  Body=json.dumps(stale).encode())
    items = items_of([str(image(tmp_path / "p.jpg"))])
    with fake_handler(stack, delay=0.8):  # the stale record is there long before the real one
        [res] = _run(stack, items, timeout=30)
    assert res.status == "ok"
    assert res.thumbnails[0].key == "thumbnails/64x64/p.jpg"
    record = json.loads(s3.get_object(Bucket=stack.names.dest_bucket,
                                      Key="results/p.jpg.json")["Body"].read())
    assert record["source_etag"] == res.etag


def test_timeout_is_reported_per_file(stack: Target, tmp_path: Path, image: Any) -> None:
    items = items_of([str(image(tmp_path / "a.jpg")), str(image(tmp_path / "b.jpg"))])
    results = _run(stack, items, timeout=1)
    assert [r.status for r in results] == ["timeout", "timeout"]
    assert all(r.etag and r.error and "1s" in r.error for r in results)
    assert exit_code(results) == 1


def test_no_wait_reports_uploaded(stack: Target, tmp_path: Path, image: Any) -> None:
    items = items_of([str(image(tmp_path / "a.jpg"))])
    [res] = _run(stack, items, wait=False)
    assert res.status == "uploaded" and res.etag and res.thumbnails == []
    assert exit_code([res]) == 0


def test_multipart_above_the_threshold(stack: Target, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * (12 * 4096))  # ~12 MB
    small = tmp_path / "small.jpg"
    small.write_bytes(b"\xff\xd8\xff" + b"x" * 1000)
    items = items_of([str(big), str(small)])
    mb = 1024 * 1024
    results = _run(stack, items, wait=False, multipart_threshold=5 * mb, multipart_chunk=5 * mb)
    by_key = {r.key: r for r in results}
    assert by_key["raw/big.bin"].etag.endswith("-3")  # three parts
    assert "-" not in by_key["raw/small.jpg"].etag
    got = stack.client("s3").get_object(Bucket=stack.names.source_bucket, Key="raw/big.bin")
    assert got["Body"].read() == big.read_bytes()
    assert got["ContentType"] == "image/jpeg"


def test_uploads_run_concurrently(stack: Target, tmp_path: Path, image: Any,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Instrument the real client: each PutObject holds for a moment, and we count overlap.
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}
    real = up.transfer_client

    def instrumented(target: Target, concurrency: int) -> Any:
        client = real(target, concurrency)

        def before(**_: Any) -> None:
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            time.sleep(0.05)

        def after(**_: Any) -> None:
            with lock:
                state["now"] -= 1

        client.meta.events.register("before-call.s3.PutObject", before)
        client.meta.events.register("after-call.s3.PutObject", after)
        return client

    monkeypatch.setattr(up, "transfer_client", instrumented)
    paths = [str(image(tmp_path / f"f{i:02d}.jpg", (20, 20))) for i in range(24)]
    results = _run(stack, items_of(paths), wait=False, concurrency=6)
    assert all(r.status == "uploaded" for r in results)
    assert 2 <= state["peak"] <= 6


def test_upload_errors_are_reported_per_file(stack: Target, tmp_path: Path, image: Any) -> None:
    from resizer_cli import faults

    faults.install(faults.Fault("s3", "PutObject", code="AccessDenied",
                                message="not authorized to perform: s3:PutObject", times=1))
    items = items_of([str(image(tmp_path / "a.jpg"))])
    [res] = _run(stack, items, wait=False)
    assert res.status == "failed" and "s3:PutObject" in (res.error or "")
    assert exit_code([res]) == 1


# --- the watcher on its own ----------------------------------------------------------------------


def test_watcher_lists_when_many_files_are_pending(stack: Target) -> None:
    s3 = stack.client("s3")
    bucket = stack.names.dest_bucket
    now = [0.0]
    watcher = ResultWatcher(s3, bucket, clock=lambda: now[0])
    for i in range(10):
        watcher.add(Pending(i, f"results/batch/f{i}.jpg.json", f"etag{i}", 0.0, 100.0))
    assert watcher.poll() == []
    assert watcher.requests == 1  # one listing, no GET for records that are not there
    for i in range(4):
        etag = f"etag{i}" if i < 3 else "stale"
        s3.put_object(Bucket=bucket, Key=f"results/batch/f{i}.jpg.json",
                      Body=json.dumps({"status": "ok", "source_etag": f'"{etag}"'}).encode())
    done = watcher.poll()
    assert sorted(f.pending.index for f in done) == [0, 1, 2]
    assert {f.outcome for f in done} == {"record"}
    assert watcher.requests == 1 + 1 + 4
    # The stale record is not read again until it changes.
    watcher.poll()
    assert watcher.requests == 1 + 1 + 4 + 1
    now[0] = 100.0
    timed_out = watcher.poll()
    assert len(timed_out) == 7 and {f.outcome for f in timed_out} == {"timeout"}
    assert not watcher.pending


def test_upload_with_the_real_handler(stack: Target, tmp_path: Path, image: Any,
                                      real_handler: Any) -> None:
    root = tmp_path / "mix"
    image(root / "a b.jpg", (400, 300))
    image(root / "nested" / "c+d.png", (64, 256), "PNG")
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 40)
    with real_handler(stack):
        results = _run(stack, items_of([str(root)]), timeout=60)
    by_key = {r.key: r for r in results}
    ok = by_key["raw/a b.jpg"]
    assert ok.status == "ok", ok.error
    assert sorted((t.key, t.width, t.height) for t in ok.thumbnails) == [
        ("thumbnails/128x128/a b.jpg", 128, 96), ("thumbnails/32x32/a b.jpg", 32, 24)]
    assert by_key["raw/nested/c+d.png"].status == "ok"
    assert {t.key for t in by_key["raw/nested/c+d.png"].thumbnails} == {
        "thumbnails/128x128/nested/c+d.png", "thumbnails/32x32/nested/c+d.png"}
    bad = by_key["raw/corrupt.jpg"]
    assert bad.status == "failed" and bad.error and bad.error_code


def test_reupload_of_identical_bytes_waits_for_its_own_record(stack: Target, tmp_path: Path,
                                                              image: Any,
                                                              real_handler: Any) -> None:
    # Same bytes, same ETag: only the upload token echoed by the handler tells the records apart.
    items = items_of([str(image(tmp_path / "same.jpg", (300, 200)))])
    with real_handler(stack):
        [first] = _run(stack, items, timeout=60)
    assert first.status == "ok", first.error
    [again] = _run(stack, items, timeout=1)  # no handler runs: the old record must not count
    assert again.etag == first.etag
    assert again.status == "timeout"
    # A fresh trigger loop would pick up the second upload's object (same key and ETag) and
    # then skip the third as already seen; start it from an empty raw/.
    stack.client("s3").delete_object(Bucket=stack.names.source_bucket, Key="raw/same.jpg")
    with real_handler(stack):
        [third] = _run(stack, items, timeout=60)
    assert third.status == "ok" and third.etag == first.etag
    record = json.loads(stack.client("s3").get_object(
        Bucket=stack.names.dest_bucket, Key="results/same.jpg.json")["Body"].read())
    assert record["upload_token"] and len(record["upload_token"]) == 32
