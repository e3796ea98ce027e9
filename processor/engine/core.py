"""The engine: events in, alert transitions out, in event time, deterministically.

``ingest(batch)`` and ``advance(watermark_ms)`` are the whole API; live runs and replays call the
same two. Each batch item is any object with ``subject`` (str), ``data`` (bytes) and ``reply``
attributes (a nats-py ``Msg`` is one). The injected ``fallback_ts_ms`` reads a message's stream
timestamp from it, so the engine never parses JetStream metadata itself; it is asked when a payload
carries no event time, and when an event's time may be too far ahead of its message (below).

Each SLI that reads a message takes it or rejects it on its own: a gateway request without
``rate_limit_correct`` still counts for latency and availability. A message that any SLI rejected
is dead-lettered once (``Rejection`` names those SLIs), and every decision is counted, by reason
and by SLI, and handed to the SLIs that measure the input (engine/input.py).

Time (engine/clock.py): an event whose time falls in a closed sub-window is rejected as ``late``
(never merged into a closed window); one more than ``max_future_skew`` ahead of the JetStream
timestamp of its own message as ``future`` (a reference that is the same live and in replay), so
that one wrong clock cannot drag the watermark away. The result is that of applying events one at
a time in batch order (``ingest_per_event``, the reference; ``ingest`` gets there in runs, see
engine/batch.py), so it does not depend on how a stream is cut into batches. Rules, budgets and
reports run at every closed boundary (engine/evaluation.py).

One engine serves one ordered stream of events (one time domain): the runtime runs an engine per
JetStream stream, because streams progress independently and a backlog on one must not make the
other's events late. See docs/architecture.md for the path of one event.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

from processor.config.model import Config
from processor.config.parse import subject_pattern_matches
from processor.engine.batch import NOT_JSON, counted, ingest_batched
from processor.engine.cardinality import CardinalityAlerts
from processor.engine.catchup import Models, forget_strayed, reports_from_ms, skip_quiet
from processor.engine.clock import BoundaryClock
from processor.engine.evaluation import AlertRules, Budgets, SliReporter, flush_latencies
from processor.engine.never_seen import NeverSeenAlerts
from processor.kinds.event_time import MAX_EVENT_TIME_MS, parse_event_time_ms
from processor.engine.input import InputLedger, reads_input
from processor.engine.instant import InstantRules
from processor.engine.outputs import AlertTransition, Outputs, Rejection
from processor.engine.plan import plan_slis
from processor.engine.sli import SliState
from processor.engine.snapshot import restore_engine, snapshot_engine
from processor.kinds.base import Kind, RecordContext
from processor.vocabulary import SUBJECT_FIELD, TIME_REJECTION_REASONS
from processor.kinds.payload import Reject
from processor.kinds.sketch import LatencyStore

__all__ = ["Engine", "run_all"]

_ROUTE_CACHE_MAX = 65_536  # distinct subjects remembered; past it the cache starts afresh
# Longer subjects are matched every time instead of remembered: the server allows subjects of
# up to its control line (4 KB), and 65,536 of those would hold 256 MB. With this, the cache
# holds at most ~20 MB whatever producers send.
_ROUTE_CACHE_SUBJECT_CHARS = 256
_NOT_JSON = NOT_JSON  # what a payload that does not decode stands for (engine/batch.py)


def _bare(rej: Reject) -> Reject:
    """A refusal as it is kept: without the traceback of its raise and of the error it was
    raised from. Those hold the frames it passed, which hold the refusals that hold it: a cycle
    only the collector frees, and garbage then cost a young collection every few batches
    (about a sixth of the engine's time on bench/garbage.py's messages)."""
    rej.__traceback__ = rej.__context__ = rej.__cause__ = None
    return rej


class Engine:
    # The batched path (engine/batch.py); off, every batch takes the per-event reference. A class
    # attribute so that tests can run a whole module on either path.
    batched = True
    # Whether the batched path hands a batch to the per-event reference where that is faster
    # (engine/batch.py ``_per_event_is_cheaper``); off in the tests that check the batched
    # planning against the reference, so that it stays exercised on every batch.
    per_event_when_cheaper = True

    def __init__(
        self, config: Config, fallback_ts_ms: Callable[[Any], int | None] | None = None, stream: str = "",
        per_event: Iterable[str] = (),
    ) -> None:
        """``per_event``: names of SLIs that the batched path applies one event at a time, in
        order, through the reference's step (``SliState.record_one``)."""
        self.config = config
        self.per_event = frozenset(per_event)
        self.clock = BoundaryClock(config.defaults.resolution_ms, config.defaults.allowed_lateness_ms)
        self._fallback_ts_ms = fallback_ts_ms
        self._ctx = RecordContext(config.defaults.resolution_ms)
        plans = plan_slis(config)
        self.slis = [SliState(s, plans[s.name], self._ctx) for s in config.slis]
        # SLIs on the input subjects read the engine's own account of its input, never messages.
        self.input = InputLedger(stream, [s for s in self.slis if reads_input(s.config.subject)])
        self._message_slis = [s for s in self.slis if not reads_input(s.config.subject)]
        # The order in which an event's SLIs read it (a subject's route keeps it): the batched
        # path puts the alerts of a run back in it (engine/batch.py).
        self.sli_rank = {s.name: i for i, s in enumerate(self.slis)}
        by_name = {s.name: s for s in self.slis}
        self.rules = AlertRules(config, by_name, config.defaults.resolution_ms)
        self.budgets = Budgets(config, by_name, config.defaults.resolution_ms)
        # Rules that fire on the event that makes them hold (engine/instant.py), by the SLIs they read.
        self.instant = InstantRules(self.rules.rules, self._message_slis, config.defaults.resolution_ms,
                                    config.defaults.allowed_lateness_ms)
        self._reporter = SliReporter(self.slis, config.defaults.rule_window_ms)
        self.cardinality = CardinalityAlerts(self.slis, config.defaults.rule_window_ms)
        self.never_seen = NeverSeenAlerts(config, self.slis)
        # Kinds with work at boundaries of their own (correlation timeouts).
        self._boundary_slis = [s for s in self.slis if type(s.kind).close_boundary is not Kind.close_boundary]
        self._subject_readers = any(s.needs_subject for s in self.slis)
        # SLIs whose value is their own event time minus another time (``value: ts, minus: quote_ts``):
        # a payload without that field takes the JetStream timestamp there, as the event time does.
        self._time_readers = any(s.value_reads_time for s in self.slis)
        self._stream_time_fields: dict[str, tuple[str, ...]] = {}
        self._route: dict[str, tuple[SliState, ...]] = {}
        self._batchable_slis: dict[SliState, bool] = {}
        self.rejected: dict[str, int] = {}  # dead-lettered messages by reason
        self.rejected_by_sli: dict[str, dict[str, int]] = {}  # SLI -> reason -> messages it rejected
        # Past this event time, a message's own stream timestamp is read for the skew check.
        self._skew_ceiling_ms: float = -1 if fallback_ts_ms is not None else math.inf
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
    def ingest(self, batch: Sequence[Any], decode: Callable[[bytes], Any] | None = None) -> Outputs:
        """``decode`` (default ``orjson.loads``) turns a message's data into its payload; a caller
        that feeds one batch to several engines passes one that decodes each message once and
        hands every engine its own shallow copy (``replay/backtest.SharedDecode``). The engine may
        add top-level fields to a payload, never change a nested one.

        The batched path (engine/batch.py) unless ``batched`` is off; both give the same outputs
        and state as ``ingest_per_event``, the reference."""
        loads = orjson.loads if decode is None else decode
        out = ingest_batched(self, batch, loads) if self.batched else self.ingest_per_event(batch, decode)
        self.input.fold(self._slis_reading)  # bounded between boundaries, whatever the subjects
        return out

    def ingest_per_event(self, batch: Sequence[Any], decode: Callable[[bytes], Any] | None = None) -> Outputs:
        """The reference: each event applied on its own, in batch order."""
        out = Outputs()
        self._per_event(out, batch, None, 0, len(batch), orjson.loads if decode is None else decode)
        return counted(self, out, len(batch))

    def _per_event(self, out: Outputs, batch: Sequence[Any], payloads: list | None, start: int, stop: int,
                   loads: Callable[[bytes], Any] = orjson.loads) -> None:
        """Messages start..stop of the batch, one at a time (``payloads``: already decoded, by
        the batched path, which sends here each message that ends one of its runs)."""
        # The per-event loop, written out in one function on purpose: it runs for every message,
        # and the locals bound here (instead of attribute lookups and calls per event) are most of
        # the engine's speed. Per-kind work happens in closures each SLI's kind built once. Each
        # SLI takes or rejects the event on its own (``_stage``, which the batched path also asks
        # about the few messages it dead-letters inside a run); what is rare leaves the loop for
        # a method.
        route = self._route
        routed = self.input.routed  # cleared in place by the ledger, so these stay bound to it
        routed_get = routed.get
        clock = self.clock
        res = clock.resolution_ms
        skew_ceiling_ms = self._skew_ceiling_ms
        stage = self._stage
        instant_slis = self.instant.slis
        instant_observe = self.instant.observe
        for index in range(start, stop):
            msg = batch[index]
            subject = msg.subject
            slis = route.get(subject)
            if slis is None:
                slis = self._match(subject)
            if not slis:
                out.ignored += 1
                continue
            routed[subject] = routed_get(subject, 0) + 1
            if payloads is not None:
                payload = payloads[index]
            else:
                try:
                    payload = loads(msg.data)
                except orjson.JSONDecodeError:
                    payload = _NOT_JSON
            if type(payload) is not dict:
                self._unreadable(out, index, slis, payload)
                continue
            if self._subject_readers and any(sli.needs_subject for sli in slis):
                payload[SUBJECT_FIELD] = subject
            if self._time_readers:
                self._fill_stream_times(payload, subject, slis, msg)
            staged, refused, t_lo, t_hi = stage(payload, slis, msg)
            if staged and (t_hi > skew_ceiling_ms or t_lo != t_hi
                           or (clock.closed_until_ms is not None and t_lo < clock.closed_until_ms)):
                staged, t_hi, refused = self._settle_times(msg, staged, t_hi, refused)
                skew_ceiling_ms = self._skew_ceiling_ms
            if refused:
                self._dead_letter(out, index, refused, applied=bool(staged))
                if not staged:
                    continue
            elif not staged:
                out.ignored += 1
                continue
            if clock.max_ts_ms is None or t_hi > clock.max_ts_ms:
                watermark_ms = clock.observe(t_hi)
                if watermark_ms is not None:
                    self._advance_to(watermark_ms, out)
            for sli, t, observed in staged:
                if sli.apply is not None:
                    sli.apply(payload, t, observed)
                    continue
                labels = sli.labels_of(payload) if sli.label_paths else ()
                series = sli.series.get(labels)
                if series is None:
                    labels, series = sli.keyed_series(labels)
                sub = t - t % res
                last = series.last_by_sub
                if last is not None:  # for since_last: the latest event time of the sub-window
                    prev = last.get(sub)
                    if prev is None or t > prev:
                        last[sub] = t
                sli.record(series, sub, t, observed)
                if sli in instant_slis:
                    instant_observe(sli, labels, series, t, observed, out)

    def _stage(self, payload: dict, slis: Sequence[SliState], msg: Any) -> tuple[list, tuple, int, int]:
        """What each SLI makes of one readable payload, as the reference applies it: (the
        (SLI, event time, observed) of those that take it, the (SLI, Reject) of those that
        cannot, in the SLIs' order, the earliest and the latest of the taken times). A function
        of the message alone: the clock's checks (late, future) come after it."""
        staged = []
        refused: tuple = ()
        ts_field = None
        ts_ms = t_lo = t_hi = 0
        for sli in slis:
            if sli.where is not None and not sli.selects(payload):
                continue
            try:
                observed = sli.observe(payload)
                if observed is None:
                    continue
                if sli.ts_field != ts_field:
                    ts_field = sli.ts_field
                    raw_ts = payload.get(ts_field)
                    # Epoch ms as an int is the common case; anything else takes the full path.
                    if type(raw_ts) is int and 0 <= raw_ts <= MAX_EVENT_TIME_MS:
                        ts_ms = raw_ts
                    else:
                        ts_ms = self._event_time_ms(payload, ts_field, msg)
                    if not staged:
                        t_lo = t_hi = ts_ms
                    elif ts_ms < t_lo:
                        t_lo = ts_ms
                    elif ts_ms > t_hi:
                        t_hi = ts_ms
            except Reject as rej:
                refused += ((sli, _bare(rej)),)
                ts_field = None  # its time may be what was wrong: the next SLI reads it again
                continue
            staged.append((sli, ts_ms, observed))
        return staged, refused, t_lo, t_hi

    def advance(self, watermark_ms: int) -> Outputs:
        """Move time without events (idle bus): close every sub-window ending at or before it."""
        out = Outputs()
        self._advance_to(watermark_ms, out)
        return out

    def advance_idle(self, watermark_ms: int) -> Outputs:
        """The idle clock's move (live: the wall clock; replay: a recorded move). Before the first
        event it only runs the provisional clock of ServiceNeverReported (the grid starts with the
        first event, so a backlog read later is not late); after it, it is ``advance``.

        A move that gets time to a new boundary is named in ``time_moves``: what a replay must do
        at this point of the stream to end alike."""
        clock = self.clock
        out = Outputs()
        if clock.closed_until_ms is None:
            before_ms = clock.silent_until_ms
            self._advance_silent(watermark_ms, out)
            moved_to_ms = clock.silent_until_ms
        else:
            before_ms = clock.closed_until_ms
            self._advance_to(watermark_ms, out)
            moved_to_ms = clock.closed_until_ms
        if moved_to_ms != before_ms:
            out.time_moves.append(moved_to_ms)  # type: ignore[arg-type]
        return out

    def _advance_silent(self, watermark_ms: int, out: Outputs) -> None:
        clock = self.clock
        target = clock.boundary_at_or_before(watermark_ms)
        if clock.silent_origin_ms is None:
            clock.silent_origin_ms = clock.silent_until_ms = target
            return
        if target <= clock.silent_until_ms:  # type: ignore[operator]
            return
        for due_ms in sorted(set(self.never_seen.due_ms(clock.silent_origin_ms))):
            if clock.silent_until_ms < due_ms <= target:  # type: ignore[operator]
                self.never_seen.evaluate(due_ms, clock.silent_origin_ms, out)
        clock.silent_until_ms = target

    def _advance_to(self, watermark_ms: int, out: Outputs) -> None:
        """Close through the watermark, first handing what the input ledger counted since the
        last close to the input SLIs, in the first sub-window still open (before any boundary
        there is none: the counts wait for the first)."""
        if self.clock.closed_until_ms is not None:
            self.input.hand_over(self.clock.closed_until_ms, self._slis_of, self.clock.resolution_ms)
        self._close_through(watermark_ms, out)

    # ------------------------------------------------------------------ what is rejected
    def _settle_times(self, msg: Any, staged: list, t_hi: int, refused: tuple) -> tuple[list, int, tuple]:
        """The staged (SLI, time, observed) whose time can be applied, the latest of those times,
        and the refusals with those that cannot: ``future`` when ahead of the message's stream
        timestamp by more than max_future_skew, ``late`` when in a closed sub-window (or, for SLIs
        reading different time fields, when the latest would close the sub-window of another)."""
        kept = staged
        limit_ms = self._future_limit_ms(msg, t_hi)
        if limit_ms is not None:
            kept = [entry for entry in staged if entry[1] <= limit_ms]
            skew_ms = self.config.defaults.max_future_skew_ms
            stamp_ms = limit_ms - skew_ms
            for sli, t, _ in staged:
                if t > limit_ms:
                    detail = f"event time {t} is {t - stamp_ms} ms ahead of its stream timestamp {stamp_ms}"
                    refused += ((sli, Reject("future", f"{detail} (max_future_skew {skew_ms} ms)")),)
        if not kept:
            return kept, 0, refused
        t_hi = max(entry[1] for entry in kept)
        on_time = []
        for entry in kept:
            late = self.clock.late_reason(entry[1], t_hi)
            if late is None:
                on_time.append(entry)
            else:
                refused += ((entry[0], Reject("late", late)),)
        return on_time, t_hi, refused

    def _future_limit_ms(self, msg: Any, t_ms: int) -> int | None:
        """The latest event time this message may carry, or None when ``t_ms`` needs no check.

        Stream timestamps never decrease along a stream, so a time within the skew of the highest
        one read so far is within the skew of this message's own: its reply subject is parsed only
        for a time beyond that. A message without a stream timestamp has no reference: no check.
        """
        if t_ms <= self._skew_ceiling_ms or self._fallback_ts_ms is None:
            return None
        stamp_ms = self._fallback_ts_ms(msg)
        if stamp_ms is None:
            return None
        limit_ms = stamp_ms + self.config.defaults.max_future_skew_ms
        if limit_ms > self._skew_ceiling_ms:
            self._skew_ceiling_ms = limit_ms
        return limit_ms

    def _unreadable(self, out: Outputs, index: int, slis: Sequence[SliState], payload: Any) -> None:
        """A message that is not a JSON object: every SLI that reads its subject rejects it."""
        self._dead_letter(out, index, self._unreadable_refusals(slis, payload))

    @staticmethod
    def _unreadable_refusals(slis: Sequence[SliState], payload: Any) -> list[tuple[SliState, Reject]]:
        """The (SLI, Reject) of every SLI reading a message whose payload is not a JSON object."""
        if payload is _NOT_JSON:
            rej = Reject("not_json", "payload is not valid JSON")
        else:
            rej = Reject("not_object", f"payload is a JSON {type(payload).__name__}, not an object")
        return [(sli, rej) for sli in slis]

    def _dead_letter(self, out: Outputs, index: int, refused: Sequence, applied: bool = False) -> None:
        """Message ``index`` goes to the dead letters once, naming the SLIs that rejected it;
        each of them counts a rejection for its reason."""
        names = tuple(sli.name for sli, _ in refused)
        # Named by its time when some SLI refused it for that (late, future, no or a bad
        # timestamp: a clock-skew alert on ``future`` sees it even when another SLI missed a
        # field, or took it at a time of its own ``event_time_field``), else by its first SLI's
        # reason.
        first = next((rej for _, rej in refused if rej.reason in TIME_REJECTION_REASONS), refused[0][1])
        reasons = {(rej.reason, rej.detail) for _, rej in refused}
        detail = first.detail if len(reasons) == 1 else "; ".join(
            f"{sli.name}: {rej.reason} {rej.detail}" for sli, rej in refused
        )
        out.rejections.append(Rejection(index, first.reason, detail, names, applied))
        self.rejected[first.reason] = self.rejected.get(first.reason, 0) + 1
        for sli, rej in refused:
            by_reason = self.rejected_by_sli.setdefault(sli.name, {})
            by_reason[rej.reason] = by_reason.get(rej.reason, 0) + 1
        self.input.rejected(names)

    def _slis_of(self, subject: str) -> tuple[SliState, ...]:
        slis = self._route.get(subject)
        return self._match(subject) if slis is None else slis

    def _slis_reading(self, subject: str) -> tuple[SliState, ...]:
        """``_slis_of`` without remembering the subject: the input ledger's folding asks about
        subjects the route cache may have let go of, and must not fill it again."""
        slis = self._route.get(subject)
        if slis is None:
            slis = tuple(s for s in self._message_slis if subject_pattern_matches(s.config.subject, subject))
        return slis

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
        for sli in self.slis:
            if sli.seen_ms is None:
                sli.note_seen(t_ms)
        self.rules.evaluate(t_ms, origin_ms, out)
        self.cardinality.evaluate(t_ms, out)
        self.never_seen.evaluate(t_ms, self.clock.watch_origin_ms or origin_ms, out)
        if reports and t_ms % self.config.defaults.sli_report_every_ms == 0:
            self._reporter.report(t_ms, origin_ms, out)
        self.budgets.account(t_ms, origin_ms, out, reports)
        for sli in self.slis:
            sli.evict(t_ms)

    def _has_state(self) -> bool:
        return (
            self.rules.has_state()
            or self.cardinality.has_state()
            or self.never_seen.has_state()
            or any(sli.series for sli in self.slis)
            or self.budgets.has_state()
            or any(sli.table is not None and sli.table.open for sli in self.slis)
        )

    def flush(self) -> None:
        """Insert queued latency values into their sketches (done before any boundary is read)."""
        flush_latencies(self._ctx.pending, self.budgets)

    def _fill_stream_times(self, payload: dict, subject: str, slis: tuple[SliState, ...], msg: Any) -> None:
        """Put the message's JetStream timestamp into the missing time fields that an SLI of this
        subject subtracts from (the event time falls back to it the same way)."""
        fields = self._stream_time_fields.get(subject)
        if fields is None:
            fields = tuple({sli.ts_field for sli in slis if sli.value_reads_time})
            if len(self._stream_time_fields) < _ROUTE_CACHE_MAX:
                self._stream_time_fields[subject] = fields
        for field in fields:
            if field not in payload and self._fallback_ts_ms is not None:
                stamp_ms = self._fallback_ts_ms(msg)
                if stamp_ms is not None:
                    payload[field] = stamp_ms

    def _batchable(self, sli: SliState) -> bool:
        """Whether a batched run reads and records the SLI's events as arrays: a vectorised
        observe and run recorder, and neither named per event nor labelled under a rule that
        fires on the event (engine/batch.py: otherwise each event is read or recorded alone)."""
        known = self._batchable_slis.get(sli)
        if known is None:
            known = self._batchable_slis[sli] = (
                sli.observe_many is not None and sli.record_many is not None and sli.name not in self.per_event
                and not (sli.label_paths and sli in self.instant.slis))
        return known

    def _match(self, subject: str) -> tuple[SliState, ...]:
        slis = tuple(s for s in self._message_slis if subject_pattern_matches(s.config.subject, subject))
        if len(subject) > _ROUTE_CACHE_SUBJECT_CHARS:
            return slis
        if len(self._route) >= _ROUTE_CACHE_MAX:
            self._route.clear()
        self._route[subject] = slis
        return slis

    def firing_alerts(self) -> list[AlertTransition]:
        """Every alert firing now (configured rules, burn-rate tiers, the built-in ones) as its
        ``firing`` transition with no value: after ``restore()``, what the SLO page, /metrics and
        the Alertmanager sender rebuild their firing sets from."""
        rules = [rule for rule, _ in self.rules.rules]
        rules += [rule for tracker, _ in self.budgets.trackers for _, rule in tracker.rules]
        rules += [rule for rule, _ in self.cardinality.rules] + [rule for rule, _ in self.never_seen.rules]
        return [alert for rule in rules for alert in rule.firing()]

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
        cap or never matched, latencies clipped to the trackable range; and how many subjects the
        route cache holds."""
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
        return {"overflowed": self.overflow_counts(), "correlations": correlations, "clipped_in_window": clipped,
                "routed_subjects": len(self._route)}


def run_all(engine: Engine, batches: Iterable[Sequence[Any]], final_watermark_ms: int | None = None) -> Outputs:
    """Feed batches in order (and optionally a final watermark); the replay and test helper."""
    out = Outputs()
    for batch in batches:
        out.extend(engine.ingest(batch))
    if final_watermark_ms is not None:
        out.extend(engine.advance(final_watermark_ms))
    return out
