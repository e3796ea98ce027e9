"""`slo simulate` without a server: --list-incidents, usage errors, a missing URL."""

from __future__ import annotations

import pytest

from processor.cli import main
from processor.simulate import INCIDENT_KINDS


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
