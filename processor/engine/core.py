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

from processor.engine.budget import BudgetTracker
from processor.engine.extract import LATENCY, Extractor, Reject, parse_event_time_ms, subject_matches
from processor.engine.outputs import Outputs, Rejection
from processor.engine.rules import AlertRule, RuleState
from processor.engine.sketch import LatencyStore
from processor.spec.model import Spec, Stat

__all__ = ["Engine", "SNAPSHOT_VERSION"]

SNAPSHOT_VERSION = 1
_ROUTE_CACHE_MAX = 65_536  # distinct subjects remembered; past it the cache starts afresh


class _Series:
    """The sub-windows of one SLI series. Latency values wait in ``pending`` lists until a flush
    inserts them into their sub-window's store in one vectorised call."""

    __slots__ = ("subs", "pending")

    def __init__(self) -> None:
        self.subs: dict[int, Any] = {}  # sub-window start ms -> LatencyStore | [good, total]
        self.pending: dict[int, list[float]] = {}


class Engine:
    def __init__(
        self,
        spec: Spec,
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
            self._rules.append((AlertRule(a, tuple(ext.spec.labels)), ext))
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
        self._route: dict[str, tuple[Extractor, ...]] = {}
        self._dirty: set[tuple[Extractor, _Series]] = set()
        self.max_ts_ms: int | None = None
        self.closed_until_ms: int | None = None
        self.rejected: dict[str, int] = {}
        self.accepted = 0
        self.ignored = 0

    # ------------------------------------------------------------------ public API
    @property
    def watermark_ms(self) -> int | None:
        return None if self.max_ts_ms is None else self.max_ts_ms - self.lateness_ms

    def subjects(self) -> list[str]:
        return [e.spec.subject for e in self._extractors]

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
                staged = []
                ts_field = None
                ts_ms = 0
                for ext in exts:
                    if not ext.selects(payload):
                        continue
                    observed = ext.observe(payload)
                    if ext.ts_field is not ts_field:
                        ts_field = ext.ts_field
                        ts_ms = self._event_time_ms(payload, ts_field, msg)
                    staged.append((ext, ts_ms, observed))
                if not staged:
                    out.ignored += 1
                    continue
                closed = self.closed_until_ms
                for _, t, _ in staged:
                    if closed is not None and t < closed:
                        raise Reject("late", f"event time {t} is before the closed boundary {closed}")
            except Reject as rej:
                out.rejections.append(Rejection(index, rej.reason, rej.detail))
                self.rejected[rej.reason] = self.rejected.get(rej.reason, 0) + 1
                continue
            for _, t, _ in staged:
                if self.max_ts_ms is None or t > self.max_ts_ms:
                    self.max_ts_ms = t
                    closed = self.closed_until_ms
                    if closed is None or t - lateness >= closed + res:
                        self._close_through(t - lateness, out)
            for ext, t, observed in staged:
                labels = ext.labels_of(payload) if ext.label_paths else ()
                series = ext.series.get(labels)
                if series is None:
                    series = ext.series[labels] = _Series()
                sub = t - t % res
                if ext.kind == LATENCY:
                    buf = series.pending.get(sub)
                    if buf is None:
                        buf = series.pending[sub] = []
                        self._dirty.add((ext, series))
                    buf.append(observed)
                else:
                    counts = series.subs.get(sub)
                    if counts is None:
                        counts = series.subs[sub] = [0, 0]
                    counts[0] += 1 if observed else 0
                    counts[1] += 1
            out.accepted += 1
        self.accepted += out.accepted
        self.ignored += out.ignored
        return out

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
            self.closed_until_ms = target
            return
        if target <= self.closed_until_ms:
            return
        self._flush()
        boundary = self.closed_until_ms + res
        while boundary <= target:
            self._evaluate(boundary, out)
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
            any(ext.series for ext in self._extractors)
            or any(rule.states for rule, _ in self._rules)
            or any(tracker.has_state() for tracker, _ in self._trackers)
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
        merged = _Series()
        lo = t_ms - window_ms
        for series in ext.series.values():
            for start, v in series.subs.items():
                if lo <= start < t_ms:
                    if type(v) is list:
                        counts = merged.subs.setdefault(start, [0, 0])
                        counts[0] += v[0]
                        counts[1] += v[1]
                    elif start in merged.subs:
                        merged.subs[start].merge(v)
                    else:
                        merged.subs[start] = v.copy()
        return self._window_value(merged, stat, t_ms, window_ms, {})

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

    def _window_value(self, series: _Series, stat: Stat, t_ms: int, window_ms: int, cache: dict) -> float | None:
        key = (id(series), window_ms)
        agg = cache.get(key)
        if agg is None:
            lo = t_ms - window_ms
            first = None
            good = total = 0
            for start, v in series.subs.items():
                if lo <= start < t_ms:
                    if type(v) is list:
                        good += v[0]
                        total += v[1]
                    elif first is None:
                        first = v.copy()
                    else:
                        first.merge(v)
            agg = cache[key] = (first, good, total)
        store, good, total = agg
        kind = stat.kind
        if kind == "quantile":
            return None if store is None else store.quantile(stat.q)  # type: ignore[arg-type]
        if kind == "count":
            return float(store.count if store is not None else total)
        if total == 0:
            return None
        return good / total if kind == "good_ratio" else 1.0 - good / total

    def _evaluate(self, t_ms: int, out: Outputs) -> None:
        cache: dict = {}
        empty = _Series()
        for rule, ext in self._rules:
            spec = rule.spec
            seen = set()
            for labels, series in ext.series.items():
                seen.add(labels)
                value = self._window_value(series, spec.condition.stat, t_ms, spec.window_ms, cache)
                tr = rule.evaluate(labels, value, t_ms)
                if tr is not None:
                    out.alerts.append(tr)
            # Series evicted while a rule still holds state on them: their window is now empty.
            for labels in [k for k in rule.states if k not in seen]:
                tr = rule.evaluate(labels, self._window_value(empty, spec.condition.stat, t_ms, spec.window_ms, cache), t_ms)
                if tr is not None:
                    out.alerts.append(tr)

    def _evict(self, t_ms: int) -> None:
        for ext in self._extractors:
            oldest_ms = t_ms - ext.horizon_ms
            dead = []
            for labels, series in ext.series.items():
                for start in [s for s in series.subs if s < oldest_ms]:
                    del series.subs[start]
                if not series.subs and not series.pending:
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
            rows = []
            for labels, series in ext.series.items():
                subs = [
                    [start, v if type(v) is list else v.snapshot()] for start, v in sorted(series.subs.items())
                ]
                rows.append([list(labels), subs])
            slis[ext.name] = rows
        rules = {
            rule.key: [[list(labels), st.snapshot()] for labels, st in rule.states.items()]
            for rule, _ in self._rules
        }
        budgets = {tracker.slo.name: tracker.snapshot() for tracker, _ in self._trackers}
        return {
            "version": SNAPSHOT_VERSION,
            "budgets": budgets,
            "max_ts_ms": self.max_ts_ms,
            "closed_until_ms": self.closed_until_ms,
            "resolution_ms": self.resolution_ms,
            "slis": slis,
            "rules": rules,
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
        by_name = {e.name: e for e in self._extractors}
        for name, rows in data["slis"].items():
            ext = by_name.get(name)
            if ext is None:
                notes.append(f"sli {name!r} is no longer configured; its state was dropped")
                continue
            ext.series.clear()
            for labels, subs in rows:
                series = ext.series[tuple(labels)] = _Series()
                for start, v in subs:
                    if ext.kind == LATENCY:
                        if type(v) is list:
                            notes.append(f"sli {name!r} changed kind; its state was dropped")
                            break
                        series.subs[start] = LatencyStore.restore(v)
                    else:
                        if type(v) is not list:
                            notes.append(f"sli {name!r} changed kind; its state was dropped")
                            break
                        series.subs[start] = list(v)
        by_key = {rule.key: rule for rule, _ in self._rules}
        for key, rows in data["rules"].items():
            rule = by_key.get(key)
            if rule is None:
                notes.append(f"alert rule {key!r} is no longer configured; its state was dropped")
                continue
            rule.states = {tuple(labels): RuleState.restore(st) for labels, st in rows}
        by_slo = {tracker.slo.name: tracker for tracker, _ in self._trackers}
        for name, saved in data.get("budgets", {}).items():
            tracker = by_slo.get(name)
            if tracker is None:
                notes.append(f"error budget of slo {name!r} is no longer configured; its state was dropped")
                continue
            notes += tracker.restore(saved)
        counters = data.get("counters", {})
        self.accepted = counters.get("accepted", 0)
        self.ignored = counters.get("ignored", 0)
        self.rejected = dict(counters.get("rejected", {}))
        return notes

    def snapshot_bytes(self) -> bytes:
        return orjson.dumps(self.snapshot())

    def restore_bytes(self, raw: bytes) -> list[str]:
        return self.restore(orjson.loads(raw))


def run_all(engine: Engine, batches: Iterable[Sequence[Any]], final_watermark_ms: int | None = None) -> Outputs:
    """Feed batches in order (and optionally a final watermark); the replay and test helper."""
    out = Outputs()
    for batch in batches:
        out.extend(engine.ingest(batch))
    if final_watermark_ms is not None:
        out.extend(engine.advance(final_watermark_ms))
    return out


