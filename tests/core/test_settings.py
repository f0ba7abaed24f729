"""Settings: precedence, resizer.toml tables, the shared rules, and where a bad value came from."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from lambda_handler.config import Config, ConfigError
from resizer_cli import settings
from resizer_cli.errors import ResizerError
from resizer_cli.settings import Settings, load, parse_sizes, save_stack
from resizer_cli.settings.rules import RESERVED_SUFFIXES, bucket_name_problem


def error_of(flags: dict[str, object] | None = None) -> ResizerError:
    with pytest.raises(ResizerError) as err:
        load(flags)
    assert "\n" not in str(err.value)
    return err.value


def test_defaults_local_runtime_follows_interpreter() -> None:
    s = load()
    assert (s.stack, s.target, s.region) == ("resizer", "local", "us-east-1")
    assert s.effective_runtime == settings.local_runtime()
    assert Settings(target="aws").effective_runtime == "python3.13"
    assert s.origins["stack"] == "default"


def test_precedence_flags_over_env_over_toml_table_over_toml() -> None:
    Path("resizer.toml").write_text(
        'memory = 1024\ntimeout = 20\nsizes = "64x64"\nregion = "eu-west-1"\nquality = 70\n'
        '[stacks.prod]\nmemory = 2048\nquality = 60\n'
    )
    with mock.patch.dict(os.environ, {"RESIZER_TIMEOUT": "45", "RESIZER_QUALITY": "50"}):
        s = load({"region": "eu-central-1"})
        assert (s.memory, s.timeout, s.sizes, s.region) == (1024, 45, ((64, 64),), "eu-central-1")
        assert s.origins["timeout"] == "RESIZER_TIMEOUT" and s.origins["region"] == "--region"
        prod = load({"stack": "prod"})
        # The table beats the top level; the environment beats the table.
        assert (prod.memory, prod.quality) == (2048, 50)
        assert prod.origins["memory"] == "resizer.toml [stacks.prod] memory"


def test_the_table_of_the_default_stack_applies_without_naming_it() -> None:
    Path("resizer.toml").write_text(
        "[stacks.resizer]\nmemory = 1536\n[stacks.other]\nmemory = 256\n"
    )
    assert load().memory == 1536
    assert load({"stack": "other"}).memory == 256


def test_the_table_of_the_current_stack_applies() -> None:
    save_stack(load({"stack": "dev"}))
    Path("resizer.toml").write_text("[stacks.dev]\nfit = 'cover'\n")
    s = load()
    assert (s.stack, s.fit) == ("dev", "cover")


def test_toml_can_name_the_stack_and_its_table_applies() -> None:
    Path("resizer.toml").write_text('stack = "web"\n[stacks.web]\ntimeout = 99\n')
    s = load()
    assert (s.stack, s.timeout) == ("web", 99)


def test_saved_stack_is_used_without_flags() -> None:
    save_stack(load({"stack": "dev", "memory": 768, "target": "aws", "region": "eu-west-2"}))
    s = load()
    assert (s.stack, s.memory, s.target, s.region) == ("dev", 768, "aws", "eu-west-2")
    assert s.origins["memory"].startswith("memory saved in ")
    # Flags still win over what was saved.
    assert load({"memory": 256}).memory == 256
    settings.forget_stack("dev")
    assert load().stack == "resizer"


@pytest.mark.parametrize(
    "flags, message, exit_code",
    [
        ({"stack": "Bad_Name"}, "--stack Bad_Name: not a valid stack name", 2),
        ({"stack": ""}, "--stack '': empty (give a value or leave it out)", 2),
        ({"target": "gcp"}, "--target gcp: unknown value (use one of local, aws)", 2),
        ({"architecture": "sparc"}, "--arch sparc: unknown value (use one of x86_64, arm64)", 2),
        ({"memory": 64}, "--memory 64: out of range (use 128 to 10240)", 2),
        ({"memory": 10241}, "--memory 10241: out of range (use 128 to 10240)", 2),
        ({"timeout": 0}, "--timeout 0: out of range (use 1 to 900)", 2),
        ({"timeout": 901}, "--timeout 901: out of range (use 1 to 900)", 2),
        ({"quality": 101}, "--quality 101: out of range (use 1 to 100)", 2),
        ({"max_pixels": 0}, "--max-pixels 0: out of range (use 1 or more)", 2),
        ({"sizes": "12xx"}, "--sizes 12xx: '12xx' is not a size", 2),
        ({"sizes": "0x10"}, "--sizes 0x10: '0x10' is not a size (each side is 1 to 99999", 2),
        ({"fit": "stretch"}, "--fit stretch: unknown value (use one of inside, cover)", 2),
        ({"output_format": "gif"}, "--format gif: unknown value (use one of auto, jpeg,", 2),
        ({"runtime": "node18"}, "--runtime node18: not a Python runtime", 2),
        ({"region": "Mars"}, "--region Mars: not a region name (e.g. us-east-1", 2),
        ({"source_bucket": " "}, "--source-bucket ' ': empty", 2),
        ({"profile": ""}, "--profile '': empty", 2),
    ],
)
def test_a_bad_flag_is_one_line_naming_the_flag(
    flags: dict[str, object], message: str, exit_code: int
) -> None:
    err = error_of(flags)
    assert str(err).startswith(message), str(err)
    assert err.exit_code == exit_code


@pytest.mark.parametrize(
    "var, value, message",
    [
        ("RESIZER_MAX_PIXELS", "-7", "RESIZER_MAX_PIXELS=-7: out of range (use 1 or more)"),
        ("RESIZER_MEMORY", "1.9e3", "RESIZER_MEMORY=1.9e3: not a whole number"),
        ("RESIZER_SIZES", "big", "RESIZER_SIZES=big: 'big' is not a size"),
        ("RESIZER_ARCH", "mips", "RESIZER_ARCH=mips: unknown value"),
        ("RESIZER_STACK", "sthree-x", "RESIZER_STACK=sthree-x: S3 reserves bucket names starting"),
    ],
)
def test_a_bad_variable_is_one_line_naming_the_variable(var: str, value: str, message: str) -> None:
    with mock.patch.dict(os.environ, {var: value}):
        err = error_of()
    assert str(err).startswith(message), str(err)
    assert err.exit_code == 1


def test_an_empty_variable_counts_as_unset() -> None:
    with mock.patch.dict(os.environ, {"RESIZER_STACK": "", "RESIZER_MEMORY": " "}):
        s = load()
    assert (s.stack, s.memory) == ("resizer", 512)


@pytest.mark.parametrize(
    "toml, message",
    [
        ("sizes = 5", "resizer.toml sizes = 5: not a list of sizes"),
        ("sizes = [[0, 0]]", "resizer.toml sizes = [[0, 0]]: [0, 0] is not a size"),
        ("sizes = [[64, 64, 3]]", "resizer.toml sizes = [[64, 64, 3]]: [64, 64, 3] is not a size"),
        ("sizes = []", "resizer.toml sizes = []: no size given"),
        ("quality = inf", "resizer.toml quality = inf: not a whole number"),
        ("quality = true", "resizer.toml quality = true: not a whole number"),
        ("memory = 1.9e3", "resizer.toml memory = 1900.0: not a whole number (write 1900, "),
        ("fit = 3", "resizer.toml fit = 3: not text"),
        ("target = 'cloud'", 'resizer.toml target = "cloud": unknown value'),
        (
            "[stacks.prod]\nmemory = 1.9e3",
            "resizer.toml [stacks.prod] memory = 1900.0: not a whole number",
        ),
        (
            "[stacks.resizer]\nmax_pixels = -1",
            "resizer.toml [stacks.resizer] max_pixels = -1: out of range",
        ),
    ],
)
def test_a_bad_toml_value_is_one_line_naming_key_and_table(toml: str, message: str) -> None:
    Path("resizer.toml").write_text(toml + "\n")
    err = error_of({"stack": "prod"} if "[stacks.prod]" in toml else None)
    assert str(err).startswith(message), str(err)


def test_sizes_in_toml_as_text_texts_or_pairs() -> None:
    for value in ('"128x128,512x512"', "['128x128', '512x512']", "[[128, 128], [512, 512]]"):
        Path("resizer.toml").write_text(f"sizes = {value}\n")
        assert load().sizes == ((128, 128), (512, 512))


@pytest.mark.parametrize(
    "toml, message",
    [
        ("colour = 'blue'", "resizer.toml: unknown key 'colour' (known keys: stack, target,"),
        ("memroy = 1", "resizer.toml: unknown key 'memroy' (did you mean memory? known keys"),
        ("[stacks.prod]\nmemroy = 1", "resizer.toml [stacks.prod]: unknown key 'memroy' (did you"),
        ("[stacks.prod]\nstack = 'x'", "resizer.toml [stacks.prod]: unknown key 'stack' (the"),
        ("[stacks.Prod]\nmemory = 1024", "resizer.toml [stacks.Prod]: not a valid stack name"),
        ("stacks = 3", "resizer.toml: stacks must be tables"),
        ("[stacks]\nprod = 1", "resizer.toml [stacks.prod] is not a table"),
        ("memory = [", "resizer.toml is not valid TOML"),
    ],
)
def test_unknown_keys_anywhere_are_errors_naming_key_and_file(toml: str, message: str) -> None:
    # Checked in every table, not only the one in use.
    Path("resizer.toml").write_text(toml + "\n")
    assert str(error_of()).startswith(message), str(error_of())


def test_resizer_config_names_the_file_and_must_exist(tmp_path: Path) -> None:
    other = tmp_path / "conf" / "my.toml"
    with mock.patch.dict(os.environ, {"RESIZER_CONFIG": str(other)}):
        assert str(error_of()) == (
            f"RESIZER_CONFIG={other}: no such file (create it, or unset RESIZER_CONFIG)"
        )
        other.parent.mkdir()
        other.write_text("[stacks.resizer]\nquality = 0\n")
        assert str(error_of()).startswith(f"{other} [stacks.resizer] quality = 0: out of range")
        other.write_text("quality = 90\n")
        assert load().quality == 90
        assert settings.config_path() == other
        other.unlink()
        other.mkdir()
        assert str(error_of()).startswith(f"cannot read {other}: ")


# --- the same rules as the deployed function ---------------------------------------------------

_FUNCTION_VARS = {
    "SIZES": "sizes", "QUALITY": "quality", "MAX_PIXELS": "max_pixels", "FIT": "fit",
    "OUTPUT_FORMAT": "output_format",
}
_texts = st.one_of(
    st.text(alphabet="0123456789xX, _-+.", max_size=12),
    st.sampled_from(["inside", "COVER", "jpg", "webp", "gif", "128x128", "1_000", "0", "100"]),
)


@hyp_settings(max_examples=150, deadline=None)
@given(var=st.sampled_from(sorted(_FUNCTION_VARS)), text=_texts)
def test_setup_accepts_exactly_what_the_function_accepts(var: str, text: str) -> None:
    """Whatever a user writes for a function setting, setup and the function agree."""
    name = _FUNCTION_VARS[var]
    try:
        expected = getattr(Config.from_env({var: text}), name)
    except ConfigError:
        expected = None
    with mock.patch.dict(os.environ, {f"RESIZER_{name.upper()}": text}):
        try:
            got = getattr(load(), name)
        except ResizerError as exc:
            assert expected is None, f"setup refused {text!r} the function takes: {exc}"
            return
    assert got == expected, f"{text!r}: setup {got!r}, function {expected!r}"
    # And what setup deploys, the function reads back unchanged.
    if name == "sizes":
        assert Config.from_env({var: settings.format_sizes(got)}).sizes == got


def test_parse_sizes_dedupes_and_keeps_order() -> None:
    assert parse_sizes("512x512, 128x128,512x512") == ((512, 512), (128, 128))
    with pytest.raises(ResizerError, match="'12xx' is not a size"):
        parse_sizes("12xx")


# --- stack names and the bucket names built from them ------------------------------------------

@pytest.mark.parametrize("stack", ["xn--abc", "sthree-a", "amzn-s3-demo-x"])
def test_reserved_bucket_prefixes_are_refused(stack: str) -> None:
    assert "S3 reserves bucket names starting with" in str(error_of({"stack": stack}))


@pytest.mark.parametrize("suffix", RESERVED_SUFFIXES)
def test_reserved_bucket_suffixes_are_refused(suffix: str) -> None:
    assert "which S3 reserves" in str(bucket_name_problem("abc" + suffix))
    assert bucket_name_problem("abc-src-123456789012-us-east-1") is None


def test_the_full_bucket_name_must_fit() -> None:
    # 20 + "-thumbs-" + 12 + "-" + 25 = 66 characters: over S3's 63.
    err = error_of({"stack": "a" * 20, "region": "ab-cdefghijklmnopqrstuv-1"})
    assert str(err).startswith(
        f"--stack {'a' * 20} with --region ab-cdefghijklmnopqrstuv-1: the bucket name "
        f"{'a' * 20}-thumbs-<account>-ab-cdefghijklmnopqrstuv-1 would be 66 characters long"
    )


def test_validate_applies_the_same_rules_to_direct_construction() -> None:
    Settings(target="aws").validate()
    with pytest.raises(ResizerError, match=r"^quality 0: out of range"):
        Settings(quality=0).validate()
