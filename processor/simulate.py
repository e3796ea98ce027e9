"""A synthetic trading platform: realistic traffic on every subject of EVENTS.md, with incidents.

Two halves:

- ``Simulator`` is pure and deterministic: no I/O and no wall clock (event time starts at
  ``start_ms``), every draw from a ``random.Random`` seeded from ``seed``. ``records(until_ms)``
  yields ``Event(ts_ms, subject, payload)`` in non-decreasing ``ts`` order and ``events(until_ms)``
  the same as ``(subject, JSON bytes)``. A payload holds ``ts`` (integer epoch ms of event time)
  and exactly the fields EVENTS.md lists for its subject, nothing else.
- ``publish()`` sends the events to JetStream, as fast as possible or paced against the wall
  clock, and realises the one incident that no payload can carry (``consumer_lag``).

Rate model
----------
``rate`` is the number of ``analytics.gateway.request`` events per second of event time: the
busiest subject at any rate >= 1/s. The default, 20/s (1,200 requests/min), is about the
document's baseline of 1,000 API requests/min. The other request-driven subjects are Poisson
processes at a fixed share of it (``RATE_SHARES``; the order flow, its sagas and the
position-close sagas follow from ``trade.risk.checked`` and ``position_close``).

Clock-driven subjects keep their real period at every rate, because their SLOs are about that
period (heartbeat minutes, snapshot every 60 s, staleness of a quote every second) or about sums
per day (AI cost): heartbeats, quotes, status and delivery reports, snapshots, reconciliations,
capacity reports (``SCHEDULE``), orchestrator cycles (``CYCLE_TYPES``) and AI decisions, a Poisson
process of ``DECISIONS_PER_S`` (0.1/s, 8,640 a day, ~$13 a day).

Periodic reports of entity ``i`` (a symbol, provider, agent or service, in the order of the
tuples below) are at ``start_ms + offset_ms + i * stagger_ms + k * period_ms``; a cycle of a type
is scheduled at ``start_ms + offset_ms + k * period_ms``.

Baseline (no incident): every value comfortably inside PLATFORM-SLOS.md. Gateway p50 ~30 ms,
p95 ~70 ms, p99 ~100 ms, 5xx 0.002 % (the only errors besides ``market.request``'s 0.002 %; every
other operation succeeds, so that low-volume ratios cannot breach by chance), cache hit rate
90 %, quote freshness 20-300 ms, decisions p50 ~1.1 s / p95 ~2 s, decision accuracy 70 %, no
fallbacks, cost ~$0.0022 per uncached decision, cpu 40 +- 5 %, every provider, broker, stream,
database and agent up, every saga completing well within its timeout, cycle drift < 1 s.

Determinism
-----------
Every source (a subject, or a symbol, provider, cycle type ...) has its own ``Random`` seeded with
``"{seed}/{source}"`` and draws the same numbers for each event whatever the incidents; incidents
only change what is made of the draws. So, for one seed: a run with incidents equals the run
without them except for what the incidents change, ``records(t1)`` is a prefix of
``records(t2)`` for ``t1 < t2``, and nothing depends on the process (string seeds are hashed with
SHA-512, not ``hash()``). Ids (``order_id``, ``saga_id`` ...) embed a token of ``(seed,
start_ms)``, so two runs into one stream do not mix their correlations.

Incidents
---------
``Incident(kind, start_ms, duration_ms, target, magnitude)`` is active on ``[start_ms, end_ms)``
of event time. Unless a kind says otherwise it changes the events stamped in that interval,
never their ``ts``. Kinds that model a state (a provider down ...) also add a transition event at
``start_ms`` and its reverse at ``end_ms``. Follow-up events of a flow (an order's acknowledgment,
a saga's end, a decision's outcome) go with the event that selected the flow, even when they fall
after ``end_ms``. Overlapping incidents of one kind combine: multipliers multiply, fractions and
levels take the most severe value, state intervals merge. ``INCIDENT_KINDS`` (and
``slo simulate --list-incidents``) says, kind by kind, what changes in which payloads.

Not simulated: the event bus's publish failures and stream unavailability (PLATFORM-SLOS.md "Event
Bus"), which need a fault in NATS itself; the processor measures those with its own probes.
"""

from __future__ import annotations

__all__ = [
    "AGENTS",
    "AI_PROVIDERS",
    "ALL",
    "ALL_MODELS",
    "CAPACITY_SERVICES",
    "CYCLE_TYPES",
    "DECISIONS_PER_S",
    "DEFAULT_RATE",
    "INCIDENT_KINDS",
    "MARKET_FAILOVER",
    "MARKET_PROVIDERS",
    "RATE_SHARES",
    "SAGA_TIMEOUT_MS",
    "SAGA_TYPES",
    "SCHEDULE",
    "STREAM_OF_PREFIX",
    "SYMBOLS",
    "WS_STREAMS",
    "CycleType",
    "Event",
    "Incident",
    "IncidentKind",
    "IncidentSpec",
    "Periodic",
    "PublishProgress",
    "PublishResult",
    "Simulator",
    "check_start",
    "format_incident_kinds",
    "parse_incident",
    "parse_positive_duration",
    "parse_positive_number",
    "parse_start",
    "publish",
    "run_from_args",
]

import asyncio
import hashlib
import heapq
import itertools
import math
import random
import re
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

if TYPE_CHECKING:
    import argparse

    from nats.aio.client import Client

# ------------------------------------------------------------------------------------ the platform

ALL = "all"
ALL_MODELS = "all_models"

SYMBOLS = ("AAPL", "MSFT", "NVDA", "SPY", "BTCUSD")
_CRYPTO = frozenset({"BTCUSD"})
_START_MID = {"AAPL": 190.0, "MSFT": 420.0, "NVDA": 120.0, "SPY": 560.0, "BTCUSD": 65_000.0}

MARKET_PROVIDERS = ("alpaca", "finnhub", "polygon", "coingecko", "newsapi", "gdelt")
# PLATFORM-SLOS.md "Data Provider SLOs"; a provider whose failover is down fails over further.
MARKET_FAILOVER = {"alpaca": "finnhub", "finnhub": "polygon", "newsapi": "gdelt"}
WS_STREAMS = ("alpaca-ws",)
BROKERS = ("alpaca",)

AI_PROVIDERS = ("openai", "groq", "together")  # the document's fallback order
_AI_MODELS = {"openai": "gpt-4o", "groq": "mixtral-8x7b", "together": "llama-3-70b"}
_AI_USD_PER_TOKEN = {"openai": 3.5e-6, "groq": 3e-7, "together": 9e-7}

AGENTS = ("momentum", "mean_reversion", "sentiment")
SAGA_TYPES = ("order_execution", "position_close", "portfolio_rebalance")
SAGA_TIMEOUT_MS = {"order_execution": 60_000, "position_close": 60_000, "portfolio_rebalance": 300_000}
CAPACITY_SERVICES = ("api-gateway", "market-data", "trading-engine", "orchestrator", "ai-decision", "analytics")

STREAM_OF_PREFIX = {"market": "MARKET", "trade": "TRADE", "ai": "AI", "analytics": "ANALYTICS"}

DEFAULT_RATE = 20.0
# Events per second of event time per unit of ``rate`` (request-driven subjects only).
RATE_SHARES = {
    "analytics.gateway.request": 1.0,
    "market.request": 0.5,
    "analytics.query": 0.1,
    "trade.risk.checked": 0.05,  # 98 % approved: each an order_execution saga with one order
    "trade.positions.fetched": 0.05,
    "position_close": 0.01,  # trade.saga.started of type position_close
    "analytics.report.generated": 0.002,
}
DECISIONS_PER_S = 0.1


@dataclass(frozen=True)
class Periodic:
    period_ms: int
    offset_ms: int
    stagger_ms: int = 0  # entity i reports at offset_ms + i * stagger_ms


SCHEDULE = {
    "market.quote": Periodic(1_000, 100, 50),  # per SYMBOLS
    "market.heartbeat": Periodic(10_000, 1_000),
    "market.provider.status": Periodic(30_000, 2_000, 100),  # per MARKET_PROVIDERS
    "market.stream.status": Periodic(30_000, 4_000, 100),  # per WS_STREAMS
    "market.stream.delivery": Periodic(10_000, 6_000, 100),  # per WS_STREAMS
    "trade.heartbeat": Periodic(10_000, 3_000),
    "trade.broker.status": Periodic(30_000, 8_000),
    "trade.agent.status": Periodic(60_000, 9_000, 100),  # per AGENTS
    "trade.positions.reconciled": Periodic(60_000, 30_000),
    "ai.heartbeat": Periodic(10_000, 5_000),
    "ai.provider.status": Periodic(30_000, 12_000, 100),  # per AI_PROVIDERS
    "analytics.heartbeat": Periodic(10_000, 7_000),
    "analytics.snapshot": Periodic(60_000, 20_000),
    "analytics.pnl.reconciled": Periodic(60_000, 40_000),
    "analytics.db.status": Periodic(30_000, 14_000),
    "analytics.capacity": Periodic(15_000, 11_000, 100),  # per CAPACITY_SERVICES
}


@dataclass(frozen=True)
class CycleType:
    period_ms: int
    offset_ms: int
    median_ms: float
    sigma: float  # of the log-normal duration


