"""A series (one SLI split by its label values) and the window statistics computed from it.

A series keeps one bucket per sub-window (the kind's bucket type, see processor/kinds/buckets.py):
the last hours' as objects (``subs``, which events write into), older ones packed as arrays
(``sealed``, engine/sealed.py: nothing writes there, since they are closed); the latency values
waiting for their vectorised insert, and for SLIs read by ``since_last`` the latest
event time per sub-window (and, past the horizon, overall). State SLIs also keep their entities'
states and the series' bad intervals (``StateTrack``).
"""

from __future__ import annotations

import heapq
from operator import itemgetter
from typing import Any

from processor.config.model import Stat
from processor.engine.sealed import Sealed

__all__ = ["SEAL_EVERY_MS", "Series", "aggregate", "merge_buckets", "window_value"]

# Sub-windows are sealed an hour at a time once an hour older than the boundary: every window of
# the catalogue but the calendar's 30 days is an hour or less, so the live ones (``subs``) cover
# them and the hot paths never read sealed ones; a longer window reads both (``window_subs``).
# The cut depends on the boundary alone, so an engine restored, one that skipped quiet boundaries
# and one that evaluated them all hold the same sub-windows sealed.
SEAL_EVERY_MS = 3_600_000


class Series:
    __slots__ = ("subs", "sealed", "sealed_until_ms", "pending", "last_by_sub", "older_last_ms", "state")

    def __init__(self, state: Any = None, tracks_last: bool = False) -> None:
        self.subs: dict[int, Any] = {}  # sub-window start ms -> the kind's bucket
        self.sealed: Sealed | None = None  # older sub-windows, packed (all start before the live ones)
        self.sealed_until_ms = 0  # sub-windows starting before it were sealed (kept in memory only)
        self.pending: dict[int, Any] = {}  # latency values waiting for a vectorised flush (PendingLatencies)
        # For since_last: latest event time per sub-window (only for SLIs an absence rule reads).
        self.last_by_sub: dict[int, int] | None = {} if tracks_last else None
        self.older_last_ms: int | None = None  # latest event time among evicted sub-windows
        self.state = state  # StateTrack of a state SLI

    def holds_subs(self) -> bool:
        return bool(self.subs) or self.sealed is not None

    def all_starts(self) -> list[int]:
        """Every sub-window's start, sealed and live (live ones in insertion order)."""
        return [*(self.sealed.start_list() if self.sealed is not None else ()), *self.subs]

    def window_subs(self, lo_ms: int, hi_ms: int) -> dict[int, Any]:
        """Sub-window start -> bucket for a window [lo, hi): ``subs`` itself unless the window
        reaches sealed ones, which are then made again as buckets (a copy: do not write to it)."""
        sealed = self.sealed
        if sealed is None or lo_ms > sealed.starts[-1]:
            return self.subs
        return {**dict(sealed.items(lo_ms, hi_ms)), **self.subs}

    def seal(self, t_ms: int) -> None:
        """At boundary ``t``: seal the live sub-windows starting before the cut (SEAL_EVERY_MS)."""
        cut_ms = (t_ms - SEAL_EVERY_MS) // SEAL_EVERY_MS * SEAL_EVERY_MS
        if cut_ms <= self.sealed_until_ms:
            return
        self.sealed_until_ms = cut_ms
        old = sorted((s, b) for s, b in self.subs.items() if s < cut_ms)
        if not old or not all(Sealed.sealable(b) for _, b in old):
            return  # sketches (latency) stay live
        for start, _ in old:
            del self.subs[start]
        if self.sealed is not None and old[0][0] <= self.sealed.starts[-1]:
            # Live sub-windows older than sealed ones (restored from a snapshot that had them so):
            # packed again in start order.
            old = sorted([*self.sealed.items(old[0][0], cut_ms), *old], key=itemgetter(0))
            self.sealed = self.sealed.until(old[0][0])
        packed = Sealed.of(old)
        self.sealed = packed if self.sealed is None else self.sealed.extended(packed)

    def persistent(self) -> bool:
        """Kept with no sub-windows left: its state or last-seen time is still meaningful."""
        return self.state is not None or self.older_last_ms is not None

    def saw(self, sub_ms: int, t_ms: int) -> None:
        """An event at ``t_ms`` in the sub-window starting at ``sub_ms``, for since_last.
        (Engine.ingest does the same inline.)"""
        last = self.last_by_sub
        if last is not None and t_ms > last.get(sub_ms, -1):
            last[sub_ms] = t_ms

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
        if self.sealed is not None:
            self.sealed = self.sealed.since(oldest_ms)
        if self.last_by_sub:
            for start in [s for s in self.last_by_sub if s < oldest_ms]:
                ts = self.last_by_sub.pop(start)
                if self.older_last_ms is None or ts > self.older_last_ms:
                    self.older_last_ms = ts
        if self.state is not None:
            self.state.evict(oldest_ms)

    def snapshot(self) -> dict:
        data: dict = {"subs": [[start, v.snapshot()] for start, v in sorted(self.subs.items())]}
        if self.sealed is not None:
            data["sealed"] = self.sealed.snapshot()  # version 5
        if self.last_by_sub is not None:
            data["last"] = sorted(self.last_by_sub.items())
        if self.older_last_ms is not None:
            data["older_last_ms"] = self.older_last_ms
        if self.state is not None:
            data["state"] = self.state.snapshot()
        return data

    def restore(self, data: dict, restore_bucket) -> bool:
        """Load a snapshot with the kind's bucket decoder; False when a bucket is not the kind's."""
        for start, v in data["subs"]:
            bucket = restore_bucket(v)
            if bucket is None:
                return False
            self.subs[start] = bucket
        if "sealed" in data:
            self.sealed = Sealed.restore(data["sealed"])
            if restore_bucket(self.sealed.bucket(0).snapshot()) is None:
                return False  # the kind's decoder does not take this bucket type
        if "last" in data and self.last_by_sub is not None:
            self.last_by_sub = {int(k): v for k, v in data["last"]}
        self.older_last_ms = data.get("older_last_ms")
        if self.state is not None and "state" in data:
            self.state.restore(data["state"])
        return True


