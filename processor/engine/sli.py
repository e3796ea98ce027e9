"""One SLI's state in the engine: its series by label values, and the per-event functions its
kind built for it (observe, apply), chosen once so the hot path never dispatches on the kind."""

from __future__ import annotations

from typing import Any

from processor.config.model import SliConfig
from processor.config.predicate import FieldTypeError, MissingField
from processor.engine.plan import SliPlan
from processor.engine.series import Series
from processor.kinds import KINDS
from processor.kinds.base import RecordContext
from processor.kinds.columnar import column_predicate
from processor.vocabulary import OVERFLOW_LABEL, SUBJECT_FIELD
from processor.kinds.payload import MAX_TEXT_CHARS, Reject, bounded_text, field_path, lookup

__all__ = ["SliState"]


class SliState:
    __slots__ = (
        "config", "name", "kind", "behaves_as", "where", "observe", "apply", "record", "label_paths",
        "ts_field", "series", "horizon_ms", "windows_ms", "tracks_last", "needs_subject", "overflowed", "table",
        "seen_ms", "value_reads_time", "select_many", "observe_many", "record_many",
    )

    def __init__(self, config: SliConfig, plan: SliPlan, ctx: RecordContext) -> None:
        self.config = config
        self.name = config.name
        self.kind = KINDS[config.kind]
        self.behaves_as = self.kind.behaves_as(config)  # whose stats and buckets it has
        self.where = config.where.fn if config.where is not None else None
        self.label_paths = tuple(field_path(f) for f in config.labels)
        self.ts_field = config.event_time_field
        self.series: dict[tuple[str, ...], Series] = {}
        self.horizon_ms = plan.horizon_ms
        self.windows_ms = plan.windows_ms
        self.tracks_last = plan.tracks_last
        self.overflowed = 0
        # Start of the first sub-window with an event of this SLI, once one has closed: before
        # that the SLI is unknown, not down (engine/never_seen.py).
        self.seen_ms: int | None = None
        # ``value: ts, minus: quote_ts``: the value starts at the SLI's own event time field.
        self.value_reads_time = (
            getattr(config, "value_minus_field", None) is not None
            and getattr(config, "value_field", None) == config.event_time_field
        )
        self.table = self.kind.new_table(config)  # correlations: the open ones, across series
        # Only SLIs whose predicates read the subject pay for putting it into the payload.
        self.needs_subject = any(SUBJECT_FIELD in p.fields for p in config.predicates())
        self.observe = self.kind.observer(config)
        # Either the kind's own per-event step, or the engine finds the series and calls record.
        self.apply = self.kind.applier(self, ctx)
        self.record = self.kind.recorder(config, ctx, self) if self.apply is None else None
        # The batched path's (engine/batch.py): vectorised when the kind offers it.
        self.select_many = column_predicate(config.where)
        self.observe_many = self.kind.many_observer(config)
        self.record_many = self.kind.run_recorder(config, ctx, self) if self.apply is None else None

    def selects(self, payload: dict) -> bool:
        if self.where is None:
            return True
        try:
            return bool(self.where(payload))
        except (MissingField, FieldTypeError):
            # A filter on a field the event lacks simply does not select it.
            return False

    def add(self, payload: dict, t_ms: int, resolution_ms: int) -> None:
        """An event the engine makes itself (its input ledger): the per-event step of
        ``Engine.ingest`` without its shortcuts, which pay only for messages. What this SLI
        cannot read is left out: these events are not input that anyone could fix."""
        if not self.selects(payload):
            return
        try:
            observed = self.observe(payload)
        except Reject:
            return
        if observed is None:
            return
        self.record_one(payload, t_ms, observed, resolution_ms)

    def record_one(self, payload: dict, t_ms: int, observed: Any, resolution_ms: int) -> tuple[tuple, Series] | None:
        """One event this SLI took into its series: the per-event step (``Engine.ingest_per_event``
        does the same inline, for speed). Returns the series' (labels, series), or None for a kind
        that records elsewhere."""
        if self.apply is not None:
            self.apply(payload, t_ms, observed)
            return None
        labels = self.labels_of(payload) if self.label_paths else ()
        series = self.series.get(labels)
        if series is None:
            labels, series = self.keyed_series(labels)
        sub = t_ms - t_ms % resolution_ms
        series.saw(sub, t_ms)
        self.record(series, sub, t_ms, observed)
        return labels, series

    def labels_of(self, payload: dict) -> tuple[str, ...]:
        out = []
        for path in self.label_paths:
            try:
                v = lookup(payload, path)
            except KeyError:
                v = ""
            # The common case (a short string) stays one type check and one len().
            out.append(v if type(v) is str and len(v) <= MAX_TEXT_CHARS else bounded_text(v))
        return tuple(out)

    def new_series(self) -> Series:
        return Series(self.kind.new_entity_track(self.config), self.tracks_last)

    def keyed_series(self, labels: tuple) -> tuple[tuple, Series]:
        """(the labels the series is kept under, the series): past the cardinality cap, the
        overflow series' labels, which its rules' states are kept under too."""
        series = self.series_for(labels)
        if labels and self.series.get(labels) is not series:
            labels = (OVERFLOW_LABEL,) * len(labels)
        return labels, series

    def series_for(self, labels: tuple) -> Series:
        series = self.series.get(labels)
        if series is None:
            if len(self.series) >= self.config.max_series and labels:
                # Past the cardinality cap every new label set shares one overflow series, so
                # memory stays bounded and the events still count.
                self.overflowed += 1
                labels = (OVERFLOW_LABEL,) * len(labels)
                series = self.series.get(labels)
            if series is None:
                series = self.series[labels] = self.new_series()
        return series

    def note_seen(self, t_ms: int) -> None:
        """At boundary t: an SLI not seen yet is seen once a sub-window with its events has closed."""
        closed = [start for series in self.series.values() for start in series.all_starts() if start < t_ms]
        if closed:
            self.seen_ms = min(closed)

    def evict(self, t_ms: int) -> None:
        oldest_ms = t_ms - self.horizon_ms
        dead = []
        for labels, series in self.series.items():
            series.evict(oldest_ms)
            series.seal(t_ms)
            if not series.holds_subs() and not series.pending and not series.persistent():
                dead.append(labels)
        for labels in dead:
            del self.series[labels]

    def snapshot(self) -> dict:
        entry: dict = {"series": [[list(labels), series.snapshot()] for labels, series in self.series.items()]}
        if self.table is not None:
            entry["correlations"] = self.table.snapshot()
        if self.overflowed:
            entry["overflowed"] = self.overflowed
        if self.seen_ms is not None:
            entry["seen_ms"] = self.seen_ms
        return entry

    def restore(self, entry: dict) -> list[str]:
        """Notes on state the config no longer has a place for (the SLI changed kind)."""
        self.series.clear()
        notes = []
        for labels, saved in entry["series"]:
            series = self.new_series()
            if not series.restore(saved, self._restore_bucket):
                notes.append(f"sli {self.name!r} changed kind; its state was dropped")
                self.series.clear()
                break
            self.series[tuple(labels)] = series
        if self.table is not None and "correlations" in entry:
            self.table.restore(entry["correlations"])
        self.overflowed = entry.get("overflowed", 0)
        # Absent from snapshots before it existed: the next boundary finds it from the series.
        self.seen_ms = entry.get("seen_ms")
        return notes

    def _restore_bucket(self, data: Any) -> Any:
        return self.kind.restore_bucket(self.config, data)
