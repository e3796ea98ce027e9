"""An error budget across a quiet stretch of boundaries, computed in one vectorised step.

In a stretch the engine found quiet (engine/catchup.py: no event, no sub-window entering or leaving
a window of the SLI, no timer), a tracker's input at every boundary is known in advance: nothing
for occurrences, and one constant verdict per slice end for time slices. Its window sums then
follow from its rings plus those inputs, so every boundary's burn rates and budget are computed
at once with numpy, and the tracker's state is moved to the stretch's end in one step, the same
state ``BudgetTracker.record`` leaves boundary by boundary (``advance_quietly``; the property
tests compare both).

What a stretch cannot skip is where the tracker could publish or change beyond its counts: a
burn-rate tier's condition changing, the policy moving, every window emptying (the engine then
stops evaluating). ``first_change_ms`` is that boundary; the engine evaluates it normally.
"""

from __future__ import annotations

import numpy as np

from processor.engine.budget import TIER1_BUCKET_MS, BudgetTracker, _Ring
from processor.engine.rules import FIRING, PENDING

__all__ = ["MAX_STRETCH_MS", "TrackerStretch", "advance_quietly"]

# A stretch is computed in pieces of at most this much event time, so memory stays flat (a few
# arrays of about 500k counters) however long the gap.
MAX_STRETCH_MS = 30 * 86_400_000


