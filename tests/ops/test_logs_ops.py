"""`resizer logs`: since parsing, START/END/REPORT rendering, and the follow algorithm.

The follow tests feed a scripted CloudWatch (pages, same-millisecond events, throttling, a
log group that appears late) through an injected clock and sleep; the algorithm is what is
under test. One test follows real put_log_events in moto in-process.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from rich.console import Console

from resizer_cli import faults
from resizer_cli.aws import Target
from resizer_cli.cli import main
from resizer_cli.errors import ResizerError
from resizer_cli.ops import logfmt
from resizer_cli.ops.logs import LogFollower, LogGroupMissing, parse_since
from resizer_cli.settings import Settings

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)

# --- --since -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds_ago"),
    [("10m", 600), ("2h", 7200), ("1d", 86400), ("30s", 30), ("1h30m", 5400), ("1w", 604800),
     (" 5M ", 300), ("0m", 0)],
)
def test_since_durations(text: str, seconds_ago: int) -> None:
    assert parse_since(text, NOW) == NOW_MS - seconds_ago * 1000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T11:00:00Z", NOW_MS - 3_600_000),
        ("2026-11-28T11:00:00+00:00", NOW_MS - 3_600_000),
        ("2026-11-28T13:00:00+02:00", NOW_MS - 3_600_000),
        ("2026-11-28T11:00:00", NOW_MS - 3_600_000),  # no zone: UTC
        ("2026-11-28", NOW_MS - 12 * 3_600_000),
    ],
)
def test_since_iso(text: str, expected: int) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "10", "10x", "-5m", "m10", "2026-13-01",
                                  "0", "1e3"])
def test_since_bad_values_are_errors_never_the_epoch(text: str) -> None:
    with pytest.raises(ResizerError, match="cannot read --since") as err:
        parse_since(text, NOW)
    assert "10m" in (err.value.hint or "")


# --- formatting --------------------------------------------------------------------------------

RID = "8f5c1b2a-1111-2222-3333-444455556666"
REPORT = (f"REPORT RequestId: {RID}\tDuration: 102.25 ms\tBilled Duration: 103 ms\t"
          "Memory Size: 512 MB\tMax Memory Used: 81 MB\tInit Duration: 145.10 ms\t\n")


def _event(message: str, ts: int = NOW_MS, eid: str = "e1") -> dict[str, Any]:
    return {"timestamp": ts, "message": message, "eventId": eid, "logStreamName": "2026/11/28/x"}


def test_classify_lambda_lines() -> None:
    assert logfmt.classify(f"START RequestId: {RID} Version: $LATEST\n") == {
        "type": "start", "request_id": RID, "version": "$LATEST"}
    assert logfmt.classify(f"END RequestId: {RID}\n") == {"type": "end", "request_id": RID}
    assert logfmt.classify(REPORT) == {
        "type": "report", "request_id": RID, "duration_ms": 102.25, "billed_ms": 103,
        "memory_mb": 512, "max_memory_mb": 81, "init_ms": 145.1}
    assert logfmt.classify('{"status": "ok"}')["type"] == "log"


def _plain(text: Any) -> str:
    console = Console(width=400, color_system=None, force_terminal=False)
    with console.capture() as cap:
        console.print(text)
    return cap.get().rstrip("\n")


def test_render_short_and_detailed() -> None:
    short = logfmt.render(_event(REPORT))
    assert _plain(short) == ("12:00:00.000  ● REPORT 8f5c1b2a  duration 102.25 ms "
                             "(billed 103 ms)  memory 81/512 MB  init 145.10 ms")
    # Duration and memory carry a style of their own (rich drops it when not a terminal).
    styled = {short.plain[s.start:s.end]: str(s.style) for s in short.spans}
    assert "bold" in styled["102.25 ms"] and "bold" in styled["81/512 MB"]
    start = _plain(logfmt.render(_event(f"START RequestId: {RID} Version: $LATEST"), "detailed"))
    assert start == f"2026-11-28T12:00:00.000Z 2026/11/28/x  ▶ START {RID} $LATEST"
    assert _plain(logfmt.render(_event(f"END RequestId: {RID}"))).endswith("■ END 8f5c1b2a")
    # A message with brackets is printed as written, not read as markup.
    assert _plain(logfmt.render(_event("[bold]x[/bold] done"))).endswith("[bold]x[/bold] done")


def test_handler_json_lines_are_condensed_in_short_format_only() -> None:
    ok = json.dumps({"level": "info", "event": "thumbnails", "key": "raw/a b.jpg", "width": 800,
                     "height": 600, "outputs": [{"width": 128, "height": 96},
                                                {"width": 512, "height": 384}], "ms": 41})
    assert _plain(logfmt.render(_event(ok))).endswith(
        "thumbnails raw/a b.jpg 800x600 → 128x96, 512x384 (41 ms)")
    bad = json.dumps({"level": "error", "event": "rejected", "key": "raw/x.jpg",
                      "error": "corrupt", "reason": "truncated"})
    assert _plain(logfmt.render(_event(bad))).endswith("rejected raw/x.jpg corrupt: truncated")
    assert _plain(logfmt.render(_event(ok), "detailed")).endswith(ok)
    assert _plain(logfmt.render(_event('{"not": "ours"}'))).endswith('{"not": "ours"}')


def test_json_format() -> None:
    doc = logfmt.to_json(_event(REPORT, eid="42"))
    assert doc["time"] == "2026-11-28T12:00:00.000Z" and doc["event_id"] == "42"
    assert doc["type"] == "report" and doc["duration_ms"] == 102.25
    assert doc["stream"] == "2026/11/28/x" and not doc["message"].endswith("\n")
    json.dumps(doc)


# --- a scripted CloudWatch -----------------------------------------------------------------------


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "FilterLogEvents")


class ScriptedLogs:
    """filter_log_events over events that become visible round by round.

    Pages hold `page_size` events, streams interleaved (not globally sorted), like the real
    API. `rounds` advances each time the follower sleeps a normal poll interval.
    """

    def __init__(self, arrivals: list[list[dict[str, Any]]], page_size: int = 2) -> None:
        self.arrivals = arrivals
        self.page_size = page_size
        self.round = 0
        self.calls: list[dict[str, Any]] = []
        self.errors: list[ClientError] = []

    def visible(self) -> list[dict[str, Any]]:
        return [e for batch in self.arrivals[: self.round + 1] for e in batch]

    def filter_log_events(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(kw)
        if self.errors:
            raise self.errors.pop(0)
        events = [e for e in self.visible() if e["timestamp"] >= kw["startTime"]]
        # Interleave by stream: all of stream A, then B (as moto and the API may).
        events.sort(key=lambda e: (e["logStreamName"], e["timestamp"]))
        start = int(kw.get("nextToken") or 0)
        page = events[start: start + self.page_size]
        out: dict[str, Any] = {"events": page}
        if start + self.page_size < len(events):
            out["nextToken"] = str(start + self.page_size)
        return out


def _follow(client: ScriptedLogs, rounds: int, *, start: int = 0,
            sleeps: list[float] | None = None, on_missing: Callable[[], None] | None = None,
            ) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = []
    sleeps = sleeps if sleeps is not None else []
    clock = [0.0]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds
        if seconds <= 1.0:
            client.round += 1

    follower = LogFollower(client, "/aws/lambda/f", start, sleep=sleep, clock=lambda: clock[0])
    follower.follow(shown.append, on_missing, should_stop=lambda: client.round >= rounds)
    return shown


def _ev(eid: str, ts: int, stream: str = "a") -> dict[str, Any]:
    return {"eventId": eid, "timestamp": ts, "message": f"m{eid}", "logStreamName": stream}


def test_follow_same_millisecond_events_across_polls_and_pages() -> None:
    arrivals = [
        [_ev("1", 100), _ev("2", 100, "b"), _ev("3", 101)],
        [_ev("4", 101, "b"), _ev("5", 101)],  # same ms as the newest already shown
        [],
        [_ev("6", 101, "c"), _ev("7", 105), _ev("8", 105, "b"), _ev("9", 105, "c")],
        [_ev("10", 105)],
    ]
    client = ScriptedLogs(arrivals, page_size=2)
    shown = _follow(client, rounds=len(arrivals))
    ids = [e["eventId"] for e in shown]
    assert sorted(ids, key=int) == [str(i) for i in range(1, 11)]
    assert len(ids) == len(set(ids))
    stamps = [e["timestamp"] for e in shown]
    assert stamps == sorted(stamps)  # each pass is printed in time order across streams
    # Each pass re-reads a trailing window before the newest event shown (never newest + 1).
    starts = [c["startTime"] for c in client.calls if "nextToken" not in c]
    assert starts[0] == 0 and all(s <= 101 for s in starts)
    assert any("nextToken" in c for c in client.calls)  # pages were followed


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3), st.sampled_from("abc")),
                min_size=1, max_size=30),
       st.integers(1, 4))
def test_follow_shows_every_event_exactly_once(spec: list[tuple[int, int, str]],
                                               page_size: int) -> None:
    # Events arrive in timestamp order (ingestion may split one millisecond across polls).
    ts = 1000
    rounds: list[list[dict[str, Any]]] = [[] for _ in range(5)]
    arrival = 0
    for n, (gap, later, stream) in enumerate(spec):
        ts += gap
        arrival = min(4, arrival + (1 if later == 0 else 0))
        rounds[arrival].append(_ev(str(n), ts, stream))
    shown = _follow(ScriptedLogs(rounds, page_size), rounds=6)
    ids = [e["eventId"] for e in shown]
    assert sorted(ids, key=int) == [str(n) for n in range(len(spec))]


def test_follow_keeps_only_the_ids_inside_the_trailing_window() -> None:
    client = ScriptedLogs([[_ev(str(i), 1000 * i) for i in range(50)]], page_size=7)
    follower = LogFollower(client, "g", 0, sleep=lambda s: None, trailing_ms=10_000)
    assert len(list(follower.fetch())) == 50
    assert follower.newest_ms == 49_000
    assert follower.window_start() == 39_000
    assert set(follower.seen) == {str(i) for i in range(39, 50)}  # memory stays bounded
    assert list(follower.fetch()) == []  # nothing new, nothing repeated
    assert client.calls[-1]["startTime"] == 39_000


def test_a_late_event_with_an_earlier_timestamp_is_still_shown_once() -> None:
    # CloudWatch ingests late: an event of stream b stamped 5 s before the newest event
    # shown arrives a poll later. Starting at the newest timestamp would lose it forever.
    arrivals = [
        [_ev("1", 100_000), _ev("2", 110_000)],
        [_ev("late", 105_000, "b")],
        [_ev("3", 111_000)],
        [_ev("too-late", 50_000, "c")],  # older than the trailing window: beyond recovery
    ]
    client = ScriptedLogs(arrivals, page_size=10)
    shown = _follow(client, rounds=len(arrivals))
    ids = [e["eventId"] for e in shown]
    assert ids == ["1", "2", "late", "3"]
    assert len(ids) == len(set(ids))


def test_throttling_backs_off_exponentially_then_returns_to_one_second() -> None:
    client = ScriptedLogs([[_ev("1", 100)], [_ev("2", 101)], []], page_size=5)
    client.errors = [_client_error("ThrottlingException") for _ in range(5)]
    sleeps: list[float] = []
    shown = _follow(client, rounds=3, sleeps=sleeps)
    assert [e["eventId"] for e in shown] == ["1", "2"]
    assert sleeps[:5] == [2.0, 4.0, 8.0, 10.0, 10.0]
    assert all(s <= 1.0 for s in sleeps[5:]) and len(sleeps) > 5


def test_missing_log_group_means_no_invocations_yet_and_follow_keeps_waiting() -> None:
    client = ScriptedLogs([[], [], [_ev("1", 100)], []])
    client.errors = [_client_error("ResourceNotFoundException") for _ in range(2)]
    notices: list[str] = []
    shown = _follow(client, rounds=4, on_missing=lambda: notices.append("none yet"))
    assert notices == ["none yet"]  # said once, not every second
    assert [e["eventId"] for e in shown] == ["1"]


def test_one_shot_fetch_on_a_missing_group_raises_log_group_missing() -> None:
    client = ScriptedLogs([[]])
    client.errors = [_client_error("ResourceNotFoundException")]
    with pytest.raises(LogGroupMissing):
        list(LogFollower(client, "g", 0).fetch())


def test_other_errors_propagate() -> None:
    client = ScriptedLogs([[]])
    client.errors = [_client_error("AccessDeniedException")]
    with pytest.raises(ClientError):
        list(LogFollower(client, "g", 0).fetch())


# --- real CloudWatch Logs (moto in-process) ------------------------------------------------------


def test_follow_against_moto_with_real_put_log_events() -> None:
    with mock_aws():
        target = Target(Settings(stack="logt", target="aws"))
        logs = target.client("logs")
        group = target.names.log_group
        logs.create_log_group(logGroupName=group)
        for stream in ("s1", "s2"):
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        base = NOW_MS
        batches = [
            [("s1", base, f"START RequestId: {RID} Version: $LATEST"), ("s2", base, "x1"),
             ("s1", base + 1, "y1")],
            [("s2", base + 1, "same ms, later"), ("s1", base + 1, "again same ms")],
            [("s1", base + 7, REPORT)],
        ]
        put = iter(batches)
        rounds = [0]

        def put_next() -> None:
            for stream, ts, msg in next(put, []):
                logs.put_log_events(logGroupName=group, logStreamName=stream,
                                    logEvents=[{"timestamp": ts, "message": msg}])

        def sleep(_: float) -> None:
            rounds[0] += 1
            put_next()

        put_next()
        shown: list[dict[str, Any]] = []
        follower = LogFollower(logs, group, base - 1000, sleep=sleep)
        follower.follow(shown.append, should_stop=lambda: rounds[0] >= 4)
        messages = [e["message"] for e in shown]
        assert sorted(messages) == sorted(m for b in batches for _, _, m in b)
        assert len({e["eventId"] for e in shown}) == len(shown)


def _stack_on_moto(target: Target) -> None:
    names = target.names
    s3 = target.client("s3")
    s3.create_bucket(Bucket=names.source_bucket)
    s3.create_bucket(Bucket=names.dest_bucket)
    role = target.client("iam").create_role(
        RoleName=names.role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17",
                                                                   "Statement": []}))
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("h.py", "def handler(e, c):\n    return 1\n")
    target.client("lambda").create_function(
        FunctionName=names.function, Runtime="python3.12", Role=role["Role"]["Arn"],
        Handler="h.handler", Code={"ZipFile": buf.getvalue()})


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_logs_no_invocations_json_and_ctrl_c(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESIZER_TARGET", "aws")
    monkeypatch.setenv("RESIZER_STACK", "clit")
    with mock_aws():
        code, _, err = _cli(["logs"], capsys)
        assert code == 3 and "resizer setup" in err and "Traceback" not in err
        target = Target(Settings(stack="clit", target="aws"))
        _stack_on_moto(target)
        code, out, err = _cli(["logs"], capsys)
        assert code == 0 and "no invocations yet" in err and out == ""
        logs = target.client("logs")
        group = target.names.log_group
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
        now = int(datetime.now(UTC).timestamp() * 1000)
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
            {"timestamp": now - 1000, "message": REPORT}, {"timestamp": now, "message": "hi"}])
        code, out, _ = _cli(["logs", "--format", "json"], capsys)
        docs = [json.loads(line) for line in out.splitlines()]
        assert code == 0 and [d["type"] for d in docs] == ["report", "log"]
        code, out, _ = _cli(["logs", "--since", "1d", "--filter", "hi"], capsys)
        assert code == 0 and out.strip().endswith("  hi") and "REPORT" not in out
        # Ctrl-C while following: a clean exit 0, no traceback.
        faults.install(faults.Fault("logs", "FilterLogEvents", kind="interrupt", after=1))
        code, out, err = _cli(["logs", "--follow", "--format", "short"], capsys)
        assert code == 0 and "Traceback" not in err and "REPORT" in out
        code, _, err = _cli(["logs", "--format", "xml"], capsys)
        assert code == 1 and "unknown --format" in err
