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

import math
from fractions import Fraction

import numpy as np

from processor.engine.budget import POLICY_RANK, TIER1_BUCKET_MS, BudgetTracker, _Ring, policy_ranks
from processor.engine.rules import FIRING, PENDING

__all__ = ["MAX_STRETCH_MS", "TrackerStretch", "advance_quietly"]

# A stretch is computed in pieces of at most this much event time, so memory stays flat (arrays
# of one point per slice, about 60k) however long the gap. Longer than a 30-day budget window, so
# that a budget can be seen to settle within one piece (TrackerStretch.settles).
MAX_STRETCH_MS = 40 * 86_400_000


class TrackerStretch:
    """Boundaries ``first_ms, first_ms + r, …, last_ms`` of one tracker with a constant verdict
    ``(good, total)`` per slice end (time slices) or no input at all (``verdict`` None).

    Window sums are piecewise constant: they change only where a counted sub-window enters (its
    boundary) or leaves a window (a fine window at key + W + r, a coarse one at the minute turn
    after its minute + W). Everything is computed at those boundaries only (``points``), so the
    cost follows what can change, not the length of the stretch."""

    def __init__(self, tracker: BudgetTracker, first_ms: int, last_ms: int, verdict: tuple[int, int] | None):
        self.tracker = tracker
        res = tracker.resolution_ms
        counted = verdict is not None and verdict[1] > 0
        self.verdict = verdict or (0, 0)
        last_ms, self.settles = self._settled(first_ms, last_ms, counted)
        if counted:
            slice_ms = tracker.budget.slice_ms
            ends = np.arange(first_ms + (-first_ms) % slice_ms, last_ms + 1, slice_ms, dtype=np.int64)
            self.input_keys = ends - res  # the input of boundary b is the sub-window [b - r, b)
        else:
            self.input_keys = np.zeros(0, dtype=np.int64)
        self.entries = {}
        if tracker.ring0 is not None:
            self.entries[True] = self._entries(tracker.ring0, first_ms - res)
        if tracker.ring1 is not None:
            self.entries[False] = self._entries(tracker.ring1, first_ms - res)
        self.points = self._change_points(first_ms, last_ms)
        self.sums = {w: self._sums_at(w) for w in tracker.windows}
        self.first_change_ms = self._first_change()
        self.sums = self.entries = {}  # only the answer is kept: memory stays one tracker's at a time

    def _settled(self, first_ms: int, last_ms: int, counted: bool) -> tuple[int, bool]:
        """Past its longest window, a rolling budget's windows hold nothing but the stretch's own
        verdicts, so its sums repeat with the period of slices and minutes: if nothing changed by
        two such periods later, nothing ever will (``settles``). A calendar budget's period sum
        grows instead, so one with a policy to move is computed to the end."""
        tracker = self.tracker
        if tracker.budget.calendar is not None and tracker.budget.policy:
            return last_ms, False
        period_ms = math.lcm(tracker.budget.slice_ms, TIER1_BUCKET_MS) if counted else TIER1_BUCKET_MS
        settled_ms = first_ms + max(tracker.windows) + 2 * period_ms
        return (settled_ms, True) if settled_ms < last_ms else (last_ms, False)

    # ------------------------------------------------------------------ window sums
    def _entries(self, ring: _Ring, before_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(key, good, total) in key order: the ring's live buckets before the stretch (keyed by
        their start: a coarse bucket counts whole from its minute on), then the stretch's inputs."""
        starts = ring.ids.astype(np.int64) * ring.bucket_ms
        live = (ring.ids >= 0) & (ring.total != 0) & (starts < before_ms)
        order = np.argsort(starts[live], kind="stable")
        n = self.input_keys.size
        keys = np.concatenate((starts[live][order], self.input_keys))
        good = np.concatenate((ring.good[live][order].astype(np.int64), np.full(n, self.verdict[0], dtype=np.int64)))
        total = np.concatenate((ring.total[live][order].astype(np.int64), np.full(n, self.verdict[1], dtype=np.int64)))
        return keys, good, total

    def _change_points(self, first_ms: int, last_ms: int) -> np.ndarray:
        res = self.tracker.resolution_ms
        points = [np.array([first_ms], dtype=np.int64), self.input_keys + res]
        for window_ms, window in self.tracker.windows.items():
            keys = self.entries[window.fine][0]
            if window.fine:
                points.append(keys + window_ms + res)
            else:
                minutes = keys - keys % TIER1_BUCKET_MS
                points.append(minutes + window_ms + TIER1_BUCKET_MS)
        points = np.concatenate(points)
        points = np.sort(points[(points >= first_ms) & (points <= last_ms)])
        return points[np.concatenate(([True], points[1:] != points[:-1]))]

    def _sums_at(self, window_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """(good, total) of the window at each change point, as record() keeps them: fine windows
        hold the sub-windows starting in [b - W, b), coarse ones the minutes from the one holding
        b - W at the last minute turn (m(b) - W)."""
        fine = self.tracker.windows[window_ms].fine
        keys, good, total = self.entries[fine]
        b = self.points
        lo = b - window_ms if fine else (b - b % TIER1_BUCKET_MS) - window_ms
        hi_i = np.searchsorted(keys, b, side="left")
        lo_i = np.searchsorted(keys, lo, side="left")
        cum_good = np.concatenate(([0], np.cumsum(good)))
        cum_total = np.concatenate(([0], np.cumsum(total)))
        return cum_good[hi_i] - cum_good[lo_i], cum_total[hi_i] - cum_total[lo_i]

    # ------------------------------------------------------------------ where it stops being quiet
    def _first_change(self) -> int | None:
        candidates = [self._tier_change(tier, rule) for tier, rule in self.tracker.rules]
        candidates.append(self._policy_change())
        candidates.append(self._emptied())
        found = [i for i in candidates if i is not None]
        return int(self.points[min(found)]) if found else None

    def _burns_at_least(self, window_ms: int, ratio, min_events: int) -> np.ndarray:
        good, total = self.sums[window_ms]  # _WindowSum.burns_at_least, vectorised
        counted = (total > 0) & (total >= min_events)
        bad = total - good
        if total.size and int(total.max()) * max(ratio.bad_factor, ratio.total_factor) >= 2**63:
            # Reported counts (up to 10**12 an event) times the factors: int64 would wrap them.
            bad, total = bad.astype(object), total.astype(object)
        return counted & (bad * ratio.bad_factor >= total * ratio.total_factor)

    def _tier_change(self, tier, rule) -> int | None:
        ratio = self.tracker.burn_ratios[tier.tier]
        holds = self._burns_at_least(tier.long_ms, ratio, tier.min_events_long) & self._burns_at_least(
            tier.short_ms, ratio, tier.min_events_short
        )
        state = rule.states.get(())
        held = state is not None and (state.state == PENDING or (state.state == FIRING and state.clear_since_ms is None))
        return _first(holds != held)

    def _policy_change(self) -> int | None:
        tracker = self.tracker
        budget = tracker.budget
        if not budget.policy:
            return None
        if budget.calendar is not None:
            counted = np.searchsorted(self.input_keys, self.points, side="left")  # inputs before b
            good = tracker.period_good + counted * self.verdict[0]
            total = tracker.period_total + counted * self.verdict[1]
            span_ms = tracker.period[1] - tracker.period[0]
        else:
            good, total = self.sums[budget.window_ms]
            span_ms = budget.window_ms
        bad = total - good
        # BudgetTracker.evaluate's exact ranks, for every point at once.
        if budget.method == "time_slices":
            allowed = tracker.allowed_exact(0, span_ms)
            allowed_num, allowed_den = allowed.numerator, allowed.denominator
        else:
            allowed_num = tracker.error_budget.numerator * total
            allowed_den = tracker.error_budget.denominator
        previous = POLICY_RANK[tracker.policy]
        worse = policy_ranks(bad, allowed_num, allowed_den, Fraction(0)) > previous
        better = policy_ranks(bad, allowed_num, allowed_den, tracker.hysteresis) < previous
        return _first((worse | better) & (total >= max(1, budget.policy_min_events)))

    def _emptied(self) -> int | None:
        if not any(w.total for w in self.tracker.windows.values()):
            return None
        empty = np.ones(self.points.size, dtype=bool)
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
                ring.add_many(keys, good, total)
        if tracker.budget.calendar is not None:
            tracker.period_good += int(good.sum())
            tracker.period_total += int(total.sum())
    tracker.rebuild_windows(last_ms)




def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None
