"""The engine: events in, alert transitions out, in event time, deterministically.

``ingest(batch)`` and ``advance(watermark_ms)`` are the whole API; live runs and replays call the
same two. Each batch item is any object with ``subject`` (str), ``data`` (bytes) and ``reply``
attributes (a nats-py ``Msg`` is one); ``reply`` is only handed to the injected ``fallback_ts_ms``
when a payload carries no event time, so the engine never parses JetStream metadata itself.

Time (engine/clock.py): an event whose time falls in a closed sub-window is rejected as ``late``
(never merged into a closed window). Events are applied one at a time in batch order, so the result
does not depend on how a stream is cut into batches. Rules, budgets and reports run at every closed
boundary (engine/evaluation.py).

One engine serves one ordered stream of events (one time domain): the runtime runs an engine per
JetStream stream, because streams progress independently and a backlog on one must not make the
other's events late. See docs/architecture.md for the path of one event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

from processor.config.model import Config
from processor.config.parse import subject_pattern_matches
from processor.engine.cardinality import CardinalityAlerts
from processor.engine.catchup import Models, forget_strayed, reports_from_ms, skip_quiet
from processor.engine.clock import BoundaryClock
from processor.engine.evaluation import AlertRules, Budgets, SliReporter, flush_latencies
from processor.engine.event_time import parse_event_time_ms
from processor.engine.outputs import Outputs, Rejection
from processor.engine.plan import plan_slis
from processor.engine.sli import SliState
from processor.engine.snapshot import restore_engine, snapshot_engine
from processor.kinds.base import Kind, RecordContext
from processor.vocabulary import SUBJECT_FIELD
from processor.kinds.payload import Reject
from processor.kinds.sketch import LatencyStore

__all__ = ["Engine", "run_all"]

_ROUTE_CACHE_MAX = 65_536  # distinct subjects remembered; past it the cache starts afresh


class Engine:
    def __init__(self, config: Config, fallback_ts_ms: Callable[[Any], int | None] | None = None):
        self.config = config
        self.clock = BoundaryClock(config.defaults.resolution_ms, config.defaults.allowed_lateness_ms)
        self._fallback_ts_ms = fallback_ts_ms
        self._ctx = RecordContext(config.defaults.resolution_ms)
        plans = plan_slis(config)
        self.slis = [SliState(s, plans[s.name], self._ctx) for s in config.slis]
        by_name = {s.name: s for s in self.slis}
        self.rules = AlertRules(config, by_name, config.defaults.resolution_ms)
        self.budgets = Budgets(config, by_name, config.defaults.resolution_ms)
        self._reporter = SliReporter(self.slis, config.defaults.rule_window_ms)
        self.cardinality = CardinalityAlerts(self.slis, config.defaults.rule_window_ms)
        # Kinds with work at boundaries of their own (correlation timeouts).
        self._boundary_slis = [s for s in self.slis if type(s.kind).close_boundary is not Kind.close_boundary]
        self._subject_readers = any(s.needs_subject for s in self.slis)
        self._route: dict[str, tuple[SliState, ...]] = {}
        self.rejected: dict[str, int] = {}
        # Off only in tests, to compare with boundary-by-boundary evaluation.
        self.skip_quiet_boundaries = True
        self.accepted = 0
        self.ignored = 0

    # The watermark's parts, read by the runtime's idle clock.
    @property
    def resolution_ms(self) -> int:
        return self.clock.resolution_ms

    @property
    def lateness_ms(self) -> int:
        return self.clock.lateness_ms

    @property
    def max_ts_ms(self) -> int | None:
        return self.clock.max_ts_ms

    @property
    def closed_until_ms(self) -> int | None:
        return self.clock.closed_until_ms

    @property
    def origin_ms(self) -> int | None:
        return self.clock.origin_ms

    # ------------------------------------------------------------------ public API
    def ingest(self, batch: Sequence[Any]) -> Outputs:
        # The per-event loop, written out in one function on purpose: it runs for every message,
        # and the locals bound here (instead of attribute lookups and calls per event) are most of
        # the engine's speed. Per-kind work happens in closures each SLI's kind built once.
        out = Outputs()
        route = self._route
        loads = orjson.loads
        clock = self.clock
        res = clock.resolution_ms
        for index, msg in enumerate(batch):
            subject = msg.subject
            slis = route.get(subject)
            if slis is None:
                slis = self._match(subject)
            if not slis:
                out.ignored += 1
                continue
            try:
                try:
                    payload = loads(msg.data)
                except orjson.JSONDecodeError:
                    raise Reject("not_json", "payload is not valid JSON") from None
                if type(payload) is not dict:
                    raise Reject("not_object", f"payload is a JSON {type(payload).__name__}, not an object")
                if self._subject_readers and any(sli.needs_subject for sli in slis):
                    payload[SUBJECT_FIELD] = subject
                staged = []
                ts_field = None
                ts_ms = t_lo = t_hi = 0
                for sli in slis:
                    if sli.where is not None and not sli.selects(payload):
                        continue
                    observed = sli.observe(payload)
                    if observed is None:
                        continue
                    if sli.ts_field != ts_field:
                        ts_field = sli.ts_field
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
                    staged.append((sli, ts_ms, observed))
                if not staged:
                    out.ignored += 1
                    continue
                if t_lo != t_hi or (clock.closed_until_ms is not None and t_lo < clock.closed_until_ms):
                    late = clock.late_reason(t_lo, t_hi)
                    if late is not None:
                        raise Reject("late", late)
            except Reject as rej:
                out.rejections.append(Rejection(index, rej.reason, rej.detail))
                self.rejected[rej.reason] = self.rejected.get(rej.reason, 0) + 1
                continue
            if clock.max_ts_ms is None or t_hi > clock.max_ts_ms:
                watermark_ms = clock.observe(t_hi)
                if watermark_ms is not None:
                    self._close_through(watermark_ms, out)
            for sli, t, observed in staged:
                if sli.apply is not None:
                    sli.apply(payload, t, observed)
                    continue
                labels = sli.labels_of(payload) if sli.label_paths else ()
                series = sli.series.get(labels)
                if series is None:
                    series = sli.series_for(labels)
                sub = t - t % res
                last = series.last_by_sub
                if last is not None:  # for since_last: the latest event time of the sub-window
                    prev = last.get(sub)
                    if prev is None or t > prev:
                        last[sub] = t
                sli.record(series, sub, t, observed)
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
        target = self.clock.start(watermark_ms)
        if target is None:
            return
        self.flush()
        res = self.clock.resolution_ms
        boundary = self.clock.closed_until_ms + res  # type: ignore[operator]
        # A long move publishes periodic reports for its last hour only, and skips the boundaries
        # before it at which nothing can change (engine/catchup.py).
        reports_from = reports_from_ms(boundary - res, target)
        models: Models = {}
        while boundary <= target:
            if boundary <= reports_from and self.skip_quiet_boundaries:
                boundary = skip_quiet(self, boundary, reports_from, models)
                self._close_boundary(boundary, out, reports=boundary > reports_from)
                forget_strayed(models, self, boundary)
            else:
                self._close_boundary(boundary, out, reports=boundary > reports_from)
            if not self._has_state():
                # No data within any horizon and no rule pending or firing: every boundary up to
                # the target would evaluate to nothing, so skip them (long gaps cost O(1)).
                break
            boundary += res
        self.clock.closed_through(target)

    def _close_boundary(self, t_ms: int, out: Outputs, reports: bool = True) -> None:
        origin_ms = self.clock.origin_ms if self.clock.origin_ms is not None else t_ms
        for sli in self._boundary_slis:
            sli.kind.close_boundary(sli, t_ms, self._ctx)
        self.rules.evaluate(t_ms, origin_ms, out)
        self.cardinality.evaluate(t_ms, out)
        if reports and t_ms % self.config.defaults.sli_report_every_ms == 0:
            self._reporter.report(t_ms, origin_ms, out)
        self.budgets.account(t_ms, origin_ms, out, reports)
        for sli in self.slis:
            sli.evict(t_ms)

    def _has_state(self) -> bool:
        return (
            self.rules.has_state()
            or self.cardinality.has_state()
            or any(sli.series for sli in self.slis)
            or self.budgets.has_state()
            or any(sli.table is not None and sli.table.open for sli in self.slis)
        )

    def flush(self) -> None:
        """Insert queued latency values into their sketches (done before any boundary is read)."""
        flush_latencies(self._ctx.pending, self.budgets)

    def _match(self, subject: str) -> tuple[SliState, ...]:
        slis = tuple(s for s in self.slis if subject_pattern_matches(s.config.subject, subject))
        if len(self._route) >= _ROUTE_CACHE_MAX:
            self._route.clear()
        self._route[subject] = slis
        return slis

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict:
        """All state as JSON-ready data (processor/engine/snapshot.py). Pending values are flushed first."""
        return snapshot_engine(self)

    def restore(self, data: dict) -> list[str]:
        """Load a snapshot; returns notes on state that the current config no longer has a place
        for (an SLI or rule removed or changed kind), which is dropped rather than misapplied."""
        return restore_engine(self, data)

    def snapshot_bytes(self) -> bytes:
        return orjson.dumps(self.snapshot())

    def restore_bytes(self, raw: bytes) -> list[str]:
        return self.restore(orjson.loads(raw))

    def overflow_counts(self) -> dict[str, int]:
        """Events per SLI that went to the overflow series because of the cardinality cap."""
        return {sli.name: sli.overflowed for sli in self.slis if sli.overflowed}

    def series_labels(self, sli_name: str) -> set[tuple[str, ...]]:
        """The label values of an SLI's live series (for tests and diagnostics)."""
        return {labels for sli in self.slis if sli.name == sli_name for labels in sli.series}

    def health(self) -> dict[str, Any]:
        """What was counted but not published: overflowed label sets, correlations dropped at the
        cap or never matched, latencies clipped to the trackable range."""
        correlations = {
            sli.name: {"open": len(sli.table.open), "dropped": sli.table.dropped, "unmatched": sli.table.unmatched}
            for sli in self.slis
            if sli.table is not None
        }
        clipped = {}
        for sli in self.slis:
            n = sum(v.clipped for series in sli.series.values() for v in series.subs.values() if type(v) is LatencyStore)
            if n:
                clipped[sli.name] = n
        return {"overflowed": self.overflow_counts(), "correlations": correlations, "clipped_in_window": clipped}


def run_all(engine: Engine, batches: Iterable[Sequence[Any]], final_watermark_ms: int | None = None) -> Outputs:
    """Feed batches in order (and optionally a final watermark); the replay and test helper."""
    out = Outputs()
    for batch in batches:
        out.extend(engine.ingest(batch))
    if final_watermark_ms is not None:
        out.extend(engine.advance(final_watermark_ms))
    return out
