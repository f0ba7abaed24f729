"""Settings precedence and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from resizer_cli import settings
from resizer_cli.errors import ResizerError
from resizer_cli.settings import Settings, load, parse_sizes, save_stack


def test_defaults_local_runtime_follows_interpreter() -> None:
    s = load()
    assert s.stack == "resizer"
    assert s.target == "local"
    assert s.effective_runtime == settings.local_runtime()
    assert Settings(target="aws").effective_runtime == "python3.13"


def test_precedence_flags_over_env_over_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path("resizer.toml").write_text(
        'memory = 1024\ntimeout = 20\nsizes = "64x64"\nregion = "eu-west-1"\n'
        '[stacks.prod]\nmemory = 2048\n'
    )
    monkeypatch.setenv("RESIZER_TIMEOUT", "45")
    s = load({"region": "eu-central-1"})
    assert (s.memory, s.timeout, s.sizes, s.region) == (1024, 45, ((64, 64),), "eu-central-1")
    prod = load({"stack": "prod"})
    assert prod.memory == 2048


def test_saved_stack_is_used_without_flags() -> None:
    save_stack(load({"stack": "dev", "memory": 768, "target": "aws", "region": "eu-west-2"}))
    s = load()
    assert (s.stack, s.memory, s.target, s.region) == ("dev", 768, "aws", "eu-west-2")
    # Flags still win over what was saved.
    assert load({"memory": 256}).memory == 256
    settings.forget_stack("dev")
    assert load().stack == "resizer"


@pytest.mark.parametrize(
    "flags, fragment",
    [
        ({"stack": "Bad_Name"}, "invalid stack name"),
        ({"target": "gcp"}, "unknown target"),
        ({"architecture": "sparc"}, "unknown architecture"),
        ({"memory": 64}, "memory 64 MB"),
        ({"sizes": "12xx"}, "invalid size"),
        ({"runtime": "node18"}, "unknown runtime"),
        ({"memory": "lots"}, "whole number"),
    ],
)
def test_invalid_settings_are_one_line_errors(flags: dict[str, object], fragment: str) -> None:
    with pytest.raises(ResizerError) as err:
        load(flags)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_toml_and_unknown_keys() -> None:
    Path("resizer.toml").write_text("memory = [")
    with pytest.raises(ResizerError, match="not valid TOML"):
        load()
    Path("resizer.toml").write_text("colour = 'blue'\n")
    with pytest.raises(ResizerError, match="unknown setting"):
        load()


def test_parse_sizes_dedupes_and_keeps_order() -> None:
    assert parse_sizes("512x512, 128x128,512x512") == ((512, 512), (128, 128))