class TrackerStretch:
    """Boundaries ``first_ms, first_ms + r, …, last_ms`` of one tracker with a constant verdict
    ``(good, total)`` per slice end (time slices) or no input at all (``verdict`` None)."""

    def __init__(self, tracker: BudgetTracker, first_ms: int, last_ms: int, verdict: tuple[int, int] | None):
        self.tracker = tracker
        res = tracker.resolution_ms
        self.boundaries = np.arange(first_ms, last_ms + res, res, dtype=np.int64)
        good_in = np.zeros(self.boundaries.size, dtype=np.int64)
        total_in = np.zeros(self.boundaries.size, dtype=np.int64)
        if verdict is not None and verdict[1]:
            ends = self.boundaries % tracker.budget.slice_ms == 0
            good_in[ends], total_in[ends] = verdict
        self.good_in, self.total_in = good_in, total_in
        self.sums = {w: self._window_sums(w) for w in tracker.windows}
        self.first_change_ms = self._first_change()
        self.sums = {}  # only the answer is kept: memory stays one tracker's arrays at a time

    # ------------------------------------------------------------------ window sums
    def _window_sums(self, window_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """(good, total) of the window at every boundary of the stretch, as record() keeps them:
        fine windows hold the sub-windows starting in [b - W, b), coarse ones the minutes from
        the one holding b - W at the last minute turn."""
        tracker = self.tracker
        if tracker.windows[window_ms].fine:
            return self._sums_on_grid(tracker.ring0, tracker.resolution_ms, self.boundaries - window_ms)
        # Coarse: whole minutes [m(b) - W, m(b)), then the minute in progress up to b.
        b = self.boundaries
        minute = b - b % TIER1_BUCKET_MS
        good, total = self._sums_on_grid(tracker.ring1, TIER1_BUCKET_MS, minute - window_ms, minute)
        return good + self._in_progress(self.good_in, minute), total + self._in_progress(self.total_in, minute)

    def _sums_on_grid(self, ring: _Ring, step_ms: int, lo_ms: np.ndarray, hi_ms: np.ndarray | None = None):
        """Sums over [lo, hi) (hi: the boundary) of the ring's buckets before the stretch and the
        stretch's inputs, on a timeline of ``step_ms`` cells."""
        b = self.boundaries
        res = self.tracker.resolution_ms
        hi_ms = b if hi_ms is None else hi_ms
        origin = int(lo_ms[0]) - int(lo_ms[0]) % step_ms
        keys = b - res  # the input of boundary b is the sub-window [b - r, b)
        length = (int(keys[-1]) - origin) // step_ms + 1
        good = np.zeros(length, dtype=np.int64)
        total = np.zeros(length, dtype=np.int64)
        _place_ring(ring, origin, int(b[0]) - res, step_ms, good, total)
        at = (keys - origin) // step_ms
        np.add.at(good, at, self.good_in)
        np.add.at(total, at, self.total_in)
        cum_good = np.concatenate(([0], np.cumsum(good)))
        cum_total = np.concatenate(([0], np.cumsum(total)))
        hi = np.minimum((hi_ms - origin + step_ms - 1) // step_ms, length)
        lo = np.maximum((lo_ms - origin + step_ms - 1) // step_ms, 0)
        return cum_good[hi] - cum_good[lo], cum_total[hi] - cum_total[lo]

    def _in_progress(self, inputs: np.ndarray, minute_ms: np.ndarray) -> np.ndarray:
        """What each boundary b holds of the minute in progress: the ring's part of it from before
        the stretch, and the stretch's inputs with keys in [m(b), b)."""
        res = self.tracker.resolution_ms
        b0 = int(self.boundaries[0])
        cum = np.concatenate(([0], np.cumsum(inputs)))
        first = np.maximum((minute_ms + res - b0) // res, 0)
        part = cum[np.arange(1, inputs.size + 1)] - cum[first]
        start0 = (b0 - res) - (b0 - res) % TIER1_BUCKET_MS
        if start0 < b0 - res:  # the first minute began before the stretch: the ring holds its start
            ring = self.tracker.ring1
            pre = ring.good if inputs is self.good_in else ring.total
            slot = (start0 // TIER1_BUCKET_MS) % ring.size
            if ring.ids[slot] == start0 // TIER1_BUCKET_MS:
                part = part + np.where(minute_ms == start0, pre[slot], 0)
        return part

    # ------------------------------------------------------------------ where it stops being quiet
    def _first_change(self) -> int | None:
        candidates = [self._tier_change(tier, rule) for tier, rule in self.tracker.rules]
        candidates.append(self._policy_change())
        candidates.append(self._emptied())
        found = [i for i in candidates if i is not None]
        return int(self.boundaries[min(found)]) if found else None

    def _burn(self, window_ms: int, min_events: int) -> np.ndarray:
        good, total = self.sums[window_ms]
        with np.errstate(divide="ignore", invalid="ignore"):
            # The same float operations as _WindowSum.burn, so a value equals it to the bit.
            burn = ((total - good) / total) / (1.0 - self.tracker.objective)
        return np.where((total == 0) | (total < min_events), np.nan, burn)

    def _tier_change(self, tier, rule) -> int | None:
        long_burn = self._burn(tier.long_ms, tier.min_events_long)
        short_burn = self._burn(tier.short_ms, tier.min_events_short)
        value = np.fmin(long_burn, short_burn)
        value[np.isnan(long_burn) | np.isnan(short_burn)] = np.nan
        with np.errstate(invalid="ignore"):
            holds = value >= tier.burn
        state = rule.states.get(())
        held = state is not None and (state.state == PENDING or (state.state == FIRING and state.clear_since_ms is None))
        return _first(holds != held)

    def _policy_change(self) -> int | None:
        tracker = self.tracker
        budget = tracker.budget
        if not budget.policy:
            return None
        if budget.calendar is not None:
            good = tracker.period_good + np.cumsum(self.good_in)
            total = tracker.period_total + np.cumsum(self.total_in)
            span_ms = tracker.period[1] - tracker.period[0]
        else:
            good, total = self.sums[budget.window_ms]
            span_ms = budget.window_ms
        bad = total - good
        if budget.method == "time_slices":
            allowed = np.full(total.shape, (1.0 - tracker.objective) * (span_ms / budget.slice_ms))
        else:
            allowed = (1.0 - tracker.objective) * total
        with np.errstate(divide="ignore", invalid="ignore"):
            consumed = np.where(allowed > 0, bad / allowed, np.where(bad == 0, 0.0, np.inf))
        remaining = 1.0 - consumed
        previous = _RANKS[tracker.policy]
        moves = (_rank(remaining) > previous) | (_rank(remaining - budget.hysteresis) < previous)
        return _first(moves & (total >= max(1, budget.policy_min_events)))

    def _emptied(self) -> int | None:
        if not any(w.total for w in self.tracker.windows.values()):
            return None
        empty = np.ones(self.boundaries.size, dtype=bool)
        for _, total in self.sums.values():
            empty &= total == 0
        return _first(empty)



def advance_quietly(tracker: BudgetTracker, first_ms: int, last_ms: int, verdict: tuple[int, int] | None) -> None:
    """Leave the tracker as record() would after every boundary from ``first_ms`` to ``last_ms``
    of a quiet stretch: the verdicts counted into the rings and the calendar period, the window
    sums rebuilt from the rings (as a restore does)."""
    if verdict is not None and verdict[1]:
        slice_ms = tracker.budget.slice_ms
        ends = np.arange(first_ms + (-first_ms) % slice_ms, last_ms + 1, slice_ms, dtype=np.int64)
        keys = ends - tracker.resolution_ms
        good = np.full(keys.size, verdict[0], dtype=np.int64)
        total = np.full(keys.size, verdict[1], dtype=np.int64)
        for ring in (tracker.ring0, tracker.ring1):
            if ring is not None:
                _add_to_ring(ring, keys, good, total)
        if tracker.budget.calendar is not None:
            tracker.period_good += int(good.sum())
            tracker.period_total += int(total.sum())
    tracker.rebuild_windows(last_ms)


_RANKS = {"normal": 0, "prioritize_reliability": 1, "feature_freeze": 2, "emergency": 3}


def _rank(remaining: np.ndarray) -> np.ndarray:
    # budget._policy_of, vectorised: only "> 50 %" is normal, 25 % and 10 % belong to the tier above.
    return np.select([remaining > 0.5, remaining >= 0.25, remaining >= 0.10], [0, 1, 2], 3)


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _place_ring(ring: _Ring, origin_ms: int, before_ms: int, res: int, good: np.ndarray, total: np.ndarray) -> None:
    """Put a ring's live buckets starting in [origin, before) at their start on a timeline."""
    starts = ring.ids * ring.bucket_ms
    live = (ring.ids >= 0) & (starts >= origin_ms) & (starts < before_ms)
    at = (starts[live] - origin_ms) // res
    np.add.at(good, at, ring.good[live])
    np.add.at(total, at, ring.total[live])


def _add_to_ring(ring: _Ring, keys_ms: np.ndarray, good: np.ndarray, total: np.ndarray) -> None:
    """``ring.add`` for each key in order, at once: a slot ends up holding its latest bucket."""
    if keys_ms.size == 0:
        return
    buckets, first = np.unique(keys_ms // ring.bucket_ms, return_index=True)
    sums_good = np.add.reduceat(good, first)
    sums_total = np.add.reduceat(total, first)
    slots = buckets % ring.size
    # The last (newest) bucket of each slot is the one that survives; it adds to what the slot
    # holds only when the slot already holds that bucket (the minute in progress).
    rev_slots, rev_index = np.unique(slots[::-1], return_index=True)
    latest = buckets.size - 1 - rev_index
    kept = ring.ids[rev_slots] == buckets[latest]
    ring.good[rev_slots] = np.where(kept, ring.good[rev_slots], 0) + sums_good[latest]
    ring.total[rev_slots] = np.where(kept, ring.total[rev_slots], 0) + sums_total[latest]
    ring.ids[rev_slots] = buckets[latest]
