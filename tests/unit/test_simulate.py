"""The events of the synthetic platform (processor/simulate: generator and sources): contract and
baseline.

Expected values are computed here from the events themselves (numpy percentiles, counts, gaps),
against the numbers of PLATFORM-SLOS.md and the fields of EVENTS.md as transcribed below.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable

import numpy as np
import orjson

from processor.simulate import Incident, Simulator
from processor.simulate.platform import (
    AGENTS,
    AI_PROVIDERS,
    CAPACITY_SERVICES,
    CYCLE_TYPES,
    MARKET_PROVIDERS,
    SAGA_TIMEOUT_MS,
    SCHEDULE,
    SYMBOLS,
)
from tests.simkit import MIN, T0, baseline_half_hour, baseline_short, of, p, run, windows

# EVENTS.md, subject by subject: the payload fields besides ts.
EVENTS_MD_FIELDS = {
    "market.request": {"op", "latency_ms", "status", "cache", "provider"},
    "market.quote.*": {"symbol", "provider", "bid", "ask", "quote_ts"},
    "market.provider.status": {"provider", "state"},
    "market.provider.failover": {"from", "to", "duration_ms"},
    "market.stream.status": {"stream", "state"},
    "market.stream.delivery": {"stream", "delivered", "dropped"},
    "market.heartbeat": set(),
    "trade.order.submitted": {"order_id", "order_type", "symbol", "qty", "latency_ms", "status"},
    "trade.order.filled": {"order_id", "symbol", "qty", "filled_qty", "latency_ms"},
    "trade.order.acknowledged": {"order_id", "latency_ms"},
    "trade.order.cancelled": {"order_id", "latency_ms", "status"},
    "trade.positions.fetched": {"latency_ms", "status"},
    "trade.risk.checked": {"latency_ms", "decision"},
    "trade.positions.reconciled": {"discrepancies"},
    "trade.broker.status": {"broker", "state"},
    "trade.cycle.completed": {"cycle_id", "cycle_type", "duration_ms", "status", "scheduled_ts", "started_ts"},
    "trade.saga.started": {"saga_id", "saga_type"},
    "trade.saga.completed": {"saga_id", "saga_type"},
    "trade.saga.failed": {"saga_id", "saga_type"},
    "trade.agent.status": {"agent", "state", "reason"},
    "trade.heartbeat": {"service"},
    "ai.decision.generated": {
        "decision_id", "provider", "model", "latency_ms", "status", "primary_failed", "fallback", "cached", "tokens", "cost_usd",
    },
    "ai.decision.outcome": {"decision_id", "correct"},
    "ai.provider.status": {"provider", "state"},
    "ai.heartbeat": set(),
    "analytics.query": {"latency_ms", "status"},
    "analytics.report.generated": {"report", "latency_ms", "status"},
    "analytics.snapshot": {"position_lag_ms"},
    "analytics.pnl.reconciled": {"mismatches"},
    "analytics.db.status": {"state"},
    "analytics.gateway.request": {
        "route", "method", "status_code", "latency_ms", "rate_limited", "rate_limit_correct",
    },
    "analytics.capacity": {"service", "cpu_pct", "mem_pct", "queue_depth", "db_conn_pct"},
    "analytics.heartbeat": set(),
}


def contract_key(subject: str) -> str:
    return "market.quote.*" if subject.startswith("market.quote.") else subject


# ------------------------------------------------------------------------------ the event contract


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_ones() -> None:
    a = list(Simulator(T0, seed=3, rate=5).events(T0 + 3 * MIN))
    b = list(Simulator(T0, seed=3, rate=5).events(T0 + 3 * MIN))
    c = list(Simulator(T0, seed=4, rate=5).events(T0 + 3 * MIN))

    assert a == b
    assert a != c


def test_a_shorter_run_is_a_prefix_of_a_longer_one() -> None:
    sim = Simulator(T0, seed=3, rate=5, incidents=[Incident("outage", T0 + MIN, MIN, "trading")])
    short, long = list(sim.records(T0 + 2 * MIN)), list(sim.records(T0 + 5 * MIN))

    assert short == long[: len(short)]
    assert long[len(short)].ts_ms >= T0 + 2 * MIN


def test_events_come_in_non_decreasing_integer_ts_inside_the_run() -> None:
    events = baseline_short()

    stamps = [e.ts_ms for e in events]
    assert stamps == sorted(stamps)
    assert all(type(e.payload["ts"]) is int and e.payload["ts"] == e.ts_ms for e in events)
    assert T0 <= stamps[0] and stamps[-1] < T0 + 12 * MIN


def test_events_bytes_are_the_records_as_json() -> None:
    sim = Simulator(T0, seed=1, rate=2)

    assert [(e.subject, e.payload) for e in sim.records(T0 + MIN)] == [
        (subject, orjson.loads(data)) for subject, data in sim.events(T0 + MIN)
    ]


def test_every_subject_of_events_md_appears_with_exactly_its_fields() -> None:
    # Failed sagas and failovers exist only in incidents; everything else is in the baseline.
    events = run(
        T0 + 10 * MIN,
        Incident("saga_failures", T0 + MIN, MIN),
        Incident("provider_down", T0 + 2 * MIN, MIN, "alpaca"),
    )

    seen = collections.defaultdict(set)
    for e in events:
        seen[contract_key(e.subject)].add(frozenset(e.payload))
    assert set(EVENTS_MD_FIELDS) == set(seen)
    for key, fields in EVENTS_MD_FIELDS.items():
        assert {frozenset(fields | {"ts"})} == seen[key], key
    assert {f"market.quote.{s}" for s in SYMBOLS} == {e.subject for e in events if e.subject.startswith("market.quote.")}
    assert {e.subject for e in baseline_short()} >= {
        s for s in (e.subject for e in events) if s not in ("trade.saga.failed", "market.provider.failover")
    }


def test_field_values_have_the_documented_types_and_vocabulary() -> None:
    events = baseline_short()
    for e in events:
        payload = e.payload
        if "latency_ms" in payload:
            assert isinstance(payload["latency_ms"], float) and payload["latency_ms"] >= 0
        if "status" in payload:
            assert payload["status"] in ("ok", "error")
    assert {"hit", "miss"} == {q["cache"] for q in of(events, "market.request")}
    assert set(MARKET_PROVIDERS) >= {q["provider"] for q in of(events, "market.request")}
    assert {"market", "limit"} == {q["order_type"] for q in of(events, "trade.order.submitted")}
    assert {"approve", "reject"} == {q["decision"] for q in of(events, "trade.risk.checked")}
    assert set(CYCLE_TYPES) == {q["cycle_type"] for q in of(events, "trade.cycle.completed")}
    assert set(SAGA_TIMEOUT_MS) == {q["saga_type"] for q in of(events, "trade.saga.started")}
    assert set(MARKET_PROVIDERS) == {q["provider"] for q in of(events, "market.provider.status")}
    assert set(AI_PROVIDERS) == {q["provider"] for q in of(events, "ai.provider.status")}
    assert set(CAPACITY_SERVICES) == {q["service"] for q in of(events, "analytics.capacity")}
    for q in of(events, "ai.decision.generated"):
        assert isinstance(q["fallback"], bool) and isinstance(q["cached"], bool) and isinstance(q["tokens"], int)
    for q in of(events, "trade.positions.reconciled"):
        assert isinstance(q["discrepancies"], int)


def test_request_driven_subjects_scale_with_rate_and_clock_driven_ones_do_not() -> None:
    slow = collections.Counter(e.subject for e in run(T0 + 10 * MIN, rate=2.0))
    fast = collections.Counter(e.subject for e in run(T0 + 10 * MIN, rate=20.0))

    for subject in ("analytics.gateway.request", "market.request", "analytics.query", "trade.risk.checked"):
        assert 7 < fast[subject] / slow[subject] < 13, subject
    assert 1150 < fast["analytics.gateway.request"] / 10 < 1250  # 20/s: ~1,200 per minute
    for subject in ("market.heartbeat", "analytics.snapshot", "market.quote.AAPL", "analytics.capacity",
                    "trade.cycle.completed", "ai.decision.generated"):
        assert fast[subject] == slow[subject], subject


# -------------------------------------------------------------------------------------- baseline


def test_baseline_gateway_is_inside_its_slos_in_every_minute() -> None:
    events = baseline_half_hour()
    requests = of(events, "analytics.gateway.request")

    latencies = [q["latency_ms"] for q in requests]
    assert p(latencies, 50) < 50 and p(latencies, 95) < 100 and p(latencies, 99) < 500
    # The alert rules look at trailing minutes: the worst minute stays well under 150 ms.
    assert max(p((q["latency_ms"] for q in w), 95) for w in windows(events, "analytics.gateway.request", MIN).values()) < 120
    errors = sum(q["status_code"] >= 500 for q in requests)
    assert errors / len(requests) < 0.0005 / 5
    for w in windows(events, "analytics.gateway.request", 5 * MIN).values():
        assert sum(q["status_code"] >= 500 for q in w) / len(w) < 0.0005
    assert all(q["rate_limit_correct"] for q in requests)
    assert 0 < sum(q["rate_limited"] for q in requests) and all(
        q["status_code"] == 429 for q in requests if q["rate_limited"]
    )


def test_baseline_trading_latencies_are_inside_the_critical_path_targets() -> None:
    events = baseline_half_hour()
    for order_type in ("market", "limit"):
        lat = [q["latency_ms"] for q in of(events, "trade.order.submitted", lambda q, t=order_type: q["order_type"] == t)]
        assert p(lat, 95) < 50 and p(lat, 99) < 100
    assert p((q["latency_ms"] for q in of(events, "trade.order.acknowledged")), 95) < 500
    cancels = [q["latency_ms"] for q in of(events, "trade.order.cancelled")]
    assert p(cancels, 95) < 100 and p(cancels, 99) < 200
    positions = [q["latency_ms"] for q in of(events, "trade.positions.fetched")]
    assert p(positions, 95) < 30 and p(positions, 99) < 100
    risk = [q["latency_ms"] for q in of(events, "trade.risk.checked")]
    assert p(risk, 95) < 20 and p(risk, 99) < 50
    for subject in ("trade.order.submitted", "trade.order.cancelled", "trade.positions.fetched"):
        assert all(q["status"] == "ok" for q in of(events, subject))
    # Every approved risk check is one order, every ok order one acknowledgment.
    approved = of(events, "trade.risk.checked", lambda q: q["decision"] == "approve")
    submitted = of(events, "trade.order.submitted")
    assert abs(len(approved) - len(submitted)) <= 1
    assert {q["order_id"] for q in of(events, "trade.order.acknowledged")} <= {q["order_id"] for q in submitted}
    assert all(q["discrepancies"] == 0 for q in of(events, "trade.positions.reconciled"))


def test_fills_follow_their_orders_with_the_submitted_quantity() -> None:
    # trade.order.filled (issue 9, the Trading Performance dashboard's fill rate and time to fill):
    # one per acknowledged order that filled at all, never more shares than submitted, and its
    # latency_ms is the time from the order's submission to the fill.
    events = baseline_short()
    submitted = {q["order_id"]: q for q in of(events, "trade.order.submitted")}
    fills = of(events, "trade.order.filled")
    assert fills
    for f in fills:
        order = submitted[f["order_id"]]
        assert (order["symbol"], order["qty"]) == (f["symbol"], f["qty"])
        assert 0 < f["filled_qty"] <= f["qty"] and 1 <= f["qty"] <= 100
        assert f["latency_ms"] > 0
    # Market orders fill whole; only limit orders cancelled later fill in part.
    assert all(f["filled_qty"] == f["qty"] for f in fills if submitted[f["order_id"]]["order_type"] == "market")
    assert any(f["filled_qty"] < f["qty"] for f in fills)


def test_baseline_sagas_all_complete_within_their_timeouts() -> None:
    events = run(T0 + 40 * MIN, rate=5.0)
    end_ms = T0 + 40 * MIN
    started = {q["saga_id"]: (q["ts"], q["saga_type"]) for q in of(events, "trade.saga.started")}
    completed = {q["saga_id"]: q["ts"] for q in of(events, "trade.saga.completed")}

    assert not of(events, "trade.saga.failed")
    assert set(completed) <= set(started)
    for saga_id, (ts, saga_type) in started.items():
        timeout_ms = SAGA_TIMEOUT_MS[saga_type]
        if ts + timeout_ms <= end_ms:
            assert saga_id in completed and completed[saga_id] - ts < timeout_ms / 2, saga_type


def test_baseline_cycles_are_on_time_and_inside_their_durations() -> None:
    events = baseline_half_hour()
    cycles = of(events, "trade.cycle.completed")

    targets_ms = {"heartbeat": 5_000, "analysis": 60_000, "rebalance": 180_000}
    for q in cycles:
        assert q["status"] == "ok"
        assert q["duration_ms"] < targets_ms[q["cycle_type"]]
        assert 0 <= q["started_ts"] - q["scheduled_ts"] < 5_000
        assert q["ts"] == q["started_ts"] + q["duration_ms"]
    assert p((q["duration_ms"] for q in cycles), 95) < 90_000
    for cycle_type, spec in CYCLE_TYPES.items():
        scheduled = [q["scheduled_ts"] for q in cycles if q["cycle_type"] == cycle_type]
        assert [T0 + spec.offset_ms + k * spec.period_ms for k in range(len(scheduled))] == scheduled


def test_baseline_market_data_is_fresh_cached_and_available() -> None:
    events = baseline_half_hour()
    requests = of(events, "market.request")

    assert 0.85 < sum(q["cache"] == "hit" for q in requests) / len(requests) < 0.95
    for w in windows(events, "market.request", 15 * MIN).values():
        assert sum(q["cache"] == "hit" for q in w) / len(w) > 0.8
    assert max(p((q["latency_ms"] for q in w), 95) for w in windows(events, "market.request", MIN).values()) < 80
    assert sum(q["status"] == "ok" for q in requests) / len(requests) > 0.999
    for i, symbol in enumerate(SYMBOLS):
        quotes = of(events, f"market.quote.{symbol}")
        sched = SCHEDULE["market.quote"]
        assert [T0 + sched.offset_ms + i * sched.stagger_ms + k * 1000 for k in range(1800)] == [q["ts"] for q in quotes]
        assert all(0 < q["ts"] - q["quote_ts"] < 5_000 and q["bid"] < q["ask"] for q in quotes)
    assert {"up"} == {q["state"] for q in of(events, "market.provider.status")}
    assert {"connected"} == {q["state"] for q in of(events, "market.stream.status")}
    assert all(q["dropped"] == 0 and q["delivered"] > 0 for q in of(events, "market.stream.delivery"))
    assert not of(events, "market.provider.failover")


def test_baseline_heartbeats_snapshots_and_reports_keep_their_period() -> None:
    events = baseline_half_hour()

    def spacing(subject: str, where: Callable[[dict], bool] = lambda q: True) -> set[int]:
        stamps = [q["ts"] for q in of(events, subject, where)]
        return {b - a for a, b in zip(stamps, stamps[1:], strict=False)}

    for service in ("market", "ai", "analytics"):
        subject = f"{service}.heartbeat"
        assert {10_000} == spacing(subject)
        assert of(events, subject)[0]["ts"] - T0 < 10_000
    # trade.heartbeat carries two services' beats, each every 10 s.
    for sender in ("trading-engine", "orchestrator"):
        assert {10_000} == spacing("trade.heartbeat", lambda q, s=sender: q["service"] == s)
        assert of(events, "trade.heartbeat", lambda q, s=sender: q["service"] == s)[0]["ts"] - T0 < 10_000
    assert {60_000} == spacing("analytics.snapshot")
    assert all(q["position_lag_ms"] < 5_000 for q in of(events, "analytics.snapshot"))
    assert {60_000} == spacing("analytics.pnl.reconciled")
    assert all(q["mismatches"] == 0 for q in of(events, "analytics.pnl.reconciled"))
    assert {60_000} == spacing("trade.agent.status", lambda q: q["agent"] == AGENTS[0])
    assert {("running", "requested")} == {(q["state"], q["reason"]) for q in of(events, "trade.agent.status")}
    assert {"up"} == {q["state"] for q in of(events, "trade.broker.status") + of(events, "analytics.db.status")}


def test_baseline_ai_is_fast_accurate_and_cheap() -> None:
    events = baseline_half_hour()
    decisions = of(events, "ai.decision.generated")

    latencies = [q["latency_ms"] for q in decisions]
    assert p(latencies, 50) < 2_000 and p(latencies, 95) < 4_000 and p(latencies, 99) < 10_000
    assert all(q["status"] == "ok" and not q["fallback"] and not q["primary_failed"] and q["provider"] == "openai"
               for q in decisions)
    assert max(q["cost_usd"] for q in decisions) < 0.10
    cost_per_day = sum(q["cost_usd"] for q in decisions) * 48
    assert 5 < cost_per_day < 50 / 2
    assert all(q["tokens"] == 0 and q["cost_usd"] == 0 for q in decisions if q["cached"])
    # Capacity Planning: ~500,000 LLM tokens a day, under the 800,000 at which CapacityLlmTokensHigh
    # warns (80 % of 2 x 500,000).
    tokens_per_day = sum(q["tokens"] for q in decisions) * 48
    assert 300_000 < tokens_per_day < 800_000
    outcomes = of(events, "ai.decision.outcome")
    assert sum(q["correct"] for q in outcomes) / len(outcomes) > 0.6
    assert {q["decision_id"] for q in outcomes} <= {q["decision_id"] for q in decisions}
    assert {"up"} == {q["state"] for q in of(events, "ai.provider.status")}


def test_baseline_analytics_and_capacity_are_inside_their_limits() -> None:
    events = baseline_half_hour()
    assert max(p((q["latency_ms"] for q in w), 95) for w in windows(events, "analytics.query", 10 * MIN).values()) < 400
    assert p((q["latency_ms"] for q in of(events, "analytics.report.generated")), 95) < 5_000
    for q in of(events, "analytics.capacity"):
        assert q["cpu_pct"] < 70 and q["mem_pct"] < 80 and q["queue_depth"] < 100 and q["db_conn_pct"] < 80
    cpu = [q["cpu_pct"] for q in of(events, "analytics.capacity")]
    assert 35 < float(np.mean(cpu)) < 45


def test_the_simulated_day_costs_what_the_docstring_says() -> None:
    # DECISIONS_PER_S 0.1 -> 8,640 decisions a day; the docstring promises ~$13 a day.
    events = run(T0 + 60 * MIN, rate=1.0)
    per_day = sum(q["cost_usd"] for q in of(events, "ai.decision.generated")) * 24
    assert math.isclose(per_day, 13, rel_tol=0.4)
