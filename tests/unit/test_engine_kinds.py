"""Hand-worked timelines for the catalogue's SLI kinds: gauges, state durations, absence,
count-based "for", correlations with timeouts, calendar sums with actions, cardinality caps.
Resolution 10 s; lateness 0 unless stated, so a sub-window closes as soon as an event (or an
advance) reaches its end."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from processor.kinds import sli_config
from processor.engine import Engine, run_all
from tests.enginekit import T0_MS, Msg, event, rule, sli, spec_of

S = 1000


def at(t_s: float) -> int:
    return T0_MS + int(t_s * S)


def rows(out):
    return [
        (a.label_map["alertname"], a.status, (a.starts_at_ms - T0_MS) // S,
         None if a.ends_at_ms is None else (a.ends_at_ms - T0_MS) // S)
        for a in out.alerts
    ]


def run(slis, rules, events, until_s, lateness_ms=0, slos=()):
    engine = Engine(spec_of(slis, rules, lateness_ms=lateness_ms, slos=slos))
    return run_all(engine, [events], at(until_s)), engine


def test_a_gauge_over_its_threshold_for_a_minute_fires_and_resolves_on_the_last_value():
    # Consumer lag reported every 10 s: 10 until 100 s, 80 from 100 s to 300 s, then 10.
    # "last > 50 for 1m" over a 10 s window: holds from boundary 110 (the report at 100 s)
    # -> pending 110, firing 170; the report at 300 s brings it down: boundary 310 resolves.
    lag = sli("lag", "gauge", "bus.consumer.lag", value_field="pending")
    events = [event("bus.consumer.lag", at(t), pending=80 if 100 <= t < 300 else 10) for t in range(0, 400, 10)]
    out, _ = run([lag], [rule("Lag", "lag", "last", ">", 50, for_ms=60_000)], events, 400)
    assert [("Lag", "firing", 170, None), ("Lag", "resolved", 170, 310)] == rows(out)


def test_all_providers_down_for_more_than_a_minute_counts_from_the_last_one_going_down():
    # alpaca down at 100 s, finnhub down at 105 s: all down since 105. bad_for > 60 s first at
    # boundary 170 (65 s). alpaca back at 300 s: boundary 310 sees bad_for 0 -> resolved.
    providers = sli("providers", "state", "market.provider.status", entity_field="provider",
                    state_field="state", bad_states=("down",), bad_when="all")
    events = [
        event("market.provider.status", at(0), provider="alpaca", state="up"),
        event("market.provider.status", at(1), provider="finnhub", state="up"),
        event("market.provider.status", at(100), provider="alpaca", state="down"),
        event("market.provider.status", at(105), provider="finnhub", state="down"),
        event("market.provider.status", at(300), provider="alpaca", state="up"),
    ]
    out, _ = run([providers], [rule("AllDown", "providers", "bad_for", ">", 60_000)], events, 400)
    assert [("AllDown", "firing", 170, None), ("AllDown", "resolved", 170, 310)] == rows(out)


def test_one_provider_down_is_not_all_down_but_is_a_per_entity_outage_with_labels():
    broker = sli("broker", "state", "trade.broker.status", entity_field="broker", state_field="state",
                 bad_states=("down",), labels=("broker",))
    events = [event("trade.broker.status", at(0), broker="alpaca", state="up"),
              event("trade.broker.status", at(20), broker="alpaca", state="down"),
              event("trade.broker.status", at(95), broker="alpaca", state="up")]
    # Down from 20 s: bad_for > 30 s first at boundary 60 (40 s); up at 95: boundary 100 resolves.
    out, _ = run([broker], [rule("BrokerLost", "broker", "bad_for", ">", 30_000)], events, 200)
    assert [("BrokerLost", "firing", 60, None), ("BrokerLost", "resolved", 60, 100)] == rows(out)
    assert "alpaca" == out.alerts[0].label_map["broker"]


def test_a_snapshot_gap_is_the_time_since_the_last_snapshot_even_with_no_events_at_all():
    # Snapshots every 60 s up to 300 s, then none. since_last > 2m: at boundary t the gap is
    # t - 300; > 120 s first at 430. A snapshot at 600 s ends it: boundary 610 resolves.
    snaps = sli("snapshots", "events", "analytics.snapshot")
    events = [event("analytics.snapshot", at(t)) for t in range(0, 301, 60)] + [event("analytics.snapshot", at(600))]
    out, _ = run([snaps], [rule("SnapshotGap", "snapshots", "since_last", ">", 120_000)], events, 700)
    assert [("SnapshotGap", "firing", 430, None), ("SnapshotGap", "resolved", 430, 610)] == rows(out)


def test_p95_over_90s_for_3_cycles_fires_on_the_third_slow_cycle():
    # A cycle every 60 s (at 0, 60, ...), 30 s long, 100 s from the one at 300 s on; window 10m.
    # p95 of n values is the floor(0.95 * (n - 1))-th smallest (0-based). Boundary 310: 5 fast +
    # 1 slow, index 4 -> fast. Boundary 370: 5 fast + 2 slow, index 5 -> slow: pending, counting
    # the cycle at 360 (1); the cycle at 420 (2) closes at 430, the one at 480 (3) at 490 -> fires.
    cycles = sli("cycles", "latency", "trade.cycle.completed", value_field="duration_ms")
    events = [event("trade.cycle.completed", at(t), duration_ms=100_000 if t >= 300 else 30_000)
              for t in range(0, 600, 60)]
    spec_rule = rule("CycleSlow", "cycles", "quantile", ">", 90_000, q=0.95, window_ms=600_000, for_events=3)
    out, _ = run([cycles], [spec_rule], events, 600)
    assert [("CycleSlow", "firing", 490, None)] == rows(out)


def saga_sli():
    return sli("sagas", "correlation", "trade.saga.>", labels=("saga_type",), correlation=dict(
        id_field="saga_id", start='_subject == "trade.saga.started"', end='_subject == "trade.saga.completed"',
        fail='_subject == "trade.saga.failed"', timeout_by_field="saga_type",
        timeouts_ms=(("order_execution", 60_000), ("portfolio_rebalance", 300_000))))


def test_a_saga_without_completion_within_its_timeout_counts_as_failed_when_the_deadline_passes():
    # s1 order_execution starts at 10 s, completes at 50 s: good. s2 starts at 20 s and never
    # completes: deadline 80 s, counted bad in [80, 90) -> bad_count > 0 fires at boundary 90 and
    # resolves at 100 (window 10 s). s3 rebalance starts at 30 s (timeout 300 s): open at the end.
    events = [
        event("trade.saga.started", at(10), saga_id="s1", saga_type="order_execution"),
        event("trade.saga.started", at(20), saga_id="s2", saga_type="order_execution"),
        event("trade.saga.started", at(30), saga_id="s3", saga_type="portfolio_rebalance"),
        event("trade.saga.completed", at(50), saga_id="s1", saga_type="order_execution"),
    ]
    out, engine = run([saga_sli()], [rule("SagaFailed", "sagas", "bad_count", ">", 0)], events, 200)
    assert [("SagaFailed", "firing", 90, None), ("SagaFailed", "resolved", 90, 100)] == rows(out)
    assert ("order_execution",) == tuple(v for k, v in out.alerts[0].labels if k == "saga_type")
    assert ["s3"] == list(engine.snapshot()["slis"]["sagas"]["correlations"]["open"][0][:1])


def test_a_failed_saga_is_bad_at_once_and_open_correlations_survive_a_restart():
    events = [
        event("trade.saga.started", at(10), saga_id="a", saga_type="order_execution"),
        event("trade.saga.failed", at(15), saga_id="a", saga_type="order_execution"),
        event("trade.saga.started", at(40), saga_id="b", saga_type="order_execution"),
    ]
    engine = Engine(spec_of([saga_sli()], [rule("SagaFailed", "sagas", "bad_count", ">", 0)], lateness_ms=0))
    first = run_all(engine, [events])
    again = Engine(spec_of([saga_sli()], [rule("SagaFailed", "sagas", "bad_count", ">", 0)], lateness_ms=0))
    again.restore_bytes(engine.snapshot_bytes())
    second = run_all(again, [], at(200))
    # a: failed at 15 -> firing at boundary 20, resolved at 30. b: deadline 100 -> bad in
    # [100, 110) after the restart -> firing at 110, resolved at 120.
    assert [("SagaFailed", "firing", 20, None), ("SagaFailed", "resolved", 20, 30)] == rows(first)
    assert [("SagaFailed", "firing", 110, None), ("SagaFailed", "resolved", 110, 120)] == rows(second)


def test_reconnection_time_is_the_duration_from_disconnected_to_connected():
    reconnect = sli("reconnect", "correlation", "market.stream.status", correlation=dict(
        id_field="stream", start='state == "disconnected"', end='state == "connected"', output="duration"))
    events = [event("market.stream.status", at(100), stream="alpaca-ws", state="disconnected"),
              event("market.stream.status", at(107.5), stream="alpaca-ws", state="connected")]
    # 7.5 s > 5 s: the max over the window is the single duration (within the sketch's 1 %).
    out, _ = run([reconnect], [rule("SlowReconnect", "reconnect", "quantile", ">", 5000, q=1.0)], events, 200)
    assert [("SlowReconnect", "firing", 110, None), ("SlowReconnect", "resolved", 110, 120)] == rows(out)
    assert abs(out.alerts[0].value - 7500) <= 75


def test_a_daily_cost_sum_fires_its_action_and_resets_at_midnight():
    # $1 per decision every 10 s from 23:50 UTC: the 51st ($51 > $50) is at 23:58:20, so the
    # boundary 23:58:30 fires with the action. Midnight starts a new day: the sum is back to
    # $1 at boundary 00:00:10 -> resolved.

    start = int(datetime(2026, 11, 27, 23, 50, tzinfo=UTC).timestamp() * 1000)
    cost = sli("cost", "gauge", "ai.decision.generated", value_field="cost_usd")
    events = [event("ai.decision.generated", start + i * 10_000, cost_usd=1.0) for i in range(70)]
    spec_rule = rule("DailyCost", "cost", "sum", ">", 50, calendar="day", action="switch to cheaper model")
    out = run_all(Engine(spec_of([cost], [spec_rule], lateness_ms=0)), [events], start + 800_000)
    times = [((a.starts_at_ms - start) // S, a.status) for a in out.alerts]
    assert [(510, "firing"), (510, "resolved")] == times
    assert 610 == (out.alerts[1].ends_at_ms - start) // S
    assert [("switch to cheaper model", 51.0)] == [(a.action, a.value) for a in out.actions]


def test_a_calendar_count_of_a_ratio_sli_counts_the_days_events():
    # 7 requests at 23:59:00..23:59:06, then 2 after midnight. "count > 5 today" holds from the
    # boundary that closes the sub-window holding the 6th (23:59:10) and resolves when the day
    # turns: the new day's sum starts at its first sub-window (00:00:10 closes 2 events).
    start = int(datetime(2026, 11, 27, 23, 59, tzinfo=UTC).timestamp() * 1000)
    requests = sli("req", "ratio", "svc.req", good='status == "ok"')
    events = [event("svc.req", start + i * 1_000, status="ok") for i in range(7)]
    events += [event("svc.req", start + 60_000 + i * 1_000, status="ok") for i in range(2)]
    spec_rule = rule("Busy", "req", "count", ">", 5, calendar="day")
    out = run_all(Engine(spec_of([requests], [spec_rule], lateness_ms=0)), [events], start + 90_000)
    assert [(10, "firing", 7.0), (70, "resolved", 2.0)] == [
        ((a.evaluated_at_ms - start) // S, a.status, a.value) for a in out.alerts
    ]


def test_a_version_1_snapshot_with_calendar_sums_restores_and_goes_on_alike():
    # Version 1 wrote a calendar sum as [labels, end, gauge, good, total]; version 2 as the bucket.
    start = int(datetime(2026, 11, 27, 23, 50, tzinfo=UTC).timestamp() * 1000)
    cost = sli("cost", "gauge", "ai.decision.generated", value_field="cost_usd")
    config = spec_of([cost], [rule("DailyCost", "cost", "sum", ">", 50, calendar="day")], lateness_ms=0)
    first = [event("ai.decision.generated", start + i * 10_000, cost_usd=1.0) for i in range(30)]
    later = [event("ai.decision.generated", start + (30 + i) * 10_000, cost_usd=1.0) for i in range(30)]
    original = Engine(config)
    run_all(original, [first])
    v1 = original.snapshot()
    v1["version"] = 1
    for saved in v1["rules"].values():
        saved["calendar"] = [[labels, end, gauge, 0, 0] for labels, end, gauge in saved["calendar"]]
    restored = Engine(config)
    assert [] == restored.restore(v1)
    expected, actual = run_all(original, [later]), run_all(restored, [later])
    assert [(a.status, a.value) for a in expected.alerts] == [(a.status, a.value) for a in actual.alerts]
    assert [("firing", 51.0)] == [(a.status, a.value) for a in actual.alerts]


def test_label_sets_past_the_cardinality_cap_share_one_overflow_series_and_are_counted():
    quotes = sli("quotes", "events", "market.quote.>", labels=("symbol",), max_series=2)
    events = [event("market.quote.x", at(1), symbol=s) for s in ("AAPL", "MSFT", "TSLA", "NVDA", "AAPL")]
    _, engine = run([quotes], [], events, 5)
    assert {("AAPL",), ("MSFT",), ("__overflow__",)} == engine.series_labels(engine.config.slis[0].name)
    assert {"quotes": 2} == engine.overflow_counts()


def test_past_the_cardinality_cap_an_alert_fires_and_resolves_once_the_overflow_series_is_quiet():
    # max_series 2: AAPL and MSFT get series, TSLA (at 3 s) and NVDA (at 4 s) go to the overflow
    # series. Boundary 10 closes [0, 10): the 1 m window holds 2 overflow events -> firing. The
    # last overflow event leaves the window [t - 60, t) at boundary 70 -> resolved.
    quotes = sli("quotes", "events", "market.quote.>", labels=("symbol",), max_series=2)
    events = [event("market.quote.x", at(i + 1), symbol=s) for i, s in enumerate(("AAPL", "MSFT", "TSLA", "NVDA"))]
    engine = Engine(spec_of([quotes], [], lateness_ms=0))
    out = run_all(engine, [events])
    twin = Engine(spec_of([quotes], [], lateness_ms=0))
    out.extend(engine.advance(at(30)))
    assert [] == twin.restore(engine.snapshot())
    out.extend(engine.advance(at(100)))
    rest = twin.advance(at(100))
    assert [("SliCardinalityOverflow", "firing", 10, 2.0), ("SliCardinalityOverflow", "resolved", 70, None)] == [
        (a.label_map["alertname"], a.status, (a.evaluated_at_ms - T0_MS) // S, a.value) for a in out.alerts
    ]
    assert ("warning", "__overflow__") == (out.alerts[0].label_map["severity"], out.alerts[0].label_map["symbol"])
    assert [a.transition_id for a in out.alerts[1:]] == [a.transition_id for a in rest.alerts]


def test_the_subject_is_readable_by_predicates_only_as_the_pseudo_field():
    starts = sli("starts", "events", "trade.saga.>", where='_subject == "trade.saga.started"')
    out, _ = run([starts], [], [Msg("trade.saga.started", b'{"ts": %d}' % at(1)),
                                Msg("trade.saga.completed", b'{"ts": %d}' % at(2))], 5)
    assert (1, 1) == (out.accepted, out.ignored)


def test_an_older_state_report_arriving_late_does_not_undo_a_newer_one():
    # "down at 14 s" arrives before "up at 11 s" (3 s apart, lateness 5 s): the newer says down.
    # Down since 14: bad_for > 10 s first at boundary 30 (16 s).
    broker = sli("broker", "state", "trade.broker.status", entity_field="broker", state_field="state",
                 bad_states=("down",))
    events = [event("trade.broker.status", at(0), broker="alpaca", state="up"),
              event("trade.broker.status", at(14), broker="alpaca", state="down"),
              event("trade.broker.status", at(11), broker="alpaca", state="up")]
    out, _ = run([broker], [rule("Lost", "broker", "bad_for", ">", 10_000)], events, 60, lateness_ms=5_000)
    assert [("Lost", "firing", 30, None)] == rows(out)


def test_an_end_arriving_before_its_start_still_completes_the_correlation():
    events = [event("trade.saga.completed", at(12), saga_id="x", saga_type="order_execution"),
              event("trade.saga.started", at(10), saga_id="x", saga_type="order_execution")]
    out, engine = run([saga_sli()], [rule("SagaFailed", "sagas", "bad_count", ">", 0)], events, 200,
                      lateness_ms=5_000)
    assert [] == rows(out)  # good, not a timeout
    assert ([], 0) == (engine.snapshot()["slis"]["sagas"]["correlations"]["open"],
                       engine.snapshot()["slis"]["sagas"]["correlations"]["unmatched"])


def test_an_absence_rule_fires_in_a_replay_across_a_long_silence():
    # Heartbeats at 0 and 5 s, then nothing until 600 s. Boundaries are not skipped while an
    # absence rule exists: since_last > 2m at boundary 130 (125 s); the beat at 600 s resolves it
    # at 610.
    beats = sli("beats", "events", "trade.heartbeat")
    events = [event("trade.heartbeat", at(0)), event("trade.heartbeat", at(5)), event("trade.heartbeat", at(600))]
    out, _ = run([beats], [rule("NoBeat", "beats", "since_last", ">", 120_000)], events, 700)
    assert [("NoBeat", "firing", 130, None), ("NoBeat", "resolved", 130, 610)] == rows(out)


def test_an_event_whose_time_fields_straddle_a_closing_boundary_is_rejected_whole():
    a = sli("a", "events", "x.y")
    b = sli_config(name="b", service="svc", kind="events", subject="x.y", event_time_field="sent_at")
    engine = Engine(spec_of([a, b], [], lateness_ms=5_000))
    out = engine.ingest([event("x.y", at(0), sent_at=at(0)), event("x.y", at(60), sent_at=at(20))])
    assert [(1, "late")] == [(r.index, r.reason) for r in out.rejections]


def test_two_rules_with_one_name_on_two_services_keep_separate_state_across_a_restore():
    from processor.config.model import SliConfig

    slis = [sli_config(name=n, service=n, kind="events", subject=f"{n}.beat", event_time_field="ts") for n in ("s1", "s2")]
    rules = [rule("Busy", n, "count", ">", 0, keep_firing_for_ms=60_000).model_copy(update={"service": n})
             for n in ("s1", "s2")]
    events = [event("s1.beat", at(1)), event("s2.beat", at(1)), event("s1.beat", at(30))]
    first = Engine(spec_of(slis, rules, lateness_ms=0))
    fired = run_all(first, [events])
    again = Engine(spec_of(slis, rules, lateness_ms=0))
    again.restore_bytes(first.snapshot_bytes())
    later = run_all(again, [], at(200))
    assert 2 == sum(1 for a in fired.alerts if a.status == "firing")
    assert ["resolved", "resolved"] == [a.status for a in later.alerts]


def test_a_ratio_from_reported_counts_adds_up_the_counts():
    # Reports of (delivered, dropped) since the last: 98/2 at 5 s, 100/0 at 15 s and 25 s. Window
    # 20 s: boundary 10 sees 2 of 100 bad (2 % > 0.5 %) -> firing; boundary 20, 2 of 200 (1 %);
    # boundary 30, window [10, 30), 0 of 200 -> resolved.
    from processor.config.model import SliConfig

    delivery = sli_config(name="delivery", service="svc", kind="ratio", subject="market.stream.delivery",
                       good_count_field="delivered", bad_count_field="dropped", event_time_field="ts")
    events = [event("market.stream.delivery", at(5), delivered=98, dropped=2),
              event("market.stream.delivery", at(15), delivered=100, dropped=0),
              event("market.stream.delivery", at(25), delivered=100, dropped=0),
              event("market.stream.delivery", at(35), delivered=1.5, dropped=0)]
    out, engine = run([delivery], [rule("Drops", "delivery", "bad_ratio", ">", 0.005, window_ms=20_000)], events, 60)
    assert [("Drops", "firing", 10, None), ("Drops", "resolved", 10, 30)] == rows(out)
    assert {"bad_value": 1} == engine.rejected  # 1.5 messages is not a count


def test_sli_values_are_reported_every_minute_over_the_rule_window():
    import numpy as np
    from ddsketch import DDSketch

    lat = sli("lat", "latency", "svc.req", value_field="latency_ms", labels=("route",))
    values = [float(v) for v in np.random.default_rng(5).lognormal(3, 1, 120)]
    events = [event("svc.req", at(i), latency_ms=v, route="/a") for i, v in enumerate(values)]
    out, _ = run([lat], [], events, 120)
    # T0 is 20 s past a whole minute: minutes fall at 40 s and 100 s. At 100 s the 1m window is
    # [40, 100): events 40..99.
    report = next(r for r in out.slis if r.evaluated_at_ms == at(100))
    expected = DDSketch(0.01)
    for v in values[40:100]:
        expected.add(v)
    got = dict(report.values)
    assert (("route", "/a"),) == report.labels
    assert 60.0 == got["count"]
    for q in (50, 95, 99):
        assert expected.get_quantile_value(q / 100) == pytest.approx(got[f"p{q}"], rel=1e-9)
    assert "since_last" not in got  # reported only for SLIs an absence rule reads


def test_two_time_fields_subtract_in_any_format_events_allow_and_drift_can_be_absolute():
    from processor.config.load import load_config_text

    config = load_config_text("""