# Medians keep even the p99 of every type under the 90 s warning, so that a p95 over any mix of
# cycle types stays clear of it in the baseline.
CYCLE_TYPES = {
    "heartbeat": CycleType(30_000, 0, 1_200, 0.3),
    "analysis": CycleType(300_000, 15_000, 20_000, 0.25),
    "rebalance": CycleType(1_800_000, 90_000, 50_000, 0.2),
}

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
_MARKET_OPS = (("get_quote", 0.60), ("get_bars", 0.85), ("get_fundamentals", 0.95), ("get_news", 1.00))
_REPORTS = ("daily_pnl", "risk_exposure", "performance", "trade_journal")

_GATEWAY_5XX = 2e-5
_MARKET_ERRORS = 2e-5
_CACHE_HIT_RATE = 0.9
_DECISION_ACCURACY = 0.7
_DECISION_CACHED = 0.3
_OUTCOME_DELAY_MS = 60_000
_RISK_REJECTS = 0.02
_LIMIT_CANCELS = 0.3
_RATE_LIMITED = 0.003


# ------------------------------------------------------------------------------------- incidents


@dataclass(frozen=True)
class IncidentKind:
    name: str
    effect: str
    targets: tuple[str, ...] = ()  # allowed targets; () = the kind takes none
    default_target: str | None = None
    magnitude: str | None = None  # what the magnitude means; None = the kind takes none
    default_magnitude: float | None = None
    magnitude_min: float = 0.0  # exclusive, unless min_inclusive
    magnitude_max: float = math.inf  # inclusive
    min_inclusive: bool = False
    integer: bool = False
    bus: bool = False  # realised by publish(), not in any payload

    def magnitude_bounds(self) -> str:
        low = f"{'at least' if self.min_inclusive else 'above'} {self.magnitude_min:g}"
        high = f" and at most {self.magnitude_max:g}" if math.isfinite(self.magnitude_max) else ""
        return f"{'a whole number ' if self.integer else ''}{low}{high}"

    def accepts(self, value: float) -> bool:
        low_ok = value >= self.magnitude_min if self.min_inclusive else value > self.magnitude_min
        whole_ok = not self.integer or value == int(value)
        return math.isfinite(value) and low_ok and value <= self.magnitude_max and whole_ok

    def covered(self, target: str | None) -> frozenset[str]:
        """The entities a target stands for (``all`` and ``all_models`` for several)."""
        if target is None:
            return frozenset()
        if target == ALL_MODELS:
            return frozenset(AI_PROVIDERS)
        if target == ALL:
            if self.name == "provider_down":
                return frozenset(MARKET_PROVIDERS)
            return frozenset(t for t in self.targets if t != ALL)
        return frozenset({target})


_SPIKE_TARGETS = {
    "gateway": "analytics.gateway.request",
    "quotes": "market.request",
    "orders": "trade.order.submitted",
    "acks": "trade.order.acknowledged",
    "cancels": "trade.order.cancelled",
    "positions": "trade.positions.fetched",
    "risk": "trade.risk.checked",
    "decisions": "ai.decision.generated",
    "queries": "analytics.query",
    "reports": "analytics.report.generated",
}
_OUTAGE_TARGETS = ("gateway", "market", "trading", "orchestrator", "ai", "analytics")
_CYCLE_TARGETS = (*CYCLE_TYPES, ALL)
_SERVICE_TARGETS = (*CAPACITY_SERVICES, ALL)


def _kinds(*kinds: IncidentKind) -> dict[str, IncidentKind]:
    return {k.name: k for k in kinds}


INCIDENT_KINDS = _kinds(
    IncidentKind(
        "latency_spike",
        "latency_ms of the target's events x magnitude: gateway=analytics.gateway.request, "
        "quotes=market.request, orders=trade.order.submitted, acks=trade.order.acknowledged, "
        "cancels=trade.order.cancelled, positions=trade.positions.fetched, risk=trade.risk.checked, "
        "decisions=ai.decision.generated, queries=analytics.query, reports=analytics.report.generated",
        tuple(_SPIKE_TARGETS), "gateway", "latency multiplier", 10.0,
    ),
    IncidentKind(
        "outage",
        "a magnitude fraction of the target's requests fail: gateway: status_code 503 (429s stay); "
        "market: market.request status error; trading: trade.order.submitted/cancelled and "
        "trade.positions.fetched status error, a failed order has no ack or cancel and its saga "
        "ends in trade.saga.failed; orchestrator: trade.cycle.completed status error; ai: "
        "ai.decision.generated status error, no outcome; analytics: analytics.query and "
        "analytics.report.generated status error. At fraction 1 the service's heartbeats "
        "(market/trade/ai/analytics.heartbeat) stop too",
        _OUTAGE_TARGETS, "gateway", "fraction of requests failing", 1.0, 0.0, 1.0,
    ),
    IncidentKind(
        "stale_quotes",
        "market.quote.<symbol>: quote_ts frozen at the interval's start_ms and bid/ask at the "
        "interval's first quote, so freshness ts - quote_ts = ts - start_ms",
        (*SYMBOLS, ALL), ALL,
    ),
    IncidentKind("quotes_stop", "no market.quote.<symbol> event", (*SYMBOLS, ALL), ALL),
    IncidentKind(
        "provider_down",
        "market.provider.status / ai.provider.status: down at start_ms, every report down, up at "
        "end_ms. Market provider: market.provider.failover {from, to, duration_ms = magnitude s} at "
        "start_ms + magnitude s when a failover provider is up (and the outage lasts longer); "
        "cache misses of its ops fail before that and are served by the failover after, or fail "
        "when none is up; its quotes are published under the failover's name, or not at all. AI "
        "provider: uncached decisions go to the next model up (fallback true, its model and price), "
        "status error when none is up (all_models)",
        (*MARKET_PROVIDERS, ALL, *AI_PROVIDERS, ALL_MODELS), "alpaca",
        "failover time in seconds (market providers)", 3.0,
    ),
    IncidentKind(
        "saga_timeouts",
        "sagas of the type(s) started in the interval never end (no trade.saga.completed/failed)",
        (*SAGA_TYPES, ALL), ALL,
    ),
    IncidentKind(
        "saga_failures",
        "sagas of the type(s) started in the interval end in trade.saga.failed instead of completed",
        (*SAGA_TYPES, ALL), ALL,
    ),
    IncidentKind(
        "cost_overrun",
        "ai.decision.generated, uncached and ok: cost_usd = magnitude, tokens = cost / model price",
        (), None, "USD per decision", 0.25,
    ),
    IncidentKind("snapshot_gap", "no analytics.snapshot event"),
    IncidentKind(
        "position_lag", "analytics.snapshot: position_lag_ms = magnitude s", (), None, "lag in seconds", 8.0,
    ),
    IncidentKind(
        "position_mismatch",
        "trade.positions.reconciled: an extra event at start_ms and every report with "
        "discrepancies = magnitude, an extra one with 0 at end_ms",
        (), None, "discrepancies", 1.0, integer=True,
    ),
    IncidentKind(
        "pnl_mismatch",
        "analytics.pnl.reconciled: an extra event at start_ms and every report with "
        "mismatches = magnitude, an extra one with 0 at end_ms",
        (), None, "mismatches", 1.0, integer=True,
    ),
    IncidentKind(
        "consumer_lag",
        "not in any payload: publish() pauses the processor's durable consumer slo_<stream> "
        "(JetStream consumer pause) from the moment it reaches start_ms until end_ms in paced mode, "
        "or for duration of wall time with --fast; lag = messages published on the stream since",
        tuple(STREAM_OF_PREFIX), "analytics", bus=True,
    ),
    IncidentKind(
        "broker_down",
        "trade.broker.status: down at start_ms, every report down, up at end_ms", BROKERS, "alpaca",
    ),
    IncidentKind("db_down", "analytics.db.status: down at start_ms, every report down, up at end_ms"),
    IncidentKind(
        "agent_crash",
        "trade.agent.status: stopped/crash at start_ms and in every report, running/restarted at end_ms",
        AGENTS, AGENTS[0],
    ),
    IncidentKind(
        "agent_stop",
        "trade.agent.status: stopped/requested at start_ms and in every report, running/requested "
        "at end_ms (an intended stop: no alert should fire)",
        AGENTS, AGENTS[0],
    ),
    IncidentKind(
        "cycle_slow",
        "trade.cycle.completed of cycles started in the interval: duration_ms x magnitude, and the "
        "event comes that much later (ts = started_ts + duration_ms)",
        _CYCLE_TARGETS, ALL, "duration multiplier", 6.0,
    ),
    IncidentKind(
        "schedule_drift",
        "trade.cycle.completed of cycles scheduled in the interval: started_ts (and ts) later by "
        "magnitude s",
        _CYCLE_TARGETS, ALL, "extra drift in seconds", 15.0,
    ),
    IncidentKind(
        "cache_misses", "market.request: cache hit rate = magnitude (misses take miss latencies)",
        (), None, "hit rate", 0.5, 0.0, 1.0, min_inclusive=True,
    ),
    IncidentKind(
        "fallbacks",
        "ai.decision.generated, uncached: a magnitude fraction is answered by the next model up "
        "(fallback true)",
        (), None, "fraction of decisions", 0.2, 0.0, 1.0,
    ),
    IncidentKind(
        "stream_disconnect",
        "market.stream.status: disconnected at start_ms, every report disconnected, connected at "
        "end_ms (reconnection time = duration); market.stream.delivery reports in the interval: "
        "delivered 0, dropped = what would have been delivered",
        WS_STREAMS, WS_STREAMS[0],
    ),
    IncidentKind(
        "bad_decisions", "ai.decision.outcome: correct with probability magnitude",
        (), None, "accuracy", 0.3, 0.0, 1.0, min_inclusive=True,
    ),
    IncidentKind(
        "rate_limit_errors",
        "analytics.gateway.request: rate_limit_correct false for a magnitude fraction",
        (), None, "fraction of requests", 0.01, 0.0, 1.0,
    ),
    IncidentKind(
        "cpu_high", "analytics.capacity of the service(s): cpu_pct = magnitude",
        _SERVICE_TARGETS, ALL, "cpu percent", 85.0, 0.0, 100.0,
    ),
    IncidentKind(
        "memory_high", "analytics.capacity of the service(s): mem_pct = magnitude",
        _SERVICE_TARGETS, ALL, "memory percent", 90.0, 0.0, 100.0,
    ),
    IncidentKind(
        "queue_backlog", "analytics.capacity of the service(s): queue_depth = magnitude",
        _SERVICE_TARGETS, ALL, "pending requests", 250.0, integer=True,
    ),
    IncidentKind(
        "db_pool_exhausted", "analytics.capacity of the service(s): db_conn_pct = magnitude",
        _SERVICE_TARGETS, ALL, "pool use percent", 95.0, 0.0, 100.0,
    ),
)


