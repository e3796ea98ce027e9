"""Shapes of source that several streams share: flows with follow-up events, periodic state
reports with transitions, mismatch counters and heartbeats."""

from __future__ import annotations

__all__ = ["flow", "heartbeat", "mismatch_source", "state_source", "status_source"]

import heapq
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from processor.simulate.incidents import Incident
from processor.simulate.sources.run import Raw, Run
from processor.simulate.timeline import Interval, covering


def flow(arrivals: Iterator[tuple[int, list[Raw]]], until_ms: int) -> Iterator[Raw]:
    """Events of flows in ts order. Each arrival at time t (non-decreasing) brings the events of
    one flow, all stamped t or later, so whatever is due by t can go out before it."""
    pending: list[tuple[int, int, Raw]] = []
    seq = itertools.count()
    for t, produced in arrivals:
        while pending and pending[0][0] <= t:
            yield heapq.heappop(pending)[2]
        for event in produced:
            if event[0] < until_ms:
                heapq.heappush(pending, (event[0], next(seq), event))
    while pending:
        yield heapq.heappop(pending)[2]


def state_source(
    run: Run,
    until_ms: int,
    subject: str,
    ticks: range,
    intervals: Sequence[Interval],
    make: Callable[[str, Incident | None], dict[str, Any] | None],
) -> Iterator[Raw]:
    """Periodic reports plus a transition at each end of each interval. ``make(phase, inc)``
    builds the payload: phase "report" (inc = the interval covering it, or None), "start" or
    "end" (inc = the interval's first incident)."""
    edges = []
    for s, e, inc in intervals:
        if run.start_ms <= s < until_ms:
            edges.append((s, 0, "start", inc))
        if run.start_ms <= e < until_ms:
            edges.append((e, 0, "end", inc))
    reports = ((ts, 1, "report", None) for ts in ticks)
    for ts, _, phase, inc in heapq.merge(edges, reports, key=lambda x: (x[0], x[1])):
        if phase == "report":
            interval = covering(intervals, ts)
            inc = interval.first if interval else None
        body = make(phase, inc)
        if body is not None:
            yield ts, subject, {"ts": ts, **body}


def status_source(
    run: Run,
    until_ms: int,
    subject: str,
    index: int,
    intervals: Sequence[Interval],
    labels: dict[str, str],
    states: tuple[str, str] = ("down", "up"),
) -> Iterator[Raw]:
    """Reports of entity ``index`` of ``subject``: ``labels`` and ``state``, the first of
    ``states`` from the start of an interval to its end, the second otherwise."""
    down_state, up_state = states

    def make(phase: str, inc: Incident | None) -> dict[str, Any]:
        down = inc is not None and phase != "end"
        return {**labels, "state": down_state if down else up_state}

    return state_source(run, until_ms, subject, run.ticks(subject, index, until_ms), intervals, make)


def mismatch_source(run: Run, until_ms: int, subject: str, kind: str, fieldname: str) -> Iterator[Raw]:
    """Reconciliation reports: ``fieldname`` = the incident's magnitude while one is on, else 0."""

    def make(phase: str, inc: Incident | None) -> dict[str, Any]:
        count = int(inc.magnitude) if inc is not None and phase != "end" else 0  # type: ignore[arg-type]
        return {fieldname: count}

    ticks = run.ticks(subject, 0, until_ms)
    return state_source(run, until_ms, subject, ticks, run.incidents.intervals((kind,), None), make)


def heartbeat(
    run: Run, until_ms: int, subject: str, service: str, index: int = 0, sender: str | None = None
) -> Iterator[Raw]:
    """A service's heartbeats, which stop during a total outage of the service (the outage target
    ``service``). On a subject that several services share (trade.heartbeat), ``sender`` is the
    payload's ``service``, which tells the beats apart, and ``index`` staggers them."""
    payload = {} if sender is None else {"service": sender}
    for ts in run.ticks(subject, index, until_ms):
        if any(i.magnitude >= 1.0 for i in run.incidents.active("outage", ts, service)):  # type: ignore[operator]
            continue
        yield ts, subject, {"ts": ts, **payload}
