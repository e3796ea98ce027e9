"""What a series keeps per sub-window, and how each bucket is written into a snapshot.

Three bucket types cover every SLI kind: ``LatencyStore`` (a DDSketch-compatible sketch, in
``sketch.py``), ``Counts`` (good and total events) and ``Gauge`` (count, sum, min, max and the value
with the latest event time). Each has ``count``, ``merge``, ``copy``, ``stat_value`` (the stats it
can answer over a window) and ``snapshot``; each kind module says which one it uses and decodes
its snapshot (see ``processor/kinds/base.py``).
"""

from __future__ import annotations

import math
from typing import Any

from processor.vocabulary import GAUGE_STATS

__all__ = ["Counts", "Gauge"]

_COUNT_STATS = ("bad_count", "good_ratio", "bad_ratio")


class Counts:
    """Good and total events of one sub-window (ratio, events, state and outcome correlations)."""

    __slots__ = ("good", "total")

    def __init__(self, good: int = 0, total: int = 0) -> None:
        self.good = good
        self.total = total

    @property
    def count(self) -> int:
        return self.total

    def merge(self, other: Counts) -> None:
        self.good += other.good
        self.total += other.total

    def copy(self) -> Counts:
        return Counts(self.good, self.total)

    def snapshot(self) -> list:
        return [self.good, self.total]

    def stat_value(self, stat: Any) -> float | None:
        """``count``, ``bad_count``, ``good_ratio``, ``bad_ratio``; None for what it cannot say."""
        kind = stat.kind
        if kind == "count":
            return float(self.total)
        if kind not in _COUNT_STATS or self.total == 0:
            return None
        if kind == "bad_count":
            return float(self.total - self.good)
        # Each ratio divided out directly: 3 bad of 300 is 1 % exactly, where 1 - 297/300 reads
        # 1.0000000000000009 % and a "> 1%" rule would still hold on an exact tie.
        if kind == "good_ratio":
            return self.good / self.total
        return (self.total - self.good) / self.total

    @classmethod
    def restore(cls, data: object) -> Counts | None:
        """None when ``data`` is not a Counts snapshot (the SLI changed kind)."""
        if type(data) is list and len(data) == 2 and all(type(v) is int for v in data):
            return cls(data[0], data[1])
        return None


class Gauge:
    """A number per event, summarised: count, sum, min, max and the latest value."""

    __slots__ = ("count", "sum", "min", "max", "last_ts", "last")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        self.last_ts = -1
        self.last = 0.0

    def add(self, ts_ms: int, value: float) -> None:
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if ts_ms >= self.last_ts:  # equal times: the later arrival wins, as a "last" should
            self.last_ts, self.last = ts_ms, value

    def merge(self, other: Gauge) -> None:
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if other.last_ts >= self.last_ts:
            self.last_ts, self.last = other.last_ts, other.last

    def copy(self) -> Gauge:
        g = Gauge()
        g.merge(self)
        return g

    def stat_value(self, stat: Any) -> float | None:
        """``count`` and the gauge stats (last, min, max, avg, sum); None without values."""
        kind = stat.kind
        if kind == "count":
            return float(self.count)
        if kind not in GAUGE_STATS or self.count == 0:
            return None
        if kind == "avg":
            return self.sum / self.count
        return float(getattr(self, kind))

    def snapshot(self) -> list:
        # JSON has no infinity: an empty gauge's min and max travel as null, and a sum that
        # overflowed (many values near 1e308) as the text "inf".
        empty = self.count == 0
        low, high = (None, None) if empty else (_number(self.min), _number(self.max))
        return ["g", self.count, _number(self.sum), low, high, self.last_ts, _number(self.last)]

    @classmethod
    def restore(cls, data: object) -> Gauge | None:
        """None when ``data`` is not a Gauge snapshot (the SLI changed kind)."""
        if type(data) is not list or len(data) != 7 or data[0] != "g":
            return None
        g = cls()
        _, g.count, total, low, high, g.last_ts, last = data
        g.sum, g.last = float(total), float(last)
        if g.count:
            g.min, g.max = float(low), float(high)
        return g


def _number(value: float) -> float | str:
    """A float as JSON holds it: a non-finite one as its text ("inf", "-inf", "nan")."""
    return value if math.isfinite(value) else repr(value)