@dataclass(frozen=True)
class Incident:
    """An incident on ``[start_ms, end_ms)`` of event time. ``target=None`` and ``magnitude=None``
    mean the kind's defaults; after construction both hold the resolved values."""

    kind: str
    start_ms: int
    duration_ms: int
    target: str | None = None
    magnitude: float | None = None
    covers: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kind = INCIDENT_KINDS.get(self.kind)
        if kind is None:
            raise ValueError(f"unknown incident kind {self.kind!r}; known: {', '.join(INCIDENT_KINDS)}")
        if isinstance(self.start_ms, bool) or not isinstance(self.start_ms, int):
            raise ValueError(f"{self.kind}: start_ms must be an integer epoch ms, got {self.start_ms!r}")
        if isinstance(self.duration_ms, bool) or not isinstance(self.duration_ms, int) or self.duration_ms <= 0:
            raise ValueError(f"{self.kind}: duration_ms must be a positive integer, got {self.duration_ms!r}")
        object.__setattr__(self, "target", _resolve_target(kind, self.target))
        object.__setattr__(self, "magnitude", _resolve_magnitude(kind, self.magnitude))
        object.__setattr__(self, "covers", kind.covered(self.target))

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms

    def active(self, ts_ms: int) -> bool:
        return self.start_ms <= ts_ms < self.end_ms

    @property
    def bus(self) -> bool:
        return INCIDENT_KINDS[self.kind].bus


def _resolve_target(kind: IncidentKind, target: str | None) -> str | None:
    if not kind.targets:
        if target is not None:
            raise ValueError(f"{kind.name} takes no target, got {target!r}")
        return None
    if target is None:
        return kind.default_target
    for allowed in kind.targets:
        if target.lower() == allowed.lower():
            return allowed
    raise ValueError(f"{kind.name}: unknown target {target!r}; expected one of {', '.join(kind.targets)}")


def _resolve_magnitude(kind: IncidentKind, magnitude: float | None) -> float | None:
    if kind.magnitude is None:
        if magnitude is not None:
            raise ValueError(f"{kind.name} takes no magnitude, got {magnitude!r}")
        return None
    if magnitude is None:
        return kind.default_magnitude
    value = float(magnitude)
    if not kind.accepts(value):
        raise ValueError(
            f"{kind.name}: magnitude ({kind.magnitude}) must be {kind.magnitude_bounds()}, got {magnitude!r}"
        )
    return value


@dataclass(frozen=True)
class IncidentSpec:
    """An incident relative to the start of a run, as ``--incident`` writes it."""

    kind: str
    offset_ms: int
    duration_ms: int
    target: str | None = None
    magnitude: float | None = None

    def at(self, start_ms: int) -> Incident:
        return Incident(self.kind, start_ms + self.offset_ms, self.duration_ms, self.target, self.magnitude)


INCIDENT_SYNTAX = "KIND[:TARGET][=MAGNITUDE]@OFFSET+DURATION"
_INCIDENT_RE = re.compile(
    r"(?P<kind>[a-z_]+)(?::(?P<target>[A-Za-z0-9_.-]+))?(?:=(?P<magnitude>[^@]+))?"
    r"@(?P<offset>[0-9a-z]+)\+(?P<duration>[0-9a-z]+)"
)


def parse_incident(text: str) -> IncidentSpec:
    """``latency_spike:gateway@2m+5m``, ``outage:gateway=0.01@1m+10m``; ValueError saying why not."""
    from processor.config.parse import parse_duration_ms

    m = _INCIDENT_RE.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"expected {INCIDENT_SYNTAX} such as latency_spike:gateway@2m+5m, got {text!r}")
    try:
        offset_ms = parse_duration_ms(m["offset"])
    except ValueError as exc:
        raise ValueError(f"offset in {text!r}: {exc}") from None
    try:
        duration_ms = parse_duration_ms(m["duration"])
    except ValueError as exc:
        raise ValueError(f"duration in {text!r}: {exc}") from None
    if duration_ms <= 0:
        raise ValueError(f"duration in {text!r} must be more than 0")
    magnitude: float | None = None
    if m["magnitude"] is not None:
        try:
            magnitude = float(m["magnitude"])
        except ValueError:
            raise ValueError(f"magnitude in {text!r} must be a number, got {m['magnitude']!r}") from None
    spec = IncidentSpec(m["kind"], offset_ms, duration_ms, m["target"], magnitude)
    spec.at(0)  # validates kind, target and magnitude now, with the offending text at hand
    return spec


def format_incident_kinds() -> str:
    lines = [
        f"Incidents: --incident {INCIDENT_SYNTAX}, e.g. latency_spike:gateway@2m+5m",
        "OFFSET from --start, DURATION of event time. An incident changes the events stamped in",
        "[start, start + duration), never their ts unless it says so; kinds with a state also add",
        "a transition event at its start and one back at its end. Incidents may overlap.",
        "",
    ]
    for kind in INCIDENT_KINDS.values():
        lines.append(kind.name + ("  (event bus, realised while publishing)" if kind.bus else ""))
        if kind.targets:
            lines.append(f"  target:    {' | '.join(kind.targets)} (default {kind.default_target})")
        if kind.magnitude is not None:
            lines.append(
                f"  magnitude: {kind.magnitude}, {kind.magnitude_bounds()} (default {kind.default_magnitude:g})"
            )
        lines.extend(textwrap.wrap(kind.effect, 100, initial_indent="  effect:    ", subsequent_indent=" " * 13))
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- generator


class Event(NamedTuple):
    ts_ms: int
    subject: str
    payload: dict[str, Any]


_Raw = tuple[int, str, dict[str, Any]]
_Interval = tuple[int, int, Incident]


def _ts_key(event: _Raw) -> int:
    return event[0]


def _lognormal(median: float, sigma: float, z: float) -> float:
    return median * math.exp(sigma * z)


def _clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _flow(arrivals: Iterator[tuple[int, list[_Raw]]], until_ms: int) -> Iterator[_Raw]:
    """Events of flows in ts order. Each arrival at time t (non-decreasing) brings the events of
    one flow, all stamped t or later, so whatever is due by t can go out before it."""
    pending: list[tuple[int, int, _Raw]] = []
    seq = itertools.count()
    for t, produced in arrivals:
        while pending and pending[0][0] <= t:
            yield heapq.heappop(pending)[2]
        for event in produced:
            if event[0] < until_ms:
                heapq.heappush(pending, (event[0], next(seq), event))
    while pending:
        yield heapq.heappop(pending)[2]


def _merge_intervals(incidents: Sequence[Incident]) -> list[_Interval]:
    """Union of the incidents' intervals; each part keeps the incident that opened it."""
    merged: list[_Interval] = []
    for inc in sorted(incidents, key=lambda i: (i.start_ms, i.end_ms)):
        if merged and inc.start_ms <= merged[-1][1]:
            s, e, first = merged[-1]
            merged[-1] = (s, max(e, inc.end_ms), first)
        else:
            merged.append((inc.start_ms, inc.end_ms, inc))
    return merged


def _covering(intervals: Sequence[_Interval], ts: int) -> _Interval | None:
    for interval in intervals:
        if interval[0] <= ts < interval[1]:
            return interval
    return None


