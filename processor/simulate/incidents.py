"""The incident catalogue: one definition per kind (name, targets, magnitude, effect), incidents,
and the ``--incident`` syntax.

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
    "INCIDENT_KINDS",
    "INCIDENT_SYNTAX",
    "LATENCY_SPIKE_SUBJECTS",
    "Incident",
    "IncidentKind",
    "IncidentRequest",
    "Magnitude",
    "format_incident_kinds",
    "parse_incident",
]

import math
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field

from processor.config.parse import parse_duration_ms
from processor.simulate.platform import (
    AGENTS,
    AI_PROVIDERS,
    ALL,
    ALL_MODELS,
    BROKERS,
    CAPACITY_SERVICES,
    CYCLE_TYPES,
    MARKET_PROVIDERS,
    SAGA_TYPES,
    STREAM_OF_PREFIX,
    SYMBOLS,
    WS_STREAMS,
)


@dataclass(frozen=True)
class Magnitude:
    """What a kind's magnitude means, its default and the values it accepts."""

    meaning: str
    default: float
    low: float = 0.0  # exclusive, unless low_inclusive
    high: float = math.inf  # inclusive
    low_inclusive: bool = False
    integer: bool = False

    def bounds(self) -> str:
        low = f"{'at least' if self.low_inclusive else 'above'} {self.low:g}"
        high = f" and at most {self.high:g}" if math.isfinite(self.high) else ""
        return f"{'a whole number ' if self.integer else ''}{low}{high}"

    def accepts(self, value: float) -> bool:
        low_ok = value >= self.low if self.low_inclusive else value > self.low
        whole_ok = not self.integer or value == int(value)
        return math.isfinite(value) and low_ok and value <= self.high and whole_ok


@dataclass(frozen=True)
class IncidentKind:
    """One kind of incident: what it changes (``effect``, as --list-incidents prints it), what it
    may target and what its magnitude means. The sources of ``sources/`` realise the effect."""

    name: str
    effect: str
    targets: tuple[str, ...] = ()  # allowed targets; () = the kind takes none
    default_target: str | None = None
    magnitude: Magnitude | None = None  # None = the kind takes none
    # Targets that stand for several entities; ``all`` stands for every other target unless named.
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    bus: bool = False  # realised by publish(), not in any payload

    def covered(self, target: str | None) -> frozenset[str]:
        """The entities a target stands for (``all`` and ``all_models`` for several)."""
        if target is None:
            return frozenset()
        if target in self.groups:
            return frozenset(self.groups[target])
        if target == ALL:
            return frozenset(t for t in self.targets if t != ALL)
        return frozenset({target})

    def resolve_target(self, target: str | None) -> str | None:
        """The target as the catalogue spells it (targets are case-insensitive), or the default."""
        if not self.targets:
            if target is not None:
                raise ValueError(f"{self.name} takes no target, got {target!r}")
            return None
        if target is None:
            return self.default_target
        for allowed in self.targets:
            if target.lower() == allowed.lower():
                return allowed
        raise ValueError(f"{self.name}: unknown target {target!r}; expected one of {', '.join(self.targets)}")

    def resolve_magnitude(self, magnitude: float | None) -> float | None:
        if self.magnitude is None:
            if magnitude is not None:
                raise ValueError(f"{self.name} takes no magnitude, got {magnitude!r}")
            return None
        if magnitude is None:
            return self.magnitude.default
        value = float(magnitude)
        if not self.magnitude.accepts(value):
            raise ValueError(
                f"{self.name}: magnitude ({self.magnitude.meaning}) must be {self.magnitude.bounds()}, "
                f"got {magnitude!r}"
            )
        return value


