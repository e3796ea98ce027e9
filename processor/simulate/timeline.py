"""The incidents of one run, indexed by kind: what is active at an event time, and how strongly.

Overlapping incidents of one kind combine: multipliers multiply (``multiplier``), fractions and
levels take the most severe value (``level``), state intervals merge (``intervals``).
"""

from __future__ import annotations

__all__ = ["IncidentTimeline", "Interval", "covering"]

from collections.abc import Callable, Sequence
from typing import NamedTuple

from processor.simulate.incidents import Incident


class Interval(NamedTuple):
    """A part of the union of some incidents' intervals, ``[start_ms, end_ms)``."""

    start_ms: int
    end_ms: int
    first: Incident  # the incident that opened it


def covering(intervals: Sequence[Interval], ts: int) -> Interval | None:
    for interval in intervals:
        if interval.start_ms <= ts < interval.end_ms:
            return interval
    return None


def _merge(incidents: Sequence[Incident]) -> list[Interval]:
    merged: list[Interval] = []
    for inc in sorted(incidents, key=lambda i: (i.start_ms, i.end_ms)):
        if merged and inc.start_ms <= merged[-1].end_ms:
            s, e, first = merged[-1]
            merged[-1] = Interval(s, max(e, inc.end_ms), first)
        else:
            merged.append(Interval(inc.start_ms, inc.end_ms, inc))
    return merged


class IncidentTimeline:
    """``entity`` arguments select the incidents whose target covers that entity (a symbol, a
    provider, a service ...); ``None`` selects every incident of the kind."""

    def __init__(self, incidents: Sequence[Incident]) -> None:
        self.incidents: tuple[Incident, ...] = tuple(incidents)
        self._by_kind: dict[str, list[Incident]] = {}
        for inc in self.incidents:
            self._by_kind.setdefault(inc.kind, []).append(inc)
        self._intervals_cache: dict[tuple[tuple[str, ...], str | None], list[Interval]] = {}

    def active_at(self, ts_ms: int) -> tuple[Incident, ...]:
        """Every incident active at ``ts_ms``, whatever its kind."""
        return tuple(i for i in self.incidents if i.active(ts_ms))

    def active(self, kind: str, ts: int, entity: str | None = None) -> list[Incident]:
        incs = self._by_kind.get(kind)
        if not incs:
            return []
        return [i for i in incs if i.active(ts) and (entity is None or entity in i.covers)]

    def multiplier(self, kind: str, ts: int, entity: str | None = None) -> float:
        """The product of the active incidents' magnitudes; 1 when none is active."""
        factor = 1.0
        for inc in self.active(kind, ts, entity):
            factor *= inc.magnitude  # type: ignore[operator]
        return factor

    def level(
        self, kind: str, ts: int, entity: str | None = None, worst: Callable[..., float] = max
    ) -> float | None:
        """The most severe active magnitude (``worst`` of them); None when none is active."""
        values = [i.magnitude for i in self.active(kind, ts, entity)]
        return worst(values) if values else None  # type: ignore[arg-type]

    def intervals(self, kinds: tuple[str, ...], entity: str | None = None) -> list[Interval]:
        """The union of the intervals of the incidents of ``kinds``, in time order."""
        key = (kinds, entity)
        cached = self._intervals_cache.get(key)
        if cached is None:
            incs = [
                i
                for k in kinds
                for i in self._by_kind.get(k, ())
                if entity is None or entity in i.covers
            ]
            cached = self._intervals_cache[key] = _merge(incs)
        return cached

    def down(self, kind: str, entity: str, ts: int) -> Interval | None:
        """The merged interval of ``kind`` covering ``entity`` at ``ts``, if any."""
        return covering(self.intervals((kind,), entity), ts)