class Simulator:
    """Deterministic traffic of the whole platform from ``start_ms`` on; see the module docstring."""

    def __init__(
        self,
        start_ms: int,
        seed: int = 0,
        rate: float = DEFAULT_RATE,
        incidents: Sequence[Incident] = (),
    ) -> None:
        if isinstance(start_ms, bool) or not isinstance(start_ms, int) or start_ms < 0:
            raise ValueError(f"start_ms must be a non-negative integer epoch ms, got {start_ms!r}")
        if not (isinstance(rate, int | float) and math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a positive number of gateway requests per second, got {rate!r}")
        self.start_ms = start_ms
        self.seed = seed
        self.rate = float(rate)
        self.incidents: tuple[Incident, ...] = tuple(incidents)
        self._run_id = hashlib.sha256(f"{seed}:{start_ms}".encode()).hexdigest()[:6]
        self._by_kind: dict[str, list[Incident]] = {}
        for inc in self.incidents:
            self._by_kind.setdefault(inc.kind, []).append(inc)
        self._intervals_cache: dict[tuple[tuple[str, ...], str | None], list[_Interval]] = {}

    # ---- what tests and the publisher ask about incidents -------------------------------------

    def active_incidents(self, ts_ms: int) -> tuple[Incident, ...]:
        return tuple(i for i in self.incidents if i.active(ts_ms))

    def intervals(self, kind: str, target: str | None = None) -> list[tuple[int, int]]:
        """Merged ``[start_ms, end_ms)`` intervals of ``kind`` (covering ``target`` if given)."""
        return [(s, e) for s, e, _ in self._intervals((kind,), target)]

    def _intervals(self, kinds: tuple[str, ...], entity: str | None) -> list[_Interval]:
        key = (kinds, entity)
        cached = self._intervals_cache.get(key)
        if cached is None:
            incs = [
                i
                for k in kinds
                for i in self._by_kind.get(k, ())
                if entity is None or entity in i.covers
            ]
            cached = self._intervals_cache[key] = _merge_intervals(incs)
        return cached

    def _active(self, kind: str, ts: int, entity: str | None = None) -> list[Incident]:
        incs = self._by_kind.get(kind)
        if not incs:
            return []
        return [i for i in incs if i.start_ms <= ts < i.end_ms and (entity is None or entity in i.covers)]

    def _multiplier(self, kind: str, ts: int, entity: str | None = None) -> float:
        factor = 1.0
        for inc in self._active(kind, ts, entity):
            factor *= inc.magnitude  # type: ignore[operator]
        return factor

    def _level(self, kind: str, ts: int, entity: str | None = None, worst: Callable[..., float] = max) -> float | None:
        values = [i.magnitude for i in self._active(kind, ts, entity)]
        return worst(values) if values else None  # type: ignore[arg-type]

    def _down(self, kind: str, entity: str, ts: int) -> _Interval | None:
        return _covering(self._intervals((kind,), entity), ts)

    # ---- the stream of events -----------------------------------------------------------------

    def records(self, until_ms: int) -> Iterator[Event]:
        """Every event with ``start_ms <= ts < until_ms``, in non-decreasing ``ts`` order."""
        until_ms = int(until_ms)
        sources = [make(until_ms) for make in self._sources()]
        for ts, subject, payload in heapq.merge(*sources, key=_ts_key):
            yield Event(ts, subject, payload)

    def events(self, until_ms: int) -> Iterator[tuple[str, bytes]]:
        for _, subject, payload in self.records(until_ms):
            yield subject, orjson.dumps(payload)

    def _sources(self) -> list[Callable[[int], Iterator[_Raw]]]:
        sources: list[Callable[[int], Iterator[_Raw]]] = [
            self._gateway,
            self._market_requests,
            *(lambda u, i=i: self._quotes(u, i) for i in range(len(SYMBOLS))),
            *(lambda u, i=i: self._market_provider_status(u, i) for i in range(len(MARKET_PROVIDERS))),
            self._failovers,
            *(lambda u, i=i: self._ws_status(u, i) for i in range(len(WS_STREAMS))),
            *(lambda u, i=i: self._ws_delivery(u, i) for i in range(len(WS_STREAMS))),
            lambda u: self._heartbeat(u, "market.heartbeat", "market"),
            self._orders,
            self._positions_fetched,
            self._position_close_sagas,
            self._positions_reconciled,
            self._broker_status,
            *(lambda u, t=t: self._cycles(u, t) for t in CYCLE_TYPES),
            *(lambda u, i=i: self._agent_status(u, i) for i in range(len(AGENTS))),
            lambda u: self._heartbeat(u, "trade.heartbeat", "trading"),
            self._decisions,
            *(lambda u, i=i: self._ai_provider_status(u, i) for i in range(len(AI_PROVIDERS))),
            lambda u: self._heartbeat(u, "ai.heartbeat", "ai"),
            self._queries,
            self._reports,
            self._snapshots,
            self._pnl_reconciled,
            self._db_status,
            *(lambda u, i=i: self._capacity(u, i) for i in range(len(CAPACITY_SERVICES))),
            lambda u: self._heartbeat(u, "analytics.heartbeat", "analytics"),
        ]
        return sources

    # ---- building blocks ----------------------------------------------------------------------

    def _rng(self, source: str) -> random.Random:
        return random.Random(f"{self.seed}/{source}")

    def _arrivals(self, rng: random.Random, per_s: float, until_ms: int) -> Iterator[int]:
        mean_ms = 1000.0 / per_s
        t = float(self.start_ms)
        while True:
            t += rng.expovariate(1.0) * mean_ms
            if t >= until_ms:
                return
            yield int(t)

    def _ticks(self, subject: str, index: int, until_ms: int) -> range:
        p = SCHEDULE[subject]
        return range(self.start_ms + p.offset_ms + index * p.stagger_ms, until_ms, p.period_ms)

    def _state_source(
        self,
        until_ms: int,
        subject: str,
        ticks: range,
        intervals: Sequence[_Interval],
        make: Callable[[str, Incident | None], dict[str, Any] | None],
    ) -> Iterator[_Raw]:
        """Periodic reports plus a transition at each end of each interval. ``make(phase, inc)``
        builds the payload: phase "report" (inc = the interval covering it, or None), "start" or
        "end" (inc = the interval's first incident)."""
        edges = []
        for s, e, inc in intervals:
            if self.start_ms <= s < until_ms:
                edges.append((s, 0, "start", inc))
            if self.start_ms <= e < until_ms:
                edges.append((e, 0, "end", inc))
        reports = ((ts, 1, "report", None) for ts in ticks)
        for ts, _, phase, inc in heapq.merge(edges, reports, key=lambda x: (x[0], x[1])):
            if phase == "report":
                covering = _covering(intervals, ts)
                inc = covering[2] if covering else None
            body = make(phase, inc)
            if body is not None:
                yield ts, subject, {"ts": ts, **body}

    def _id(self, prefix: str, n: int) -> str:
        return f"{prefix}-{self._run_id}-{n:07d}"

    # ---- market ---------------------------------------------------------------------------------

    def _market_route(self, provider: str, ts: int) -> str | None:
        """Who serves ``provider``'s data at ``ts``: itself, a failover that is up, or nobody
        (during the failover time, or with no failover up)."""
        down = self._down("provider_down", provider, ts)
        if down is None:
            return provider
        if ts < down[0] + _failover_ms(down[2]):
            return None
        return self._failover_target(provider, ts)

    def _failover_target(self, provider: str, ts: int) -> str | None:
        nxt = MARKET_FAILOVER.get(provider)
        while nxt is not None:
            if self._down("provider_down", nxt, ts) is None:
                return nxt
            nxt = MARKET_FAILOVER.get(nxt)
        return None

    def _market_requests(self, until_ms: int) -> Iterator[_Raw]:
        rng = self._rng("market.request")
        for ts in self._arrivals(rng, self.rate * RATE_SHARES["market.request"], until_ms):
            u_op, u_crypto, u_cache, z_hit, z_miss, u_fault = (rng.random() for _ in range(6))
            z_hit, z_miss = _z(z_hit), _z(z_miss)
            op = next(name for name, cum in _MARKET_OPS if u_op < cum)
            if op in ("get_quote", "get_bars"):
                provider = "coingecko" if u_crypto < 0.2 else "alpaca"
            else:
                provider = "finnhub" if op == "get_fundamentals" else "newsapi"
            hit_rate = self._level("cache_misses", ts, worst=min)
            hit = u_cache < (_CACHE_HIT_RATE if hit_rate is None else hit_rate)
            latency = _lognormal(4.0, 0.4, z_hit) if hit else _lognormal(40.0, 0.3, z_miss)
            latency *= self._multiplier("latency_spike", ts, "quotes")
            ok = u_fault >= max(_MARKET_ERRORS, self._level("outage", ts, "market") or 0.0)
            if not hit:
                served_by = self._market_route(provider, ts)
                if served_by is None:
                    ok = False
                else:
                    provider = served_by
            yield ts, "market.request", {
                "ts": ts,
                "op": op,
                "latency_ms": round(latency, 2),
                "status": "ok" if ok else "error",
                "cache": "hit" if hit else "miss",
                "provider": provider,
            }

    def _quotes(self, until_ms: int, index: int) -> Iterator[_Raw]:
        symbol = SYMBOLS[index]
        subject = f"market.quote.{symbol}"
        rng = self._rng(subject)
        home = "coingecko" if symbol in _CRYPTO else "alpaca"
        mid = _START_MID[symbol]
        stale = self._intervals(("stale_quotes",), symbol)
        frozen: dict[int, tuple[float, float]] = {}  # interval start -> bid, ask
        for ts in self._ticks("market.quote", index, until_ms):
            z, u_spread, u_lag = _z(rng.random()), rng.random(), rng.random()
            mid *= math.exp(0.0003 * z)
            half_spread = mid * (0.00005 + 0.0001 * u_spread) / 2
            bid = round(mid - half_spread, 2)
            ask = round(max(mid + half_spread, bid + 0.01), 2)  # a cent at least, after rounding
            quote_ts = ts - int(20 + 280 * u_lag)
            if self._active("quotes_stop", ts, symbol):
                continue
            provider = self._market_route(home, ts)
            if provider is None:
                continue
            interval = _covering(stale, ts)
            if interval is not None:
                quote_ts = interval[0]
                bid, ask = frozen.setdefault(interval[0], (bid, ask))
            yield ts, subject, {
                "ts": ts,
                "symbol": symbol,
                "provider": provider,
                "bid": bid,
                "ask": ask,
                "quote_ts": quote_ts,
            }

    def _market_provider_status(self, until_ms: int, index: int) -> Iterator[_Raw]:
        provider = MARKET_PROVIDERS[index]
        return self._provider_status(until_ms, "market.provider.status", index, provider)

    def _ai_provider_status(self, until_ms: int, index: int) -> Iterator[_Raw]:
        return self._provider_status(until_ms, "ai.provider.status", index, AI_PROVIDERS[index])

    def _provider_status(self, until_ms: int, subject: str, index: int, provider: str) -> Iterator[_Raw]:
        def make(phase: str, inc: Incident | None) -> dict[str, Any]:
            down = inc is not None and phase != "end"
            return {"provider": provider, "state": "down" if down else "up"}

        intervals = self._intervals(("provider_down",), provider)
        return self._state_source(until_ms, subject, self._ticks(subject, index, until_ms), intervals, make)

    def _failovers(self, until_ms: int) -> Iterator[_Raw]:
        events: list[_Raw] = []
        for provider in MARKET_FAILOVER:
            for s, e, inc in self._intervals(("provider_down",), provider):
                failover_ms = _failover_ms(inc)
                ts = s + failover_ms
                if not (self.start_ms <= ts < min(e, until_ms)):
                    continue
                target = self._failover_target(provider, ts)
                if target is not None:
                    events.append(
                        (ts, "market.provider.failover",
                         {"ts": ts, "from": provider, "to": target, "duration_ms": failover_ms})
                    )
        events.sort(key=_ts_key)
        return iter(events)

    def _ws_status(self, until_ms: int, index: int) -> Iterator[_Raw]:
        stream = WS_STREAMS[index]

        def make(phase: str, inc: Incident | None) -> dict[str, Any]:
            down = inc is not None and phase != "end"
            return {"stream": stream, "state": "disconnected" if down else "connected"}

        intervals = self._intervals(("stream_disconnect",), stream)
        ticks = self._ticks("market.stream.status", index, until_ms)
        return self._state_source(until_ms, "market.stream.status", ticks, intervals, make)

    def _ws_delivery(self, until_ms: int, index: int) -> Iterator[_Raw]:
        stream = WS_STREAMS[index]
        rng = self._rng(f"market.stream.delivery/{stream}")
        intervals = self._intervals(("stream_disconnect",), stream)
        for ts in self._ticks("market.stream.delivery", index, until_ms):
            would_deliver = 400 + int(200 * rng.random())
            down = _covering(intervals, ts) is not None
            yield ts, "market.stream.delivery", {
                "ts": ts,
                "stream": stream,
                "delivered": 0 if down else would_deliver,
                "dropped": would_deliver if down else 0,
            }

    def _heartbeat(self, until_ms: int, subject: str, service: str) -> Iterator[_Raw]:
        for ts in self._ticks(subject, 0, until_ms):
            if any(i.magnitude >= 1.0 for i in self._active("outage", ts, service)):  # type: ignore[operator]
                continue
            yield ts, subject, {"ts": ts}

    # ---- trade ----------------------------------------------------------------------------------

    def _saga_end(self, saga_type: str, saga_id: str, started_ts: int, end_ts: int, failed: bool) -> list[_Raw]:
        """The end event of a saga (none under saga_timeouts; failed under saga_failures)."""
        if self._active("saga_timeouts", started_ts, saga_type):
            return []
        if self._active("saga_failures", started_ts, saga_type):
            failed = True
        subject = "trade.saga.failed" if failed else "trade.saga.completed"
        return [(end_ts, subject, {"ts": end_ts, "saga_id": saga_id, "saga_type": saga_type})]

    def _saga_start(self, saga_type: str, saga_id: str, ts: int) -> _Raw:
        return ts, "trade.saga.started", {"ts": ts, "saga_id": saga_id, "saga_type": saga_type}

    def _orders(self, until_ms: int) -> Iterator[_Raw]:
        return _flow(self._order_flows(until_ms), until_ms)

    def _order_flows(self, until_ms: int) -> Iterator[tuple[int, list[_Raw]]]:
        rng = self._rng("trade.orders")
        per_s = self.rate * RATE_SHARES["trade.risk.checked"]
        for n, t0 in enumerate(self._arrivals(rng, per_s, until_ms)):
            (z_risk, u_reject, u_type, u_symbol, z_order, z_ack, u_fill,
             u_cancel, u_cancel_delay, z_cancel, u_fault) = (rng.random() for _ in range(11))
            risk_ms = _lognormal(6.0, 0.45, _z(z_risk))
            approve = u_reject >= _RISK_REJECTS
            events: list[_Raw] = [
                (t0, "trade.risk.checked", {
                    "ts": t0,
                    "latency_ms": round(risk_ms * self._multiplier("latency_spike", t0, "risk"), 2),
                    "decision": "approve" if approve else "reject",
                }),
            ]
            if approve:
                events.extend(self._order(n, t0, risk_ms, u_type, u_symbol, z_order, z_ack, u_fill,
                                          u_cancel, u_cancel_delay, z_cancel, u_fault))
            yield t0, events

    def _order(self, n: int, t0: int, risk_ms: float, u_type: float, u_symbol: float, z_order: float,
               z_ack: float, u_fill: float, u_cancel: float, u_cancel_delay: float, z_cancel: float,
               u_fault: float) -> list[_Raw]:
        saga_id, order_id = self._id("oe", n), self._id("ord", n)
        order_type = "market" if u_type < 0.6 else "limit"
        symbol = SYMBOLS[min(int(u_symbol * len(SYMBOLS)), len(SYMBOLS) - 1)]
        order_ms = _lognormal(18.0 if order_type == "market" else 20.0, 0.35, _z(z_order))
        t1 = t0 + int(risk_ms) + int(order_ms) + 1
        ok = u_fault >= (self._level("outage", t1, "trading") or 0.0)
        events: list[_Raw] = [
            self._saga_start("order_execution", saga_id, t0),
            (t1, "trade.order.submitted", {
                "ts": t1,
                "order_id": order_id,
                "order_type": order_type,
                "symbol": symbol,
                "latency_ms": round(order_ms * self._multiplier("latency_spike", t1, "orders"), 2),
                "status": "ok" if ok else "error",
            }),
        ]
        fill_ms = int(100 + 1400 * u_fill)
        if not ok:
            events += self._saga_end("order_execution", saga_id, t0, t1 + fill_ms, failed=True)
            return events
        ack_ms = _lognormal(120.0, 0.4, _z(z_ack))
        t2 = t1 + int(ack_ms)
        events.append((t2, "trade.order.acknowledged", {
            "ts": t2,
            "order_id": order_id,
            "latency_ms": round(ack_ms * self._multiplier("latency_spike", t2, "acks"), 2),
        }))
        events += self._saga_end("order_execution", saga_id, t0, t2 + fill_ms, failed=False)
        if order_type == "limit" and u_cancel < _LIMIT_CANCELS:
            t3 = t2 + int(2_000 + 28_000 * u_cancel_delay)
            cancel_ms = _lognormal(35.0, 0.35, _z(z_cancel))
            cancel_ok = u_fault >= (self._level("outage", t3, "trading") or 0.0)
            events.append((t3, "trade.order.cancelled", {
                "ts": t3,
                "order_id": order_id,
                "latency_ms": round(cancel_ms * self._multiplier("latency_spike", t3, "cancels"), 2),
                "status": "ok" if cancel_ok else "error",
            }))
        return events

    def _positions_fetched(self, until_ms: int) -> Iterator[_Raw]:
        rng = self._rng("trade.positions.fetched")
        for ts in self._arrivals(rng, self.rate * RATE_SHARES["trade.positions.fetched"], until_ms):
            z, u_fault = _z(rng.random()), rng.random()
            ok = u_fault >= (self._level("outage", ts, "trading") or 0.0)
            latency = _lognormal(8.0, 0.4, z) * self._multiplier("latency_spike", ts, "positions")
            yield ts, "trade.positions.fetched", {
                "ts": ts, "latency_ms": round(latency, 2), "status": "ok" if ok else "error",
            }

    def _position_close_sagas(self, until_ms: int) -> Iterator[_Raw]:
        def flows() -> Iterator[tuple[int, list[_Raw]]]:
            rng = self._rng("trade.saga.position_close")
            for n, ts in enumerate(self._arrivals(rng, self.rate * RATE_SHARES["position_close"], until_ms)):
                duration_ms = int(_lognormal(2_000.0, 0.5, _z(rng.random())))
                saga_id = self._id("pc", n)
                yield ts, [
                    self._saga_start("position_close", saga_id, ts),
                    *self._saga_end("position_close", saga_id, ts, ts + duration_ms, failed=False),
                ]

        return _flow(flows(), until_ms)

    def _positions_reconciled(self, until_ms: int) -> Iterator[_Raw]:
        return self._mismatch_source(
            until_ms, "trade.positions.reconciled", "position_mismatch", "discrepancies"
        )

    def _mismatch_source(self, until_ms: int, subject: str, kind: str, fieldname: str) -> Iterator[_Raw]:
        def make(phase: str, inc: Incident | None) -> dict[str, Any]:
            count = int(inc.magnitude) if inc is not None and phase != "end" else 0  # type: ignore[arg-type]
            return {fieldname: count}

        return self._state_source(
            until_ms, subject, self._ticks(subject, 0, until_ms), self._intervals((kind,), None), make
        )

    def _broker_status(self, until_ms: int) -> Iterator[_Raw]:
        broker = BROKERS[0]

        def make(phase: str, inc: Incident | None) -> dict[str, Any]:
            down = inc is not None and phase != "end"
            return {"broker": broker, "state": "down" if down else "up"}

        subject = "trade.broker.status"
        intervals = self._intervals(("broker_down",), broker)
        return self._state_source(until_ms, subject, self._ticks(subject, 0, until_ms), intervals, make)

    def _agent_status(self, until_ms: int, index: int) -> Iterator[_Raw]:
        agent = AGENTS[index]

        def make(phase: str, inc: Incident | None) -> dict[str, Any]:
            if inc is None:
                return {"agent": agent, "state": "running", "reason": "requested"}
            crash = inc.kind == "agent_crash"
            if phase == "end":
                return {"agent": agent, "state": "running", "reason": "restarted" if crash else "requested"}
            return {"agent": agent, "state": "stopped", "reason": "crash" if crash else "requested"}

        subject = "trade.agent.status"
        intervals = self._intervals(("agent_crash", "agent_stop"), agent)
        return self._state_source(until_ms, subject, self._ticks(subject, index, until_ms), intervals, make)

    def _cycles(self, until_ms: int, cycle_type: str) -> Iterator[_Raw]:
        spec = CYCLE_TYPES[cycle_type]

        def flows() -> Iterator[tuple[int, list[_Raw]]]:
            rng = self._rng(f"trade.cycle/{cycle_type}")
            first = self.start_ms + spec.offset_ms
            for n, scheduled in enumerate(range(first, until_ms, spec.period_ms)):
                u_drift, z_duration, u_fault, z_saga = (rng.random() for _ in range(4))
                drift_ms = 50 + int(750 * u_drift)
                extra_s = self._level("schedule_drift", scheduled, cycle_type)
                if extra_s is not None:
                    drift_ms += int(extra_s * 1000)
                started = scheduled + drift_ms
                duration_ms = int(
                    _lognormal(spec.median_ms, spec.sigma, _z(z_duration))
                    * self._multiplier("cycle_slow", started, cycle_type)
                )
                ts = started + duration_ms
                ok = u_fault >= (self._level("outage", ts, "orchestrator") or 0.0)
                events: list[_Raw] = [(ts, "trade.cycle.completed", {
                    "ts": ts,
                    "cycle_id": self._id(f"cyc-{cycle_type}", n),
                    "cycle_type": cycle_type,
                    "duration_ms": duration_ms,
                    "status": "ok" if ok else "error",
                    "scheduled_ts": scheduled,
                    "started_ts": started,
                })]
                if cycle_type == "rebalance":
                    saga_id = self._id("pr", n)
                    saga_ts = started + 1_000
                    saga_ms = int(_lognormal(40_000.0, 0.3, _z(z_saga)))
                    events.append(self._saga_start("portfolio_rebalance", saga_id, saga_ts))
                    events += self._saga_end("portfolio_rebalance", saga_id, saga_ts, saga_ts + saga_ms, False)
                yield scheduled, events

        return _flow(flows(), until_ms)

    # ---- ai -------------------------------------------------------------------------------------

    def _ai_route(self, ts: int, skip_primary: bool) -> str | None:
        for i, provider in enumerate(AI_PROVIDERS):
            if (i > 0 or not skip_primary) and self._down("provider_down", provider, ts) is None:
                return provider
        return None

    def _decisions(self, until_ms: int) -> Iterator[_Raw]:
        def flows() -> Iterator[tuple[int, list[_Raw]]]:
            rng = self._rng("ai.decision")
            for n, ts in enumerate(self._arrivals(rng, DECISIONS_PER_S, until_ms)):
                z_latency, u_cached, z_tokens, u_fallback, u_fault, u_correct, u_delay = (
                    rng.random() for _ in range(7)
                )
                yield ts, self._decision(n, ts, _z(z_latency), u_cached, _z(z_tokens), u_fallback,
                                         u_fault, u_correct, u_delay)

        return _flow(flows(), until_ms)

    def _decision(self, n: int, ts: int, z_latency: float, u_cached: float, z_tokens: float,
                  u_fallback: float, u_fault: float, u_correct: float, u_delay: float) -> list[_Raw]:
        decision_id = self._id("dec", n)
        cached = u_cached < _DECISION_CACHED
        ok = u_fault >= (self._level("outage", ts, "ai") or 0.0)
        provider: str | None = AI_PROVIDERS[0]
        fallback = False
        tokens, cost = 0, 0.0
        if cached:
            latency = _lognormal(40.0, 0.3, z_latency)
        else:
            latency = _lognormal(1_300.0, 0.3, z_latency)
            forced = u_fallback < (self._level("fallbacks", ts) or 0.0)
            provider = self._ai_route(ts, skip_primary=forced)
            fallback = provider != AI_PROVIDERS[0]
            if provider is None:
                ok, provider = False, AI_PROVIDERS[-1]  # every model was tried
            if ok:
                price = _AI_USD_PER_TOKEN[provider]
                overrun = self._level("cost_overrun", ts)
                if overrun is None:
                    tokens = int(_lognormal(600.0, 0.3, z_tokens))
                    cost = tokens * price
                else:
                    tokens, cost = round(overrun / price), overrun
        latency *= self._multiplier("latency_spike", ts, "decisions")
        events: list[_Raw] = [(ts, "ai.decision.generated", {
            "ts": ts,
            "decision_id": decision_id,
            "provider": provider,
            "model": _AI_MODELS[provider],
            "latency_ms": round(latency, 2),
            "status": "ok" if ok else "error",
            "fallback": fallback,
            "cached": cached,
            "tokens": tokens,
            "cost_usd": round(cost, 6),
        })]
        if ok:
            outcome_ts = ts + _OUTCOME_DELAY_MS + int(5_000 * u_delay)
            accuracy = self._level("bad_decisions", outcome_ts, worst=min)
            correct = u_correct < (_DECISION_ACCURACY if accuracy is None else accuracy)
            events.append((outcome_ts, "ai.decision.outcome",
                           {"ts": outcome_ts, "decision_id": decision_id, "correct": correct}))
        return events

    # ---- analytics ------------------------------------------------------------------------------

    def _gateway(self, until_ms: int) -> Iterator[_Raw]:
        rng = self._rng("analytics.gateway.request")
        for ts in self._arrivals(rng, self.rate, until_ms):
            u_route, z, u_status, u_fault, u_limited, u_correct = (rng.random() for _ in range(6))
            route, method, _, median_ms = next(r for r in _GATEWAY_ROUTES if u_route < r[2])
            latency = _lognormal(median_ms, 0.45, _z(z))
            rate_limited = u_limited < _RATE_LIMITED
            outage = self._level("outage", ts, "gateway") or 0.0
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
            misses = self._level("rate_limit_errors", ts) or 0.0
            yield ts, "analytics.gateway.request", {
                "ts": ts,
                "route": route,
                "method": method,
                "status_code": status_code,
                "latency_ms": round(latency * self._multiplier("latency_spike", ts, "gateway"), 2),
                "rate_limited": rate_limited,
                "rate_limit_correct": u_correct >= misses,
            }

    def _queries(self, until_ms: int) -> Iterator[_Raw]:
        rng = self._rng("analytics.query")
        for ts in self._arrivals(rng, self.rate * RATE_SHARES["analytics.query"], until_ms):
            z, u_fault = _z(rng.random()), rng.random()
            ok = u_fault >= (self._level("outage", ts, "analytics") or 0.0)
            latency = _lognormal(90.0, 0.5, z) * self._multiplier("latency_spike", ts, "queries")
            yield ts, "analytics.query", {"ts": ts, "latency_ms": round(latency, 2), "status": "ok" if ok else "error"}

    def _reports(self, until_ms: int) -> Iterator[_Raw]:
        rng = self._rng("analytics.report.generated")
        for ts in self._arrivals(rng, self.rate * RATE_SHARES["analytics.report.generated"], until_ms):
            u_report, z, u_fault = rng.random(), _z(rng.random()), rng.random()
            ok = u_fault >= (self._level("outage", ts, "analytics") or 0.0)
            latency = _lognormal(1_500.0, 0.35, z) * self._multiplier("latency_spike", ts, "reports")
            yield ts, "analytics.report.generated", {
                "ts": ts,
                "report": _REPORTS[min(int(u_report * len(_REPORTS)), len(_REPORTS) - 1)],
                "latency_ms": round(latency, 2),
                "status": "ok" if ok else "error",
            }

    def _snapshots(self, until_ms: int) -> Iterator[_Raw]:
        rng = self._rng("analytics.snapshot")
        for ts in self._ticks("analytics.snapshot", 0, until_ms):
            lag_ms = int(300 + 1_200 * rng.random())
            if self._active("snapshot_gap", ts):
                continue
            lag_s = self._level("position_lag", ts)
            if lag_s is not None:
                lag_ms = int(lag_s * 1000)
            yield ts, "analytics.snapshot", {"ts": ts, "position_lag_ms": lag_ms}

    def _pnl_reconciled(self, until_ms: int) -> Iterator[_Raw]:
        return self._mismatch_source(until_ms, "analytics.pnl.reconciled", "pnl_mismatch", "mismatches")

    def _db_status(self, until_ms: int) -> Iterator[_Raw]:
        def make(phase: str, inc: Incident | None) -> dict[str, Any]:
            return {"state": "down" if inc is not None and phase != "end" else "up"}

        subject = "analytics.db.status"
        intervals = self._intervals(("db_down",), None)
        return self._state_source(until_ms, subject, self._ticks(subject, 0, until_ms), intervals, make)

    def _capacity(self, until_ms: int, index: int) -> Iterator[_Raw]:
        service = CAPACITY_SERVICES[index]
        rng = self._rng(f"analytics.capacity/{service}")
        for ts in self._ticks("analytics.capacity", index, until_ms):
            z_cpu, z_mem, u_queue, z_db = _z(rng.random()), _z(rng.random()), rng.random(), _z(rng.random())
            cpu = self._level("cpu_high", ts, service)
            mem = self._level("memory_high", ts, service)
            queue = self._level("queue_backlog", ts, service)
            pool = self._level("db_pool_exhausted", ts, service)
            yield ts, "analytics.capacity", {
                "ts": ts,
                "service": service,
                "cpu_pct": round(_clip(40 + 5 * z_cpu, 20, 60), 1) if cpu is None else cpu,
                "mem_pct": round(_clip(55 + 4 * z_mem, 35, 70), 1) if mem is None else mem,
                "queue_depth": 3 + int(12 * u_queue) if queue is None else int(queue),
                "db_conn_pct": round(_clip(35 + 5 * z_db, 15, 60), 1) if pool is None else pool,
            }


def _z(u: float) -> float:
    """A standard normal from one uniform draw (inverse CDF), so that every draw is one
    ``random()`` call and the count of draws per event is fixed. Clipped at +-4 sigma."""
    u = min(max(u, 3.2e-5), 1 - 3.2e-5)
    return _NORMAL.inv_cdf(u)


def _failover_ms(inc: Incident) -> int:
    return int((inc.magnitude or 0.0) * 1000)


_NORMAL = NormalDist()


# -------------------------------------------------------------------------------------- publisher


@dataclass(frozen=True)
class PublishProgress:
    published: int
    event_ts_ms: int | None  # ts of the last published event
    wall_s: float
    final: bool


@dataclass(frozen=True)
class PublishResult:
    published: int
    per_stream: dict[str, int]
    last_ts_ms: int | None
    wall_s: float
    notes: tuple[str, ...] = ()  # what could not be done (a consumer_lag without its consumer ...)


_FLUSH_EVERY = 5_000
_PACING_SLACK_S = 0.005  # closer than this to due, publishing now is on time


async def publish(
    nc: Client,
    simulator: Simulator,
    until_ms: int,
    time_scale: float | None = None,
    *,
    streams_dir: Path | str = "streams",
    progress: Callable[[PublishProgress], None] | None = None,
    progress_every_s: float = 2.0,
    consumer_prefix: str = "slo",
    store_timeout_s: float = 30.0,
) -> PublishResult:
    """Publish ``simulator``'s events up to ``until_ms`` and return once the streams hold them.

    ``time_scale=None``: as fast as possible (core publish, a flush every few thousand messages).
    ``time_scale=k``: the event at ``ts`` goes out ``(ts - start_ms) / k`` wall seconds after the
    call, k times real time. Either way the call returns when every stream's last sequence shows
    all messages stored. Streams missing for a prefix are provisioned from ``streams_dir``.
    """
    from processor.bus.streams import load_stream_definitions, provision_streams
    from processor.errors import BusError

    if time_scale is not None and not (math.isfinite(time_scale) and time_scale > 0):
        raise ValueError(f"time_scale must be a positive number or None, got {time_scale!r}")
    loop = asyncio.get_running_loop()
    wall0 = loop.time()

    streams = await _streams_by_prefix(nc)
    missing = [p for p in STREAM_OF_PREFIX if p not in streams]
    if missing:
        wanted = {STREAM_OF_PREFIX[p] for p in missing}
        definitions = [d for d in load_stream_definitions(Path(streams_dir)) if d["name"] in wanted]
        await provision_streams(nc, definitions, _QuietLog())
        streams = await _streams_by_prefix(nc)
        still = [p for p in STREAM_OF_PREFIX if p not in streams]
        if still:
            raise BusError(
                f"no stream holds {', '.join(p + '.>' for p in still)} and {streams_dir} defines none"
            )
    last_seq_before = {name: await _last_seq(nc, name) for name in set(streams.values())}

    lag = _LagInjector(nc, simulator, streams, consumer_prefix, time_scale, wall0)
    per_stream: dict[str, int] = dict.fromkeys(set(streams.values()), 0)
    published = 0
    last_ts: int | None = None
    next_progress_s = wall0 + progress_every_s
    stream_cache: dict[str, str] = {}
    try:
        for event in simulator.records(until_ms):
            ts = event.ts_ms
            if time_scale is not None:
                delay_s = wall0 + (ts - simulator.start_ms) / 1000 / time_scale - loop.time()
                if delay_s > _PACING_SLACK_S:
                    await nc.flush()
                    await asyncio.sleep(delay_s)
            await lag.reach(ts)
            subject = event.subject
            stream = stream_cache.get(subject)
            if stream is None:
                stream = stream_cache[subject] = streams[subject.split(".", 1)[0]]
            await nc.publish(subject, orjson.dumps(event.payload))
            per_stream[stream] += 1
            published += 1
            last_ts = ts
            if published % _FLUSH_EVERY == 0:
                # A flush is a round trip: it keeps the client's buffer, and JetStream, from
                # falling behind a publisher that never waits.
                await nc.flush()
            if progress is not None and loop.time() >= next_progress_s:
                next_progress_s = loop.time() + progress_every_s
                progress(PublishProgress(published, last_ts, loop.time() - wall0, final=False))
        await nc.flush()
        await _wait_stored(nc, last_seq_before, per_stream, store_timeout_s)
        await lag.finish()
    finally:
        await lag.release()
    wall_s = loop.time() - wall0
    if progress is not None:
        progress(PublishProgress(published, last_ts, wall_s, final=True))
    return PublishResult(published, per_stream, last_ts, wall_s, tuple(lag.notes))


class _QuietLog:
    """The structlog-shaped logger provision_streams wants; the CLI reports what matters itself."""

    def info(self, event: str, **kw: Any) -> None:
        pass

    def warning(self, event: str, **kw: Any) -> None:
        print(f"slo simulate: {event} {kw}", file=sys.stderr)


async def _streams_by_prefix(nc: Client) -> dict[str, str]:
    """Which stream stores each subject prefix, asked of JetStream (tests may name them freely)."""
    from processor.bus import _jsapi

    found = {}
    for prefix in STREAM_OF_PREFIX:
        body = await _jsapi.request(
            nc, f"{_jsapi.API_PREFIX}.STREAM.NAMES", {"subject": f"{prefix}.heartbeat"},
            what=f"streams holding {prefix}.>",
        )
        names = body.get("streams") or []
        if names:
            found[prefix] = str(names[0])
    return found


async def _last_seq(nc: Client, stream: str) -> int:
    from processor.bus import _jsapi

    info = await _jsapi.request(nc, f"{_jsapi.API_PREFIX}.STREAM.INFO.{stream}", what=f"stream {stream}: info")
    # last_seq, not messages: max_age may expire old messages during a long paced run.
    return int(info["state"]["last_seq"])


async def _wait_stored(nc: Client, before: dict[str, int], sent: dict[str, int], timeout_s: float) -> None:
    """Until every stream's last sequence has moved by what we sent (core publish has no ack)."""
    from processor.errors import BusError

    loop = asyncio.get_running_loop()
    waiting = {s: before[s] + n for s, n in sent.items() if n}
    last_progress_s = loop.time()
    seen: dict[str, int] = {}
    while waiting:
        for stream, wanted in list(waiting.items()):
            seq = await _last_seq(nc, stream)
            if seq != seen.get(stream):
                seen[stream] = seq
                last_progress_s = loop.time()
            if seq >= wanted:
                del waiting[stream]
        if not waiting:
            return
        if loop.time() - last_progress_s > timeout_s:
            short = ", ".join(f"{s} {wanted - seen[s]}" for s, wanted in waiting.items())
            raise BusError(f"messages published but not stored after {timeout_s:g} s (missing: {short})")
        await asyncio.sleep(0.02)


class _LagInjector:
    """consumer_lag: pauses the processor's durable consumer of a stream, later resumes it.

    JetStream's consumer pause (nats-server 2.11+) stops deliveries while messages keep being
    stored, so ``num_pending`` grows by every message published on the stream meanwhile: the
    consumer lag the processor's bus monitor reads, exactly as a stalled consumer makes it. The
    pause is sent with ``pause_until`` at its planned end, so a publisher that dies cannot leave
    the consumer paused.
    """

    def __init__(self, nc: Client, simulator: Simulator, streams: dict[str, str], consumer_prefix: str,
                 time_scale: float | None, wall0: float) -> None:
        self._nc = nc
        self._simulator = simulator
        self._streams = streams
        self._prefix = consumer_prefix
        self._time_scale = time_scale
        self._wall0 = wall0
        self._pending = sorted((i for i in simulator.incidents if i.kind == "consumer_lag"),
                               key=lambda i: i.start_ms)
        self._paused: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.notes: list[str] = []

    async def reach(self, ts_ms: int) -> None:
        while self._pending and self._pending[0].start_ms <= ts_ms:
            await self._pause(self._pending.pop(0))

    def _wall_duration_s(self, inc: Incident) -> float:
        loop = asyncio.get_running_loop()
        if self._time_scale is None:
            # Nothing maps event time to wall time when publishing flat out, and the bus monitor
            # measures lag on the wall clock: the duration is taken as wall time.
            return inc.duration_ms / 1000
        end_s = self._wall0 + (inc.end_ms - self._simulator.start_ms) / 1000 / self._time_scale
        return max(0.0, end_s - loop.time())

    async def _pause(self, inc: Incident) -> None:
        from processor.bus import _jsapi

        stream = self._streams[inc.target]  # type: ignore[index]
        durable = f"{self._prefix}_{stream}".lower()
        key = (stream, durable)
        duration_s = self._wall_duration_s(inc)
        until = datetime.now(UTC) + timedelta(seconds=duration_s)
        try:
            await _jsapi.request(
                self._nc, f"{_jsapi.API_PREFIX}.CONSUMER.PAUSE.{stream}.{durable}",
                {"pause_until": until.isoformat().replace("+00:00", "Z")},
                what=f"consumer {stream}/{durable}: pause",
            )
        except _jsapi.JsApiError as exc:
            hint = " (is `slo run` consuming it?)" if exc.err_code == _jsapi.ERR_CONSUMER_NOT_FOUND else ""
            self.notes.append(f"consumer_lag at {_iso(inc.start_ms)} skipped: {exc}{hint}")
            return
        previous = self._paused.pop(key, None)
        if previous is not None:
            previous.cancel()  # overlapping lags: the later pause decides the end
        self._paused[key] = asyncio.ensure_future(self._resume_after(stream, durable, duration_s))

    async def _resume_after(self, stream: str, durable: str, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await self._resume(stream, durable)

    async def _resume(self, stream: str, durable: str) -> None:
        from processor.bus import _jsapi
        from processor.errors import BusError

        try:
            await _jsapi.request(
                self._nc, f"{_jsapi.API_PREFIX}.CONSUMER.PAUSE.{stream}.{durable}", None,
                what=f"consumer {stream}/{durable}: resume",
            )
        except BusError as exc:
            self.notes.append(f"consumer {stream}/{durable} not resumed ({exc}); its pause ends by itself")

    async def finish(self) -> None:
        """Let every lag run its course: the run is not over while a consumer is still paused."""
        for inc in self._pending:
            self.notes.append(f"consumer_lag at {_iso(inc.start_ms)} not applied: no event after its start")
        self._pending.clear()
        tasks = list(self._paused.values())
        if tasks:
            await asyncio.gather(*tasks)
        self._paused.clear()

    async def release(self) -> None:
        """On the way out after an error or a cancellation: resume what is still paused."""
        for (stream, durable), task in list(self._paused.items()):
            task.cancel()
            try:
                await asyncio.shield(self._resume(stream, durable))
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - best effort; pause_until ends it
                pass
        self._paused.clear()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -------------------------------------------------------------------------------------------- CLI


def parse_start(text: str, now_ms: int) -> int:
    """``now`` or an RFC 3339 time with a zone -> epoch ms; ValueError saying what was expected."""
    if text.strip().lower() == "now":
        return now_ms
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"expected now or an RFC 3339 time with a zone, such as 2026-01-05T14:30:00Z, got {text!r}")
    return int(moment.timestamp() * 1000)


def parse_positive_duration(text: str) -> int:
    """``--duration``: ``10m`` -> 600000; more than zero."""
    from processor.config.parse import parse_duration_ms

    duration_ms = parse_duration_ms(text)
    if duration_ms <= 0:
        raise ValueError(f"expected a duration above 0 such as 10m, got {text!r}")
    return duration_ms


def parse_positive_number(text: str) -> float:
    """``--rate`` and ``--time-scale``: a finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"expected a number above 0, got {text!r}")
    return value


def check_start(text: str) -> str:
    """``--start``: checked now, resolved when the run starts (``now`` is then)."""
    parse_start(text, 0)
    return text


def run_from_args(args: argparse.Namespace) -> int:
    """``slo simulate``: returns the exit code."""
    import os

    if args.list_incidents:
        print(format_incident_kinds())
        return 0

    import structlog

    from processor.bus.connect import ConnectOptions

    opts = ConnectOptions.resolve(args.nats_url, os.environ)
    if not opts.url:
        print(
            "slo simulate: needs a running processor or NATS server: give --nats-url URL or set "
            "SLO_NATS_URL / NATS_URL (`slo run` starts one and logs its URL)",
            file=sys.stderr,
        )
        return 1
    opts = replace(opts, name="slo-simulate")
    start_ms = parse_start(args.start, time.time_ns() // 1_000_000)
    until_ms = start_ms + args.duration
    incidents = []
    for spec in args.incident:
        if spec.offset_ms >= args.duration:
            print(
                f"slo simulate: argument --incident: {spec.kind} starts at +{spec.offset_ms / 1000:g}s, "
                f"after the run ends (--duration {args.duration / 1000:g}s)",
                file=sys.stderr,
            )
            return 2
        incidents.append(spec.at(start_ms))
    simulator = Simulator(start_ms, seed=args.seed, rate=args.rate, incidents=incidents)
    time_scale = None if args.fast else args.time_scale
    # Only problems belong on stderr next to the progress lines, not connect's info lines. The
    # previous configuration comes back after, for callers (tests) that run more than this.
    previous = structlog.get_config()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(30),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    try:
        return asyncio.run(_simulate(opts, simulator, until_ms, time_scale, args.streams_dir))
    except KeyboardInterrupt:
        print("slo simulate: interrupted", file=sys.stderr)
        return 130
    finally:
        structlog.configure(**previous)


async def _simulate(opts: Any, simulator: Simulator, until_ms: int, time_scale: float | None,
                    streams_dir: str) -> int:
    from processor.bus.connect import connect
    from processor.errors import ConfigError, ProcessorError

    total_ms = until_ms - simulator.start_ms
    pace = "as fast as possible" if time_scale is None else f"at {time_scale:g}x real time"
    print(
        f"slo simulate: {_iso(simulator.start_ms)} .. {_iso(until_ms)}, rate {simulator.rate:g}/s, "
        f"seed {simulator.seed}, {len(simulator.incidents)} incident(s), {pace}, to {opts.redacted_url()}",
        file=sys.stderr,
    )
    for inc in simulator.incidents:
        target = "" if inc.target is None else f":{inc.target}"
        magnitude = "" if inc.magnitude is None else f"={inc.magnitude:g}"
        print(f"  {inc.kind}{target}{magnitude} {_iso(inc.start_ms)} .. {_iso(inc.end_ms)}", file=sys.stderr)

    def report(p: PublishProgress) -> None:
        reached = "" if p.event_ts_ms is None else (
            f", event time {_iso(p.event_ts_ms)} (+{(p.event_ts_ms - simulator.start_ms) / 1000:.0f}s "
            f"of {total_ms / 1000:.0f}s)"
        )
        word = "done" if p.final else "progress"
        print(f"slo simulate: {word}: {p.published:,} events published{reached}, {p.wall_s:.1f}s",
              file=sys.stderr)

    try:
        nc = await connect(opts)
    except ProcessorError as exc:
        print(f"slo simulate: {exc}", file=sys.stderr)
        return 1
    try:
        result = await publish(nc, simulator, until_ms, time_scale, streams_dir=streams_dir, progress=report)
    except ConfigError as exc:
        print(f"slo simulate: cannot provision the streams:\n{exc}", file=sys.stderr)
        return 1
    except ProcessorError as exc:
        print(f"slo simulate: {exc}", file=sys.stderr)
        return 1
    finally:
        await nc.close()
    for note in result.notes:
        print(f"slo simulate: {note}", file=sys.stderr)
    streams = ", ".join(f"{name} {count:,}" for name, count in sorted(result.per_stream.items()))
    print(f"slo simulate: stored {result.published:,} events ({streams})", file=sys.stderr)
    return 0