# latency_spike: which subject's latency_ms each target multiplies.
LATENCY_SPIKE_SUBJECTS = {
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
        "latency_ms of the target's events x magnitude: "
        + ", ".join(f"{target}={subject}" for target, subject in LATENCY_SPIKE_SUBJECTS.items()),
        targets=tuple(LATENCY_SPIKE_SUBJECTS), default_target="gateway",
        magnitude=Magnitude("latency multiplier", 10.0),
    ),
    IncidentKind(
        "outage",
        "a magnitude fraction of the target's requests fail: gateway: status_code 503 (429s stay); "
        "market: market.request status error; trading: trade.order.submitted/cancelled and "
        "trade.positions.fetched status error, a failed order has no ack or cancel and its saga "
        "ends in trade.saga.failed; orchestrator: trade.cycle.completed status error; ai: "
        "ai.decision.generated status error, no outcome; analytics: analytics.query and "
        "analytics.report.generated status error. At fraction 1 the service's heartbeats "
        "(market/ai/analytics.heartbeat; trade.heartbeat with its service, trading-engine or "
        "orchestrator) stop too",
        targets=_OUTAGE_TARGETS, default_target="gateway",
        magnitude=Magnitude("fraction of requests failing", 1.0, 0.0, 1.0),
    ),
    IncidentKind(
        "stale_quotes",
        "market.quote.<symbol>: quote_ts frozen at the interval's start_ms and bid/ask at the "
        "interval's first quote, so freshness ts - quote_ts = ts - start_ms",
        targets=(*SYMBOLS, ALL), default_target=ALL,
    ),
    IncidentKind("quotes_stop", "no market.quote.<symbol> event", targets=(*SYMBOLS, ALL), default_target=ALL),
    IncidentKind(
        "provider_down",
        "market.provider.status / ai.provider.status: down at start_ms, every report down, up at "
        "end_ms. Market provider: market.provider.failover {from, to, duration_ms = magnitude s} at "
        "start_ms + magnitude s when a failover provider is up (and the outage lasts longer); "
        "cache misses of its ops fail before that and are served by the failover after, or fail "
        "when none is up; its quotes are published under the failover's name, or not at all. AI "
        "provider: uncached decisions go to the next model up (primary_failed and fallback true, its "
        "model and price), status error when none is up (all_models: primary_failed true, fallback "
        "false)",
        targets=(*MARKET_PROVIDERS, ALL, *AI_PROVIDERS, ALL_MODELS), default_target="alpaca",
        magnitude=Magnitude("failover time in seconds (market providers)", 3.0),
        groups={ALL: MARKET_PROVIDERS, ALL_MODELS: AI_PROVIDERS},
    ),
    IncidentKind(
        "saga_timeouts",
        "sagas of the type(s) started in the interval never end (no trade.saga.completed/failed)",
        targets=(*SAGA_TYPES, ALL), default_target=ALL,
    ),
    IncidentKind(
        "saga_failures",
        "sagas of the type(s) started in the interval end in trade.saga.failed instead of completed",
        targets=(*SAGA_TYPES, ALL), default_target=ALL,
    ),
    IncidentKind(
        "cost_overrun",
        "ai.decision.generated, uncached and ok: cost_usd = magnitude, tokens = cost / model price",
        magnitude=Magnitude("USD per decision", 0.25),
    ),
    IncidentKind("snapshot_gap", "no analytics.snapshot event"),
    IncidentKind(
        "position_lag", "analytics.snapshot: position_lag_ms = magnitude s",
        magnitude=Magnitude("lag in seconds", 8.0),
    ),
    IncidentKind(
        "position_mismatch",
        "trade.positions.reconciled: an extra event at start_ms and every report with "
        "discrepancies = magnitude, an extra one with 0 at end_ms",
        magnitude=Magnitude("discrepancies", 1.0, integer=True),
    ),
    IncidentKind(
        "pnl_mismatch",
        "analytics.pnl.reconciled: an extra event at start_ms and every report with "
        "mismatches = magnitude, an extra one with 0 at end_ms",
        magnitude=Magnitude("mismatches", 1.0, integer=True),
    ),
    IncidentKind(
        "consumer_lag",
        "not in any payload: publish() pauses the processor's durable consumer slo_<stream> "
        "(JetStream consumer pause) from the moment it reaches start_ms until end_ms in paced mode, "
        "or for duration of wall time with --fast; lag = the messages published on the stream since the "
        "pause began, drained once it ends",
        targets=tuple(STREAM_OF_PREFIX), default_target="analytics", bus=True,
    ),
    IncidentKind(
        "broker_down",
        "trade.broker.status: down at start_ms, every report down, up at end_ms",
        targets=BROKERS, default_target="alpaca",
    ),
    IncidentKind("db_down", "analytics.db.status: down at start_ms, every report down, up at end_ms"),
    IncidentKind(
        "agent_crash",
        "trade.agent.status: stopped/crash at start_ms and in every report, running/restarted at end_ms",
        targets=AGENTS, default_target=AGENTS[0],
    ),
    IncidentKind(
        "agent_stop",
        "trade.agent.status: stopped/requested at start_ms and in every report, running/requested "
        "at end_ms (an intended stop: no alert should fire)",
        targets=AGENTS, default_target=AGENTS[0],
    ),
    IncidentKind(
        "cycle_slow",
        "trade.cycle.completed of cycles started in the interval: duration_ms x magnitude, and the "
        "event comes that much later (ts = started_ts + duration_ms)",
        targets=_CYCLE_TARGETS, default_target=ALL, magnitude=Magnitude("duration multiplier", 6.0),
    ),
    IncidentKind(
        "schedule_drift",
        "trade.cycle.completed of cycles scheduled in the interval: started_ts (and ts) later by "
        "magnitude s",
        targets=_CYCLE_TARGETS, default_target=ALL, magnitude=Magnitude("extra drift in seconds", 15.0),
    ),
    IncidentKind(
        "cache_misses", "market.request: cache hit rate = magnitude (misses take miss latencies)",
        magnitude=Magnitude("hit rate", 0.5, 0.0, 1.0, low_inclusive=True),
    ),
    IncidentKind(
        "fallbacks",
        "ai.decision.generated, uncached: a magnitude fraction finds the primary failed and is "
        "answered by the next model up (primary_failed and fallback true)",
        magnitude=Magnitude("fraction of decisions", 0.2, 0.0, 1.0),
    ),
    IncidentKind(
        "stream_disconnect",
        "market.stream.status: disconnected at start_ms, every report disconnected, connected at "
        "end_ms (reconnection time = duration); market.stream.delivery reports in the interval: "
        "delivered 0, dropped = what would have been delivered",
        targets=WS_STREAMS, default_target=WS_STREAMS[0],
    ),
    IncidentKind(
        "bad_decisions", "ai.decision.outcome: correct with probability magnitude",
        magnitude=Magnitude("accuracy", 0.3, 0.0, 1.0, low_inclusive=True),
    ),
    IncidentKind(
        "rate_limit_errors",
        "analytics.gateway.request: rate_limit_correct false for a magnitude fraction",
        magnitude=Magnitude("fraction of requests", 0.01, 0.0, 1.0),
    ),
    IncidentKind(
        "cpu_high", "analytics.capacity of the service(s): cpu_pct = magnitude",
        targets=_SERVICE_TARGETS, default_target=ALL, magnitude=Magnitude("cpu percent", 85.0, 0.0, 100.0),
    ),
    IncidentKind(
        "memory_high", "analytics.capacity of the service(s): mem_pct = magnitude",
        targets=_SERVICE_TARGETS, default_target=ALL, magnitude=Magnitude("memory percent", 90.0, 0.0, 100.0),
    ),
    IncidentKind(
        "queue_backlog", "analytics.capacity of the service(s): queue_depth = magnitude",
        targets=_SERVICE_TARGETS, default_target=ALL, magnitude=Magnitude("pending requests", 250.0, integer=True),
    ),
    IncidentKind(
        "db_pool_exhausted", "analytics.capacity of the service(s): db_conn_pct = magnitude",
        targets=_SERVICE_TARGETS, default_target=ALL, magnitude=Magnitude("pool use percent", 95.0, 0.0, 100.0),
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
        object.__setattr__(self, "target", kind.resolve_target(self.target))
        object.__setattr__(self, "magnitude", kind.resolve_magnitude(self.magnitude))
        object.__setattr__(self, "covers", kind.covered(self.target))

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms

    def active(self, ts_ms: int) -> bool:
        return self.start_ms <= ts_ms < self.end_ms

    @property
    def bus(self) -> bool:
        return INCIDENT_KINDS[self.kind].bus


@dataclass(frozen=True)
class IncidentRequest:
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


def parse_incident(text: str) -> IncidentRequest:
    """``latency_spike:gateway@2m+5m``, ``outage:gateway=0.01@1m+10m``; ValueError saying why not."""
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
    request = IncidentRequest(m["kind"], offset_ms, duration_ms, m["target"], magnitude)
    request.at(0)  # validates kind, target and magnitude now, with the offending text at hand
    return request


def format_incident_kinds() -> str:
    """What ``slo simulate --list-incidents`` prints."""
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
                f"  magnitude: {kind.magnitude.meaning}, {kind.magnitude.bounds()} "
                f"(default {kind.magnitude.default:g})"
            )
        lines.extend(textwrap.wrap(kind.effect, 100, initial_indent="  effect:    ", subsequent_indent=" " * 13))
    return "\n".join(lines)