version: 1
slis:
  age: {service: m, kind: latency, subject: q, value: ts, minus: quote_ts}
  drift: {service: o, kind: gauge, subject: c, value: started_ts, minus: scheduled_ts, absolute: true, unit: ms}
""")
    engine = Engine(config)
    t = T0_MS + 20_000  # 2023-11-14T22:13:40Z
    out = engine.ingest([
        event("q", t, quote_ts=t - 250),  # epoch ms: 250 ms old
        event("q", t, quote_ts="2023-11-14T23:13:39.500+01:00"),  # RFC 3339 with an offset: 500 ms old
        event("c", t, started_ts="2023-11-14T22:13:32Z", scheduled_ts=t),  # 8 s early
        event("c", t, started_ts=t + 3_000, scheduled_ts=t),  # 3 s late
    ])
    assert (4, []) == (out.accepted, out.rejections)
    engine.advance(t + 60_000)
    [age] = engine.slis[0].series.values()
    [drift] = engine.slis[1].series.values()
    [ages] = age.subs.values()
    [drifts] = drift.subs.values()
    # Sketch values are within 1 % of the truth.
    assert 2 == ages.count
    assert ages.quantile(0.0) == pytest.approx(250.0, rel=0.01)
    assert ages.quantile(1.0) == pytest.approx(500.0, rel=0.01)
    assert (2, 3_000.0, 8_000.0) == (drifts.count, drifts.min, drifts.max)


def test_minus_with_a_unit_other_than_ms_is_refused_with_the_reason():
    from processor.config.load import load_config_text
    from processor.errors import ConfigError

    with pytest.raises(ConfigError, match=r"slis\.d\.unit: with minus: both fields are times"):
        load_config_text("version: 1\nslis:\n  d: {service: o, kind: gauge, subject: c, value: a, minus: b, unit: s}\n")


def test_a_quote_without_ts_is_aged_from_its_jetstream_timestamp_as_its_event_time_is():
    from processor.config.load import load_config_text

    config = load_config_text("""
