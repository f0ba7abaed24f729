"""Which paths `resizer upload` sends, on real files: FIFOs, sockets, devices, links of every
kind, unreadable entries, globs with `..`, and the keys S3 could not store."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from resizer_cli.errors import ResizerError
from resizer_cli.ops.collect import Collection, collect
from resizer_cli.ops.keys import KEY_MAX_BYTES, over_limit
from resizer_cli.ops.layout import StackLayout


def _codes(c: Collection) -> dict[str, str]:
    return {Path(r.path).name: r.code for r in c.refused}


@pytest.fixture
def pics(tmp_path: Path, image: Any) -> Path:
    root = tmp_path / "pics"
    image(root / "a.jpg")
    image(root / "sub" / "b.png", fmt="PNG")
    image(tmp_path / "outside" / "secret.jpg")
    return root


def test_fifos_sockets_and_devices_are_skipped_and_never_opened(pics: Path) -> None:
    os.mkfifo(pics / "pipe.jpg")  # opening it for reading would block until a writer comes
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(pics / "sock.jpg"))
    try:
        c = collect([str(pics), "/dev/null"])
    finally:
        sock.close()
    assert sorted(i.key for i in c.items) == ["raw/a.jpg", "raw/sub/b.png"]
    assert _codes(c) == {"pipe.jpg": "fifo", "sock.jpg": "socket", "null": "device"}
    assert not any(r.failed for r in c.refused)  # skipped on purpose, not failures
    fifo = next(r for r in c.refused if r.code == "fifo")
    assert fifo.path == str(pics / "pipe.jpg") and "FIFO" in fifo.reason


def test_dangling_and_looping_links_are_named_and_skipped(pics: Path) -> None:
    (pics / "dead.jpg").symlink_to("gone.jpg")
    (pics / "self").symlink_to("self")
    (pics / "sub" / "up").symlink_to("..")  # a folder link back to a parent
    c = collect([str(pics)])
    assert sorted(i.key for i in c.items) == ["raw/a.jpg", "raw/sub/b.png"]
    assert _codes(c) == {"dead.jpg": "broken_link", "self": "link_loop", "up": "link_loop"}
    dead = next(r for r in c.refused if r.code == "broken_link")
    assert "gone.jpg" in dead.reason and "permission" not in dead.reason.lower()
    # Named on the command line, the same links are reported the same way, not as a typo.
    c = collect([str(pics / "dead.jpg"), str(pics / "a.jpg")])
    assert [i.key for i in c.items] == ["raw/a.jpg"] and _codes(c) == {"dead.jpg": "broken_link"}


def test_links_leading_outside_are_followed_only_when_asked(pics: Path) -> None:
    secret = pics.parent / "outside" / "secret.jpg"
    (pics / "out.jpg").symlink_to(secret)
    (pics / "outdir").symlink_to(secret.parent, target_is_directory=True)
    (pics / "in.jpg").symlink_to("a.jpg")  # inside the folder: followed
    (pics / "insub").symlink_to("sub", target_is_directory=True)
    c = collect([str(pics)])
    assert sorted(i.key for i in c.items) == [
        "raw/a.jpg", "raw/in.jpg", "raw/insub/b.png", "raw/sub/b.png"]
    assert _codes(c) == {"out.jpg": "link_outside", "outdir": "link_outside"}
    assert all("--follow-links" in r.reason and str(secret.parent) in r.reason
               for r in c.refused)
    c = collect([str(pics)], follow_links=True)
    assert {"raw/out.jpg", "raw/outdir/secret.jpg"} <= {i.key for i in c.items}
    assert c.refused == []
    # A glob's fixed folder is "the folder" too; a link named as an argument is followed.
    c = collect([str(pics / "*.jpg")])
    assert sorted(i.key for i in c.items) == ["raw/a.jpg", "raw/in.jpg"]
    assert _codes(c) == {"out.jpg": "link_outside"}
    assert [i.key for i in collect([str(pics / "out.jpg")]).items] == ["raw/out.jpg"]


def test_globs_never_make_dot_segments(pics: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(pics)
    with pytest.raises(ResizerError, match=r"'\.\.' after a wildcard") as err:
        collect(["*/../a.jpg"])
    assert err.value.hint
    # Before the first wildcard '..' is just where the pattern starts; "." segments vanish.
    monkeypatch.chdir(pics / "sub")
    assert [i.key for i in collect(["../*.jpg"]).items] == ["raw/a.jpg"]
    assert sorted(i.key for i in collect(["../**/./*.png"]).items) == ["raw/sub/b.png"]
    assert [i.key for i in collect(["./*.png"], prefix="./x/.").items] == ["raw/x/b.png"]
    monkeypatch.chdir(pics.parent)
    keys = [i.key for i in collect(["pics/**"], prefix="2024").items]
    assert sorted(keys) == ["raw/2024/a.jpg", "raw/2024/sub/b.png"]
    assert all(seg not in (".", "..", "") for k in keys for seg in k.split("/"))


def test_glob_walks_report_what_they_cannot_follow(pics: Path) -> None:
    (pics / "sub" / "up").symlink_to("..")
    (pics / "outdir").symlink_to(pics.parent / "outside", target_is_directory=True)
    c = collect([str(pics / "**" / "*.jpg")])
    assert [i.key for i in c.items] == ["raw/a.jpg"]
    assert _codes(c) == {"up": "link_loop", "outdir": "link_outside"}


# --- unreadable entries ---------------------------------------------------------------------------

_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _PR_CAPBSET_DROP = 1, 2, 24


def _drop_root_powers() -> None:
    """In the child, before exec: root without the capabilities that ignore file modes
    (so chmod 000 stops it, as it stops everyone else)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def unprivileged() -> Callable[[], None] | None:
    """How to run a child that file modes apply to: as is, or as root without its DAC
    capabilities (tests may run as root, for whom chmod 000 changes nothing)."""
    if os.geteuid() != 0:
        return None
    if not sys.platform.startswith("linux"):
        pytest.fail("running as root off Linux: cannot make a file unreadable to this user")
    return _drop_root_powers