def merge_buckets(buckets) -> Any:
    """One bucket holding all of them (copied; the inputs are not changed), None for none."""
    merged = None
    for bucket in buckets:
        if merged is None:
            merged = bucket.copy()
        else:
            merged.merge(bucket)
    return merged


def aggregate(series: Series, lo_ms: int, hi_ms: int) -> Any:
    """The series' buckets of the sub-windows starting in [lo, hi), merged; None for none."""
    # In start order, so float sums add up the same way live and after a restore, sealed or not.
    live = sorted((start, v) for start, v in series.subs.items() if lo_ms <= start < hi_ms)
    if series.sealed is not None and lo_ms <= series.sealed.starts[-1]:
        live = heapq.merge(series.sealed.items(lo_ms, hi_ms), live, key=itemgetter(0))
    return merge_buckets(v for _, v in live)


def window_value(bucket: Any, series: Series, stat: Stat, t_ms: int, window_ms: int, origin_ms: int) -> float | None:
    """A stat over [t - window, t) of one series; None when there is nothing to measure.

    What depends on the series as a whole (last event, bad spells of a state SLI) is read here;
    everything else the window's merged bucket answers itself (``stat_value``)."""
    kind = stat.kind
    if kind == "since_last":
        # Never seen is unknown, not absent: ServiceNeverReported covers an SLI that never reports.
        last = series.last_seen_before(t_ms)
        return None if last is None else float(t_ms - last)
    if kind == "bad_for":
        return series.state.bad_for(t_ms) if series.state is not None else None
    if kind in ("good_ratio", "bad_ratio") and series.state is not None:
        # A state SLI's ratio is of time: the share of the window the series spent bad.
        bad = series.state.bad_ms(t_ms - window_ms, t_ms) / window_ms
        return bad if kind == "bad_ratio" else 1.0 - bad
    if bucket is None:
        return 0.0 if kind == "count" else None
    return bucket.stat_value(stat)
