"""What happens at a closed sub-window boundary: alert rules, calendar sums, SLI reports and error
budgets, each reading the SLIs' series as of the boundary."""

from __future__ import annotations

from typing import Any

import numpy as np
from zoneinfo import ZoneInfo

from processor.config.model import Config, Stat
from processor.config.parse import parse_stat
from processor.engine.budget import BudgetTracker, calendar_period_ms
from processor.engine.outputs import AlertAction, AlertTransition, Outputs, SliReport
from processor.engine.rules import AlertRule, RuleState
from processor.engine.series import Series, aggregate, merge_buckets, window_value
from processor.engine.sli import SliState
from processor.kinds.sketch import LatencyStore

__all__ = ["AlertRules", "Budgets", "CalendarPeriod", "SliReporter", "flush_latencies", "publish", "sli_value"]

_NO_SERIES = Series()  # for stats of merged buckets: no per-series state to read


def sli_value(sli: SliState, stat: Stat, t_ms: int, window_ms: int, origin_ms: int) -> float | None:
    """A stat over every series of an SLI together (budgets are per SLO, not per label)."""
    lo_ms = t_ms - window_ms
    if not sli.series:
        return window_value(None, sli.new_series(), stat, t_ms, window_ms, origin_ms)
    if len(sli.series) == 1:
        (series,) = sli.series.values()
        return window_value(aggregate(series, lo_ms, t_ms), series, stat, t_ms, window_ms, origin_ms)
    per_series = [(aggregate(s, lo_ms, t_ms), s) for s in sli.series.values()]
    if stat.kind in ("since_last", "bad_for") or sli.kind.worst_series:
        # Per-series by nature: the SLI as a whole is as bad as its worst series.
        known = [v for b, s in per_series if (v := window_value(b, s, stat, t_ms, window_ms, origin_ms)) is not None]
        if not known:
            return None
        return min(known) if stat.kind == "good_ratio" else max(known)
    merged = merge_buckets(b for b, _ in per_series if b is not None)
    return window_value(merged, _NO_SERIES, stat, t_ms, window_ms, origin_ms)


class CalendarPeriod:
    """A calendar rule's sum of one series from the start of the day or month (``end_ms``)."""

    __slots__ = ("end_ms", "bucket")

    def __init__(self, end_ms: int, bucket: Any = None) -> None:
        self.end_ms = end_ms
        self.bucket = bucket

    def fold(self, bucket: Any) -> None:
        if bucket is None:
            return
        if self.bucket is None:
            self.bucket = bucket.copy()
        else:
            self.bucket.merge(bucket)

    def snapshot(self) -> list:
        return [self.end_ms, None if self.bucket is None else self.bucket.snapshot()]