@pytest.fixture
def locked(pics: Path, image: Any) -> Iterator[Path]:
    image(pics / "secret.jpg")
    image(pics / "private" / "c.jpg")
    (pics / "secret.jpg").chmod(0)
    (pics / "private").chmod(0)
    yield pics
    (pics / "private").chmod(0o755)


_READ = ("import json, sys; from resizer_cli.ops.collect import collect; c = collect(sys.argv[1:]);"
         "print(json.dumps({'keys': [i.key for i in c.items], 'refused': "
         "[[r.path, r.code, r.failed, r.reason] for r in c.refused]}))")


def test_unreadable_files_and_folders_are_failures_not_silence(locked: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", _READ, str(locked)], capture_output=True,
                          text=True, preexec_fn=unprivileged(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert sorted(got["keys"]) == ["raw/a.jpg", "raw/sub/b.png"]
    refused = {Path(p).name: (code, failed, reason) for p, code, failed, reason in got["refused"]}
    assert set(refused) == {"secret.jpg", "private"}
    assert refused["secret.jpg"][:2] == ("unreadable", True)
    assert "Permission denied" in refused["secret.jpg"][2]
    assert refused["private"][:2] == ("unreadable", True)
    assert "cannot list this folder" in refused["private"][2]
    if os.geteuid() == 0:
        # Honestly: root itself reads them, so in this process nothing is refused.
        c = collect([str(locked)])
        assert {"raw/secret.jpg", "raw/private/c.jpg"} <= {i.key for i in c.items}


def test_cli_reports_refused_paths_in_json_and_fails(locked: Path) -> None:
    # Only refused entries: reported before any AWS call, in --json too, and exit 1.
    only = locked.parent / "only"
    only.mkdir()
    shutil.move(str(locked / "secret.jpg"), only / "secret.jpg")
    os.mkfifo(only / "pipe")
    exe = shutil.which("resizer")
    assert exe, "the `resizer` command is not installed"
    proc = subprocess.run([exe, "upload", str(only), "--json"], capture_output=True, text=True,
                          preexec_fn=unprivileged(), timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1, proc.stderr
    docs = {Path(d["file"]).name: d for d in map(json.loads, proc.stdout.splitlines())}
    assert docs["secret.jpg"]["status"] == "failed"
    assert docs["secret.jpg"]["error_code"] == "unreadable"
    assert docs["pipe"]["status"] == "skipped" and docs["pipe"]["error_code"] == "fifo"
    assert docs["pipe"]["key"] is None and docs["pipe"]["bytes"] is None
    text = " ".join(proc.stderr.split())  # whatever the wrapping, one sentence each
    assert f"warning: skipped {only / 'pipe'}: a FIFO" in text
    assert f"warning: skipped {only / 'secret.jpg'}: cannot read it" in text
    assert text.rindex("error: nothing to upload") > text.rindex("warning:")  # the error last
    assert "Traceback" not in proc.stderr


# --- keys S3 cannot store -------------------------------------------------------------------------

LAYOUT = StackLayout(source_bucket="s-src-123456789012-us-east-1", dest_bucket="d",
                     sizes=((128, 128), (512, 512)))


def test_key_limits_cover_the_key_and_everything_derived_from_it() -> None:
    # thumbnails/512x512/<name>.jpg is the longest derived key: 19 + len(name) + 4 bytes.
    name = "a" * (KEY_MAX_BYTES - len("thumbnails/512x512/") - len(".jpg"))
    assert over_limit(f"raw/{name}.jpg", "image/jpeg", LAYOUT) is None
    problem = over_limit(f"raw/{name}a.jpg", "image/jpeg", LAYOUT)
    assert problem and "its thumbnail key would be 1025 bytes; S3 allows 1024" in problem
    # A GIF's thumbnails are JPEGs with the name kept: "x.gif" -> "x.jpg", same length.
    assert over_limit(f"raw/{name}.gif", "image/gif", LAYOUT) is None
    # No image extension: one is appended, four bytes more.
    assert "1028 bytes" in (over_limit(f"raw/{name}.raw", "image/jpeg", LAYOUT) or "")
    # Not an image the function decodes: no thumbnails, only the record key counts.
    rel = "b" * (KEY_MAX_BYTES - len("results/") - len(".json"))
    assert over_limit(f"raw/{rel}", "text/plain", LAYOUT) is None
    assert "result record key" in (over_limit(f"raw/{rel}b", "text/plain", LAYOUT) or "")
    assert "its key would be 1025 bytes" in (over_limit("raw/" + "c" * 1021, "text/plain",
                                                        LAYOUT) or "")


def test_percent_encoded_metadata_is_checked_in_utf8_bytes() -> None:
    # 300 three-byte characters: a 900-byte key part, percent-encoded to 2,700 bytes of
    # metadata on each thumbnail ("€" is E2 82 AC: "%E2%82%AC").
    key = "raw/" + "€" * 300 + ".jpg"
    assert len(key.encode()) < KEY_MAX_BYTES
    problem = over_limit(key, "image/jpeg", LAYOUT)
    assert problem and "metadata" in problem and "2048" in problem
    assert over_limit(key, "text/plain", LAYOUT) is None  # no thumbnails, no metadata


def test_long_names_are_refused_one_line_each(tmp_path: Path, image: Any) -> None:
    deep = tmp_path / "deep"
    part = "d" * 200
    image(deep / part / part / part / part / part / "long.jpg")  # key 1,017 bytes: fits alone
    image(deep / "short.jpg")
    c = collect([str(deep)], layout=LAYOUT)
    assert [i.key for i in c.items] == ["raw/short.jpg"]
    [refused] = c.refused
    assert refused.code == "key_too_long" and refused.failed and refused.key
    assert "\n" not in refused.reason and "S3 allows 1024" in refused.reason


def test_two_files_making_one_thumbnail_are_refused_before_upload(tmp_path: Path,
                                                                  image: Any) -> None:
    image(tmp_path / "p" / "a.gif", fmt="GIF")
    image(tmp_path / "p" / "a.jpg")
    both = r"would both make the thumbnail thumbnails/128x128/a\.jpg"
    with pytest.raises(ResizerError, match=both):
        collect([str(tmp_path / "p")], layout=LAYOUT)
    # With PNG output a.gif -> a.png and a.jpg -> a.png.
    png = StackLayout(source_bucket="s", dest_bucket="d", output_format="png")
    with pytest.raises(ResizerError, match=r"thumbnails/128x128/a\.png"):
        collect([str(tmp_path / "p")], layout=png)
