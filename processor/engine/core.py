"""The engine: events in, alert transitions out, in event time, deterministically.

``ingest(batch)`` and ``advance(watermark_ms)`` are the whole API; live runs and replays call the
same two. Each batch item is any object with ``subject`` (str), ``data`` (bytes) and ``reply``
attributes (a nats-py ``Msg`` is one); ``reply`` is only handed to the injected ``fallback_ts_ms``
when a payload carries no event time, so the engine never parses JetStream metadata itself.

Time: the watermark is the highest event time seen minus the allowed lateness. Sub-windows are
``resolution_ms`` wide and epoch-aligned; all sub-windows that end at or before the watermark are
closed, and rules are evaluated at every closed boundary. An event whose time falls in a closed
sub-window is rejected as ``late`` (never merged into a closed window). Events are applied one at a
time in batch order, so the result does not depend on how a stream is cut into batches.

One engine serves one ordered stream of events (one time domain): the service runs an engine per
JetStream stream, because streams progress independently and a backlog on one must not make the
other's events late.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import orjson
from zoneinfo import ZoneInfo

from processor.engine.budget import BudgetTracker
from processor.engine.budget import calendar_period_ms
from processor.engine.extract import (
    CORRELATION,
    END,
    GAUGE,
    LATENCY,
    START,
    STATE,
    Extractor,
    Reject,
    parse_event_time_ms,
    subject_matches,
)
from processor.engine.outputs import AlertAction, Outputs, Rejection, SliReport
from processor.engine.rules import AlertRule, RuleState
from processor.engine.series import Correlations, Gauge, Series, StateTrack, aggregate, window_value
from processor.engine.sketch import LatencyStore
from processor.config.model import OVERFLOW_LABEL, Config, Stat

__all__ = ["Engine", "SNAPSHOT_VERSION"]

SNAPSHOT_VERSION = 1
_ROUTE_CACHE_MAX = 65_536  # distinct subjects remembered; past it the cache starts afresh


class Engine:
    def __init__(
        self,
        spec: Config,
        fallback_ts_ms: Callable[[Any], int | None] | None = None,
    ):
        self.spec = spec
        self.resolution_ms = spec.defaults.resolution_ms
        self.lateness_ms = spec.defaults.allowed_lateness_ms
        self._fallback_ts_ms = fallback_ts_ms
        self._extractors = [Extractor(s) for s in spec.slis]
        by_name = {e.name: e for e in self._extractors}
        self._rules: list[tuple[AlertRule, Extractor]] = []
        for a in spec.alerts:
            ext = by_name[a.sli]
            self._rules.append((AlertRule(a, ext.spec.series_label_names()), ext))
            ext.horizon_ms = max(ext.horizon_ms, a.window_ms)
        self._trackers: list[tuple[BudgetTracker, Extractor]] = []
        for slo in spec.slos:
            if slo.budget is None:
                continue
            ext = by_name[slo.sli]
            self._trackers.append((BudgetTracker(slo, self.resolution_ms), ext))
            if slo.budget.method == "time_slices":
                ext.horizon_ms = max(ext.horizon_ms, slo.budget.slice_ms)
        self._latency_trackers: dict[int, list[BudgetTracker]] = {}
        for tracker, ext in self._trackers:
            if tracker.latency_threshold_ms is not None:
                self._latency_trackers.setdefault(id(ext), []).append(tracker)
        for ext in self._extractors:
            ext.horizon_ms = max(ext.horizon_ms, spec.defaults.rule_window_ms)
            if ext.correlation is not None:
                ext.correlations = Correlations(ext.correlation.max_open)
        for rule, ext in self._rules:
            if rule.spec.condition.stat.kind == "since_last":
                ext.tracks_last = True
        for tracker, ext in self._trackers:
            cond = tracker.budget.slice_condition
            if cond is not None and cond.stat.kind == "since_last":
                ext.tracks_last = True
        self._zones = {a.timezone: ZoneInfo(a.timezone) for a in spec.alerts if a.calendar}
        # Per calendar rule and series: [period_end_ms, Gauge, good, total] of the period so far.
        self._calendar_acc: dict[int, dict[tuple, list]] = {id(rule): {} for rule, _ in self._rules if rule.spec.calendar}
        self._subject_readers = any(ext.needs_subject for ext in self._extractors)
        # Absence rules (since_last) change with time alone, so boundaries are never skipped.
        self._absence_rules = any(rule.spec.condition.stat.kind == "since_last" for rule, _ in self._rules)
        self.origin_ms: int | None = None  # first boundary: "since_last" of a never-seen series counts from it
        self._route: dict[str, tuple[Extractor, ...]] = {}
        self._dirty: set[tuple[Extractor, Series]] = set()
        self.max_ts_ms: int | None = None
        self.closed_until_ms: int | None = None
        self.rejected: dict[str, int] = {}
        self.accepted = 0
        self.ignored = 0

    # ------------------------------------------------------------------ public API
    def ingest(self, batch: Sequence[Any]) -> Outputs:
        out = Outputs()
        route = self._route
        loads = orjson.loads
        res = self.resolution_ms
        lateness = self.lateness_ms
        for index, msg in enumerate(batch):
            subject = msg.subject
            exts = route.get(subject)
            if exts is None:
                exts = self._match(subject)
            if not exts:
                out.ignored += 1
                continue
            try:
                try:
                    payload = loads(msg.data)
                except orjson.JSONDecodeError:
                    raise Reject("not_json", "payload is not valid JSON") from None
                if type(payload) is not dict:
                    raise Reject("not_object", f"payload is a JSON {type(payload).__name__}, not an object")
                if self._subject_readers and any(ext.needs_subject for ext in exts):
                    payload["_subject"] = subject
                staged = []
                ts_field = None
                ts_ms = t_lo = t_hi = 0
                for ext in exts:
                    if ext.where is not None and not ext.selects(payload):
                        continue
                    observed = ext.observe(payload)
                    if observed is None:
                        continue
                    if ext.ts_field != ts_field:
                        ts_field = ext.ts_field
                        raw_ts = payload.get(ts_field)
                        # Epoch ms as an int is the common case; anything else takes the full path.
                        if type(raw_ts) is int and raw_ts >= 0:
                            ts_ms = raw_ts
                        else:
                            ts_ms = self._event_time_ms(payload, ts_field, msg)
                        if not staged:
                            t_lo = t_hi = ts_ms
                        elif ts_ms < t_lo:
                            t_lo = ts_ms
                        elif ts_ms > t_hi:
                            t_hi = ts_ms
                    staged.append((ext, ts_ms, observed))
                if not staged:
                    out.ignored += 1
                    continue
                closed = self.closed_until_ms
                if closed is not None and t_lo < closed:
                    raise Reject("late", f"event time {t_lo} is before the closed boundary {closed}")
                if t_lo != t_hi:
                    # SLIs reading different time fields: the latest may close the window the
                    # earliest belongs to, and an event is applied whole or not at all.
                    wm = max(t_hi, self.max_ts_ms or t_hi) - lateness
                    if t_lo < wm - wm % res:
                        raise Reject("late", f"event times {t_lo} and {t_hi} are further apart than the lateness allows")
            except Reject as rej:
                out.rejections.append(Rejection(index, rej.reason, rej.detail))
                self.rejected[rej.reason] = self.rejected.get(rej.reason, 0) + 1
                continue
            if self.max_ts_ms is None or t_hi > self.max_ts_ms:
                self.max_ts_ms = t_hi
                closed = self.closed_until_ms
                if closed is None or t_hi - lateness >= closed + res:
                    self._close_through(t_hi - lateness, out)
            for ext, t, observed in staged:
                self._apply(ext, payload, t, observed)
            out.accepted += 1
        self.accepted += out.accepted
        self.ignored += out.ignored
        return out

    def _series_of(self, ext: Extractor, labels: tuple) -> Series:
        series = ext.series.get(labels)
        if series is None:
            if len(ext.series) >= ext.spec.max_series and labels:
                # Past the cardinality cap every new label set shares one overflow series, so
                # memory stays bounded and the events still count.
                ext.overflowed += 1
                labels = (OVERFLOW_LABEL,) * len(labels)
                series = ext.series.get(labels)
            if series is None:
                series = ext.series[labels] = _new_series(ext)
                if ext.tracks_last:
                    series.last_by_sub = {}
        return series

    def _apply(self, ext: Extractor, payload: dict, t: int, observed: Any) -> None:
        kind = ext.kind
        if kind == CORRELATION:
            self._correlate(ext, payload, t, observed)
            return
        labels = ext.labels_of(payload) if ext.label_paths else ()
        series = ext.series.get(labels)
        if series is None:
            series = self._series_of(ext, labels)
        sub = t - t % self.resolution_ms
        if series.last_by_sub is not None:
            last = series.last_by_sub.get(sub)
            if last is None or t > last:
                series.last_by_sub[sub] = t
        if kind == LATENCY:
            buf = series.pending.get(sub)
            if buf is None:
                self._add_latency(ext, series, sub, observed)
            else:
                buf.append(observed)
        elif kind == GAUGE:
            gauge = series.subs.get(sub)
            if gauge is None:
                gauge = series.subs[sub] = Gauge()
            gauge.add(t, observed)
        else:
            if kind == STATE:
                entity, bad = observed
                series.state.update(entity, bad, t)  # type: ignore[union-attr]
                observed = True
            counts = series.subs.get(sub)
            if counts is None:
                counts = series.subs[sub] = [0, 0]
            if type(observed) is tuple:  # counts reported by the event: (good, total)
                counts[0] += observed[0]
                counts[1] += observed[1]
            else:
                counts[0] += 1 if observed else 0
                counts[1] += 1

    def _add_latency(self, ext: Extractor, series: Series, sub: int, value_ms: float) -> None:
        buf = series.pending.get(sub)
        if buf is None:
            buf = series.pending[sub] = []
            self._dirty.add((ext, series))
        buf.append(value_ms)

    def _correlate(self, ext: Extractor, payload: dict, t: int, observed: tuple) -> None:
        role, cid, timeout_ms = observed
        table: Correlations = ext.correlations  # type: ignore[assignment]
        if role == START:
            labels = ext.labels_of(payload)
            deadline_ms = None if timeout_ms is None else t + timeout_ms
            early = table.start(cid, t, labels, deadline_ms)
            if early is not None:
                self._close_correlation(ext, t, labels, deadline_ms, early[0], early[1])
            return
        entry = table.finish(cid, t, role)
        if entry is not None:
            start_ms, labels, deadline_ms = entry
            self._close_correlation(ext, start_ms, labels, deadline_ms, t, role)

    def _close_correlation(self, ext, start_ms: int, labels: tuple, deadline_ms, end_ms: int, role: int) -> None:
        series = self._series_of(ext, labels)
        sub = end_ms - end_ms % self.resolution_ms
        if ext.correlation.output == "duration":  # type: ignore[union-attr]
            self._add_latency(ext, series, sub, float(max(0, end_ms - start_ms)))
            return
        good = role == END and (deadline_ms is None or end_ms <= deadline_ms)
        counts = series.subs.get(sub)
        if counts is None:
            counts = series.subs[sub] = [0, 0]
        counts[0] += 1 if good else 0
        counts[1] += 1

    def _expire_correlations(self, t_ms: int) -> None:
        """Correlations whose deadline passed before boundary t count as failed, in the
        sub-window of their deadline (the one closing now)."""
        res = self.resolution_ms
        for ext in self._extractors:
            if ext.correlations is None:
                continue
            ext.correlations.forget_early(t_ms - res)
            if ext.correlation.output != "outcome":  # type: ignore[union-attr]
                continue
            for deadline_ms, labels in ext.correlations.expire(t_ms):
                series = self._series_of(ext, labels)
                sub = deadline_ms - deadline_ms % res
                counts = series.subs.get(sub)
                if counts is None:
                    counts = series.subs[sub] = [0, 0]
                counts[1] += 1

    def advance(self, watermark_ms: int) -> Outputs:
        """Move time without events (idle bus): close every sub-window ending at or before it."""
        out = Outputs()
        self._close_through(watermark_ms, out)
        return out

    # ------------------------------------------------------------------ time and evaluation
    def _event_time_ms(self, payload: dict, field: str, msg: Any) -> int:
        raw = payload.get(field)
        if raw is None:
            fallback = self._fallback_ts_ms(msg) if self._fallback_ts_ms is not None else None
            if fallback is None:
                raise Reject("no_timestamp", f"{field}: missing and the message has no timestamp")
            return fallback
        return parse_event_time_ms(raw, field)

    def _close_through(self, watermark_ms: int, out: Outputs) -> None:
        res = self.resolution_ms
        target = watermark_ms - watermark_ms % res
        if self.closed_until_ms is None:
            # Nothing before the first event can be evaluated; start the boundary grid here.
            self.closed_until_ms = self.origin_ms = target
            return
        if target <= self.closed_until_ms:
            return
        self._flush()
        boundary = self.closed_until_ms + res
        while boundary <= target:
            self._expire_correlations(boundary)
            self._evaluate(boundary, out)
            if boundary % self.spec.defaults.sli_report_every_ms == 0:
                self._report_slis(boundary, out)
            self._account(boundary, out)
            self._evict(boundary)
            if not self._has_state():
                # No data within any horizon and no rule pending or firing: every boundary up to
                # the target would evaluate to nothing, so skip them (long gaps cost O(1)).
                boundary = target
                break
            boundary += res
        self.closed_until_ms = target

    def _has_state(self) -> bool:
        return (
            self._absence_rules
            or any(ext.series for ext in self._extractors)
            or any(rule.states for rule, _ in self._rules)
            or any(tracker.has_state() for tracker, _ in self._trackers)
            or any(ext.correlations is not None and ext.correlations.open for ext in self._extractors)
        )

    def _account(self, t_ms: int, out: Outputs) -> None:
        """Feed each error budget what closed at boundary t, then evaluate it."""
        res = self.resolution_ms
        for tracker, ext in self._trackers:
            budget = tracker.budget
            if budget.method == "time_slices":
                good = total = 0
                if t_ms % budget.slice_ms == 0:
                    cond = budget.slice_condition
                    value = self._sli_value(ext, cond.stat, t_ms, budget.slice_ms)  # type: ignore[union-attr]
                    if value is not None:
                        good, total = (1, 1) if cond.holds(value) else (0, 1)  # type: ignore[union-attr]
                    elif budget.no_data != "ignore":
                        good, total = (1, 1) if budget.no_data == "good" else (0, 1)
            elif tracker.latency_threshold_ms is not None:
                good, total = tracker.take_pending(t_ms - res)
            else:
                good = total = 0
                for series in ext.series.values():
                    counts = series.subs.get(t_ms - res)
                    if counts is not None:
                        good += counts[0]
                        total += counts[1]
            tracker.record(t_ms, good, total)
            tracker.evaluate(t_ms, out)

    def _sli_value(self, ext: Extractor, stat: Stat, t_ms: int, window_ms: int) -> float | None:
        """A stat over every series of an SLI together (budgets are per SLO, not per label)."""
        if not ext.series:
            empty = _new_series(ext)
            return window_value(aggregate(empty, 0, 0), empty, stat, t_ms, window_ms, self.origin_ms or t_ms)
        if len(ext.series) == 1:
            (series,) = ext.series.values()
            agg = aggregate(series, t_ms - window_ms, t_ms)
            return window_value(agg, series, stat, t_ms, window_ms, self.origin_ms or t_ms)
        values = []
        for series in ext.series.values():
            agg = aggregate(series, t_ms - window_ms, t_ms)
            values.append((agg, series))
        merged = Series()
        for (store, good, total, gauge), _ in values:
            if store is not None:
                merged.subs[len(merged.subs)] = store
            if gauge is not None:
                merged.subs[len(merged.subs)] = gauge
            merged.subs[len(merged.subs)] = [good, total]
        agg = aggregate(merged, 0, len(merged.subs))
        if stat.kind in ("since_last", "bad_for") or ext.kind == STATE:
            # Per-series by nature: the SLI as a whole is as bad as its worst series.
            per_series = [window_value(a, s, stat, t_ms, window_ms, self.origin_ms or t_ms) for a, s in values]
            known = [v for v in per_series if v is not None]
            if not known:
                return None
            return min(known) if stat.kind == "good_ratio" else max(known)
        return window_value(agg, merged, stat, t_ms, window_ms, self.origin_ms or t_ms)

    def _flush(self) -> None:
        for ext, series in self._dirty:
            trackers = self._latency_trackers.get(id(ext), ())
            for sub, values in series.pending.items():
                store = series.subs.get(sub)
                if store is None:
                    store = series.subs[sub] = LatencyStore()
                arr = np.asarray(values, dtype=np.float64)
                store.add_many(arr)
                for tracker in trackers:
                    tracker.count_latencies(sub, arr)
            series.pending.clear()
        self._dirty.clear()

    def _evaluate(self, t_ms: int, out: Outputs) -> None:
        cache: dict = {}
        res = self.resolution_ms
        origin = self.origin_ms if self.origin_ms is not None else t_ms
        for rule, ext in self._rules:
            spec = rule.spec
            stat = spec.condition.stat
            acc = self._calendar_acc.get(id(rule))
            labels_seen = set(ext.series)
            if acc is not None:
                labels_seen |= set(acc)
            # Series evicted while a rule still holds state on them: their window is now empty.
            labels_seen |= set(rule.states)
            if not labels_seen and stat.kind == "since_last" and not ext.label_paths:
                labels_seen = {()}  # never seen at all: absent since we started watching
            for labels in sorted(labels_seen):
                series = ext.series.get(labels)
                if series is None:
                    series = _new_series(ext)
                new = series.subs.get(t_ms - res)
                new_events = 0 if new is None else (new[1] if type(new) is list else new.count)
                if acc is not None:
                    value = self._calendar_value(rule, acc, labels, new, stat, t_ms)
                    if value is None and labels not in ext.series and labels not in rule.states:
                        del acc[labels]  # nothing this period and nothing left to resolve: forget it
                else:
                    key = (id(series), spec.window_ms)
                    agg = cache.get(key)
                    if agg is None:
                        agg = cache[key] = aggregate(series, t_ms - spec.window_ms, t_ms)
                    value = window_value(agg, series, stat, t_ms, spec.window_ms, origin)
                tr = rule.evaluate(labels, value, t_ms, new_events)
                if tr is None:
                    continue
                out.alerts.append(tr)
                if spec.action and tr.status == "firing":
                    out.actions.append(
                        AlertAction(
                            service=spec.service,
                            alertname=spec.name,
                            action=spec.action,
                            labels=tr.labels,
                            fingerprint=tr.fingerprint,
                            evaluated_at_ms=t_ms,
                            value=value,
                        )
                    )

    def _report_slis(self, t_ms: int, out: Outputs) -> None:
        window_ms = self.spec.defaults.rule_window_ms
        origin = self.origin_ms if self.origin_ms is not None else t_ms
        for ext in self._extractors:
            names = ext.spec.series_label_names()
            stats = _REPORTED_STATS[ext.spec.kind]
            if ext.spec.kind == "correlation" and ext.correlation.output == "duration":  # type: ignore[union-attr]
                stats = _REPORTED_STATS["latency"]
            if ext.tracks_last:
                # Tracked only for SLIs an absence rule reads: it keeps their series alive.
                stats = stats + _stats("since_last")
            for labels, series in sorted(ext.series.items()):
                agg = aggregate(series, t_ms - window_ms, t_ms)
                values = tuple(
                    (name, window_value(agg, series, stat, t_ms, window_ms, origin)) for name, stat in stats
                )
                out.slis.append(
                    SliReport(
                        sli=ext.name,
                        service=ext.spec.service,
                        kind=ext.spec.kind,
                        labels=tuple(zip(names, labels)),
                        evaluated_at_ms=t_ms,
                        window_ms=window_ms,
                        values=values,
                    )
                )

    def _calendar_value(self, rule: AlertRule, acc: dict, labels: tuple, new: Any, stat: Stat, t_ms: int) -> float | None:
        """Fold the sub-window that just closed into the series' calendar-period accumulator."""
        spec = rule.spec
        closed_sub = t_ms - self.resolution_ms
        entry = acc.get(labels)
        if entry is None or closed_sub >= entry[0]:
            _, end = calendar_period_ms(closed_sub, spec.calendar, self._zones[spec.timezone])  # type: ignore[arg-type]
            entry = acc[labels] = [end, Gauge(), 0, 0]
        if type(new) is Gauge:
            entry[1].merge(new)
        elif type(new) is list:
            entry[2] += new[0]
            entry[3] += new[1]
        holder = Series()
        holder.subs[0] = entry[1]
        holder.subs[1] = [entry[2], entry[3]]
        return window_value(aggregate(holder, 0, 2), holder, stat, t_ms, 1, t_ms)

    def _evict(self, t_ms: int) -> None:
        for ext in self._extractors:
            oldest_ms = t_ms - ext.horizon_ms
            dead = []
            for labels, series in ext.series.items():
                series.evict(oldest_ms)
                if not series.subs and not series.pending and not series.persistent():
                    dead.append(labels)
            for labels in dead:
                del ext.series[labels]

    def _match(self, subject: str) -> tuple[Extractor, ...]:
        exts = tuple(e for e in self._extractors if subject_matches(e.spec.subject, subject))
        if len(self._route) >= _ROUTE_CACHE_MAX:
            self._route.clear()
        self._route[subject] = exts
        return exts

    # ------------------------------------------------------------------ snapshot / restore
    def snapshot(self) -> dict:
        """All state as JSON-ready data. Pending latency values are flushed first."""
        self._flush()
        slis = {}
        for ext in self._extractors:
            entry: dict = {"series": [[list(labels), series.snapshot()] for labels, series in ext.series.items()]}
            if ext.correlations is not None:
                entry["correlations"] = ext.correlations.snapshot()
            if ext.overflowed:
                entry["overflowed"] = ext.overflowed
            slis[ext.name] = entry
        rules = {}
        for rule, _ in self._rules:
            data: dict = {"states": [[list(labels), st.snapshot()] for labels, st in rule.states.items()]}
            acc = self._calendar_acc.get(id(rule))
            if acc is not None:
                data["calendar"] = [[list(k), e[0], e[1].snapshot(), e[2], e[3]] for k, e in acc.items()]
            rules[rule.key] = data
        budgets = {tracker.slo.name: tracker.snapshot() for tracker, _ in self._trackers}
        return {
            "version": SNAPSHOT_VERSION,
            "max_ts_ms": self.max_ts_ms,
            "closed_until_ms": self.closed_until_ms,
            "origin_ms": self.origin_ms,
            "resolution_ms": self.resolution_ms,
            "slis": slis,
            "rules": rules,
            "budgets": budgets,
            "counters": {"accepted": self.accepted, "ignored": self.ignored, "rejected": dict(self.rejected)},
        }

    def restore(self, data: dict) -> list[str]:
        """Load a snapshot; returns notes on state that the current config no longer has a place
        for (an SLI or rule removed or changed kind), which is dropped rather than misapplied."""
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version {data.get('version')!r}, expected {SNAPSHOT_VERSION}")
        if data["resolution_ms"] != self.resolution_ms:
            raise ValueError(
                f"snapshot resolution {data['resolution_ms']} ms differs from config {self.resolution_ms} ms"
            )
        notes: list[str] = []
        self.max_ts_ms = data["max_ts_ms"]
        self.closed_until_ms = data["closed_until_ms"]
        self.origin_ms = data.get("origin_ms")
        by_name = {e.name: e for e in self._extractors}
        for name, entry in data["slis"].items():
            ext = by_name.get(name)
            if ext is None:
                notes.append(f"sli {name!r} is no longer configured; its state was dropped")
                continue
            ext.series.clear()
            for labels, saved in entry["series"]:
                series = _new_series(ext)
                series.restore(saved)
                if not all(_fits(ext.kind, v) for v in series.subs.values()):
                    notes.append(f"sli {name!r} changed kind; its state was dropped")
                    ext.series.clear()
                    break
                if ext.tracks_last and series.last_by_sub is None:
                    series.last_by_sub = {}
                ext.series[tuple(labels)] = series
            if ext.correlations is not None and "correlations" in entry:
                ext.correlations.restore(entry["correlations"])
            ext.overflowed = entry.get("overflowed", 0)
        by_key = {rule.key: rule for rule, _ in self._rules}
        for key, saved in data["rules"].items():
            rule = by_key.get(key)
            if rule is None:
                notes.append(f"alert rule {key!r} is no longer configured; its state was dropped")
                continue
            rule.states = {tuple(labels): RuleState.restore(st) for labels, st in saved["states"]}
            acc = self._calendar_acc.get(id(rule))
            if acc is not None:
                for labels, end, gauge, good, total in saved.get("calendar", []):
                    acc[tuple(labels)] = [end, Gauge.restore(gauge), good, total]
        by_slo = {tracker.slo.name: tracker for tracker, _ in self._trackers}
        for name, saved in data.get("budgets", {}).items():
            tracker = by_slo.get(name)
            if tracker is None:
                notes.append(f"error budget of slo {name!r} is no longer configured; its state was dropped")
                continue
            notes += tracker.restore(saved, self.closed_until_ms)
        counters = data.get("counters", {})
        self.accepted = counters.get("accepted", 0)
        self.ignored = counters.get("ignored", 0)
        self.rejected = dict(counters.get("rejected", {}))
        return notes

    def overflow_counts(self) -> dict[str, int]:
        """Events per SLI that went to the overflow series because of the cardinality cap."""
        return {ext.name: ext.overflowed for ext in self._extractors if ext.overflowed}

    def health(self) -> dict[str, Any]:
        """What was counted but not published: overflowed label sets, correlations dropped at the
        cap or never matched, latencies clipped to the trackable range."""
        correlations = {
            ext.name: {"open": len(ext.correlations.open), "dropped": ext.correlations.dropped,
                       "unmatched": ext.correlations.unmatched}
            for ext in self._extractors
            if ext.correlations is not None
        }
        clipped = {}
        for ext in self._extractors:
            n = sum(v.clipped for series in ext.series.values() for v in series.subs.values() if type(v) is LatencyStore)
            if n:
                clipped[ext.name] = n
        return {"overflowed": self.overflow_counts(), "correlations": correlations, "clipped_in_window": clipped}

    def snapshot_bytes(self) -> bytes:
        return orjson.dumps(self.snapshot())

    def restore_bytes(self, raw: bytes) -> list[str]:
        return self.restore(orjson.loads(raw))


