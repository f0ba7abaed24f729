"""`resizer tune`: the numbers (trimmed means, cost rows, strategies), the sample checks, and on
moto (AWS target, in-process) what happens around the invokes: sizes Lambda refuses, a failed
invoke, a paused function. The measurements themselves run on the emulator
(tests/e2e/test_e2e_tune.py)."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from PIL import Image

from resizer_cli import faults
from resizer_cli.cli.tune import parse_memory_list
from resizer_cli.errors import ResizerError
from resizer_cli.ops import tune as tn
from resizer_cli.ops import tune_sample
from resizer_cli.ops.layout import stack_layout
from resizer_cli.ops.pricing import list_price
from resizer_cli.ops.reports import Report
from resizer_cli.ops.tuning import Row, balanced_score, choose, row_of, trimmed_mean
from resizer_cli.output import Reporter

PRICE = list_price("us-east-1", "x86_64")


def test_the_trimmed_mean_drops_a_fifth_at_each_end_as_power_tuning_does() -> None:
    assert trimmed_mean([100, 1, 10, 10, 10]) == 10  # 5 runs: the lowest and highest go
    assert trimmed_mean([1, 2, 9]) == 4  # int(3 x 0.2) = 0: nothing dropped
    values = [500, 1, 2, 10, 10, 10, 10, 10, 10, 900]  # 10 runs: two at each end
    assert trimmed_mean(values) == 10
    with pytest.raises(ValueError):
        trimmed_mean([])


def _report(duration: float, *, init: float | None = None, used: float = 70) -> Report:
    billed = float(int(duration + (init or 0)) + 1)
    return Report("r", duration_ms=duration, billed_ms=billed, memory_mb=512,
                  max_memory_mb=used, init_ms=init)


def test_a_cold_start_is_reported_apart_and_not_averaged() -> None:
    reports = [_report(900.0, init=400.0, used=80), _report(100.0), _report(110.0),
               _report(120.0)]
    row = row_of(512, reports, PRICE)
    assert (row.runs, row.duration_ms, row.init_ms, row.cold_duration_ms) == (
        3, 110.0, 400.0, 900.0)
    assert row.billed_ms == 111.0 and row.max_memory_used_mb == 80
    # Cost per 1,000 images: 1,000 x (request + billed GB-seconds at the list price).
    expected = 1000 * (0.20 / 1e6 + 0.111 * 0.5 * 0.0000166667)
    assert row.cost_per_1000_usd == pytest.approx(expected)
    assert row.to_json()["cost_per_1000_usd"] == pytest.approx(expected, rel=1e-5)
    assert row_of(512, [_report(900.0, init=400.0)], PRICE).skipped


def _row(memory: int, duration: float) -> Row:
    return row_of(memory, [_report(duration)], PRICE)


def test_each_strategy_picks_its_size() -> None:
    # CPU-bound below 1,769 MB (time halves as memory doubles), flat above.
    rows = [_row(256, 1400.0), _row(512, 700.0), _row(1024, 350.0), _row(1769, 205.0),
            _row(3008, 200.0), Row(10240, skipped="Lambda refuses 10240 MB here")]
    assert choose(rows, "speed").memory_mb == 3008  # type: ignore[union-attr]
    # Equal GB-seconds below 1,769 MB but for the rounding up of billed ms: the smallest.
    cheapest = choose(rows, "cost")
    assert cheapest is not None and cheapest.memory_mb == 256
    balanced = choose(rows, "balanced")
    assert balanced is not None and balanced.memory_mb == 1769
    scores = {r.memory_mb: balanced_score(r, rows[:5]) for r in rows[:5]}
    assert min(scores, key=lambda m: scores[m]) == 1769
    assert choose([Row(512, skipped="failed")], "cost") is None


def test_memory_lists_are_parsed_within_lambdas_limits() -> None:
    assert parse_memory_list("1769, 256,512,256") == [256, 512, 1769]
    for bad in ("abc", "100", "10241", "1.5e3", ",", "512,-1"):
        with pytest.raises(typer.BadParameter):
            parse_memory_list(bad)


def test_an_image_is_checked_before_anything_changes(tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ResizerError, match="is not an image"):
        tune_sample.read_image(text)
    broken = tmp_path / "broken.png"
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(buf, "PNG")
    broken.write_bytes(buf.getvalue()[:40])
    with pytest.raises(ResizerError, match="cannot be decoded"):
        tune_sample.read_image(broken)
    with pytest.raises(ResizerError, match="cannot read"):
        tune_sample.read_image(tmp_path / "missing.jpg")
    good = tmp_path / "ok.png"
    good.write_bytes(buf.getvalue())
    sample = tune_sample.read_image(good)
    assert (sample.content_type, sample.extension) == ("image/png", ".png")
    assert "64x64" in sample.description


def _sample() -> tune_sample.Sample:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (10, 120, 200)).save(buf, "JPEG")
    return tune_sample.Sample(buf.getvalue(), "image/jpeg", "a test JPEG")


def _leftovers(target) -> list[str]:  # type: ignore[no-untyped-def]
    s3 = target.client("s3")
    names = target.names
    return [o["Key"] for b in (names.source_bucket, names.dest_bucket)
            for o in s3.list_objects_v2(Bucket=b).get("Contents", [])]


def test_on_aws_a_failed_invoke_puts_the_memory_back_and_removes_the_sample(
    stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws_target = stack  # moto with the fake stack deployed
    layout = stack_layout(aws_target)
    lam = aws_target.client("lambda")
    before = lam.get_function_configuration(FunctionName=layout.function)["MemorySize"]
    # What an earlier run, killed before it could clean up, left (old enough to be swept).
    s3 = aws_target.client("s3")
    s3.put_object(Bucket=layout.source_bucket, Key="raw/.resizer-tune/old.png", Body=b"x")
    s3.put_object(Bucket=layout.dest_bucket, Key="thumbnails/128x128/.resizer-tune/old.png",
                  Body=b"x")
    monkeypatch.setattr(tune_sample, "STALE_AFTER", timedelta(seconds=-5))
    faults.install(faults.Fault("lambda", "Invoke", code="ServiceException",
                                message="Lambda is having a bad day", status=500, times=99))
    options = tn.TuneOptions(memory=(1024, 2048), runs=2)
    with pytest.raises(Exception, match="ServiceException"):
        tn.run_tune(aws_target, layout, _sample(), options, Reporter.silent())
    after = lam.get_function_configuration(FunctionName=layout.function)["MemorySize"]
    assert after == before != 1024
    assert _leftovers(aws_target) == []


def test_on_aws_sizes_over_the_accounts_cap_are_skipped_in_one_line(stack) -> None:
    aws_target = stack
    layout = stack_layout(aws_target)
    # What a new account answers above 3,008 MB.
    faults.install(faults.Fault(
        "lambda", "UpdateFunctionConfiguration", code="InvalidParameterValueException",
        message="'MemorySize' value failed to satisfy constraint: Member must have value "
                "less than or equal to 3008", params={"MemorySize": 4096}, times=9))
    before = aws_target.client("lambda").get_function_configuration(
        FunctionName=layout.function)["MemorySize"]
    run = tn.run_tune(aws_target, layout, _sample(), tn.TuneOptions(memory=(4096,), runs=1),
                      Reporter.silent())
    (row,) = run.rows
    assert row.memory_mb == 4096 and row.skipped is not None
    assert row.skipped.startswith("Lambda refuses 4096 MB here: 'MemorySize' value failed")
    assert "\n" not in row.skipped and run.best is None and run.to_json()["best"] is None
    assert run.memory_now == before  # nothing was changed, so nothing to put back
    assert _leftovers(aws_target) == []


def test_on_aws_a_paused_function_is_one_line_before_any_change(stack) -> None:
    aws_target = stack
    layout = stack_layout(aws_target)
    lam = aws_target.client("lambda")
    lam.put_function_concurrency(FunctionName=layout.function, ReservedConcurrentExecutions=0)
    with pytest.raises(ResizerError, match=r"TooManyRequestsException.*reserved concurrency is 0"):
        tn.run_tune(aws_target, layout, _sample(), tn.TuneOptions(memory=(1024,)),
                    Reporter.silent())
    assert lam.get_function_configuration(FunctionName=layout.function)["MemorySize"] != 1024
    assert _leftovers(aws_target) == []
