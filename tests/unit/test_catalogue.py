"""Every alert of config/slo.yaml fires and resolves on the synthetic platform's incidents, at the
times a brute-force reference computes from the raw events (tests/reference.py)."""

from __future__ import annotations

import pytest

from tests import catalogue


@pytest.fixture(scope="module")
def rows():
    return catalogue.engine_rows()


def test_the_engine_agrees_with_the_reference_on_every_transition_of_every_driven_rule(rows):
    engine, _ = rows
    expected = catalogue.expected_rows()
    assert expected == engine


def test_every_alert_of_the_catalogue_fires_and_resolves(rows):
    engine, _ = rows
    driven = {(r.name, r.severity) for r in catalogue.spec().alerts if r.name not in catalogue.NOT_DRIVEN}
    fired = {(row[0], row[1]) for row in engine if row[3] == "firing"}
    resolved = {(row[0], row[1]) for row in engine if row[3] == "resolved"}
    assert set() == driven - fired
    assert set() == driven - resolved


def test_alert_actions_reach_their_services(rows):
    _, actions = rows
    got = {(a.alertname, a.action) for a in actions if hasattr(a, "alertname")}
    assert {
        ("AiDailyTokenBudgetExceeded", "switch to cheaper model"),
        ("AiRequestCostHigh", "use cached reasoning"),
        ("AiMonthlyCostHigh", "alert and review"),
        ("ScaleCpuHigh", "add replica"),
        ("ScaleMemoryHigh", "increase limits"),
        ("ScaleRequestQueueHigh", "add replica"),
        ("ScaleDatabaseConnectionsHigh", "increase pool"),
    } <= got


def bus_events():
    """Measurements as the bus monitor publishes them, every 5 s for 15 minutes: the consumer
    lags 600 behind from 2 to 4 min, one probe publish fails at 5 min, the TRADE stream does not
    answer from 6 min for 30 s."""
    import orjson

    out = []
    start = catalogue.START_MS
    for i in range(0, 180):
        ts = start + i * 5000
        t_s = i * 5
        out.append(("bus.probe.delivery", {"ts": ts, "probe_id": f"p{i}", "delivered": True, "delay_ms": 1.0}))
        failed = t_s == 300
        out.append(("bus.publish.probe", {"ts": ts, "latency_ms": 2.0, "status": "error" if failed else "ok",
                                          "stream": "SLO", **({"error": "no PubAck"} if failed else {})}))
        for stream in ("MARKET", "TRADE", "AI", "ANALYTICS", "SLO"):
            down = stream == "TRADE" and 360 <= t_s < 390
            out.append(("bus.stream.status", {"ts": ts, "stream": stream, "state": "down" if down else "up"}))
        pending = 600 if 120 <= t_s < 240 else 3
        out.append(("bus.consumer.lag", {"ts": ts, "stream": "ANALYTICS", "consumer": "slo_analytics",
                                         "pending": pending, "ack_pending": 0}))
    return [(s, orjson.dumps(p)) for s, p in out]


def test_bus_rules_fire_and_resolve_on_the_monitor_measurements_as_the_reference_computes():
    from processor.engine import Engine
    from processor.service import BUS_LANE, partition_spec
    from tests import reference

    part = partition_spec(catalogue.spec(), catalogue.definitions())[0][BUS_LANE]
    events = bus_events()
    engine = Engine(part)
    out = engine.ingest([catalogue._Msg(s, d) for s, d in events])
    got = sorted(catalogue.alert_row(a) for a in out.alerts if a.label_map["alertname"] != "ErrorBudgetBurn")
    decoded = reference.decode(events)
    res, lateness = part.defaults.resolution_ms, part.defaults.allowed_lateness_ms
    origin = (decoded[0][1]["ts"] - lateness) // res * res
    last = (decoded[-1][1]["ts"] - lateness) // res * res
    expected = []
    for rule in part.alerts:
        for e in reference.expected_alerts(part, rule, decoded, range(origin + res, last + res, res), origin):
            expected.append((e.alertname, e.severity, e.labels, e.status, e.active_at_ms, e.starts_at_ms, e.ends_at_ms))
    assert sorted(expected) == got
    transitions = {(row[0], row[1], row[3]) for row in got}
    for name, severity in [("BusConsumerLagHigh", "warning"), ("BusConsumerLagHigh", "critical"),
                           ("BusPublishFailed", "critical"), ("BusStreamUnavailable", "critical")]:
        assert {(name, severity, "firing"), (name, severity, "resolved")} <= transitions
