"""Per-series state of every SLI kind, and the window statistics computed from it.

A series is one SLI split by its label values. It keeps one entry per closed or open sub-window:
- a ``LatencyStore`` (latency, duration correlations),
- a ``[good, total]`` list (ratio, events, state and outcome correlations; events count as good),
- a ``Gauge`` (gauges: count, sum, min, max and the value with the latest event time).
State SLIs also keep the entities' states and the series' bad intervals; SLIs read by
``since_last`` keep the latest event time per sub-window and, past the horizon, overall.
"""

from __future__ import annotations

import heapq
from typing import Any

from processor.engine.sketch import LatencyStore
from processor.config.model import Stat

__all__ = ["Correlations", "Gauge", "Series", "StateTrack", "window_value"]


class Gauge:
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

    def snapshot(self) -> list:
        # JSON has no infinity: an empty gauge's min and max travel as null.
        empty = self.count == 0
        return ["g", self.count, self.sum, None if empty else self.min, None if empty else self.max, self.last_ts, self.last]

    @classmethod
    def restore(cls, data: list) -> Gauge:
        g = cls()
        _, g.count, g.sum, low, high, g.last_ts, g.last = data
        if g.count:
            g.min, g.max = low, high
        return g


class StateTrack:
    """The state of each entity of a state-SLI series, and when the series as a whole was bad.

    ``intervals`` are [start, end or None] of bad spells in event time, so any statistic is
    computed *as of* a boundary even when events past it have already arrived.
    """

    __slots__ = ("entities", "all_bad", "intervals", "seen_ms")

    def __init__(self, bad_when: str, entities: tuple[str, ...] = ()) -> None:
        # Entities named in the config are known, and good, before any event says otherwise: "all
        # providers down" must not fire when the only provider heard from so far is down.
        self.entities: dict[str, bool] = dict.fromkeys(entities, False)
        self.all_bad = bad_when == "all"
        self.intervals: list[list] = []
        self.seen_ms: dict[str, int] = {}  # event time of each entity's latest state

    def update(self, entity: str, bad: bool, ts_ms: int) -> None:
        if ts_ms < self.seen_ms.get(entity, -1):
            return  # an older report arriving late (within the lateness) does not undo a newer one
        self.seen_ms[entity] = ts_ms
        self.entities[entity] = bad
        states = self.entities.values()
        series_bad = all(states) if self.all_bad else any(states)
        open_spell = bool(self.intervals) and self.intervals[-1][1] is None
        if series_bad and not open_spell:
            self.intervals.append([ts_ms, None])
        elif not series_bad and open_spell:
            self.intervals[-1][1] = max(ts_ms, self.intervals[-1][0])

    def bad_for(self, t_ms: int) -> float:
        for start, end in reversed(self.intervals):
            if start < t_ms:
                return float(t_ms - start) if end is None or end > t_ms else 0.0
        return 0.0

    def bad_ms(self, lo_ms: int, hi_ms: int) -> int:
        total = 0
        for start, end in self.intervals:
            s = max(start, lo_ms)
            e = min(hi_ms if end is None else end, hi_ms)
            if e > s:
                total += e - s
        return total

    def evict(self, oldest_ms: int) -> None:
        while self.intervals and self.intervals[0][1] is not None and self.intervals[0][1] < oldest_ms:
            self.intervals.pop(0)

    def snapshot(self) -> list:
        return [sorted(self.entities.items()), [list(i) for i in self.intervals], sorted(self.seen_ms.items())]

    def restore(self, data: list) -> None:
        self.entities = dict(data[0])
        self.intervals = [list(i) for i in data[1]]
        self.seen_ms = dict(data[2])


class Series:
    __slots__ = ("subs", "pending", "last_by_sub", "older_last_ms", "state")

    def __init__(self, state: StateTrack | None = None) -> None:
        self.subs: dict[int, Any] = {}  # sub-window start ms -> LatencyStore | [good, total] | Gauge
        self.pending: dict[int, list[float]] = {}  # latency values waiting for a vectorised flush
        self.last_by_sub: dict[int, int] | None = None  # for since_last: latest event time per sub
        self.older_last_ms: int | None = None  # latest event time among evicted sub-windows
        self.state = state

    def persistent(self) -> bool:
        """Kept with no sub-windows left: its state or last-seen time is still meaningful."""
        return self.state is not None or self.older_last_ms is not None

    def last_seen_before(self, t_ms: int) -> int | None:
        best = self.older_last_ms
        if self.last_by_sub:
            for start, ts in self.last_by_sub.items():
                if start < t_ms and (best is None or ts > best):
                    best = ts
        return best

    def evict(self, oldest_ms: int) -> None:
        for start in [s for s in self.subs if s < oldest_ms]:
            del self.subs[start]
        if self.last_by_sub:
            for start in [s for s in self.last_by_sub if s < oldest_ms]:
                ts = self.last_by_sub.pop(start)
                if self.older_last_ms is None or ts > self.older_last_ms:
                    self.older_last_ms = ts
        if self.state is not None:
            self.state.evict(oldest_ms)

    def snapshot(self) -> dict:
        subs = []
        for start, v in sorted(self.subs.items()):
            subs.append([start, v if type(v) is list else v.snapshot()])
        data: dict = {"subs": subs}
        if self.last_by_sub is not None:
            data["last"] = sorted(self.last_by_sub.items())
        if self.older_last_ms is not None:
            data["older_last_ms"] = self.older_last_ms
        if self.state is not None:
            data["state"] = self.state.snapshot()
        return data

    def restore(self, data: dict) -> None:
        for start, v in data["subs"]:
            if type(v) is dict:
                self.subs[start] = LatencyStore.restore(v)
            elif v and v[0] == "g":
                self.subs[start] = Gauge.restore(v)
            else:
                self.subs[start] = list(v)
        if "last" in data:
            self.last_by_sub = {int(k): v for k, v in data["last"]}
        self.older_last_ms = data.get("older_last_ms")
        if self.state is not None and "state" in data:
            self.state.restore(data["state"])


