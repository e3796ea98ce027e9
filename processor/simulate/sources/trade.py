"""Sources of the TRADE stream: the order flow and its sagas, positions, reconciliations, the
broker, the agents, the orchestrator's cycles (its heartbeats are ``shapes.heartbeat``)."""

from __future__ import annotations

__all__ = [
    "agent_status",
    "broker_status",
    "cycles",
    "orders",
    "position_close_sagas",
    "positions_fetched",
    "positions_reconciled",
]

from collections.abc import Iterator
from typing import Any, NamedTuple

from processor.simulate.incidents import Incident
from processor.simulate.platform import AGENTS, BROKERS, CYCLE_TYPES, RATE_SHARES, SYMBOLS
from processor.simulate.sources.run import Raw, Run, lognormal, z
from processor.simulate.sources.shapes import flow, mismatch_source, state_source, status_source

_RISK_REJECTS = 0.02
_LIMIT_CANCELS = 0.3


def _saga_start(saga_type: str, saga_id: str, ts: int) -> Raw:
    return ts, "trade.saga.started", {"ts": ts, "saga_id": saga_id, "saga_type": saga_type}


def _saga_end(run: Run, saga_type: str, saga_id: str, started_ts: int, end_ts: int, failed: bool) -> list[Raw]:
    """The end event of a saga (none under saga_timeouts; failed under saga_failures)."""
    if run.incidents.active("saga_timeouts", started_ts, saga_type):
        return []
    if run.incidents.active("saga_failures", started_ts, saga_type):
        failed = True
    subject = "trade.saga.failed" if failed else "trade.saga.completed"
    return [(end_ts, subject, {"ts": end_ts, "saga_id": saga_id, "saga_type": saga_type})]


class _OrderDraws(NamedTuple):
    """The draws of one risk check and the order that may follow, in the order they are drawn."""

    z_risk: float
    u_reject: float
    u_type: float
    u_symbol: float
    z_order: float
    z_ack: float
    u_fill: float
    u_cancel: float
    u_cancel_delay: float
    z_cancel: float
    u_fault: float


def orders(run: Run, until_ms: int) -> Iterator[Raw]:
    return flow(_order_flows(run, until_ms), until_ms)


def _order_flows(run: Run, until_ms: int) -> Iterator[tuple[int, list[Raw]]]:
    rng = run.rng("trade.orders")
    per_s = run.rate * RATE_SHARES["trade.risk.checked"]
    for n, t0 in enumerate(run.arrivals(rng, per_s, until_ms)):
        d = _OrderDraws(*(rng.random() for _ in range(len(_OrderDraws._fields))))
        risk_ms = lognormal(6.0, 0.45, z(d.z_risk))
        approve = d.u_reject >= _RISK_REJECTS
        events: list[Raw] = [
            (t0, "trade.risk.checked", {
                "ts": t0,
                "latency_ms": round(risk_ms * run.incidents.multiplier("latency_spike", t0, "risk"), 2),
                "decision": "approve" if approve else "reject",
            }),
        ]
        if approve:
            events.extend(_order(run, n, t0, risk_ms, d))
        yield t0, events


def _order(run: Run, n: int, t0: int, risk_ms: float, d: _OrderDraws) -> list[Raw]:
    """An approved order: its saga, submission, acknowledgment and maybe its cancellation."""
    incidents = run.incidents
    saga_id, order_id = run.id("oe", n), run.id("ord", n)
    order_type = "market" if d.u_type < 0.6 else "limit"
    symbol = SYMBOLS[min(int(d.u_symbol * len(SYMBOLS)), len(SYMBOLS) - 1)]
    order_ms = lognormal(18.0 if order_type == "market" else 20.0, 0.35, z(d.z_order))
    t1 = t0 + int(risk_ms) + int(order_ms) + 1
    ok = d.u_fault >= (incidents.level("outage", t1, "trading") or 0.0)
    events: list[Raw] = [
        _saga_start("order_execution", saga_id, t0),
        (t1, "trade.order.submitted", {
            "ts": t1,
            "order_id": order_id,
            "order_type": order_type,
            "symbol": symbol,
            "qty": _qty(d),
            "latency_ms": round(order_ms * incidents.multiplier("latency_spike", t1, "orders"), 2),
            "status": "ok" if ok else "error",
        }),
    ]
    fill_ms = int(100 + 1400 * d.u_fill)
    if not ok:
        events += _saga_end(run, "order_execution", saga_id, t0, t1 + fill_ms, failed=True)
        return events
    ack_ms = lognormal(120.0, 0.4, z(d.z_ack))
    t2 = t1 + int(ack_ms)
    events.append((t2, "trade.order.acknowledged", {
        "ts": t2,
        "order_id": order_id,
        "latency_ms": round(ack_ms * incidents.multiplier("latency_spike", t2, "acks"), 2),
    }))
    events += _saga_end(run, "order_execution", saga_id, t0, t2 + fill_ms, failed=False)
    cancelled = order_type == "limit" and d.u_cancel < _LIMIT_CANCELS
    events += _fill(order_id, symbol, _qty(d), t1, t2 + fill_ms, d, cancelled)
    if cancelled:
        t3 = t2 + int(2_000 + 28_000 * d.u_cancel_delay)
        cancel_ms = lognormal(35.0, 0.35, z(d.z_cancel))
        cancel_ok = d.u_fault >= (incidents.level("outage", t3, "trading") or 0.0)
        events.append((t3, "trade.order.cancelled", {
            "ts": t3,
            "order_id": order_id,
            "latency_ms": round(cancel_ms * incidents.multiplier("latency_spike", t3, "cancels"), 2),
            "status": "ok" if cancel_ok else "error",
        }))
    return events


