"""`slo simulate` without a server: --list-incidents, usage errors, a missing URL."""

from __future__ import annotations

import pytest

from processor.cli import main
from processor.simulate import INCIDENT_KINDS
from processor.simulate.cli import lead_over_wall_clock_ms, start_for_now

NOW_MS = 1_767_225_600_000
MIN_MS = 60_000


def test_list_incidents_describes_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert 0 == main(["simulate", "--list-incidents"])
    out = capsys.readouterr().out
    for name in INCIDENT_KINDS:
        assert f"\n{name}" in out


def test_simulate_without_a_url_says_it_needs_a_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SLO_NATS_URL", raising=False)
    monkeypatch.delenv("NATS_URL", raising=False)

    assert 1 == main(["simulate", "--fast", "--duration", "1m"])
    err = capsys.readouterr().err
    assert "needs a running processor or NATS server" in err and "--nats-url" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--incident", "latency_spike:moon@1m+1m"], "argument --incident: latency_spike: unknown target 'moon'"),
        (["--duration", "ten"], "argument --duration: expected a duration such as 30s"),
        (["--rate", "-1"], "argument --rate: expected a number above 0, got '-1'"),
        (["--start", "2026-01-05 14:00"], "argument --start: expected now or an RFC 3339 time with a zone"),
        (["--fast", "--time-scale", "10"], "argument --time-scale: not allowed with argument --fast"),
    ],
)
def test_simulate_usage_errors_name_the_argument(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["simulate", *argv])
    assert 2 == caught.value.code
    assert message in capsys.readouterr().err


def test_an_incident_after_the_end_of_the_run_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert 2 == main(["simulate", "--nats-url", "nats://127.0.0.1:1", "--duration", "5m", "--incident", "outage@6m+1m"])
    assert "argument --incident: outage starts at +360s, after the run ends (--duration 300s)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("duration_ms", "time_scale", "start_before_now_ms"),
    [
        # 20 minutes in 20 s: event time gains 59 s a second, 19 min 40 s over the run.
        pytest.param(20 * MIN_MS, 60.0, 19 * MIN_MS + 40_000, id="the README demo starts 19m40s before now"),
        pytest.param(10 * MIN_MS, 2.0, 5 * MIN_MS, id="twice real time starts half the run before now"),
        pytest.param(10 * MIN_MS, 1.0, 0, id="real time starts now"),
        pytest.param(10 * MIN_MS, 0.5, 0, id="slower than real time starts now"),
        pytest.param(60 * MIN_MS, None, 60 * MIN_MS, id="flat out, the run is a backlog of the last hour"),
    ],
)
def test_a_run_that_starts_now_ends_at_the_wall_clock_and_never_runs_ahead_of_it(
    duration_ms: int, time_scale: float | None, start_before_now_ms: int
) -> None:
    start_ms = start_for_now(NOW_MS, duration_ms, time_scale)
    assert NOW_MS - start_before_now_ms == start_ms
    assert lead_over_wall_clock_ms(start_ms, duration_ms, time_scale, NOW_MS) <= 0


def test_a_start_given_by_hand_may_run_ahead_and_says_how_far() -> None:
    # Starting now at 60x for 20 minutes: the last event (+20m) goes out 20 s after now.
    assert 19 * MIN_MS + 40_000 == lead_over_wall_clock_ms(NOW_MS, 20 * MIN_MS, 60.0, NOW_MS)
    # Flat out from an hour ago for two hours: the last event is an hour ahead when it goes out.
    assert 60 * MIN_MS == lead_over_wall_clock_ms(NOW_MS - 60 * MIN_MS, 120 * MIN_MS, None, NOW_MS)
    # Starting in ten minutes at half speed: the first event is the furthest ahead.
    assert 10 * MIN_MS == lead_over_wall_clock_ms(NOW_MS + 10 * MIN_MS, 10 * MIN_MS, 0.5, NOW_MS)
