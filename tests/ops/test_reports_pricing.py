"""REPORT lines parsed into numbers, and what they cost at the dated list price."""

from __future__ import annotations

import pytest

from resizer_cli.emulator.reports import report_line
from resizer_cli.ops.pricing import PRICES_AS_OF, gb_seconds, list_price
from resizer_cli.ops.reports import parse_report

RID = "8f5e2a4c-0c1b-4f61-9d0e-3a3c1f6b2d11"


def test_a_cold_report_line_parses_every_field() -> None:
    line = (f"REPORT RequestId: {RID}\tDuration: 102.25 ms\tBilled Duration: 288 ms\t"
            "Memory Size: 512 MB\tMax Memory Used: 81 MB\tInit Duration: 185.10 ms\t")
    r = parse_report(line)
    assert r is not None and r.cold
    assert (r.request_id, r.duration_ms, r.billed_ms, r.memory_mb, r.max_memory_mb, r.init_ms) == (
        RID, 102.25, 288.0, 512.0, 81.0, 185.1)


def test_a_failed_invocation_carries_its_status_and_error_type() -> None:
    line = (f"REPORT RequestId: {RID}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\t"
            "Memory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: timeout\t")
    r = parse_report(line)
    assert r is not None and not r.cold
    assert (r.status, r.error_type) == ("timeout", None)
    oom = "Status: error\tError Type: Runtime.OutOfMemory"
    r = parse_report(line.replace("Status: timeout", oom))
    assert r is not None and (r.status, r.error_type) == ("error", "Runtime.OutOfMemory")


def test_other_lines_are_not_reports() -> None:
    assert parse_report(f"START RequestId: {RID} Version: $LATEST") is None
    assert parse_report("REPORT nothing") is None


def test_the_emulator_bills_init_on_a_cold_start_as_lambda_does() -> None:
    cold = parse_report(report_line(RID, 100.2, 512, 70, 185.5))
    warm = parse_report(report_line(RID, 100.2, 512, 70, None))
    assert cold is not None and warm is not None
    assert (cold.billed_ms, warm.billed_ms) == (286.0, 101.0)


def test_cost_is_requests_plus_gb_seconds_at_the_dated_price() -> None:
    price = list_price("us-east-1", "x86_64")
    assert PRICES_AS_OF in price.source
    # 1 GB for one second: one GB-second plus one request.
    assert price.of(1000, 1024) == pytest.approx(0.0000166667 + 0.0000002)
    assert gb_seconds(500, 2048) == 1.0
    arm = list_price("eu-west-1", "arm64")
    assert arm.gb_second_usd < price.gb_second_usd
    assert list_price("af-south-1", "x86_64").gb_second_usd > price.gb_second_usd
    own = list_price("us-east-1", "x86_64", gb_second_usd=0.00001, request_usd=0.0)
    assert own.of(1000, 1024) == pytest.approx(0.00001) and own.source == "set in the settings"


def test_prices_from_the_environment_replace_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    from resizer_cli.errors import ResizerError
    from resizer_cli.ops.pricing import price_for
    from resizer_cli.settings import load

    monkeypatch.setenv("RESIZER_PRICE_GB_SECOND_USD", "0.00002")
    price = price_for(load())
    assert price.gb_second_usd == 0.00002 and price.request_usd == 0.20 / 1_000_000
    monkeypatch.setenv("RESIZER_PRICE_GB_SECOND_USD", "-1")
    with pytest.raises(ResizerError, match="RESIZER_PRICE_GB_SECOND_USD"):
        load()
