"""Alert rules that fire on the event that makes them true, not at the next boundary.

A condition that can only grow as events arrive in its window (``bad_count > 0``, ``count >= N``,
``max > X``, ``sum > X``; no ``for``: see ``config.alerts.fires_on_event``) is checked on each event
of the series, right after the event is recorded, against one window chosen by the event alone:
the window the boundary evaluation will use at the end of the event's sub-window (still open,
or the event would be late), ``[b - window, b)`` with ``b = sub + resolution``. Everything in it
now is in it at ``b`` too, so once it holds it holds at ``b``: the rule fires (or, with
``for_events``, counts the event) at the event's time, ``activeAt``/``startsAt`` are that time, and
the rule's state remembers ``b`` (``RuleState.hold_ms``): a boundary before ``b`` (allowed lateness
keeps up to two sub-windows open) leaves that series' state alone, so it cannot resolve what a
later sub-window's event fired, and the boundary at ``b`` finds the alert firing and publishes
nothing more. Resolution stays at boundaries. A window that holds only because of events that
each checked another window (a late event completing an earlier window) fires at its boundary.

While an instant rule fires, the first event per open window that would have fired it is kept
(``RuleState.refire``): if a boundary before that window resolves the alert, it fires again from
that event at once (processor/engine/rules.py), as it would have had it not been firing. A
``for_events`` rule keeps nothing: after such a resolution it counts anew.

Everything depends only on the order of events and boundary closes along the stream, never on
how the stream is cut into batches: ``observe`` (one event, the per-event path of Engine.ingest)
and ``observe_run`` (a run of events of one series, for a batched path) decide alike, which
``tests/unit/test_engine_instant.py`` checks with hypothesis. The engine stays pure: no clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from processor.config.alerts import fires_on_event
from processor.engine.outputs import Outputs
from processor.engine.rules import FIRING, AlertRule
from processor.engine.series import Series
from processor.engine.sli import SliState

_EXACT = 2**53  # whole numbers below it add exactly as floats

__all__ = ["InstantRules", "Placement", "Watch"]


class Placement:
    """Which event of a batched run each alert (and action) published into ``out`` comes from:
    (the event's index in the batch, and how many alerts and actions ``out`` held after it), so
    that engine/batch.py can put a run's alerts of several rules and SLIs back in the order of
    the events that completed them, as the per-event reference publishes them."""

    __slots__ = ("at", "marks")

    def __init__(self, at: np.ndarray) -> None:
        self.at = at  # the batch index of each event of the run
        self.marks: list[tuple[int, int, int]] = []

    def mark(self, i: int, out: Outputs) -> None:
        """Event ``i`` of the run published what ``out`` holds past the previous mark."""
        self.marks.append((int(self.at[i]), len(out.alerts), len(out.actions)))


def _contribution(stat: str, kind: str, counts_reported: bool) -> Callable[[Any], float]:
    """What one observation adds to the stat of its window (``observed`` as the SLI's kind reads it)."""
    if stat == "count":
        return (lambda obs: obs[1]) if counts_reported else _one
    if stat == "bad_count":
        return (lambda obs: obs[1] - obs[0]) if counts_reported else _bad_if_falsy
    return float  # sum and max: the gauge's value


def _one(obs: Any) -> int:
    return 1


def _bad_if_falsy(obs: Any) -> int:
    return 0 if obs else 1


class Watch:
    """One instant rule on one SLI: how to read its stat over a window and when to skip that."""

    __slots__ = ("rule", "stat", "threshold", "or_equal", "window_ms", "contrib", "integral", "slack", "pending",
                 "refires", "grows_by", "kept_state", "kept_b")

    def __init__(self, rule: AlertRule, sli: SliState) -> None:
        cond = rule.alert.condition
        self.rule = rule
        self.stat = cond.stat.kind
        self.threshold = cond.threshold
        self.or_equal = cond.op == ">="
        self.window_ms = rule.alert.window_ms
        counts_reported = sli.config.kind == "ratio" and getattr(sli.config, "good", None) is None
        self.contrib = _contribution(self.stat, sli.config.kind, counts_reported)
        # What an observation adds to ``room``'s measure: for max, 1 when it alone satisfies.
        self.grows_by = (lambda obs: 1.0 if self.holds(float(obs)) else 0.0) if self.stat == "max" else self.contrib
        # Whole-number stats add whole numbers: after a check that failed, the events that cannot
        # yet reach the threshold are skipped (``slack``). Sums of floats are always checked.
        self.integral = self.stat in ("count", "bad_count")
        self.pending = sli.config.kind == "latency"  # latency values wait in Series.pending
        # While firing, what would fire it again is kept; a for_events rule counts anew instead.
        self.refires = rule.alert.for_events is None
        # labels -> {window end b: how much more the window can take and still not hold}
        self.slack: dict[tuple, dict[int, float]] = {}
        # The firing state and window end last found to need nothing (``_kept``): a firing alert's
        # events then cost one comparison. A new state object (after a resolution) is checked anew.
        self.kept_state: Any = None
        self.kept_b = 0

    def holds(self, value: float) -> bool:
        return value >= self.threshold if self.or_equal else value > self.threshold

    def room(self, value: float) -> float:
        """How much the stat can still grow from ``value`` without the condition holding (< 0: holds)."""
        if self.stat == "max":
            return -1.0 if self.holds(value) else 0.0
        gap = self.threshold - value
        return (gap if not self.or_equal else math.ceil(gap) - 1) if self.integral else -1.0


    def value(self, series: Series, b_ms: int) -> float:
        """The stat over the sub-windows starting in [b - window, b), queued latencies included,
        summed in start order as ``series.aggregate`` does."""
        lo_ms = b_ms - self.window_ms
        stat = self.stat
        subs = series.window_subs(lo_ms, b_ms)
        if stat == "max":
            return max((g.max for start, g in subs.items() if lo_ms <= start < b_ms), default=-math.inf)
        if stat == "sum":
            total = 0.0
            for start in sorted(s for s in subs if lo_ms <= s < b_ms):
                total += subs[start].sum
            return total
        if stat == "bad_count":
            return sum(c.total - c.good for start, c in subs.items() if lo_ms <= start < b_ms)
        total = sum(v.count for start, v in subs.items() if lo_ms <= start < b_ms)
        if self.pending and series.pending:
            total += sum(len(v) for start, v in series.pending.items() if lo_ms <= start < b_ms)
        return total


class InstantRules:
    """The instant rules of an engine's alert rules, by SLI; ``slis`` is what Engine.ingest tests."""

    def __init__(self, rules: Sequence[tuple[AlertRule, SliState]], message_slis: Sequence[SliState],
                 resolution_ms: int, lateness_ms: int) -> None:
        self.resolution_ms = resolution_ms
        # Open windows end within lateness + 2 resolutions of an event's own: older slack is dead.
        self._stale_ms = lateness_ms + 2 * resolution_ms
        readable = {id(s) for s in message_slis if s.apply is None}
        self.by_sli: dict[int, list[Watch]] = {}
        for rule, sli in rules:
            if id(sli) in readable and fires_on_event(rule.alert, sli.config):
                rule.instant = True
                self.by_sli.setdefault(id(sli), []).append(Watch(rule, sli))
        self.slis = frozenset(s for s in message_slis if id(s) in self.by_sli)

    def observe(self, sli: SliState, labels: tuple, series: Series, t_ms: int, observed: Any, out: Outputs) -> None:
        """The per-event hook: ``observed`` at ``t_ms`` (in an open sub-window) was just recorded
        into ``series`` (``labels``) of ``sli``. On the hot path: mostly a dict read and a subtraction."""
        res = self.resolution_ms
        sub = t_ms - t_ms % res
        b_ms = sub + res
        for watch in self.by_sli[id(sli)]:
            rule = watch.rule
            st = rule.states.get(labels)
            if st is watch.kept_state and b_ms == watch.kept_b and st is not None:
                continue
            firing = st is not None and st.state == FIRING
            if firing and (not watch.refires or _kept(st, b_ms)):
                watch.slack.pop(labels, None)  # not kept up while firing: stale once it resolves
                watch.kept_state, watch.kept_b = st, b_ms
                continue
            slack = watch.slack.get(labels)
            if slack is not None:
                # What this event adds to every window it is in that was found not to hold.
                grow = watch.grows_by(observed)
                if grow:
                    window_ms = watch.window_ms
                    for end in slack:
                        if end - window_ms <= sub < end:
                            slack[end] -= grow
                if len(slack) > 4:
                    for end in [e for e in slack if e < b_ms - self._stale_ms]:
                        del slack[end]
                if slack.get(b_ms, -1.0) >= 0:
                    continue
            value = float(watch.value(series, b_ms))
            if not watch.holds(value):
                watch.slack.setdefault(labels, {})[b_ms] = watch.room(value)
            elif firing:
                _keep(st, b_ms, t_ms, value)
            else:
                _publish(rule, rule.fire_on_event(labels, st, value, t_ms, b_ms), value, out)

    def observe_run(self, sli: SliState, labels: tuple, series: Series, times_ms: Sequence[int],
                    observed: Sequence[Any], out: Outputs, span_ms: tuple[int, int] | None = None,
                    placement: Placement | None = None) -> None:
        """A batched path's hook for a run of events of one series.

        Contract: called BEFORE the run is recorded into ``series`` (``labels`` of ``sli``, an SLI
        in ``slis``), with the run's event times and observations (as the SLI's ``observe``
        returned them) in stream order; every event of the run is accepted and in a sub-window
        still open, and no boundary closes inside the run. The caller then records the run.
        It decides exactly what calling ``observe`` after recording each event in order would
        (the same transitions, in each rule's order, and the same rule states). Cheap when no
        rule can hold: one window read per rule and distinct window in the run. ``span_ms``: the
        run's first and last event time, when the caller knows them. ``placement``: notes which
        event of the run each published alert comes from (rules publish rule by rule here, event by
        event in ``observe``).
        """
        if not len(times_ms):
            return
        res = self.resolution_ms
        times = np.asarray(times_ms, dtype=np.int64)
        subs = times - times % res
        first_ms, last_ms = span_ms if span_ms is not None else (int(times.min()), int(times.max()))
        lo, hi = first_ms - first_ms % res, last_ms - last_ms % res  # flooring keeps the order
        ends = [lo] if lo == hi else np.unique(subs).tolist()
        for watch in self.by_sli[id(sli)]:
            watch.slack.pop(labels, None)  # the per-event shortcut does not see this run
            st = watch.rule.states.get(labels)
            firing = st is not None and st.state == FIRING
            targets = [s + res for s in ends if not (firing and (not watch.refires or _kept(st, s + res)))]
            if not targets:
                continue
            grows = _contributions(watch, observed)
            if not any(_may_hold(watch, series, b, subs, (lo, hi), grows) for b in targets):
                continue
            _replay_run(watch, labels, series, times.tolist(), subs.tolist(), grows, out, res, lo == hi, placement)


def _contributions(watch: Watch, observed: Any) -> np.ndarray:
    """``watch.contrib`` of each observation, as floats (whole numbers stay exact below 2**53):
    at once for the plain columns a batched path holds (bools of a good predicate, numbers)."""
    n = len(observed)
    if isinstance(observed, np.ndarray) and observed.dtype.kind in "bif":
        if watch.contrib is _one:
            return np.ones(n)
        if watch.contrib is _bad_if_falsy:
            return (observed == 0).astype(np.float64)  # ``not obs`` for bools and numbers
        if watch.contrib is float:
            return observed.astype(np.float64)
    return np.fromiter(map(watch.contrib, observed), dtype=np.float64, count=n)


def _may_hold(watch: Watch, series: Series, b_ms: int, subs: np.ndarray, span: tuple[int, int],
              grows: np.ndarray) -> bool:
    """Whether the window ending at ``b_ms`` can hold after any prefix of the run: its value now
    grown by every positive contribution of the run inside it (a bound with a little room for the
    order in which floats were added). ``span``: the run's first and last sub-window."""
    lo_ms = b_ms - watch.window_ms
    if lo_ms <= span[0] and span[1] < b_ms:
        inside = grows  # the whole run is in the window: the usual case
    else:
        inside = grows[(subs >= lo_ms) & (subs < b_ms)]
    if not len(inside):
        return False
    before = watch.value(series, b_ms)
    if watch.stat == "max":
        return watch.holds(max(before, float(inside.max())))
    bound = before + float(inside[inside > 0].sum())
    if not watch.integral:
        bound += abs(bound) * 1e-9 + 1e-9
    return watch.holds(bound)


def _replay_run(watch: Watch, labels: tuple, series: Series, times_ms: Sequence[int], subs: list[int],
                grows_array: np.ndarray, out: Outputs, res: int, one_sub: bool, placement: Placement | None) -> None:
    """The run event by event, on a copy of the touched sub-windows' part of the stat.
    ``one_sub``: every event of the run is in one sub-window."""
    window_ms = watch.window_ms
    stat = watch.stat
    # Each touched sub-window's stat before the run, as ``Watch.value`` reads it per sub-window.
    touched = {s: _sub_value(watch, series, s) for s in set(subs)}
    start = _first_that_can_hold(watch, series, touched, subs[0], grows_array, res) if one_sub else 0
    if start is None:
        return
    grows = grows_array.tolist()
    if start:
        touched[subs[0]] += math.fsum(grows[:start])  # whole numbers: exact, as one at a time
    rule = watch.rule
    # Window ends a firing state needs nothing more for (``_kept``), known until the state changes.
    kept_state, kept_ends = None, set()
    for i, t_ms, sub, grow in zip(range(start, len(grows)), times_ms[start:], subs[start:], grows[start:]):
        touched[sub] = max(touched[sub], grow) if stat == "max" else touched[sub] + grow
        b_ms = sub + res
        st = rule.states.get(labels)
        if st is not kept_state:
            kept_state, kept_ends = st, set()
        elif b_ms in kept_ends:
            continue
        firing = st is not None and st.state == FIRING
        if firing and (not watch.refires or _kept(st, b_ms)):
            if one_sub:
                break  # every later event ends the same window, which this state keeps
            kept_ends.add(b_ms)
            continue
        lo_ms = b_ms - window_ms
        value = float(_window_with(watch, series, touched, lo_ms, b_ms))
        if not watch.holds(value):
            continue
        if firing:
            _keep(st, b_ms, t_ms, value)
        else:
            _publish(rule, rule.fire_on_event(labels, st, value, t_ms, b_ms), value, out)
            if placement is not None:
                placement.mark(i, out)
            kept_state = None


def _first_that_can_hold(watch: Watch, series: Series, touched: dict[int, float], sub: int, grows: np.ndarray,
                         res: int) -> int | None:
    """For a run in the one sub-window ``sub``: the first event after which the window can hold
    (None: none), so that the events before it, which change nothing, are not replayed one at a
    time. Only for whole-number stats grown by whole numbers >= 0, whose running values are then
    exact and never fall: otherwise 0, every event replayed."""
    if not watch.integral or not len(grows) or grows.min() < 0 or not np.array_equal(grows, np.floor(grows)):
        return 0
    b_ms = sub + res
    values = float(_window_with(watch, series, touched, b_ms - watch.window_ms, b_ms)) + np.cumsum(grows)
    if values[-1] >= _EXACT:
        return 0
    held = np.flatnonzero(values >= watch.threshold if watch.or_equal else values > watch.threshold)
    return int(held[0]) if len(held) else None


def _sub_value(watch: Watch, series: Series, sub: int, subs: dict | None = None) -> float:
    """One sub-window's part of the stat (0 or -inf when it has nothing yet); ``subs``: the
    window's buckets when it reaches sealed sub-windows (``Series.window_subs``)."""
    bucket = (series.subs if subs is None else subs).get(sub)
    stat = watch.stat
    if stat == "max":
        return -math.inf if bucket is None else bucket.max
    if bucket is None:
        value: float = 0.0 if stat == "sum" else 0
    elif stat == "sum":
        value = bucket.sum
    elif stat == "bad_count":
        value = bucket.total - bucket.good
    else:
        value = bucket.count
    if stat == "count" and watch.pending and series.pending:
        value += len(series.pending.get(sub, ()))
    return value


def _window_with(watch: Watch, series: Series, touched: dict[int, float], lo_ms: int, b_ms: int) -> float:
    """``Watch.value`` with the touched sub-windows' parts taken from ``touched``."""
    subs = series.window_subs(lo_ms, b_ms)
    starts = set(s for s in subs if lo_ms <= s < b_ms)
    starts |= {s for s in touched if lo_ms <= s < b_ms}
    if watch.pending:
        starts |= {s for s in series.pending if lo_ms <= s < b_ms}
    parts = [touched[s] if s in touched else _sub_value(watch, series, s, subs) for s in sorted(starts)]
    if watch.stat == "max":
        return max(parts, default=-math.inf)
    if watch.stat == "sum":
        total = 0.0
        for part in parts:
            total += part
        return total
    return sum(parts)


def _kept(st: Any, b_ms: int) -> bool:
    """Whether a firing state needs nothing from an event whose window ends at ``b_ms``: no
    boundary before ``b_ms`` may resolve it, or an earlier event already holds that window."""
    if st.hold_ms is not None and b_ms <= st.hold_ms:
        return True
    return st.refire is not None and any(entry[0] == b_ms for entry in st.refire)


def _keep(st: Any, b_ms: int, t_ms: int, value: float) -> None:
    if st.refire is None:
        st.refire = []
    st.refire.append([b_ms, t_ms, value])


def _publish(rule: AlertRule, transition: Any, value: float, out: Outputs) -> None:
    from processor.engine.evaluation import publish

    if transition is not None:
        publish(rule, transition, value, out)