class AlertRules:
    """Every alert rule with the SLI it reads, and calendar rules' running sums per series."""

    def __init__(self, config: Config, slis: dict[str, SliState], resolution_ms: int) -> None:
        self.resolution_ms = resolution_ms
        self.rules = [(AlertRule(a, slis[a.sli].config.series_label_names()), slis[a.sli]) for a in config.alerts]
        self.zones = {a.timezone: ZoneInfo(a.timezone) for a in config.alerts if a.calendar}
        self.calendar: dict[int, dict[tuple, CalendarPeriod]] = {
            id(rule): {} for rule, _ in self.rules if rule.alert.calendar
        }
        # Absence rules (since_last) change with time alone, so boundaries are never skipped.
        self.absence = any(rule.alert.condition.stat.kind == "since_last" for rule, _ in self.rules)

    def has_state(self) -> bool:
        return self.absence or any(rule.states for rule, _ in self.rules)

    def evaluate(self, t_ms: int, origin_ms: int, out: Outputs) -> None:
        cache: dict = {}
        for rule, sli in self.rules:
            periods = self.calendar.get(id(rule))
            for labels in self.watched(rule, sli, periods):
                series = sli.series.get(labels) or sli.new_series()
                new = series.subs.get(t_ms - self.resolution_ms)
                if periods is not None:
                    value = self._fold_period(rule, periods, labels, new, t_ms)
                    if value is None and labels not in sli.series and labels not in rule.states:
                        del periods[labels]  # nothing this period and nothing left to resolve: forget it
                else:
                    key = (id(series), rule.alert.window_ms)
                    if key not in cache:
                        cache[key] = aggregate(series, t_ms - rule.alert.window_ms, t_ms)
                    bucket = cache[key]
                    value = window_value(bucket, series, rule.alert.condition.stat, t_ms, rule.alert.window_ms, origin_ms)
                self._transition(rule, labels, value, t_ms, 0 if new is None else new.count, out)

    @staticmethod
    def watched(rule: AlertRule, sli: SliState, periods: dict | None) -> list[tuple]:
        """The label sets a rule evaluates at a boundary."""
        labels_seen = set(sli.series)
        if periods is not None:
            labels_seen |= set(periods)
        # Series evicted while a rule still holds state on them: their window is now empty.
        labels_seen |= set(rule.states)
        if not labels_seen and rule.alert.condition.stat.kind == "since_last" and not sli.label_paths:
            labels_seen = {()}  # never seen at all: absent since we started watching
        return sorted(labels_seen)

    @staticmethod
    def _transition(rule: AlertRule, labels: tuple, value: float | None, t_ms: int, new_events: int, out: Outputs) -> None:
        tr = rule.evaluate(labels, value, t_ms, new_events)
        if tr is None:
            return
        publish(rule, tr, value, out)
        if tr.status == "resolved" and rule.instant:
            refired = rule.take_refire(t_ms)
            if refired is not None:
                publish(rule, refired, refired.value, out)

    def _fold_period(self, rule: AlertRule, periods: dict, labels: tuple, new: Any, t_ms: int) -> float | None:
        """Fold the sub-window that just closed into the series' calendar-period sum."""
        alert = rule.alert
        closed_sub = t_ms - self.resolution_ms
        period = periods.get(labels)
        if period is None or closed_sub >= period.end_ms:
            _, end_ms = calendar_period_ms(closed_sub, alert.calendar, self.zones[alert.timezone])  # type: ignore[arg-type]
            period = periods[labels] = CalendarPeriod(end_ms)
        period.fold(new)
        return window_value(period.bucket, _NO_SERIES, alert.condition.stat, t_ms, 1, t_ms)

    def snapshot(self) -> dict:
        rules = {}
        for rule, _ in self.rules:
            data: dict = {"states": [[list(labels), st.snapshot()] for labels, st in rule.states.items()]}
            periods = self.calendar.get(id(rule))
            if periods is not None:
                data["calendar"] = [[list(k), *p.snapshot()] for k, p in periods.items()]
            rules[rule.key] = data
        return rules

    def restore(self, saved_rules: dict) -> list[str]:
        notes = []
        by_key = {rule.key: (rule, sli) for rule, sli in self.rules}
        for key, saved in saved_rules.items():
            if key not in by_key:
                notes.append(f"alert rule {key!r} is no longer configured; its state was dropped")
                continue
            rule, sli = by_key[key]
            rule.states = {tuple(labels): RuleState.restore(st) for labels, st in saved["states"]}
            periods = self.calendar.get(id(rule))
            if periods is not None:
                for labels, end_ms, bucket in saved.get("calendar", []):
                    restored = None if bucket is None else sli.kind.restore_bucket(sli.config, bucket)
                    periods[tuple(labels)] = CalendarPeriod(end_ms, restored)
        return notes


def publish(rule: AlertRule, tr: AlertTransition, value: float | None, out: Outputs) -> None:
    """A rule's transition into the outputs, with the rule's action when it fires."""
    out.alerts.append(tr)
    alert = rule.alert
    if alert.action and tr.status == "firing":
        out.actions.append(AlertAction(
            service=alert.service, alertname=alert.name, action=alert.action, labels=tr.labels,
            fingerprint=tr.fingerprint, evaluated_at_ms=tr.evaluated_at_ms, value=value,
        ))


class SliReporter:
    """``slo.sli.<service>.<sli>``: each series' reported stats over the rule window."""

    def __init__(self, slis: list[SliState], window_ms: int) -> None:
        self.window_ms = window_ms
        self.stats = {}
        for sli in slis:
            names = sli.behaves_as.reported_stats
            if sli.tracks_last:
                # Tracked only for SLIs an absence rule reads: it keeps their series alive.
                names = names + ("since_last",)
            self.stats[sli.name] = tuple((name, parse_stat(name)) for name in names)
        self.slis = slis

    def report(self, t_ms: int, origin_ms: int, out: Outputs) -> None:
        window_ms = self.window_ms
        for sli in self.slis:
            names = sli.config.series_label_names()
            stats = self.stats[sli.name]
            for labels, series in sorted(sli.series.items()):
                bucket = aggregate(series, t_ms - window_ms, t_ms)
                values = tuple((name, window_value(bucket, series, stat, t_ms, window_ms, origin_ms)) for name, stat in stats)
                out.slis.append(SliReport(
                    sli=sli.name, service=sli.config.service, kind=sli.config.kind,
                    labels=tuple(zip(names, labels)), evaluated_at_ms=t_ms, window_ms=window_ms, values=values,
                ))


