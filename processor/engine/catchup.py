"""Crossing a long stretch of event time without events, at the cost of what can change.

A watermark that jumps (a stream silent for days, a replay crossing a weekend, a processor started
after a long stop, one event from a producer with a wrong clock) would otherwise evaluate every
10 s boundary in between. Most of them change nothing: with no event arriving, an SLI's window
values change only when a sub-window enters or leaves one of its windows, an absence or ``bad_for``
condition crosses its threshold (monotone in time, so found by bisection), a state SLI's bad spell
is inside a window, a ``for`` or ``keep_firing_for`` timer expires, a calendar period ends or a
correlation times out. ``next_change_ms`` finds the first such boundary; error budgets, whose
windows move at every slice, are computed across the stretch in one vectorised step
(engine/budget_stretch.py). The engine evaluates only those boundaries in full, and the result is
the one boundary-by-boundary evaluation gives (tests/unit/test_engine_catchup.py compares them).

Periodic reports (``slo.sli.*`` and periodic ``slo.budget.*``) are samples of the present for
dashboards; a move longer than ``CATCH_UP_REPORTS_MS`` publishes them for its last hour only,
while every transition (alerts, burn-rate tiers, policy changes, actions) keeps its own boundary.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from processor.engine.budget import BudgetTracker
from processor.engine.budget_stretch import MAX_STRETCH_MS, TrackerStretch, advance_quietly
from processor.engine.evaluation import sli_value
from processor.engine.rules import FIRING, PENDING, AlertRule
from processor.engine.series import window_value
from processor.engine.sli import SliState

__all__ = ["CATCH_UP_REPORTS_MS", "Models", "forget_strayed", "reports_from_ms", "skip_quiet"]

CATCH_UP_REPORTS_MS = 3_600_000
_TIME_STATS = ("since_last", "bad_for")  # values that grow with time alone


def reports_from_ms(closed_ms: int, target_ms: int) -> int:
    """The first boundary of a move that publishes periodic reports."""
    if target_ms - closed_ms > CATCH_UP_REPORTS_MS:
        return target_ms - CATCH_UP_REPORTS_MS
    return closed_ms


@dataclass(slots=True)
class _Model:
    """What a tracker's vectorised stretch found, kept while the tracker keeps to it: the verdict
    it assumed, its first change (None: none up to ``through_ms``)."""

    verdict: tuple[int, int] | None
    change_ms: int | None
    through_ms: float  # inf: settled, no change while the verdict holds


Models = dict[int, _Model]  # by id() of the tracker, for one watermark move


def skip_quiet(engine: Any, first_ms: int, limit_ms: int, models: Models) -> int:
    """Move the engine across the quiet boundaries from ``first_ms`` (none after ``limit_ms``) and
    return the next boundary to evaluate in full (at most ``limit_ms`` + r)."""
    res = engine.clock.resolution_ms
    end_ms = next_change_ms(engine, first_ms - res, limit_ms + res)
    chunk_ms = first_ms
    while chunk_ms < end_ms:
        horizon_ms = min(limit_ms, chunk_ms + MAX_STRETCH_MS)
        last_ms = min(end_ms - res, horizon_ms)
        moving = []
        for tracker, sli in engine.budgets.trackers:
            verdict = _quiet_verdict(engine, tracker, sli, chunk_ms, horizon_ms)
            if not _idle(tracker, verdict):
                moving.append((tracker, verdict, _model(models, tracker, verdict, chunk_ms, horizon_ms)))
        change_ms = min((m.change_ms for _, _, m in moving if m.change_ms is not None), default=None)
        if change_ms is not None and change_ms <= last_ms + res:
            last_ms, end_ms = change_ms - res, change_ms
        if last_ms >= chunk_ms:
            for tracker, verdict, _ in moving:
                advance_quietly(tracker, chunk_ms, last_ms, verdict)
        chunk_ms = last_ms + res
    for sli in engine.slis:
        sli.evict(end_ms - res)  # what boundary-by-boundary evaluation would have evicted by now
    return end_ms


def _model(models: Models, tracker: BudgetTracker, verdict, first_ms: int, last_ms: int) -> _Model:
    model = models.get(id(tracker))
    if model is None or model.verdict != verdict or (model.change_ms is None and model.through_ms < last_ms):
        stretch = TrackerStretch(tracker, first_ms, last_ms, verdict)
        change_ms = stretch.first_change_ms
        through_ms = math.inf if stretch.settles and change_ms is None else last_ms
        model = models[id(tracker)] = _Model(verdict, change_ms, through_ms)
    return model


def forget_strayed(models: Models, engine: Any, boundary_ms: int) -> None:
    """After a boundary evaluated in full: a tracker whose input there was not the one its model
    assumed, or which reached its change, needs a new model."""
    for tracker, _ in engine.budgets.trackers:
        model = models.get(id(tracker))
        if model is None:
            continue
        verdict = model.verdict
        slice_end = verdict is not None and boundary_ms % tracker.budget.slice_ms == 0
        expected = (boundary_ms, *(verdict if slice_end else (0, 0)))
        if tracker.last_recorded != expected or (model.change_ms is not None and model.change_ms <= boundary_ms):
            del models[id(tracker)]


def _idle(tracker: BudgetTracker, verdict: tuple[int, int] | None) -> bool:
    """Nothing to count, nothing in its windows, no tier pending or firing: it stays as it is."""
    return not (verdict and verdict[1]) and not any(w.total for w in tracker.windows.values()) and not any(
        rule.states for _, rule in tracker.rules
    )


def _quiet_verdict(engine: Any, tracker: BudgetTracker, sli: SliState, first_ms: int, last_ms: int):
    """A time-slice budget's verdict at every slice end of a quiet stretch (they are all alike),
    as ``Budgets`` would count it; None for occurrences (nothing closes) or no slice end."""
    budget = tracker.budget
    if budget.method != "time_slices":
        return None
    slice_end_ms = first_ms + (-first_ms) % budget.slice_ms
    if slice_end_ms > last_ms:
        return None
    return engine.budgets.closed_counts(tracker, sli, slice_end_ms, engine.origin_ms)


def next_change_ms(engine: Any, after_ms: int, limit_ms: int) -> int:
    """The first boundary after ``after_ms`` (at most ``limit_ms``) at which evaluation can differ
    from evaluation at ``after_ms`` for any reason other than error budgets' counting."""
    res = engine.clock.resolution_ms
    found = limit_ms
    for when in _fixed_changes(engine, after_ms):
        if when <= after_ms:
            return after_ms + res
        found = min(found, when)
    if found == after_ms + res:
        return found
    for value_at, holds in _time_conditions(engine):
        flip = _first_flip(value_at, holds, after_ms, found, res)
        if flip is not None:
            found = flip
    return found


