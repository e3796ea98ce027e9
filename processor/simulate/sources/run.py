"""What every source of one run shares: where event time starts, the seed of its draws, the rate,
the ids of its correlations and the run's incidents. And the draws themselves."""

from __future__ import annotations

__all__ = ["Raw", "Run", "clip", "lognormal", "z"]

import hashlib
import math
import random
from collections.abc import Iterator
from statistics import NormalDist
from typing import Any

from processor.simulate.platform import SCHEDULE
from processor.simulate.timeline import IncidentTimeline

Raw = tuple[int, str, dict[str, Any]]  # ts, subject, payload


class Run:
    """One run of the simulator, as its sources see it."""

    def __init__(self, start_ms: int, seed: int, rate: float, incidents: IncidentTimeline) -> None:
        self.start_ms = start_ms
        self.seed = seed
        self.rate = rate
        self.incidents = incidents
        # Ids embed a token of (seed, start_ms), so two runs into one stream do not mix their
        # correlations.
        self._run_id = hashlib.sha256(f"{seed}:{start_ms}".encode()).hexdigest()[:6]

    def rng(self, source: str) -> random.Random:
        """The draws of one source. String seeds are hashed with SHA-512, not ``hash()``: the
        same in every process."""
        return random.Random(f"{self.seed}/{source}")

    def arrivals(self, rng: random.Random, per_s: float, until_ms: int) -> Iterator[int]:
        """A Poisson process of ``per_s`` events per second of event time."""
        mean_ms = 1000.0 / per_s
        t = float(self.start_ms)
        while True:
            t += rng.expovariate(1.0) * mean_ms
            if t >= until_ms:
                return
            yield int(t)

    def ticks(self, subject: str, index: int, until_ms: int) -> range:
        """The report times of entity ``index`` of a periodic subject (``SCHEDULE``)."""
        p = SCHEDULE[subject]
        return range(self.start_ms + p.offset_ms + index * p.stagger_ms, until_ms, p.period_ms)

    def id(self, prefix: str, n: int) -> str:
        return f"{prefix}-{self._run_id}-{n:07d}"


_NORMAL = NormalDist()


def z(u: float) -> float:
    """A standard normal from one uniform draw (inverse CDF), so that every draw is one
    ``random()`` call and the count of draws per event is fixed. Clipped at +-4 sigma."""
    u = min(max(u, 3.2e-5), 1 - 3.2e-5)
    return _NORMAL.inv_cdf(u)


def lognormal(median: float, sigma: float, z: float) -> float:
    return median * math.exp(sigma * z)


def clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))
