"""Every settings mistake through the installed `resizer` command: one line, no traceback.

They fail before connecting anywhere, so no emulator is started; the region tests talk to a
moto server on loopback (RESIZER_ENDPOINT_URL), with profiles from a temporary AWS config file.

Until the error printer escapes rich markup (issue 9, item 4), `[stacks.prod]` in a message is
swallowed on the terminal, so these tests look for the parts around it; tests/core/
test_settings.py checks the exact messages in-process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from resizer_cli.settings import load, save_stack

NOT_RUNNING = "no stack 'resizer' is deployed on the local emulator (it is not running)"


def one_line(proc: Any) -> str:
    """The single error line a failing command printed (and nothing else)."""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    return str(lines[0])


@pytest.mark.parametrize(
    "args, env, toml, fragments, code",
    [
        (["setup", "--max-pixels", "0"], {}, "", ["--max-pixels 0: out of range (use 1 or"], 2),
        (["setup", "--stack", ""], {}, "", ["--stack '': empty"], 2),
        (["setup", "--memory", "64"], {}, "", ["--memory 64: out of range (use 128 to 10240)"], 2),
        (["setup", "--timeout", "901"], {}, "", ["--timeout 901: out of range (use 1 to 900)"], 2),
        (["setup", "--reserved-concurrency", "-1"], {}, "",
         ["--reserved-concurrency -1: out of range (use a whole number: 0 or more"], 2),
        (["setup"], {"RESIZER_RESERVED_CONCURRENCY": "lots"}, "",
         ["RESIZER_RESERVED_CONCURRENCY=lots: not a number of executions"], 1),
        (["setup", "--sizes", "0x0"], {}, "", ["--sizes 0x0: '0x0' is not a size"], 2),
        (["setup", "--fit", "fill"], {}, "", ["--fit fill: unknown value (use one of inside"], 2),
        (["setup", "--format", "bmp"], {}, "", ["--format bmp: unknown value"], 2),
        (["setup", "--stack", "xn--x"], {}, "", ["S3 reserves bucket names starting with"], 2),
        (["setup"], {"RESIZER_MAX_PIXELS": "-7"}, "", ["RESIZER_MAX_PIXELS=-7: out of range"], 1),
        (["setup"], {"RESIZER_MEMORY": "1.9e3"}, "", ["RESIZER_MEMORY=1.9e3: not a whole"], 1),
        (["setup"], {}, "sizes = 5", ["resizer.toml sizes = 5: not a list of sizes"], 1),
        (["setup"], {}, "sizes = [[0,0]]", ["resizer.toml sizes = [[0, 0]]: [0, 0] is not"], 1),
        (["setup"], {}, "quality = inf", ["resizer.toml quality = inf: not a whole number"], 1),
        (
            ["setup"], {}, "memory = 1.9e3",
            ["resizer.toml memory = 1900.0: not a whole number (write 1900, without a decimal"],
            1,
        ),
        (
            ["setup", "--stack", "prod"], {}, "[stacks.prod]\nmemory = 1.9e3",
            ["resizer.toml", "memory = 1900.0: not a whole number"],
            1,
        ),
        # The default stack's table applies without naming the stack.
        (["setup"], {}, "[stacks.resizer]\nquality = 0", ["quality = 0: out of range"], 1),
        (["status"], {}, "colour = 'red'", ["resizer.toml: unknown key 'colour'"], 1),
        (
            ["status"], {}, "[stacks.other]\nmemroy = 1",
            ["resizer.toml", "unknown key 'memroy' (did you mean memory?"],
            1,
        ),
        (
            ["status"], {"RESIZER_CONFIG": "missing.toml"}, "",
            ["RESIZER_CONFIG=missing.toml: no such file (create it, or unset RESIZER_CONFIG)"],
            1,
        ),
        (
            ["status", "--target", "aws"],
            {"AWS_DEFAULT_REGION": "", "AWS_CONFIG_FILE": "/nonexistent/aws-config"},
            "",
            ["no AWS region is set for --target aws (pass --region"],
            1,
        ),
        (["status", "--target", "aws", "--region", "EU"], {}, "", ["--region EU: not a region"], 2),
    ],
)
def test_each_settings_mistake_is_one_line(
    run_resizer: Any, args: list[str], env: dict[str, str], toml: str, fragments: list[str],
    code: int,
) -> None:
    if toml:
        Path("resizer.toml").write_text(toml + "\n")
    proc = run_resizer(*args, env=env, timeout=60)
    line = one_line(proc)
    for fragment in fragments:
        assert fragment in line, line
    assert proc.returncode == code, proc.stderr


def test_accepted_forms_reach_the_stack_lookup(run_resizer: Any) -> None:
    # Valid settings pass validation; `status` then says the (stopped) emulator holds nothing.
    Path("resizer.toml").write_text("sizes = ['128x128', '64x64']\n")
    proc = run_resizer("status", timeout=60)
    assert proc.returncode == 3 and NOT_RUNNING in one_line(proc)  # 3: nothing there
    proc = run_resizer("logs", "--since", "99999999999d", timeout=60)  # from the beginning
    assert proc.returncode == 3 and NOT_RUNNING in one_line(proc)


def unwritable_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    if not os.access(folder, os.W_OK):
        return folder
    return Path("/sys")  # root ignores permission bits; sysfs refuses new folders even to root


def test_unusable_state_and_cache_folders(run_resizer: Any, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    proc = run_resizer("status", env={"RESIZER_HOME": str(a_file)}, timeout=60)
    assert one_line(proc) == (
        f"error: RESIZER_HOME={a_file}: cannot create {a_file}/state: Not a directory "
        "(point RESIZER_HOME at a folder you can write, or unset it)"
    )
    locked = unwritable_folder(tmp_path)
    proc = run_resizer("status", env={"RESIZER_HOME": str(locked)}, timeout=60)
    assert one_line(proc).startswith(f"error: RESIZER_HOME={locked}: cannot create {locked}/state")
    assert proc.returncode == 1
    proc = run_resizer("layer", "build", env={"RESIZER_CACHE_DIR": str(a_file)}, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"error: RESIZER_CACHE_DIR={a_file}: {a_file} is not a folder "
        "(point RESIZER_CACHE_DIR at a folder you can write, or unset it)"
    )


def test_a_damaged_saved_stack_is_one_line_naming_the_file(
    run_resizer: Any, isolated_env: Path
) -> None:
    save_stack(load({"stack": "prod"}))
    path = isolated_env / "state" / "stacks" / "prod" / "local.us-east-1.json"
    path.write_text("{truncated")
    proc = run_resizer("status", timeout=60)
    assert one_line(proc) == (
        f"error: the saved settings of stack prod in {path} are damaged (not valid JSON) "
        "(delete that file and pass the stack's settings again (flags or resizer.toml))"
    )


# --- the region, through the installed command against a moto server on loopback -------------

@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "aws-config"
    config.write_text(
        "[default]\nregion = ap-south-1\n"
        "[profile eu]\nregion = eu-west-3\naws_access_key_id = testing\n"
        "aws_secret_access_key = testing\n"
    )
    return {
        "RESIZER_ENDPOINT_URL": moto_endpoint,
        "AWS_CONFIG_FILE": str(config),
        "AWS_DEFAULT_REGION": "",
    }


def test_the_profile_region_is_used(run_resizer: Any, aws_env: dict[str, str]) -> None:
    proc = run_resizer("status", "--target", "aws", "--profile", "eu", env=aws_env, timeout=60)
    assert proc.returncode == 3  # no stack there
    # The first line says the requests go to the moto server, not to AWS.
    where, error = proc.stderr.splitlines()
    assert where.startswith("→ not AWS: requests go to http://127.0.0.1:")
    assert where.endswith("account 123456789012, eu-west-3, stack resizer")
    assert error == (
        "error: no stack 'resizer' is deployed on AWS eu-west-3 (run `resizer setup` first)"
    )
    proc = run_resizer("status", "--target", "aws", env={**aws_env, "AWS_REGION": "ca-central-1"})
    assert proc.stderr.splitlines()[0].endswith("ca-central-1, stack resizer")


def test_a_stack_in_two_regions_says_which_it_acts_on(
    run_resizer: Any, aws_env: dict[str, str], isolated_env: Path
) -> None:
    save_stack(load({"stack": "prod", "target": "aws", "region": "eu-west-1"}))
    save_stack(load({"stack": "prod", "target": "aws", "region": "us-east-2"}))
    proc = run_resizer("status", env=aws_env, timeout=60)
    where, *rest = proc.stderr.splitlines()
    assert where.endswith("account 123456789012, us-east-2, stack prod")
    assert rest == [
        "warning: stack prod is also set up in eu-west-1 (aws); acting on us-east-2 (aws), the "
        "most recently set up (pass --region to choose)",
        "error: no stack 'prod' is deployed on AWS us-east-2 (run `resizer setup` first)",
    ]
    # Teardown of one region forgets that region only; then no choice is left to announce.
    proc = run_resizer("teardown", "--yes", "--region", "us-east-2", "--json", env=aws_env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["changed"] is False
    stacks = isolated_env / "state" / "stacks" / "prod"
    assert [p.name for p in stacks.iterdir()] == ["aws.eu-west-1.json"]
    proc = run_resizer("status", env=aws_env, timeout=60)
    assert proc.stderr.splitlines()[0].endswith("account 123456789012, eu-west-1, stack prod")
    assert len(proc.stderr.splitlines()) == 2