def _ceil(t_ms: int, res: int) -> int:
    return -(-t_ms // res) * res


def _fixed_changes(engine: Any, after_ms: int) -> Iterator[int]:
    """Boundaries at which something changes whatever the values: data entering or leaving a
    window, bad spells inside one, timers, calendar periods, correlation deadlines."""
    res = engine.clock.resolution_ms
    for sli in engine.slis:
        yield from _data_changes(sli, after_ms, res)
        if sli.table is not None and sli.table.deadlines:
            deadline_ms = sli.table.deadlines[0][0]
            yield deadline_ms - deadline_ms % res + res
    rules = [rule for rule, _ in engine.rules.rules] + [rule for rule, _ in engine.cardinality.rules]
    rules += [rule for rule, _ in engine.never_seen.rules]
    if engine.clock.watch_origin_ms is not None:
        for due_ms in engine.never_seen.due_ms(engine.clock.watch_origin_ms):
            yield max(after_ms + res, _ceil(due_ms, res))
    rules += [rule for tracker, _ in engine.budgets.trackers for _, rule in tracker.rules]
    for rule in rules:
        yield from _timer_changes(rule, res)
    for periods in engine.rules.calendar.values():
        for period in periods.values():
            yield max(after_ms + res, _ceil(period.end_ms + res, res))
    for tracker, _ in engine.budgets.trackers:
        if tracker.budget.calendar is not None:
            yield max(after_ms + res, _ceil(tracker.period[1] + res, res))
        for key_ms in tracker.pending:
            yield max(after_ms + res, key_ms + res)


def _data_changes(sli: SliState, after_ms: int, res: int) -> Iterator[int]:
    """A sub-window starting at s enters the windows at s + r and leaves a window W at s + W + r
    (evicted past the horizon alike); a state SLI's values move while a bad spell's edge is
    inside its longest window."""
    windows_ms = (0, *sli.windows_ms)
    for series in sli.series.values():
        starts = sorted({*series.all_starts(), *(series.last_by_sub or ())})
        for window_ms in windows_ms if starts else ():
            # The first start that leaves (or enters) after ``after_ms``.
            i = bisect_right(starts, after_ms - window_ms - res)
            if i < len(starts):
                yield starts[i] + window_ms + res
        if series.state is not None:
            edges = [e for spell in series.state.intervals for e in spell if e is not None]
            if edges and max(edges) + sli.horizon_ms + res > after_ms:
                yield after_ms + res


def _timer_changes(rule: AlertRule, res: int) -> Iterator[int]:
    alert = rule.alert
    for state in rule.states.values():
        if state.state == PENDING and alert.for_events is None:
            yield _ceil(state.active_at_ms + alert.for_ms, res)
        elif state.state == FIRING and state.clear_since_ms is not None:
            yield _ceil(state.clear_since_ms + alert.keep_firing_for_ms, res)


def _time_conditions(engine: Any) -> Iterator[tuple[Callable[[int], float | None], Callable[[float], bool]]]:
    """Conditions on values that change with time alone (since_last, bad_for), each as a value
    function of the boundary and the condition; monotone while no data moves."""
    origin_ms = engine.origin_ms
    for rule, sli in engine.rules.rules:
        alert = rule.alert
        if alert.calendar or alert.condition.stat.kind not in _TIME_STATS:
            continue
        for labels in engine.rules.watched(rule, sli, None):
            series = sli.series.get(labels) or sli.new_series()
            yield _series_value(series, alert, origin_ms), alert.condition.holds
    for tracker, sli in engine.budgets.trackers:
        cond = tracker.budget.slice_condition
        if cond is not None and cond.stat.kind in _TIME_STATS:
            slice_ms = tracker.budget.slice_ms
            yield (lambda t, sli=sli, cond=cond, w=slice_ms: sli_value(sli, cond.stat, t, w, origin_ms)), cond.holds


def _series_value(series: Any, alert: Any, origin_ms: int) -> Callable[[int], float | None]:
    stat, window_ms = alert.condition.stat, alert.window_ms
    return lambda t: window_value(None, series, stat, t, window_ms, origin_ms)


def _first_flip(value_at, holds, after_ms: int, limit_ms: int, res: int) -> int | None:
    """The first boundary in (after, limit) where the condition differs from its state at
    ``after``; the value is monotone in time there, so the condition flips at most once."""

    def holds_at(t_ms: int) -> bool:
        value = value_at(t_ms)
        return value is not None and holds(value)

    before = holds_at(after_ms)
    lo, hi = after_ms // res + 1, (limit_ms - res) // res  # boundary indices
    if lo > hi or holds_at(hi * res) == before:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if holds_at(mid * res) == before:
            lo = mid + 1
        else:
            hi = mid
    return lo * res
