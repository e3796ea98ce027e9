"""The incident catalogue of processor/simulate: defaults, the --incident syntax, validation."""

from __future__ import annotations

import pytest

from processor.simulate import INCIDENT_KINDS, Incident, IncidentRequest, Simulator, format_incident_kinds, parse_incident
from tests.simkit import MIN, T0


def test_every_kind_has_an_effect_and_valid_defaults() -> None:
    for name, kind in INCIDENT_KINDS.items():
        incident = Incident(name, T0, MIN)
        assert incident.target == kind.default_target
        assert incident.magnitude == (None if kind.magnitude is None else kind.magnitude.default)
        assert name in format_incident_kinds()


def test_incident_requests_parse_offsets_targets_and_magnitudes() -> None:
    assert IncidentRequest("latency_spike", 2 * MIN, 5 * MIN, "gateway") == parse_incident("latency_spike:gateway@2m+5m")
    assert IncidentRequest("outage", 90_000, 10 * MIN, "gateway", 0.01) == parse_incident("outage:gateway=0.01@1m30s+10m")
    assert IncidentRequest("snapshot_gap", 0, 3 * MIN) == parse_incident("snapshot_gap@0+3m")
    incident = parse_incident("stale_quotes:aapl@1m+1m").at(T0)
    assert (T0 + MIN, T0 + 2 * MIN, "AAPL") == (incident.start_ms, incident.end_ms, incident.target)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("latency_spike@2m", "expected KIND[:TARGET][=MAGNITUDE]@OFFSET+DURATION"),
        ("nope@1m+1m", "unknown incident kind 'nope'"),
        ("latency_spike:moon@1m+1m", "unknown target 'moon'; expected one of gateway,"),
        ("snapshot_gap:x@1m+1m", "snapshot_gap takes no target"),
        ("snapshot_gap=2@1m+1m", "snapshot_gap takes no magnitude"),
        ("outage=1.5@1m+1m", "must be above 0 and at most 1, got 1.5"),
        ("position_mismatch=1.5@1m+1m", "must be a whole number above 0"),
        ("outage=lots@1m+1m", "magnitude in 'outage=lots@1m+1m' must be a number"),
        ("outage@1x+1m", "offset in 'outage@1x+1m'"),
        ("outage@1m+0", "duration in 'outage@1m+0' must be more than 0"),
    ],
)
def test_bad_incident_requests_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        parse_incident(text)
    assert message in str(caught.value)


def test_incidents_and_simulators_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match="duration_ms must be a positive integer"):
        Incident("outage", T0, 0)
    with pytest.raises(ValueError, match="rate must be a positive number"):
        Simulator(T0, rate=0)
    with pytest.raises(ValueError, match="start_ms must be"):
        Simulator(float(T0))  # type: ignore[arg-type]
