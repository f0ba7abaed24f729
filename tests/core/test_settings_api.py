"""The HTTP API's settings: api, api_sizes, api_unsigned from flags, variables and resizer.toml."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest

from resizer_cli.errors import ResizerError
from resizer_cli.settings import load, save_stack, saved_stack


def test_off_by_default_and_on_from_resizer_toml() -> None:
    assert (load().api, load().api_sizes, load().api_unsigned) == (False, (), False)
    Path("resizer.toml").write_text('api = true\napi_sizes = ["1024x1024", [2048, 2048]]\n')
    s = load()
    assert s.api is True and s.api_sizes == ((1024, 1024), (2048, 2048))
    assert s.origins["api"] == "resizer.toml api"
    with mock.patch.dict(os.environ, {"RESIZER_API_UNSIGNED": "yes"}):
        assert load({"api": False}).api is False and load().api_unsigned is True


def test_saved_with_the_stack_and_given_back() -> None:
    save_stack(load({"api": True, "api_sizes": "640x640"}))
    assert saved_stack("resizer")["api_sizes"] == "640x640"  # type: ignore[index]
    s = load()
    assert s.api is True and s.api_sizes == ((640, 640),)


@pytest.mark.parametrize(("flags", "expected"), [
    ({"api_sizes": "huge"}, "--api-sizes huge: 'huge' is not a size"),
    ({"api": "maybe"}, "--api maybe: not true or false"),
])
def test_a_bad_value_is_one_line_naming_the_flag(flags: dict[str, object], expected: str) -> None:
    with pytest.raises(ResizerError) as err:
        load(flags)
    assert str(err.value).startswith(expected) and err.value.exit_code == 2
