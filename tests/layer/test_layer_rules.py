"""The rules behind the layer: tags per runtime, strip rules, descriptions, ELF sniffing."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest

from resizer_cli.layer_build import (
    LayerArtifact,
    layer_description,
    layer_path,
    parse_layer_sha,
    parse_requirements,
    requirements_text,
)
from resizer_cli.layer_target import (
    LayerError,
    host_architecture,
    lambda_target,
    local_target,
    manylinux_tags,
    wheel_tag_problem,
)
from resizer_cli.native_binary import sniff


def test_python312_tags_cover_every_glibc_up_to_234_and_the_legacy_aliases() -> None:
    tags = lambda_target("python3.12", "x86_64").platform_tags()
    assert tags[0] == "manylinux_2_34_x86_64"
    assert {f"manylinux_2_{y}_x86_64" for y in range(5, 35)} <= set(tags)
    assert "manylinux_2_35_x86_64" not in tags
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(tags)


def test_python311_is_amazon_linux_2_glibc_226_and_arm_uses_aarch64_tags() -> None:
    tags = lambda_target("python3.11", "arm64").platform_tags()
    assert tags[0] == "manylinux_2_26_aarch64"
    assert "manylinux_2_27_aarch64" not in tags
    assert all(t.endswith("_aarch64") for t in tags)
    # manylinux1/2010 never existed for aarch64
    assert "manylinux2014_aarch64" in tags and "manylinux1_aarch64" not in tags
    assert manylinux_tags("x86_64", (2, 12))[-2:] == ["manylinux2010_x86_64", "manylinux1_x86_64"]


def test_pip_args_name_the_target_python_and_abi() -> None:
    args = lambda_target("python3.13", "arm64").pip_args()
    joined = " ".join(args)
    assert "--implementation cp --python-version 3.13 --abi cp313" in joined
    assert args.count("--platform") == len(lambda_target("python3.13", "arm64").platform_tags())
    assert local_target().pip_args() == []  # pip picks the running interpreter's own tags


@pytest.mark.parametrize(
    ("runtime", "arch", "needle"),
    [("python3.9", "x86_64", "unknown Lambda runtime"), ("python3.13", "mips", "architecture")],
)
def test_unknown_runtime_or_architecture_is_a_layer_error(
    runtime: str, arch: str, needle: str
) -> None:
    with pytest.raises(LayerError, match=needle) as err:
        lambda_target(runtime, arch)
    assert "\n" not in str(err.value)


def test_architecture_aliases_are_accepted() -> None:
    assert lambda_target("python3.12", "aarch64").architecture == "arm64"
    assert lambda_target("python3.12", "AMD64").architecture == "x86_64"
    assert host_architecture() in ("x86_64", "arm64")


@pytest.mark.parametrize(
    ("tag", "runtime", "ok"),
    [
        ("cp313-cp313-manylinux_2_28_x86_64", "python3.13", True),
        ("cp312-cp312-manylinux_2_28_x86_64", "python3.13", False),
        ("cp39-abi3-manylinux_2_17_x86_64", "python3.12", True),
        ("cp314-abi3-manylinux_2_17_x86_64", "python3.13", False),
        ("cp313-cp313-manylinux_2_28_x86_64", "python3.11", False),
        ("cp311-cp311-manylinux_2_28_x86_64", "python3.11", False),  # glibc 2.26 on AL2
        ("cp311-cp311-manylinux2014_x86_64", "python3.11", True),
        ("cp313-cp313-manylinux_2_28_aarch64", "python3.13", False),
        ("cp313-cp313-macosx_11_0_arm64", "python3.13", False),
        ("cp313-cp313-win_amd64", "python3.13", False),
        ("py3-none-any", "python3.10", True),
    ],
)
def test_wheel_tags_against_a_target(tag: str, runtime: str, ok: bool) -> None:
    problem = wheel_tag_problem(tag, lambda_target(runtime, "x86_64"))
    assert (problem is None) is ok, problem


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("PIL/__init__.py", "PIL/__init__.py"),
        (
            "PIL/_imaging.cpython-313-x86_64-linux-gnu.so",
            "PIL/_imaging.cpython-313-x86_64-linux-gnu.so",
        ),
        ("PIL/__pycache__/Image.cpython-313.pyc", None),
        ("PIL/_imaging.pyi", None),
        ("PIL/Imaging.h", None),
        ("pkg/include/pkg/api.h", None),
        ("pkg/tests/test_x.py", None),
        ("pkg/tests/LICENSE.txt", "pkg/tests/LICENSE.txt"),
        ("pkg-1.0.dist-info/RECORD", None),
        ("pkg-1.0.dist-info/METADATA", "pkg-1.0.dist-info/METADATA"),
        ("pkg-1.0.dist-info/licenses/LICENSE", "pkg-1.0.dist-info/licenses/LICENSE"),
        ("pkg-1.0.data/platlib/pkg_ext.so", "pkg_ext.so"),
        ("pkg-1.0.data/purelib/pkg/mod.py", "pkg/mod.py"),
        ("pkg-1.0.data/scripts/pkg-cli", None),
        ("pkg-1.0.data/headers/pkg.h", None),
    ],
)
def test_layer_paths_strip_what_lambda_never_loads(entry: str, expected: str | None) -> None:
    assert layer_path(entry) == expected


def test_a_wheel_entry_escaping_the_layer_is_refused() -> None:
    with pytest.raises(LayerError, match="unsafe path"):
        layer_path("../../etc/cron.d/evil")


def test_requirements_are_pinned_exactly() -> None:
    reqs = parse_requirements(requirements_text())
    assert [r.spec for r in reqs] == ["pillow==13.0.0"]
    with pytest.raises(LayerError, match="not pinned exactly"):
        parse_requirements("pillow>=10\n")
    with pytest.raises(LayerError, match="lists no packages"):
        parse_requirements("# nothing\n\n")


def test_the_description_carries_the_sha_for_deploy() -> None:
    sha = "ab" * 32
    art = LayerArtifact(
        path=__import__("pathlib").Path("x.zip"),
        sha256=sha,
        runtime="python3.13",
        architecture="x86_64",
        size=1,
        unzipped_size=2,
    )
    text = layer_description(art)
    assert text == f"resizer pillow layer sha256={sha} python3.13 x86_64"
    assert len(text) <= 256  # Lambda's limit for a layer version description
    assert parse_layer_sha(text) == sha
    assert parse_layer_sha(f"resizer:demo sha256:{sha}") == sha  # deploy's own format
    assert parse_layer_sha("some other layer") is None
    assert parse_layer_sha(None) is None


def _elf_header(machine: int, bits: int = 64) -> bytes:
    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 1, 1]) + bytes(9)
    return ident + struct.pack("<HH", 3, machine) + bytes(64)


def test_sniff_reads_the_elf_machine_and_recognises_macho_and_pe() -> None:
    assert sniff(_elf_header(62)).machine == 62
    assert sniff(_elf_header(183)).machine == 183
    assert sniff(_elf_header(3, bits=32)).bits == 32
    assert sniff(b"\xcf\xfa\xed\xfe" + bytes(60)).kind == "macho"
    assert sniff(b"MZ" + bytes(62)).kind == "pe"
    assert sniff(b"not a binary").kind == "unknown"


def test_pip_itself_accepts_abi3_and_pure_wheels_for_our_flags() -> None:
    """`--abi cp313` is enough: pip adds abi3 (for older CPythons) and none/any by itself."""
    target = lambda_target("python3.13", "arm64")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "debug", "--verbose", *target.pip_args()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    tags = {line.strip() for line in proc.stdout.splitlines()}
    assert "cp313-cp313-manylinux_2_34_aarch64" in tags
    assert "cp39-abi3-manylinux2014_aarch64" in tags
    assert "py3-none-any" in tags
    assert not any("x86_64" in t or "manylinux_2_35" in t for t in tags)