def _qty(d: _OrderDraws) -> int:
    """1 to 100 shares, from what is left of the symbol's draw: a new draw would shift every later one
    of the seed, and with it every recorded scenario."""
    return 1 + int((d.u_symbol * len(SYMBOLS)) % 1.0 * 100)


def _fill(order_id: str, symbol: str, qty: int, t1: int, t_fill: int, d: _OrderDraws, cancelled: bool) -> list[Raw]:
    """trade.order.filled as the order's saga completes: every share, or for a limit order cancelled
    later only part of them (none: no fill event). latency_ms is submit -> last fill."""
    filled = int(qty * d.u_cancel_delay) if cancelled else qty
    if filled == 0:
        return []
    return [(t_fill, "trade.order.filled", {
        "ts": t_fill, "order_id": order_id, "symbol": symbol, "qty": qty, "filled_qty": filled,
        "latency_ms": float(t_fill - t1),
    })]


def positions_fetched(run: Run, until_ms: int) -> Iterator[Raw]:
    rng = run.rng("trade.positions.fetched")
    for ts in run.arrivals(rng, run.rate * RATE_SHARES["trade.positions.fetched"], until_ms):
        z_latency, u_fault = z(rng.random()), rng.random()
        ok = u_fault >= (run.incidents.level("outage", ts, "trading") or 0.0)
        latency = lognormal(8.0, 0.4, z_latency) * run.incidents.multiplier("latency_spike", ts, "positions")
        yield ts, "trade.positions.fetched", {
            "ts": ts, "latency_ms": round(latency, 2), "status": "ok" if ok else "error",
        }


def position_close_sagas(run: Run, until_ms: int) -> Iterator[Raw]:
    def flows() -> Iterator[tuple[int, list[Raw]]]:
        rng = run.rng("trade.saga.position_close")
        for n, ts in enumerate(run.arrivals(rng, run.rate * RATE_SHARES["position_close"], until_ms)):
            duration_ms = int(lognormal(2_000.0, 0.5, z(rng.random())))
            saga_id = run.id("pc", n)
            yield ts, [
                _saga_start("position_close", saga_id, ts),
                *_saga_end(run, "position_close", saga_id, ts, ts + duration_ms, failed=False),
            ]

    return flow(flows(), until_ms)


def positions_reconciled(run: Run, until_ms: int) -> Iterator[Raw]:
    return mismatch_source(run, until_ms, "trade.positions.reconciled", "position_mismatch", "discrepancies")


def broker_status(run: Run, until_ms: int) -> Iterator[Raw]:
    broker = BROKERS[0]
    intervals = run.incidents.intervals(("broker_down",), broker)
    return status_source(run, until_ms, "trade.broker.status", 0, intervals, {"broker": broker})


def agent_status(run: Run, until_ms: int, index: int) -> Iterator[Raw]:
    agent = AGENTS[index]

    def make(phase: str, inc: Incident | None) -> dict[str, Any]:
        if inc is None:
            return {"agent": agent, "state": "running", "reason": "requested"}
        crash = inc.kind == "agent_crash"
        if phase == "end":
            return {"agent": agent, "state": "running", "reason": "restarted" if crash else "requested"}
        return {"agent": agent, "state": "stopped", "reason": "crash" if crash else "requested"}

    subject = "trade.agent.status"
    intervals = run.incidents.intervals(("agent_crash", "agent_stop"), agent)
    return state_source(run, until_ms, subject, run.ticks(subject, index, until_ms), intervals, make)


def cycles(run: Run, until_ms: int, cycle_type: str) -> Iterator[Raw]:
    """The orchestrator's cycles of one type; a rebalance cycle runs a portfolio_rebalance saga."""
    return flow(_cycle_flows(run, until_ms, cycle_type), until_ms)


def _cycle_flows(run: Run, until_ms: int, cycle_type: str) -> Iterator[tuple[int, list[Raw]]]:
    incidents = run.incidents
    spec = CYCLE_TYPES[cycle_type]
    rng = run.rng(f"trade.cycle/{cycle_type}")
    first = run.start_ms + spec.offset_ms
    for n, scheduled in enumerate(range(first, until_ms, spec.period_ms)):
        u_drift, z_duration, u_fault, z_saga = (rng.random() for _ in range(4))
        drift_ms = 50 + int(750 * u_drift)
        extra_s = incidents.level("schedule_drift", scheduled, cycle_type)
        if extra_s is not None:
            drift_ms += int(extra_s * 1000)
        started = scheduled + drift_ms
        duration_ms = int(
            lognormal(spec.median_ms, spec.sigma, z(z_duration))
            * incidents.multiplier("cycle_slow", started, cycle_type)
        )
        ts = started + duration_ms
        ok = u_fault >= (incidents.level("outage", ts, "orchestrator") or 0.0)
        events: list[Raw] = [(ts, "trade.cycle.completed", {
            "ts": ts,
            "cycle_id": run.id(f"cyc-{cycle_type}", n),
            "cycle_type": cycle_type,
            "duration_ms": duration_ms,
            "status": "ok" if ok else "error",
            "scheduled_ts": scheduled,
            "started_ts": started,
        })]
        if cycle_type == "rebalance":
            saga_id = run.id("pr", n)
            saga_ts = started + 1_000
            saga_ms = int(lognormal(40_000.0, 0.3, z(z_saga)))
            events.append(_saga_start("portfolio_rebalance", saga_id, saga_ts))
            events += _saga_end(run, "portfolio_rebalance", saga_id, saga_ts, saga_ts + saga_ms, False)
        yield scheduled, events
