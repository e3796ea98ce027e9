"""The simulator: every source of the platform merged into one stream of events in ts order.

Determinism: every source (a subject, or a symbol, provider, cycle type ...) has its own
``Random`` seeded with ``"{seed}/{source}"`` and draws the same numbers for each event whatever
the incidents; incidents only change what is made of the draws. So, for one seed: a run with
incidents equals the run without them except for what the incidents change, ``records(t1)`` is a
prefix of ``records(t2)`` for ``t1 < t2``, and nothing depends on the process.
"""

from __future__ import annotations

__all__ = ["Event", "Simulator"]

import heapq
import math
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, NamedTuple

import orjson

from processor.simulate.incidents import Incident
from processor.simulate.platform import (
    AGENTS,
    AI_PROVIDERS,
    CAPACITY_SERVICES,
    CYCLE_TYPES,
    DEFAULT_RATE,
    MARKET_PROVIDERS,
    SYMBOLS,
    WS_STREAMS,
)
from processor.simulate.sources import ai, analytics, market, trade
from processor.simulate.sources.run import Raw, Run
from processor.simulate.sources.shapes import heartbeat
from processor.simulate.timeline import IncidentTimeline

Source = Callable[[int], Iterator[Raw]]  # until_ms -> events in ts order


class Event(NamedTuple):
    ts_ms: int
    subject: str
    payload: dict[str, Any]


def _sources(run: Run) -> list[Source]:
    """Every source of the platform. heapq.merge is stable: this order decides which of two events
    with the same ts comes first, so changing it changes the bytes of a seed."""
    return [
        partial(analytics.gateway, run),
        partial(market.market_requests, run),
        *(partial(market.quotes, run, index=i) for i in range(len(SYMBOLS))),
        *(partial(market.provider_status, run, index=i) for i in range(len(MARKET_PROVIDERS))),
        partial(market.failovers, run),
        *(partial(market.ws_status, run, index=i) for i in range(len(WS_STREAMS))),
        *(partial(market.ws_delivery, run, index=i) for i in range(len(WS_STREAMS))),
        partial(heartbeat, run, subject="market.heartbeat", service="market"),
        partial(trade.orders, run),
        partial(trade.positions_fetched, run),
        partial(trade.position_close_sagas, run),
        partial(trade.positions_reconciled, run),
        partial(trade.broker_status, run),
        *(partial(trade.cycles, run, cycle_type=t) for t in CYCLE_TYPES),
        *(partial(trade.agent_status, run, index=i) for i in range(len(AGENTS))),
        partial(heartbeat, run, subject="trade.heartbeat", service="trading", sender="trading-engine"),
        partial(heartbeat, run, subject="trade.heartbeat", service="orchestrator", index=1, sender="orchestrator"),
        partial(ai.decisions, run),
        *(partial(ai.provider_status, run, index=i) for i in range(len(AI_PROVIDERS))),
        partial(heartbeat, run, subject="ai.heartbeat", service="ai"),
        partial(analytics.queries, run),
        partial(analytics.reports, run),
        partial(analytics.snapshots, run),
        partial(analytics.pnl_reconciled, run),
        partial(analytics.db_status, run),
        *(partial(analytics.capacity, run, index=i) for i in range(len(CAPACITY_SERVICES))),
        partial(heartbeat, run, subject="analytics.heartbeat", service="analytics"),
    ]


def _ts_key(event: Raw) -> int:
    return event[0]


class Simulator:
    """Deterministic traffic of the whole platform from ``start_ms`` on, with incidents.

    Pure: no I/O and no wall clock (event time starts at ``start_ms``). ``records(until_ms)``
    yields ``Event(ts_ms, subject, payload)`` in non-decreasing ``ts`` order and
    ``events(until_ms)`` the same as ``(subject, JSON bytes)``. A payload holds ``ts`` (integer
    epoch ms of event time) and exactly the fields EVENTS.md lists for its subject, nothing else.
    """

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
        self._timeline = IncidentTimeline(incidents)
        self.incidents: tuple[Incident, ...] = self._timeline.incidents
        self._run = Run(start_ms, seed, self.rate, self._timeline)

    def active_incidents(self, ts_ms: int) -> tuple[Incident, ...]:
        return self._timeline.active_at(ts_ms)

    def intervals(self, kind: str, target: str | None = None) -> list[tuple[int, int]]:
        """Merged ``[start_ms, end_ms)`` intervals of ``kind`` (covering ``target`` if given)."""
        return [(s, e) for s, e, _ in self._timeline.intervals((kind,), target)]

    def records(self, until_ms: int) -> Iterator[Event]:
        """Every event with ``start_ms <= ts < until_ms``, in non-decreasing ``ts`` order."""
        until_ms = int(until_ms)
        sources = [source(until_ms) for source in _sources(self._run)]
        for ts, subject, payload in heapq.merge(*sources, key=_ts_key):
            yield Event(ts, subject, payload)

    def events(self, until_ms: int) -> Iterator[tuple[str, bytes]]:
        for _, subject, payload in self.records(until_ms):
            yield subject, orjson.dumps(payload)
