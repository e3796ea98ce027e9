"""What each incident kind of processor/simulate does to the events: exactly its documented effect,
and nothing else (every other event is as in the baseline, byte for byte and in order)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from processor.simulate import Event, Incident, Simulator
from processor.simulate.platform import AI_PROVIDERS, SCHEDULE
from tests.simkit import DURATION, END, MIN, START, T0, UNTIL, baseline_short, of, p, run


def inside(e: Event) -> bool:
    return START <= e.ts_ms < END


def assert_unchanged_except(
    changed: Iterable[Event], affected: Callable[[Event], bool], baseline: Iterable[Event] | None = None
) -> None:
    """Everything ``affected`` does not claim is exactly as in the baseline, order included."""
    base = [e for e in (baseline_short() if baseline is None else baseline) if not affected(e)]
    other = [e for e in changed if not affected(e)]
    assert base == other


def subject_inside(*subjects: str) -> Callable[[Event], bool]:
    return lambda e: e.subject in subjects and inside(e)


def paired(
    changed: list[Event], subject: str, baseline: Iterable[Event] | None = None
) -> list[tuple[Event, Event]]:
    base = [e for e in (baseline_short() if baseline is None else baseline) if e.subject == subject]
    new = [e for e in changed if e.subject == subject]
    assert len(base) == len(new)
    return list(zip(base, new, strict=True))


SPIKES = {  # target -> subject, critical threshold of PLATFORM-SLOS.md the spike's p95 must pass
    "gateway": ("analytics.gateway.request", 400),
    "orders": ("trade.order.submitted", 200),
    "decisions": ("ai.decision.generated", 8_000),
    "quotes": ("market.request", 80),
    "queries": ("analytics.query", 400),
    "acks": ("trade.order.acknowledged", 500),
    "cancels": ("trade.order.cancelled", 100),
    "positions": ("trade.positions.fetched", 30),
    "risk": ("trade.risk.checked", 50),
    "reports": ("analytics.report.generated", 5_000),
}


@pytest.mark.parametrize("target", sorted(SPIKES))
def test_latency_spike_multiplies_the_targets_latency_inside_the_interval_only(target: str) -> None:
    subject, threshold_ms = SPIKES[target]
    # Reports and cancellations are rare at the tests' usual rate; a busier run has some.
    rate = 12.0 if target in ("reports", "cancels") else 3.0
    baseline = run(UNTIL, rate=rate) if rate != 3.0 else list(baseline_short())
    events = run(UNTIL, Incident("latency_spike", START, DURATION, target), rate=rate)

    assert_unchanged_except(events, subject_inside(subject), baseline)
    pairs = [(b, n) for b, n in paired(events, subject, baseline) if inside(n)]
    assert pairs
    for before, after in pairs:
        assert before.ts_ms == after.ts_ms
        assert after.payload["latency_ms"] == pytest.approx(before.payload["latency_ms"] * 10, abs=0.06)
        assert {k: v for k, v in after.payload.items() if k != "latency_ms"} == {
            k: v for k, v in before.payload.items() if k != "latency_ms"
        }
    assert p((n.payload["latency_ms"] for _, n in pairs), 95) > threshold_ms


def test_overlapping_latency_spikes_multiply() -> None:
    events = run(
        UNTIL,
        Incident("latency_spike", START, DURATION, "gateway", 2.0),
        Incident("latency_spike", START + MIN, MIN, "gateway", 3.0),
    )
    for before, after in paired(events, "analytics.gateway.request"):
        factor = 6.0 if START + MIN <= after.ts_ms < START + 2 * MIN else 2.0 if inside(after) else 1.0
        assert after.payload["latency_ms"] == pytest.approx(before.payload["latency_ms"] * factor, abs=0.06)


def test_gateway_outage_turns_every_answered_request_into_a_503() -> None:
    events = run(UNTIL, Incident("outage", START, DURATION, "gateway"))

    assert_unchanged_except(events, subject_inside("analytics.gateway.request"))
    for before, after in paired(events, "analytics.gateway.request"):
        if inside(after) and not after.payload["rate_limited"]:
            assert 503 == after.payload["status_code"]
        else:
            assert before == after
    # No gateway heartbeat exists; the other heartbeats are untouched (checked above).


def test_a_partial_gateway_outage_fails_that_fraction_of_requests() -> None:
    incident = Incident("outage", T0 + MIN, 5 * MIN, "gateway", 0.002)
    events = run(T0 + 6 * MIN, incident, rate=80.0)
    during = of([e for e in events if incident.active(e.ts_ms)], "analytics.gateway.request")

    ratio = sum(q["status_code"] >= 500 for q in during) / len(during)
    assert 0.0005 < ratio < 0.005  # between the warning (0.05 %) and the critical (0.5 %) thresholds


@pytest.mark.parametrize(
    ("target", "subjects", "heartbeat"),
    [
        ("market", ("market.request",), "market.heartbeat"),
        ("ai", ("ai.decision.generated", "ai.decision.outcome"), "ai.heartbeat"),
        ("analytics", ("analytics.query", "analytics.report.generated"), "analytics.heartbeat"),
    ],
)
def test_a_service_outage_fails_its_requests_and_stops_its_heartbeats(
    target: str, subjects: tuple[str, ...], heartbeat: str
) -> None:
    events = run(UNTIL, Incident("outage", START, DURATION, target))

    def affected(e: Event) -> bool:
        if e.subject == "ai.decision.outcome":  # follows its decision, a minute later
            return START <= e.ts_ms - 60_000 and e.ts_ms - 65_000 < END
        return e.subject in (*subjects, heartbeat) and inside(e)

    assert_unchanged_except(events, affected)
    requests = [e for e in events if e.subject == subjects[0] and inside(e)]
    assert requests and all(e.payload["status"] == "error" for e in requests)
    assert not [e for e in events if e.subject == heartbeat and inside(e)]
    assert [e for e in baseline_short() if e.subject == heartbeat and inside(e)]


def test_trading_outage_fails_orders_without_acks_and_fails_their_sagas() -> None:
    events = run(UNTIL, Incident("outage", START, DURATION, "trading"))
    failed_orders = [e.payload for e in events if e.subject == "trade.order.submitted" and inside(e)]

    assert failed_orders and all(q["status"] == "error" for q in failed_orders)
    ids = {q["order_id"] for q in failed_orders}
    assert not ids & {q["order_id"] for q in of(events, "trade.order.acknowledged")}
    assert not ids & {q["order_id"] for q in of(events, "trade.order.cancelled")}
    assert all(q["status"] == "error" for e in events if e.subject == "trade.positions.fetched" and inside(e)
               for q in [e.payload])
    failed_sagas = of(events, "trade.saga.failed")
    assert len(failed_orders) == len(failed_sagas)
    # trade.heartbeat is shared: the engine's beats stop, the orchestrator's go on.
    beats = {e.payload["service"] for e in events if e.subject == "trade.heartbeat" and inside(e)}
    assert {"orchestrator"} == beats
    outside_orders = [e.payload for e in events if e.subject == "trade.order.submitted" and not inside(e)]
    assert all(q["status"] == "ok" for q in outside_orders)


def test_orchestrator_outage_fails_the_cycles_that_end_in_it_and_stops_its_heartbeats() -> None:
    events = run(UNTIL, Incident("outage", START, DURATION, "orchestrator"))

    def orchestrator_beat(e: Event) -> bool:
        return e.subject == "trade.heartbeat" and e.payload["service"] == "orchestrator" and inside(e)

    assert_unchanged_except(events, lambda e: subject_inside("trade.cycle.completed")(e) or orchestrator_beat(e))
    during = [e.payload for e in events if e.subject == "trade.cycle.completed" and inside(e)]
    assert len(during) >= 8 and all(q["status"] == "error" for q in during)
    # The orchestrator's own beats stop; the trading engine's, on the same subject, go on.
    assert not [e for e in events if orchestrator_beat(e)]
    assert [e for e in baseline_short() if orchestrator_beat(e)]


def test_stale_quotes_freeze_quote_ts_at_the_start_so_staleness_grows_one_second_per_second() -> None:
    events = run(UNTIL, Incident("stale_quotes", START, DURATION, "AAPL"))

    assert_unchanged_except(events, subject_inside("market.quote.AAPL"))
    during = [e.payload for e in events if e.subject == "market.quote.AAPL" and inside(e)]
    assert len(during) == DURATION // 1000
    assert {START} == {q["quote_ts"] for q in during}
    assert 1 == len({(q["bid"], q["ask"]) for q in during})
    # Staleness > 30 s is first seen on the first quote after START + 30 s.
    first_stale = next(q for q in during if q["ts"] - q["quote_ts"] > 30_000)
    offset = SCHEDULE["market.quote"].offset_ms
    assert START + 30_000 + offset == first_stale["ts"]


def test_quotes_stop_removes_the_targets_quotes_in_the_interval() -> None:
    events = run(UNTIL, Incident("quotes_stop", START, DURATION))
    assert_unchanged_except(events, lambda e: e.subject.startswith("market.quote.") and inside(e))
    assert not [e for e in events if e.subject.startswith("market.quote.") and inside(e)]


def test_provider_down_fails_over_after_its_failover_time() -> None:
    events = run(UNTIL, Incident("provider_down", START, DURATION, "alpaca", 4.0))

    def affected(e: Event) -> bool:
        return (
            e.subject in ("market.provider.status", "market.provider.failover", "market.request")
            or e.subject.startswith("market.quote.")
        ) and START <= e.ts_ms <= END

    assert_unchanged_except(events, affected)
    statuses = [(e.ts_ms, e.payload["state"]) for e in events
                if e.subject == "market.provider.status" and e.payload["provider"] == "alpaca"]
    assert (START, "down") in statuses and (END, "up") in statuses
    assert all(state == "down" for ts, state in statuses if START <= ts < END)
    assert all(q["state"] == "up" for q in of(events, "market.provider.status", lambda q: q["provider"] != "alpaca"))
    assert [{"ts": START + 4_000, "from": "alpaca", "to": "finnhub", "duration_ms": 4_000}] == of(
        events, "market.provider.failover"
    )
    for before, after in paired(events, "market.request"):
        b, a = before.payload, after.payload
        if not inside(after) or b["provider"] != "alpaca" or b["cache"] == "hit":
            assert before == after
        elif after.ts_ms < START + 4_000:
            assert ("error", "alpaca") == (a["status"], a["provider"])
        else:
            assert ("ok", "finnhub") == (a["status"], a["provider"])
    aapl = [e for e in events if e.subject == "market.quote.AAPL" and inside(e)]
    assert aapl and all(e.ts_ms >= START + 4_000 and e.payload["provider"] == "finnhub" for e in aapl)
    assert all(e.payload["provider"] == "coingecko" for e in events if e.subject == "market.quote.BTCUSD")


def test_all_market_providers_down_fails_every_cache_miss_and_stops_quotes() -> None:
    sim = Simulator(T0, seed=7, rate=3.0, incidents=[Incident("provider_down", START, DURATION, "all")])
    events = list(sim.records(UNTIL))

    assert [(START, END)] == sim.intervals("provider_down", "gdelt")
    edges = [(e.ts_ms, e.payload["state"]) for e in events
             if e.subject == "market.provider.status" and e.ts_ms in (START, END)]
    assert sorted([(START, "down")] * 6 + [(END, "up")] * 6) == sorted(edges)
    assert not of(events, "market.provider.failover")
    during = [e.payload for e in events if e.subject == "market.request" and inside(e)]
    assert all(q["status"] == ("ok" if q["cache"] == "hit" else "error") for q in during)
    assert not [e for e in events if e.subject.startswith("market.quote.") and inside(e)]
    assert not [e for e in events if e.subject.startswith("ai.") and e.payload.get("status") == "error"]


def test_primary_model_down_sends_decisions_to_the_fallback_and_all_models_down_fails_them() -> None:
    events = run(UNTIL, Incident("provider_down", START, DURATION, "openai"))
    during = [e.payload for e in events if e.subject == "ai.decision.generated" and inside(e)]
    uncached = [q for q in during if not q["cached"]]
    assert uncached and all(
        (q["provider"], q["model"], q["fallback"], q["status"]) == ("groq", "mixtral-8x7b", True, "ok") for q in uncached
    )
    assert all(q["primary_failed"] for q in uncached)
    cached = [q for q in during if q["cached"]]
    assert all(q["provider"] == "openai" and not q["fallback"] and not q["primary_failed"] for q in cached)

    events = run(UNTIL, Incident("provider_down", START, DURATION, "all_models"))
    during = [e.payload for e in events if e.subject == "ai.decision.generated" and inside(e)]
    # Every fallback was tried (primary_failed) and none answered (no fallback): a failed fallback.
    failed = [q for q in during if not q["cached"]]
    assert failed and all(
        q["status"] == "error" and q["primary_failed"] and not q["fallback"] and q["cost_usd"] == 0 for q in failed
    )
    edges = [(e.ts_ms, e.payload["provider"], e.payload["state"]) for e in events
             if e.subject == "ai.provider.status" and e.ts_ms in (START, END)]
    assert sorted([(START, p, "down") for p in AI_PROVIDERS] + [(END, p, "up") for p in AI_PROVIDERS]) == sorted(edges)


@pytest.mark.parametrize("kind", ["saga_timeouts", "saga_failures"])
def test_sagas_started_in_the_interval_never_end_or_fail(kind: str) -> None:
    events = run(UNTIL, Incident(kind, START, DURATION))
    started_in = {q["saga_id"] for e in events if e.subject == "trade.saga.started" and inside(e) for q in [e.payload]}
    ends = {q["saga_id"]: e.subject for e in events if e.subject in ("trade.saga.completed", "trade.saga.failed")
            for q in [e.payload]}

    assert started_in
    if kind == "saga_timeouts":
        assert not started_in & set(ends)
    else:
        assert {"trade.saga.failed"} == {ends[s] for s in started_in if s in ends}
    assert {"trade.saga.completed"} == {subject for saga_id, subject in ends.items() if saga_id not in started_in}
    assert_unchanged_except(
        events, lambda e: e.subject.startswith("trade.saga.") and e.payload["saga_id"] in started_in
    )


def test_saga_timeouts_of_one_type_leave_the_others_alone() -> None:
    events = run(UNTIL, Incident("saga_timeouts", START, DURATION, "position_close"))
    started = {e.payload["saga_id"]: e.payload["saga_type"] for e in events if e.subject == "trade.saga.started" and inside(e)}
    ended = {e.payload["saga_id"] for e in events if e.subject == "trade.saga.completed"}
    assert {"order_execution", "position_close"} == set(started.values())
    assert {"position_close"} == {t for s, t in started.items() if s not in ended}


def test_cost_overrun_prices_every_uncached_decision_at_the_magnitude() -> None:
    events = run(UNTIL, Incident("cost_overrun", START, DURATION, magnitude=5.0))

    assert_unchanged_except(events, subject_inside("ai.decision.generated"))
    during = [e.payload for e in events if e.subject == "ai.decision.generated" and inside(e)]
    assert all(q["cost_usd"] == (0 if q["cached"] else 5.0) for q in during)
    # tokens at OpenAI's price per token, $2.625e-5 (80 tokens a decision, ~$13 a day: sources/ai.py)
    assert all(q["tokens"] == round(5.0 / 2.625e-5) for q in during if not q["cached"])
    # Cumulative spend passes the $50 daily budget at an event time the test can name exactly.
    spend, crossed_at = 0.0, None
    for e in events:
        if e.subject == "ai.decision.generated":
            spend += e.payload["cost_usd"]
            if crossed_at is None and spend > 50:
                crossed_at = e.ts_ms
    assert crossed_at is not None and START < crossed_at < END


def test_snapshot_gap_removes_snapshots_and_leaves_a_gap_of_the_interval_rounded_to_the_period() -> None:
    events = run(UNTIL, Incident("snapshot_gap", START, DURATION))

    assert_unchanged_except(events, subject_inside("analytics.snapshot"))
    stamps = [q["ts"] for q in of(events, "analytics.snapshot")]
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert 5 * MIN == max(gaps)  # 4 minutes of snapshots missing, at 60 s spacing


def test_position_lag_sets_the_snapshots_lag() -> None:
    events = run(UNTIL, Incident("position_lag", START, DURATION))
    assert_unchanged_except(events, subject_inside("analytics.snapshot"))
    assert {8_000} == {e.payload["position_lag_ms"] for e in events if e.subject == "analytics.snapshot" and inside(e)}


@pytest.mark.parametrize(
    ("kind", "subject", "fieldname"),
    [("position_mismatch", "trade.positions.reconciled", "discrepancies"),
     ("pnl_mismatch", "analytics.pnl.reconciled", "mismatches")],
)
def test_mismatches_are_reported_at_the_start_in_every_report_and_cleared_at_the_end(
    kind: str, subject: str, fieldname: str
) -> None:
    events = run(UNTIL, Incident(kind, START + 500, DURATION, magnitude=3))
    reports = [(e.ts_ms, e.payload[fieldname]) for e in events if e.subject == subject]

    assert (START + 500, 3) in reports and (END + 500, 0) in reports
    assert all(count == (3 if START + 500 <= ts < END + 500 else 0) for ts, count in reports)
    base = [(e.ts_ms, e.payload[fieldname]) for e in baseline_short() if e.subject == subject]
    assert len(base) + 2 == len(reports)


@pytest.mark.parametrize(
    ("kind", "target", "subject", "key", "down", "up"),
    [
        ("broker_down", "alpaca", "trade.broker.status", "broker", "down", "up"),
        ("db_down", None, "analytics.db.status", None, "down", "up"),
        ("stream_disconnect", "alpaca-ws", "market.stream.status", "stream", "disconnected", "connected"),
    ],
)
def test_state_incidents_go_down_at_the_start_and_up_at_the_end(
    kind: str, target: str | None, subject: str, key: str | None, down: str, up: str
) -> None:
    events = run(UNTIL, Incident(kind, START + 1, DURATION, target))
    states = [(e.ts_ms, e.payload["state"]) for e in events if e.subject == subject]

    assert (START + 1, down) in states and (END + 1, up) in states
    assert all(state == (down if START + 1 <= ts < END + 1 else up) for ts, state in states)
    if key is not None:
        assert {target} == {e.payload[key] for e in events if e.subject == subject}


def test_stream_disconnect_drops_the_deliveries_of_the_interval() -> None:
    events = run(UNTIL, Incident("stream_disconnect", START, DURATION))
    assert_unchanged_except(events, lambda e: e.subject.startswith("market.stream.") and START <= e.ts_ms <= END)
    for before, after in paired(events, "market.stream.delivery"):
        if inside(after):
            assert (0, before.payload["delivered"]) == (after.payload["delivered"], after.payload["dropped"])
        else:
            assert before == after


@pytest.mark.parametrize(("kind", "stopped", "restarted"), [("agent_crash", "crash", "restarted"), ("agent_stop", "requested", "requested")])
def test_agent_incidents_stop_the_agent_with_their_reason(kind: str, stopped: str, restarted: str) -> None:
    events = run(UNTIL, Incident(kind, START, DURATION, "sentiment"))
    assert_unchanged_except(
        events, lambda e: e.subject == "trade.agent.status" and e.payload["agent"] == "sentiment" and START <= e.ts_ms <= END
    )
    mine = [(e.ts_ms, e.payload["state"], e.payload["reason"]) for e in events
            if e.subject == "trade.agent.status" and e.payload["agent"] == "sentiment"]
    assert (START, "stopped", stopped) in mine and (END, "running", restarted) in mine
    assert all(state == "stopped" for ts, state, _ in mine if START <= ts < END)


def test_cycle_slow_stretches_cycles_started_in_the_interval() -> None:
    events = run(UNTIL, Incident("cycle_slow", START, DURATION, "analysis"))
    base = {q["cycle_id"]: q for q in of(baseline_short(), "trade.cycle.completed")}
    slow = {q["cycle_id"]: q for q in of(events, "trade.cycle.completed")}

    changed = {cid for cid in base if base[cid] != slow.get(cid)}
    assert changed == {cid for cid, q in base.items() if q["cycle_type"] == "analysis" and START <= q["started_ts"] < END}
    assert changed
    for cid in changed:
        assert slow[cid]["duration_ms"] == pytest.approx(base[cid]["duration_ms"] * 6, abs=6)
        assert slow[cid]["ts"] == slow[cid]["started_ts"] + slow[cid]["duration_ms"]
        assert slow[cid]["duration_ms"] > 90_000


def test_schedule_drift_delays_cycles_scheduled_in_the_interval() -> None:
    events = run(UNTIL, Incident("schedule_drift", START, DURATION))
    base = {q["cycle_id"]: q for q in of(baseline_short(), "trade.cycle.completed")}
    for q in of(events, "trade.cycle.completed"):
        b = base[q["cycle_id"]]
        extra = 15_000 if START <= q["scheduled_ts"] < END else 0
        assert q["started_ts"] - b["started_ts"] == extra
        assert q["started_ts"] - q["scheduled_ts"] > 10_000 or not extra


def test_cache_misses_lower_the_hit_rate_of_the_interval() -> None:
    events = run(UNTIL, Incident("cache_misses", START, DURATION, magnitude=0.0))
    assert_unchanged_except(events, subject_inside("market.request"))
    during = [e.payload for e in events if e.subject == "market.request" and inside(e)]
    assert during and all(q["cache"] == "miss" for q in during)

    events = run(UNTIL, Incident("cache_misses", START, DURATION))
    during = [e.payload for e in events if e.subject == "market.request" and inside(e)]
    assert 0.4 < sum(q["cache"] == "hit" for q in during) / len(during) < 0.6


def test_fallbacks_answer_decisions_from_the_secondary_model() -> None:
    events = run(UNTIL, Incident("fallbacks", START, DURATION, magnitude=1.0))
    assert_unchanged_except(events, subject_inside("ai.decision.generated"))
    during = [e.payload for e in events if e.subject == "ai.decision.generated" and inside(e) and not e.payload["cached"]]
    assert during and all(q["fallback"] and q["provider"] == "groq" and q["status"] == "ok" for q in during)


def test_bad_decisions_lower_the_accuracy_of_outcomes_in_the_interval() -> None:
    events = run(UNTIL, Incident("bad_decisions", START, DURATION, magnitude=0.0))
    assert_unchanged_except(events, subject_inside("ai.decision.outcome"))
    during = [e.payload for e in events if e.subject == "ai.decision.outcome" and inside(e)]
    assert during and not any(q["correct"] for q in during)


def test_rate_limit_errors_mark_decisions_incorrect() -> None:
    events = run(UNTIL, Incident("rate_limit_errors", START, DURATION, magnitude=1.0))
    assert_unchanged_except(events, subject_inside("analytics.gateway.request"))
    assert not any(e.payload["rate_limit_correct"] for e in events if e.subject == "analytics.gateway.request" and inside(e))


@pytest.mark.parametrize(
    ("kind", "fieldname", "value"),
    [("cpu_high", "cpu_pct", 85.0), ("memory_high", "mem_pct", 90.0), ("queue_backlog", "queue_depth", 250),
     ("db_pool_exhausted", "db_conn_pct", 95.0)],
)
def test_capacity_incidents_set_the_services_resource(kind: str, fieldname: str, value: float) -> None:
    events = run(UNTIL, Incident(kind, START, DURATION, "trading-engine"))
    assert_unchanged_except(
        events, lambda e: e.subject == "analytics.capacity" and e.payload["service"] == "trading-engine" and inside(e)
    )
    during = [e.payload for e in events if e.subject == "analytics.capacity" and inside(e)]
    assert {value} == {q[fieldname] for q in during if q["service"] == "trading-engine"}
    assert len([q for q in during if q["service"] == "trading-engine"]) == DURATION // 15_000


def test_consumer_lag_changes_no_payload() -> None:
    incident = Incident("consumer_lag", START, DURATION)
    assert incident.bus and "analytics" == incident.target
    assert list(baseline_short()) == run(UNTIL, incident)


def test_incidents_compose_and_the_simulator_says_when_each_is_active() -> None:
    spike = Incident("latency_spike", START, DURATION)
    down = Incident("provider_down", START + MIN, MIN, "alpaca")
    again = Incident("provider_down", START + 2 * MIN, MIN, "alpaca")
    sim = Simulator(T0, seed=7, rate=3.0, incidents=[spike, down, again])

    assert (spike, down) == sim.active_incidents(START + MIN)
    assert () == sim.active_incidents(END)
    assert [(START + MIN, START + 3 * MIN)] == sim.intervals("provider_down", "alpaca")
    assert [] == sim.intervals("provider_down", "finnhub")
    events = list(sim.records(UNTIL))
    edges = [(e.ts_ms, e.payload["state"]) for e in events if e.subject == "market.provider.status"
             and e.payload["provider"] == "alpaca" and e.ts_ms in (START + MIN, START + 2 * MIN, START + 3 * MIN)]
    assert [(START + MIN, "down"), (START + 3 * MIN, "up")] == edges  # merged: no up/down at the seam
    assert 1 == len(of(events, "market.provider.failover"))
    assert p((e.payload["latency_ms"] for e in events if e.subject == "analytics.gateway.request" and inside(e)), 95) > 400
