"""The rules behind the layer: tags per runtime, strip rules, descriptions, ELF sniffing."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest
from packaging.requirements import Requirement as PkgRequirement

from resizer_cli.layer import (
    LayerArtifact,
    LayerError,
    host_architecture,
    layer_description,
    layer_pins,
    requirements_text,
)
from resizer_cli.layer.assemble import layer_path
from resizer_cli.layer.build import parse_layer_sha
from resizer_cli.layer.download import unreachable_host, wheel_matches
from resizer_cli.layer.elf import sniff
from resizer_cli.layer.requirements import (
    SPEC_FILE,
    Requirement,
    parse_requirements,
    unpinned_dependencies,
)
from resizer_cli.layer.target import (
    lambda_target,
    local_target,
    manylinux_tags,
    wheel_tag_problem,
)


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


def test_requirements_are_pinned_exactly_and_heic_is_an_extra() -> None:
    target = lambda_target("python3.13", "x86_64")
    reqs = parse_requirements(requirements_text(), target)
    assert [r.spec for r in reqs] == ["pillow==13.0.0", "pillow-heif==1.8.1"]
    assert [r.spec for r in parse_requirements(requirements_text(), target, ())] == [
        "pillow==13.0.0"
    ]
    assert layer_pins("python3.13", "arm64", heic=False) == ["pillow==13.0.0"]
    for bad in ("pillow>=10\n", "pillow==13.*\n", "pillow==13.0.0,!=13.0.1\n"):
        with pytest.raises(LayerError, match="not pinned exactly"):
            parse_requirements(bad, target)
    with pytest.raises(LayerError, match="not a requirement"):
        parse_requirements("pillow = 13\n", target)
    with pytest.raises(LayerError, match="lists no packages"):
        parse_requirements("# nothing\n\n", target)


def test_markers_are_evaluated_for_the_target_not_the_host() -> None:
    text = (
        'pillow==13.0.0\nold==1.0; python_version < "3.12"\n'
        'armonly==2.0; platform_machine == "aarch64"\n'
    )
    assert [r.name for r in parse_requirements(text, lambda_target("python3.11", "x86_64"))] == [
        "pillow",
        "old",
    ]
    assert [r.name for r in parse_requirements(text, lambda_target("python3.13", "arm64"))] == [
        "pillow",
        "armonly",
    ]


def test_every_runtime_dependency_must_be_satisfied_by_a_pin() -> None:
    target = lambda_target("python3.13", "x86_64")
    reqs = parse_requirements("pillow==13.0.0\npillow-heif==1.8.1\n", target)
    deps = [
        PkgRequirement(d)
        for d in (
            "pillow>=11.1.0",
            'sphinx>=4.4; extra == "docs"',
            'pywin32; sys_platform == "win32"',
        )
    ]
    assert unpinned_dependencies(deps, reqs, target) == []
    old = parse_requirements("pillow==10.4.0\npillow-heif==1.8.1\n", target)
    assert unpinned_dependencies(deps, old, target) == [
        f"needs pillow>=11.1.0, but {SPEC_FILE} pins pillow==10.4.0"
    ]
    assert unpinned_dependencies([PkgRequirement("numpy>=2")], reqs, target) == [
        f"needs numpy, which {SPEC_FILE} does not pin"
    ]


@pytest.mark.parametrize(
    ("filename", "ok"),
    [
        ("pillow_heif-1.8.1-cp313-cp313-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", True),
        ("Pillow_HEIF-1.8.1-cp313-cp313-manylinux_2_28_x86_64.whl", True),
        ("pillow_heif-1.8.2-cp313-cp313-manylinux_2_28_x86_64.whl", False),
        ("pillow-13.0.0-cp313-cp313-manylinux_2_28_x86_64.whl", False),
        ("not-a-wheel.whl", False),
    ],
)
def test_wheel_file_names_are_read_with_packaging(filename: str, ok: bool) -> None:
    assert wheel_matches(filename, Requirement("pillow-heif", "1.8.1")) is ok


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


@pytest.mark.parametrize(
    ("output", "host"),
    [
        # pip 26.x: only the URL it could not fetch names the host
        (
            "Looking in indexes: http://127.0.0.1:9/simple\nCould not fetch URL "
            "http://127.0.0.1:9/simple/pillow/: connection error: [Errno 111] Connection "
            "refused - skipping\nERROR: No matching distribution found for pillow==13.0.0",
            "127.0.0.1",
        ),
        # pip 23.2: urllib3's HTTPConnectionPool(host=...)
        (
            "WARNING: Retrying ... HTTPSConnectionPool(host='pypi.org', port=443): Max retries "
            "exceeded with url: /simple/pillow/ (Caused by NewConnectionError(...))",
            "pypi.org",
        ),
        (
            "Looking in indexes: https://mirror.example/simple, https://b.example/simple\n",
            "mirror.example",
        ),
        ("ERROR: something else entirely", None),
    ],
)
def test_the_unreachable_host_is_read_from_old_and_new_pip(output: str, host: str | None) -> None:
    assert unreachable_host(output) == host