version: 1
slis:
  age: {service: m, kind: latency, subject: q, value: ts, minus: quote_ts}
""")
    stamps = {"stamp-1": T0_MS + 20_000}
    engine = Engine(config, fallback_ts_ms=lambda msg: stamps.get(msg.reply))
    t = T0_MS + 20_000
    no_ts = Msg("q", orjson.dumps({"quote_ts": t - 400}), reply="stamp-1")
    out = engine.ingest([no_ts])
    assert (1, []) == (out.accepted, out.rejections)
    engine.advance(t + 60_000)
    [series] = engine.slis[0].series.values()
    [ages] = series.subs.values()
    assert ages.quantile(0.5) == pytest.approx(400.0, rel=0.01)


def test_a_reported_count_past_a_trillion_is_rejected_so_the_state_stays_storable():
    # Found by tests/unit/test_engine_hostile.py: 2**64 - 1 delivered messages in one report made
    # the snapshot unencodable (orjson holds 64-bit integers), which would stop every checkpoint.
    import orjson

    delivery = sli_config(name="delivery", service="svc", kind="ratio", subject="market.stream.delivery",
                          good_count_field="delivered", bad_count_field="dropped", event_time_field="ts")
    events = [event("market.stream.delivery", at(5), delivered=10**12, dropped=0),
              event("market.stream.delivery", at(6), delivered=2**64 - 1, dropped=0),
              event("market.stream.delivery", at(7), delivered=1, dropped=10**12 + 1)]
    _, engine = run([delivery], [], events, 60)
    assert {"bad_value": 2} == engine.rejected
    assert orjson.loads(orjson.dumps(engine.snapshot()))


def test_an_event_time_after_the_year_9999_is_a_bad_timestamp():
    # Found by tests/unit/test_engine_hostile.py: "ts": 3.4e38 moved the watermark (and the state)
    # past any integer a snapshot can hold. Without a JetStream stamp to compare with (no future
    # check), the time itself must be sane.
    import orjson

    from processor.kinds.event_time import MAX_EVENT_TIME_MS

    req = sli("req", "ratio", "svc.req", good="status == 'ok'")
    events = [event("svc.req", at(1), status="ok"),
              Msg("svc.req", orjson.dumps({"ts": 3.402823466e38, "status": "ok"})),
              Msg("svc.req", orjson.dumps({"ts": MAX_EVENT_TIME_MS + 1, "status": "ok"}))]
    _, engine = run([req], [], events, 60)
    assert {"bad_timestamp": 2} == engine.rejected
    assert orjson.loads(orjson.dumps(engine.snapshot()))