def _new_series(ext: Extractor) -> Series:
    return Series(StateTrack(ext.spec.bad_when, ext.spec.entities) if ext.kind == STATE else None)


def _stats(*names: str) -> tuple[tuple[str, Stat], ...]:
    out = []
    for name in names:
        if name.startswith("p") and name[1:].replace(".", "").isdigit():
            out.append((name, Stat(kind="quantile", q=float(name[1:]) / 100)))
        else:
            out.append((name, Stat(kind=name)))  # type: ignore[arg-type]
    return tuple(out)


# What slo.sli.* carries for each SLI kind.
_REPORTED_STATS = {
    "latency": _stats("count", "p50", "p95", "p99"),
    "ratio": _stats("count", "good_ratio", "bad_count"),
    "events": _stats("count"),
    "gauge": _stats("count", "last", "min", "max", "avg", "sum"),
    "state": _stats("count", "good_ratio", "bad_for"),
    "correlation": _stats("count", "good_ratio", "bad_count"),
}


def _fits(kind: int, sub: Any) -> bool:
    if kind == LATENCY:
        return type(sub) is LatencyStore
    if kind == GAUGE:
        return type(sub) is Gauge
    return type(sub) is list or (kind == CORRELATION and type(sub) is LatencyStore)


def run_all(engine: Engine, batches: Iterable[Sequence[Any]], final_watermark_ms: int | None = None) -> Outputs:
    """Feed batches in order (and optionally a final watermark); the replay and test helper."""
    out = Outputs()
    for batch in batches:
        out.extend(engine.ingest(batch))
    if final_watermark_ms is not None:
        out.extend(engine.advance(final_watermark_ms))
    return out


