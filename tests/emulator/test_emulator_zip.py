"""Code and layer zips are extracted inside their folder, whatever names and links they hold."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from resizer_cli.emulator.artifacts import UnsafeArchive, extract, extract_into


def _zip(*entries: tuple[str, bytes | str, str]) -> bytes:
    """Entries of (name, content, kind): kind is "file" or "link" (content = link target)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content, kind in entries:
            info = zipfile.ZipInfo(name)
            mode = (stat.S_IFLNK | 0o777) if kind == "link" else (stat.S_IFREG | 0o644)
            info.external_attr = mode << 16
            zf.writestr(info, content)
    return buf.getvalue()


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def box(tmp_path: Path) -> tuple[Path, Path]:
    """A folder to extract into, next to a sibling folder nothing may reach."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("keep me")
    return tmp_path / "task", outside


@pytest.mark.parametrize(("entries", "why"), [
    ([("../evil.txt", "x", "file")], "'..' component"),
    ([("ok/../../evil.txt", "x", "file")], "'..' component"),
    ([("/tmp/evil.txt", "x", "file")], "absolute name"),
    ([("../evil-link", "outside", "link")], "'..' component"),
    ([("d", "/", "link"), ("d/evil.txt", "x", "file")], "absolute path '/'"),
    ([("d", "../outside", "link"), ("d/evil.txt", "x", "file")], "outside the package"),
    ([("here", ".", "link"), ("up", "here/..", "link")], "outside the package"),
    # The first link is harmless until the second makes `l` mean the package root.
    ([("e", "l/../outside", "link"), ("l", ".", "link")], "once all entries are in place"),
])
def test_escaping_names_and_links_refuse_the_zip(
    box: tuple[Path, Path], entries: list[tuple[str, str, str]], why: str
) -> None:
    dest, outside = box
    with pytest.raises(UnsafeArchive, match=why):
        extract(_zip(*entries), dest)
    assert not dest.exists()  # all or nothing
    assert _tree(outside) == {"secret.txt"} and (outside / "secret.txt").read_text() == "keep me"
    assert not (dest.parent / "evil.txt").exists()


def test_links_that_stay_inside_keep_working(box: tuple[Path, Path]) -> None:
    dest, _ = box
    extract(_zip(
        ("lib/libfoo.so.1", b"\x7fELF", "file"),
        ("lib/libfoo.so", "libfoo.so.1", "link"),
        ("real/mod.py", "X = 1\n", "file"),
        ("alias", "real", "link"),
        ("alias/added.py", "Y = 2\n", "file"),  # written through a link inside: fine
        ("bin/tool", "../lib/libfoo.so", "link"),
    ), dest)
    assert os.readlink(dest / "lib/libfoo.so") == "libfoo.so.1"
    assert (dest / "lib/libfoo.so").read_bytes() == b"\x7fELF"
    assert (dest / "alias/mod.py").read_text() == "X = 1\n"
    assert (dest / "real/added.py").read_text() == "Y = 2\n"
    assert (dest / "bin/tool").read_bytes() == b"\x7fELF"


def test_a_later_layer_cannot_escape_through_an_earlier_layers_link(
    box: tuple[Path, Path]
) -> None:
    dest, outside = box
    extract_into(_zip(("a", ".", "link")), dest)  # inside: `a` is the opt folder itself
    with pytest.raises(UnsafeArchive, match="outside the package"):
        extract_into(_zip(("a/b", "../outside", "link"), ("a/b/evil.txt", "x", "file")), dest)
    assert _tree(outside) == {"secret.txt"}


def test_a_function_with_an_escaping_zip_fails_as_lambda_fails(emu: Any) -> None:
    before = set(os.listdir(emu.home / "state"))
    lam = emu.client("lambda", config=Config(retries={"total_max_attempts": 1}))  # a 502 is retried
    code = _zip(("app.py", "def handler(e, c):\n    return 1\n", "file"),
                ("../../../escaped.py", "x", "file"))
    lam.create_function(FunctionName="zipslip", Runtime="python3.11", Role=emu.role,
                        Handler="app.handler", Code={"ZipFile": code})  # moto stores it
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName="zipslip")
    error = err.value.response["Error"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    assert error["Code"] == "InvalidZipFileException"
    assert "could not unzip the deployment package" in error["Message"]
    assert "'../../../escaped.py' has a '..' component" in error["Message"]
    assert set(os.listdir(emu.home / "state")) == before
    assert not list(emu.home.rglob("escaped.py"))
    from resizer_cli.emulator import control

    status = control.status()
    assert status is not None
    fn = next(f for f in status["functions"] if f["name"] == "zipslip")
    assert fn["errors"] == 1 and fn["last_error"].startswith("InvalidZipFileException")
