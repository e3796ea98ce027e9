"""What the simulator's tests share: the scenario's times, the runs (cached: several test modules
look at the same baseline) and ways to look at events."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cache

import numpy as np

from processor.simulate import Event, Incident, Simulator

T0 = int(datetime(2026, 1, 5, 14, 0, tzinfo=UTC).timestamp() * 1000)
MIN = 60_000
# The incident tests' scenario: 10 minutes, an incident from minute 5 to minute 9.
START, DURATION = T0 + 5 * MIN, 4 * MIN
END = START + DURATION
UNTIL = T0 + 10 * MIN


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
