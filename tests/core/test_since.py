"""`logs --since` values so far back they would overflow: the start of the logs, not a crash."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from resizer_cli.ops.logs import parse_since

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    ["99999999999d", "99999999999w", "9" * 40 + "s", "1" * 5000 + "d", "3000w",
     "0001-01-01T00:00:00+23:59", "1969-12-31T23:59:59Z"],
)
def test_before_1970_is_the_start_of_the_logs(text: str) -> None:
    assert parse_since(text, NOW) == 0


def test_far_future_and_ordinary_values_are_kept() -> None:
    assert parse_since("9999-12-31T23:59:59-23:59", NOW) == 253402387139000
    assert parse_since("1d", NOW) == int(NOW.timestamp() * 1000) - 86_400_000
