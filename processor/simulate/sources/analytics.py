"""Sources of the ANALYTICS stream: the API gateway's requests, queries, reports, snapshots,
P&L reconciliation, the database, capacity reports (its heartbeats are ``shapes.heartbeat``)."""

from __future__ import annotations

__all__ = ["capacity", "db_status", "gateway", "pnl_reconciled", "queries", "reports", "snapshots"]

from collections.abc import Iterator

from processor.simulate.platform import CAPACITY_SERVICES, RATE_SHARES
from processor.simulate.sources.run import Raw, Run, clip, lognormal, z
from processor.simulate.sources.shapes import mismatch_source, status_source

_GATEWAY_ROUTES = (  # route, method, cumulative share, median latency ms
    ("/v1/quotes", "GET", 0.35, 22.0),
    ("/v1/positions", "GET", 0.50, 28.0),
    ("/v1/portfolio", "GET", 0.62, 35.0),
    ("/v1/orders", "POST", 0.74, 45.0),
    ("/v1/orders", "GET", 0.84, 25.0),
    ("/v1/orders", "DELETE", 0.88, 40.0),
    ("/v1/decisions", "GET", 0.95, 30.0),
    ("/v1/reports", "GET", 1.00, 60.0),
)
_REPORTS = ("daily_pnl", "risk_exposure", "performance", "trade_journal")
_GATEWAY_5XX = 2e-5
_RATE_LIMITED = 0.003


def gateway(run: Run, until_ms: int) -> Iterator[Raw]:
    rng = run.rng("analytics.gateway.request")
    incidents = run.incidents
    for ts in run.arrivals(rng, run.rate, until_ms):
        u_route, z_latency, u_status, u_fault, u_limited, u_correct = (rng.random() for _ in range(6))
        route, method, _, median_ms = next(r for r in _GATEWAY_ROUTES if u_route < r[2])
        latency = lognormal(median_ms, 0.45, z(z_latency))
        rate_limited = u_limited < _RATE_LIMITED
        outage = incidents.level("outage", ts, "gateway") or 0.0
        if rate_limited:
            status_code, latency = 429, latency * 0.1  # turned away before any work
        elif u_fault < outage:
            status_code = 503
        elif u_fault < _GATEWAY_5XX:
            status_code = 500
        elif u_status < 0.010:
            status_code = 400
        elif u_status < 0.015:
            status_code = 404
        else:
            status_code = 201 if method == "POST" else 200
        misses = incidents.level("rate_limit_errors", ts) or 0.0
        yield ts, "analytics.gateway.request", {
            "ts": ts,
            "route": route,
            "method": method,
            "status_code": status_code,
            "latency_ms": round(latency * incidents.multiplier("latency_spike", ts, "gateway"), 2),
            "rate_limited": rate_limited,
            "rate_limit_correct": u_correct >= misses,
        }


def queries(run: Run, until_ms: int) -> Iterator[Raw]:
    rng = run.rng("analytics.query")
    for ts in run.arrivals(rng, run.rate * RATE_SHARES["analytics.query"], until_ms):
        z_latency, u_fault = z(rng.random()), rng.random()
        ok = u_fault >= (run.incidents.level("outage", ts, "analytics") or 0.0)
        latency = lognormal(90.0, 0.5, z_latency) * run.incidents.multiplier("latency_spike", ts, "queries")
        yield ts, "analytics.query", {"ts": ts, "latency_ms": round(latency, 2), "status": "ok" if ok else "error"}


def reports(run: Run, until_ms: int) -> Iterator[Raw]:
    rng = run.rng("analytics.report.generated")
    for ts in run.arrivals(rng, run.rate * RATE_SHARES["analytics.report.generated"], until_ms):
        u_report, z_latency, u_fault = rng.random(), z(rng.random()), rng.random()
        ok = u_fault >= (run.incidents.level("outage", ts, "analytics") or 0.0)
        latency = lognormal(1_500.0, 0.35, z_latency) * run.incidents.multiplier("latency_spike", ts, "reports")
        yield ts, "analytics.report.generated", {
            "ts": ts,
            "report": _REPORTS[min(int(u_report * len(_REPORTS)), len(_REPORTS) - 1)],
            "latency_ms": round(latency, 2),
            "status": "ok" if ok else "error",
        }


def snapshots(run: Run, until_ms: int) -> Iterator[Raw]:
    rng = run.rng("analytics.snapshot")
    for ts in run.ticks("analytics.snapshot", 0, until_ms):
        lag_ms = int(300 + 1_200 * rng.random())
        if run.incidents.active("snapshot_gap", ts):
            continue
        lag_s = run.incidents.level("position_lag", ts)
        if lag_s is not None:
            lag_ms = int(lag_s * 1000)
        yield ts, "analytics.snapshot", {"ts": ts, "position_lag_ms": lag_ms}


def pnl_reconciled(run: Run, until_ms: int) -> Iterator[Raw]:
    return mismatch_source(run, until_ms, "analytics.pnl.reconciled", "pnl_mismatch", "mismatches")


def db_status(run: Run, until_ms: int) -> Iterator[Raw]:
    intervals = run.incidents.intervals(("db_down",), None)
    return status_source(run, until_ms, "analytics.db.status", 0, intervals, {})


def capacity(run: Run, until_ms: int, index: int) -> Iterator[Raw]:
    service = CAPACITY_SERVICES[index]
    rng = run.rng(f"analytics.capacity/{service}")
    incidents = run.incidents
    for ts in run.ticks("analytics.capacity", index, until_ms):
        z_cpu, z_mem, u_queue, z_db = z(rng.random()), z(rng.random()), rng.random(), z(rng.random())
        cpu = incidents.level("cpu_high", ts, service)
        mem = incidents.level("memory_high", ts, service)
        queue = incidents.level("queue_backlog", ts, service)
        pool = incidents.level("db_pool_exhausted", ts, service)
        yield ts, "analytics.capacity", {
            "ts": ts,
            "service": service,
            "cpu_pct": round(clip(40 + 5 * z_cpu, 20, 60), 1) if cpu is None else cpu,
            "mem_pct": round(clip(55 + 4 * z_mem, 35, 70), 1) if mem is None else mem,
            "queue_depth": 3 + int(12 * u_queue) if queue is None else int(queue),
            "db_conn_pct": round(clip(35 + 5 * z_db, 15, 60), 1) if pool is None else pool,
        }
