"""reserved_concurrency: a number (0 pauses), "none" (no reservation), or unset (left alone),
from flags, RESIZER_RESERVED_CONCURRENCY and resizer.toml, and remembered with the stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from resizer_cli.errors import ResizerError
from resizer_cli.settings import load, save_stack


@pytest.mark.parametrize(("given", "value"), [("0", 0), ("12", 12), (" None ", "none"),
                                              ("1_000", 1000)])
def test_flag_values(given: str, value: int | str) -> None:
    assert load({"reserved_concurrency": given}).reserved_concurrency == value


def test_unset_by_default_and_read_from_env_and_toml(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load().reserved_concurrency is None
    Path("resizer.toml").write_text("reserved_concurrency = 3\n[stacks.prod]\n"
                                    'reserved_concurrency = "none"\n')
    assert load().reserved_concurrency == 3
    assert load({"stack": "prod"}).reserved_concurrency == "none"
    monkeypatch.setenv("RESIZER_RESERVED_CONCURRENCY", "0")
    assert load({"stack": "prod"}).reserved_concurrency == 0


@pytest.mark.parametrize(("given", "problem"), [
    (-1, "out of range"), (2.0, "not a number of executions"), (True, "not a number"),
    ("some", "not a number of executions"),
])
def test_bad_values_are_one_line(given: object, problem: str) -> None:
    Path("resizer.toml").write_text(f"reserved_concurrency = {_toml(given)}\n")
    with pytest.raises(ResizerError) as err:
        load()
    assert f"resizer.toml reserved_concurrency = {_toml(given)}: {problem}" in str(err.value)
    assert "none removes it" in str(err.value) and err.value.exit_code == 1


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else repr(value)


def test_saved_with_the_stack_until_changed() -> None:
    save_stack(load({"stack": "prod", "reserved_concurrency": "5"}))
    assert load({"stack": "prod"}).reserved_concurrency == 5
    save_stack(load({"stack": "prod", "reserved_concurrency": "none"}))
    assert load({"stack": "prod"}).reserved_concurrency == "none"  # remembered, not unset
