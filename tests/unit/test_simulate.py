"""The synthetic platform of processor/simulate: contract, baseline, incidents, CLI parsing.

Expected values are computed here from the events themselves (numpy percentiles, counts, gaps),
against the numbers of PLATFORM-SLOS.md and the fields of EVENTS.md as transcribed below.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cache

import numpy as np
import orjson
import pytest

from processor.cli import main
from processor.simulate import (
    INCIDENT_KINDS,
    Event,
    Incident,
    IncidentRequest,
    Simulator,
    format_incident_kinds,
    parse_incident,
)
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

T0 = int(datetime(2026, 1, 5, 14, 0, tzinfo=UTC).timestamp() * 1000)
MIN = 60_000
# The incident tests' scenario: 10 minutes, an incident from minute 5 to minute 9.
START, DURATION = T0 + 5 * MIN, 4 * MIN
END = START + DURATION
UNTIL = T0 + 10 * MIN

# EVENTS.md, subject by subject: the payload fields besides ts.
EVENTS_MD_FIELDS = {
    "market.request": {"op", "latency_ms", "status", "cache", "provider"},
    "market.quote.*": {"symbol", "provider", "bid", "ask", "quote_ts"},
    "market.provider.status": {"provider", "state"},
    "market.provider.failover": {"from", "to", "duration_ms"},
    "market.stream.status": {"stream", "state"},
    "market.stream.delivery": {"stream", "delivered", "dropped"},
    "market.heartbeat": set(),
    "trade.order.submitted": {"order_id", "order_type", "symbol", "latency_ms", "status"},
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
    "trade.heartbeat": set(),
    "ai.decision.generated": {
        "decision_id", "provider", "model", "latency_ms", "status", "fallback", "cached", "tokens", "cost_usd",
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


def run(until_ms: int, *incidents: Incident, seed: int = 7, rate: float = 3.0) -> list[Event]:
    return list(Simulator(T0, seed=seed, rate=rate, incidents=incidents).records(until_ms))


@cache
def baseline_half_hour() -> tuple[Event, ...]:
    return tuple(run(T0 + 30 * MIN, seed=11, rate=20.0))


@cache
def baseline_short() -> tuple[Event, ...]:
    return tuple(run(UNTIL))


def of(events: Iterable[Event], subject: str, where: Callable[[dict], bool] = lambda p: True) -> list[dict]:
    return [e.payload for e in events if e.subject == subject and where(e.payload)]


def p(values: Iterable[float], q: float) -> float:
    return float(np.percentile(np.fromiter(values, float), q))


def windows(events: Iterable[Event], subject: str, width_ms: int) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = collections.defaultdict(list)
    for e in events:
        if e.subject == subject:
            out[(e.ts_ms - T0) // width_ms].append(e.payload)
    return out


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

    for service in ("market", "trade", "ai", "analytics"):
        subject = f"{service}.heartbeat"
        assert {10_000} == spacing(subject)
        assert of(events, subject)[0]["ts"] - T0 < 10_000
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
    assert all(q["status"] == "ok" and not q["fallback"] and q["provider"] == "openai" for q in decisions)
    assert max(q["cost_usd"] for q in decisions) < 0.10
    cost_per_day = sum(q["cost_usd"] for q in decisions) * 48
    assert 5 < cost_per_day < 50 / 2
    assert all(q["tokens"] == 0 and q["cost_usd"] == 0 for q in decisions if q["cached"])
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


# ------------------------------------------------------------------------------------- incidents


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
    assert not [e for e in events if e.subject == "trade.heartbeat" and inside(e)]
    outside_orders = [e.payload for e in events if e.subject == "trade.order.submitted" and not inside(e)]
    assert all(q["status"] == "ok" for q in outside_orders)


def test_orchestrator_outage_fails_the_cycles_that_end_in_it() -> None:
    events = run(UNTIL, Incident("outage", START, DURATION, "orchestrator"))

    assert_unchanged_except(events, subject_inside("trade.cycle.completed"))
    during = [e.payload for e in events if e.subject == "trade.cycle.completed" and inside(e)]
    assert len(during) >= 8 and all(q["status"] == "error" for q in during)


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
    assert all(q["provider"] == "openai" and not q["fallback"] for q in during if q["cached"])

    events = run(UNTIL, Incident("provider_down", START, DURATION, "all_models"))
    during = [e.payload for e in events if e.subject == "ai.decision.generated" and inside(e)]
    assert all(q["status"] == "error" and q["fallback"] and q["cost_usd"] == 0 for q in during if not q["cached"])
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
    assert all(q["tokens"] == round(5.0 / 3.5e-6) for q in during if not q["cached"])
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


# --------------------------------------------------------------------------------- incident specs


def test_every_kind_has_an_effect_and_valid_defaults() -> None:
    for name, kind in INCIDENT_KINDS.items():
        incident = Incident(name, T0, MIN)
        assert incident.target == kind.default_target
        assert incident.magnitude == (None if kind.magnitude is None else kind.magnitude.default)
        assert name in format_incident_kinds()


def test_incident_specs_parse_offsets_targets_and_magnitudes() -> None:
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
def test_bad_incident_specs_say_what_was_expected(text: str, message: str) -> None:
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


# ---------------------------------------------------------------------------------------- the CLI


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


def test_the_simulated_day_costs_what_the_docstring_says() -> None:
    # DECISIONS_PER_S 0.1 -> 8,640 decisions a day; the docstring promises ~$13 a day.
    events = run(T0 + 60 * MIN, rate=1.0)
    per_day = sum(q["cost_usd"] for q in of(events, "ai.decision.generated")) * 24
    assert math.isclose(per_day, 13, rel_tol=0.4)