class Budgets:
    """Every SLO's error budget with the SLI it counts."""

    def __init__(self, config: Config, slis: dict[str, SliState], resolution_ms: int) -> None:
        self.resolution_ms = resolution_ms
        self.trackers = [(BudgetTracker(slo, resolution_ms), slis[slo.sli]) for slo in config.slos if slo.budget]
        # Latency objectives count good values as they are flushed into sketches.
        self.by_latency_sli: dict[str, list[BudgetTracker]] = {}
        for tracker, sli in self.trackers:
            if tracker.latency_threshold_ms is not None:
                self.by_latency_sli.setdefault(sli.name, []).append(tracker)

    def has_state(self) -> bool:
        return any(tracker.has_state() for tracker, _ in self.trackers)

    def count_latencies(self, sli: SliState, sub: int, values_ms: np.ndarray) -> None:
        for tracker in self.by_latency_sli.get(sli.name, ()):
            tracker.count_latencies(sub, values_ms)

    def account(self, t_ms: int, origin_ms: int, out: Outputs, reports: bool = True) -> None:
        """Feed each error budget what closed at boundary t, then evaluate it."""
        for tracker, sli in self.trackers:
            good, total = self.closed_counts(tracker, sli, t_ms, origin_ms)
            if not total and tracker.quiet():
                # Most of a catalogue's budgets at most boundaries: nothing to count or decide.
                tracker.last_recorded = (t_ms, 0, 0)
                if reports and t_ms % tracker.budget.report_every_ms == 0:
                    tracker.evaluate(t_ms, out, reports)
                continue
            tracker.record(t_ms, good, total)
            tracker.evaluate(t_ms, out, reports)

    def closed_counts(self, tracker: BudgetTracker, sli: SliState, t_ms: int, origin_ms: int) -> tuple[int, int]:
        budget = tracker.budget
        if budget.method == "time_slices":
            if t_ms % budget.slice_ms != 0:
                return 0, 0
            if t_ms - budget.slice_ms < origin_ms or sli.seen_ms is None:
                # Time before the state began, or before the SLI's first event, is unknown.
                return 0, 0
            cond = budget.slice_condition
            value = sli_value(sli, cond.stat, t_ms, budget.slice_ms, origin_ms)  # type: ignore[union-attr]
            if value is not None:
                return (1, 1) if cond.holds(value) else (0, 1)  # type: ignore[union-attr]
            if budget.no_data == "ignore":
                return 0, 0
            return (1, 1) if budget.no_data == "good" else (0, 1)
        if tracker.latency_threshold_ms is not None:
            return tracker.take_pending(t_ms - self.resolution_ms)
        good = total = 0
        for series in sli.series.values():
            counts = series.subs.get(t_ms - self.resolution_ms)
            if counts is not None:
                good += counts.good
                total += counts.total
        return good, total

    def snapshot(self) -> dict:
        return {tracker.slo.name: tracker.snapshot() for tracker, _ in self.trackers}

    def restore(self, saved: dict, closed_until_ms: int | None) -> list[str]:
        notes = []
        by_slo = {tracker.slo.name: tracker for tracker, _ in self.trackers}
        for name, data in saved.items():
            tracker = by_slo.get(name)
            if tracker is None:
                notes.append(f"error budget of slo {name!r} is no longer configured; its state was dropped")
                continue
            notes += tracker.restore(data, closed_until_ms)
        return notes


def flush_latencies(pending: set, budgets: Budgets) -> None:
    """Insert the latency values queued since the last boundary, one vectorised add per sub-window."""
    for sli, series in pending:
        for sub, values in series.pending.items():
            store = series.subs.get(sub)
            if store is None:
                store = series.subs[sub] = LatencyStore()
            arr = values.as_array()
            store.add_many(arr)
            budgets.count_latencies(sli, sub, arr)
        series.pending.clear()
    pending.clear()