class Correlations:
    """Open start events of a correlation SLI, by id, with their deadlines (event time)."""

    __slots__ = ("open", "deadlines", "dropped", "unmatched", "max_open", "early")

    def __init__(self, max_open: int) -> None:
        # id -> [start_ms, labels, deadline_ms or None]; insertion order = start order, so the
        # first entry is the one to drop when the table is full.
        self.open: dict[str, list] = {}
        self.deadlines: list[tuple[int, str, int]] = []
        self.dropped = 0
        self.unmatched = 0
        self.max_open = max_open
        # Ends that arrived before their start (out of order within the lateness): id -> [end_ms,
        # role]. A start finds its end here; the watermark clears what no start claimed.
        self.early: dict[str, list] = {}

    def start(self, cid: str, ts_ms: int, labels: tuple, deadline_ms: int | None) -> list | None:
        """Open a correlation; if its end already arrived, return that [end_ms, role] instead."""
        early = self.early.get(cid)
        if early is not None and early[0] >= ts_ms:
            del self.early[cid]
            return early
        if cid in self.open:
            del self.open[cid]  # a restart of the same id: the newer start counts
        elif len(self.open) >= self.max_open:
            del self.open[next(iter(self.open))]
            self.dropped += 1
        self.open[cid] = [ts_ms, labels, deadline_ms]
        if deadline_ms is not None:
            heapq.heappush(self.deadlines, (deadline_ms, cid, ts_ms))
        return None

    def finish(self, cid: str, ts_ms: int, role: int) -> list | None:
        entry = self.open.pop(cid, None)
        if entry is None:
            if len(self.early) >= self.max_open:
                del self.early[next(iter(self.early))]
                self.unmatched += 1
            self.early[cid] = [ts_ms, role]
        return entry

    def forget_early(self, closed_ms: int) -> None:
        """Ends in closed sub-windows can no longer meet a start (it would be late): unmatched."""
        for cid in [c for c, (end_ms, _) in self.early.items() if end_ms < closed_ms]:
            del self.early[cid]
            self.unmatched += 1

    def expire(self, before_ms: int) -> list[tuple[int, tuple]]:
        """Pop the correlations whose deadline is before ``before_ms``: (deadline, labels)."""
        out = []
        while self.deadlines and self.deadlines[0][0] < before_ms:
            deadline, cid, start_ms = heapq.heappop(self.deadlines)
            entry = self.open.get(cid)
            if entry is not None and entry[0] == start_ms and entry[2] == deadline:
                del self.open[cid]
                out.append((deadline, entry[1]))
        return out

    def snapshot(self) -> dict:
        return {
            "open": [[cid, e[0], list(e[1]), e[2]] for cid, e in self.open.items()],
            "early": [[cid, e[0], e[1]] for cid, e in self.early.items()],
            "dropped": self.dropped,
            "unmatched": self.unmatched,
        }

    def restore(self, data: dict) -> None:
        self.open = {}
        self.deadlines = []
        for cid, start_ms, labels, deadline in data["open"]:
            self.open[cid] = [start_ms, tuple(labels), deadline]
            if deadline is not None:
                heapq.heappush(self.deadlines, (deadline, cid, start_ms))
        self.early = {cid: [end_ms, role] for cid, end_ms, role in data["early"]}
        self.dropped = data["dropped"]
        self.unmatched = data["unmatched"]


def aggregate(series: Series, lo_ms: int, hi_ms: int) -> tuple:
    """(store, good, total, gauge) over the sub-windows starting in [lo, hi)."""
    store = None
    gauge = None
    good = total = 0
    # In start order, so float sums add up the same way live and after a restore.
    for start, v in sorted(series.subs.items()):
        if lo_ms <= start < hi_ms:
            t = type(v)
            if t is list:
                good += v[0]
                total += v[1]
            elif t is Gauge:
                if gauge is None:
                    gauge = v.copy()
                else:
                    gauge.merge(v)
            elif store is None:
                store = v.copy()
            else:
                store.merge(v)
    return store, good, total, gauge


def window_value(agg: tuple, series: Series, stat: Stat, t_ms: int, window_ms: int, origin_ms: int) -> float | None:
    """A stat over [t - window, t) of one series; None when there is nothing to measure."""
    store, good, total, gauge = agg
    kind = stat.kind
    if kind == "quantile":
        return None if store is None else store.quantile(stat.q)  # type: ignore[arg-type]
    if kind == "count":
        if store is not None:
            return float(store.count)
        return float(gauge.count if gauge is not None else total)
    if kind == "since_last":
        last = series.last_seen_before(t_ms)
        return float(t_ms - (origin_ms if last is None else last))
    if kind == "bad_for":
        return series.state.bad_for(t_ms) if series.state is not None else None
    if kind in ("good_ratio", "bad_ratio") and series.state is not None:
        # A state SLI's ratio is of time: the share of the window the series spent bad.
        bad = series.state.bad_ms(t_ms - window_ms, t_ms) / window_ms
        return bad if kind == "bad_ratio" else 1.0 - bad
    if kind in ("last", "min", "max", "avg", "sum"):
        if gauge is None or gauge.count == 0:
            return None
        if kind == "avg":
            return gauge.sum / gauge.count
        return float(getattr(gauge, kind))
    if total == 0:
        return None
    if kind == "bad_count":
        return float(total - good)
    return good / total if kind == "good_ratio" else 1.0 - good / total
