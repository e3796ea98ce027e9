"""The engine's batched path: a batch's work done per subject and per SLI, not per event.

``Engine.ingest`` gives the same outputs, state and snapshots as its per-event reference
(``Engine.ingest_per_event``: the events applied one at a time, in batch order). It gets there in
two steps:

1. What an event contributes does not depend on the engine's state, so it is read for the whole
   batch at once (engine/batch_read.py): per subject, once per SLI, the filter, the observed value,
   the event time, each vectorised where the kind offers it. A message is *plain* when every SLI
   that selects it takes it, all at one event time; one that some SLI refuses, or that is not an
   object, is plain too when its dead letter can be told from the message alone (the others
   that take it at one time): the dead letter is then written in its run. Anything else (times
   that differ between SLIs, a subject with correlation SLIs) is *exceptional*.
2. What depends on the state (is the event late, ahead of its stream timestamp, does it move the
   watermark past a boundary) is decided in order. A *run* of plain messages whose times are all
   on time and below the next boundary's trigger is applied at once, SLI by SLI and series by
   series (SLIs keep separate state between boundaries, so the order across SLIs does not
   matter; within one, events keep their order). The message that ends a run (exceptional, late,
   ahead of its stream, or the one that closes a boundary) goes through the reference loop alone,
   which closes the boundary exactly where the per-event path would.

SLIs named in ``Engine.per_event`` are applied one event at a time, in order, by
``SliState.record_one`` (the reference's step), even inside a run.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

import numpy as np
import orjson

from processor.engine.batch_read import Marks, SubjectPlan, read_subject
from processor.engine.instant import Placement
from processor.engine.outputs import Outputs
from processor.engine.sli import SliState

__all__ = ["counted", "ingest_batched"]

# Fewer messages than this per subject, on average, and a batch (of at least _SCATTER_MIN_BATCH)
# is applied event by event (``_per_event_is_cheaper``).
_MIN_PER_SUBJECT = 8
_SCATTER_MIN_BATCH = 64
NOT_JSON = object()  # what a payload that does not decode stands for (shared with the reference)


def decode_all(batch: Sequence[Any], loads: Callable[[bytes], Any]) -> list:
    """Every message's payload, ``NOT_JSON`` for one that does not decode: the batch decoded as
    one JSON array where that provably gives each message its own object (``_decode_joined``),
    otherwise one ``loads`` per message."""
    return decode_batch(batch, loads)[0]


def decode_batch(batch: Sequence[Any], loads: Callable[[bytes], Any]) -> tuple[list, bool]:
    """``decode_all``'s payloads, and whether every one is known to be a dict (so read_subject
    need not look)."""
    datas = _column_of(batch, "datas", "data")
    if loads is orjson.loads and len(datas) > 1:
        payloads, objects = _decode_joined(datas)
        if payloads is not None:
            return payloads, objects
    return _decode_each(datas, loads), False


def _decode_each(datas: list, loads: Callable[[bytes], Any]) -> list:
    """A ``loads`` per message, in C between the messages that are not JSON (NOT_JSON there):
    ``list.extend`` keeps what it took before one raised, so a batch with a few garbage messages
    is not decoded twice, nor the second time message by message in Python."""
    payloads: list = []
    while True:
        try:
            payloads.extend(map(loads, datas[len(payloads):] if payloads else datas))
            return payloads
        except orjson.JSONDecodeError:
            payloads.append(NOT_JSON)


# Every byte but the braces and the newline: what ``bytes.translate`` drops to leave the
# joined batch's structure, one C pass.
_NOT_BRACE_OR_NEWLINE = bytes(b for b in range(256) if b not in b"{}\n")


# The types orjson.loads takes (exactly) that the join takes in any position (a memoryview has no
# ``+``: one is decoded message by message).
_JOINABLE = frozenset((bytes, bytearray))


def _decode_joined(datas: list[bytes]) -> tuple[list | None, bool]:
    """The messages' objects from one ``orjson.loads`` of ``[m1,\nm2,\n...]``, and True; or,
    when only some of them are one flat object each, theirs so and the others' one by one, and
    False (``_decode_around``); or (None, False) when it cannot be shown that object i is what
    message i alone decodes to.

    About 20 % faster than a ``loads`` per message, but only sound when every message is one
    object: a hostile message can end inside a value that the next one closes. It is shown so:
    the joined bytes' braces and newlines, in order (their *shape*), are ``{}`` then ``\n{}``
    n - 1 times, and the array decodes to n dicts. The newlines are then the separators (no
    message holds one), and message i holds one ``{`` and, after it, one ``}``. Each dict has an
    opening and a closing brace token, so those are all the braces there are (none nested, none
    in a string): the i-th dict spans message i's braces, and what message i holds outside them
    lies between two elements of the array, where only the one separator's comma and whitespace
    can be. So message i alone decodes to dict i. Anything else (nested objects, a brace in a
    string, a newline in a message, one that does not decode) goes to ``_decode_around``, which
    may still decode the flat ones joined; None when it cannot, and the caller decodes message
    by message."""
    n = len(datas)
    if not _JOINABLE.issuperset(map(type, datas)):
        # A subclass of bytes or bytearray, which the join takes and orjson.loads alone turns
        # down (it takes those types exactly); a record without a value (a Kafka tombstone's
        # None, not JSON alone either), a str, a memoryview.
        return None, False
    joined = _joined(datas)
    shape = joined.translate(None, _NOT_BRACE_OR_NEWLINE)
    if shape != b"{}" + b"\n{}" * (n - 1):
        return _decode_around(datas, shape), False
    return _loads_dicts(joined, n), True


def _decode_around(datas: list[bytes], shape: bytes) -> list | None:
    """The payloads of a batch whose shape (``_decode_joined``) has a few messages that are not
    a flat object (garbage, or a nested object): split at its newlines into one piece per
    message (when it has n pieces, no message holds a newline), the messages whose piece is
    ``{}`` decoded joined (their own joined shape is then the one required), the others one by
    one. None when more than a quarter of the messages are not flat (message by message is
    then about as fast), or the flat ones do not decode so."""
    pieces = shape.split(b"\n")
    if len(pieces) != len(datas):
        return None
    odd = [i for i, piece in enumerate(pieces) if piece != b"{}"]
    if 4 * len(odd) > len(datas):  # (so at least three flat ones remain)
        return None
    flat = datas.copy()
    for i in reversed(odd):
        del flat[i]
    payloads = _loads_dicts(_joined(flat), len(flat))
    if payloads is None:
        return None
    for i, payload in zip(odd, _decode_each([datas[i] for i in odd], orjson.loads), strict=True):
        payloads.insert(i, payload)  # ascending: each goes where the ones before it leave its place
    return payloads


def _joined(datas: list[bytes]) -> bytes:
    """``[m1,\nm2,\n...]`` of at least two messages."""
    return b",\n".join([b"[" + datas[0], *datas[1:-1], datas[-1] + b"]"])


def _loads_dicts(joined: bytes, n: int) -> list | None:
    """The array ``joined`` decoded, when it is n dicts; else None."""
    try:
        payloads = orjson.loads(joined)
    except orjson.JSONDecodeError:
        return None
    if len(payloads) != n or set(map(type, payloads)) != {dict}:
        return None
    return payloads


def ingest_batched(engine: Any, batch: Sequence[Any], loads: Callable[[bytes], Any]) -> Outputs:
    out = Outputs()
    n = len(batch)
    if n == 0:
        return out
    payloads, objects = decode_batch(batch, loads)
    groups = _by_subject(batch)
    if _per_event_is_cheaper(engine, groups, n):
        # A message at a time: the batch as a list (a message by index may be built each time).
        engine._per_event(out, batch if type(batch) is list else list(batch), payloads, 0, n)
        return counted(engine, out, n)
    marks = Marks(n)
    plans = [read_subject(engine, subject, members, batch, payloads, objects, marks)
             for subject, members in groups.items()]
    _apply_runs(engine, out, batch, payloads, [plan for plan in plans if plan is not None], marks)
    return counted(engine, out, n)


def _apply_runs(engine: Any, out: Outputs, batch: Sequence[Any], payloads: list, plans: list[SubjectPlan],
                marks: Marks) -> None:
    """The batch in runs, each ended by an exceptional message or one that the clock must look
    at (late, ahead of its stream, or moving time), which the reference loop applies alone; the
    dead letters written inside a run go out with it."""
    n = len(batch)
    t_ms, staged = marks.t_ms, marks.staged
    exceptions = np.flatnonzero(marks.exceptional).tolist()
    letters = sorted(marks.refusals)  # batch indices of the messages dead-lettered inside their runs
    spans = Spans()
    pos = next_exc = next_letter = 0
    while pos < n:
        while next_exc < len(exceptions) and exceptions[next_exc] < pos:
            next_exc += 1
        end = exceptions[next_exc] if next_exc < len(exceptions) else n
        stop = pos + _run_length(engine, t_ms, staged, pos, end, spans)
        unused = 0  # of the run's dead letters, those no SLI takes (not ignored: rejected)
        while next_letter < len(letters) and letters[next_letter] <= stop:
            if letters[next_letter] < stop:  # the one that ends the run, the reference loop writes
                unused += _dead_letter_in_run(engine, out, letters[next_letter], marks.refusals)
            next_letter += 1
        _apply_run(engine, out, plans, pos, stop, t_ms, staged, spans, unused)
        if stop < n:  # the message that ends the run: exceptional, or it moves time
            engine._per_event(out, batch, payloads, stop, stop + 1)
        pos = stop + 1


def _dead_letter_in_run(engine: Any, out: Outputs, index: int, refusals: dict[int, tuple[tuple, bool]]) -> int:
    """Message ``index``'s dead letter, as the reference writes it (no state of the run's
    recording depends on it, nor it on any: no boundary closes inside a run); 1 if no SLI takes
    the message, else 0."""
    refused, applied = refusals[index]
    engine._dead_letter(out, index, refused, applied=applied)
    return 0 if applied else 1


def _per_event_is_cheaper(engine: Any, groups: dict[str, list[int]], n: int) -> bool:
    """Whether the reference loop applies this batch faster than planning it by subject (both
    give the same results): when its subjects are scattered (planning a subject costs about as
    much as applying ten of its events one at a time; a flood on ever-new subjects cost 312 µs a
    message batched against 144 per event), or when most of its messages are for SLIs that a run
    reads or records one event at a time anyway (``_batchable``: 64 quote subjects, 31 against
    21 µs a message), where planning is only added work."""
    if n < _SCATTER_MIN_BATCH or not engine.per_event_when_cheaper:
        return False  # planning a small batch costs little either way
    if len(groups) * _MIN_PER_SUBJECT > n:
        return True
    batchable = engine._batchable
    per_event = 0
    for subject, members in groups.items():
        if not all(map(batchable, engine._slis_of(subject))):
            per_event += len(members)
    return 2 * per_event > n


def _column_of(batch: Sequence[Any], column: str, field: str) -> list:
    """Every message's ``field``: the batch's own ``column`` when it keeps its messages as
    columns (bus/leanread.Deliveries: ``subjects``, ``datas``; read, never changed), else read
    from each message."""
    kept = getattr(batch, column, None)
    return kept if kept is not None else list(map(attrgetter(field), batch))


def counted(engine: Any, out: Outputs, n: int) -> Outputs:
    """``out`` with its accepted count, the engine's totals updated: every message of the batch
    is ignored, rejected (dead-lettered, even if partly used) or accepted."""
    out.accepted = n - out.ignored - len(out.rejections)
    engine.accepted += out.accepted
    engine.ignored += out.ignored
    return out


def _by_subject(batch: Sequence[Any]) -> dict[str, list[int]]:
    subjects = _column_of(batch, "subjects", "subject")
    first = subjects[0]
    if subjects.count(first) == len(subjects):
        return {first: list(range(len(subjects)))}
    groups: dict[str, list[int]] = {}
    for index, subject in enumerate(subjects):
        members = groups.get(subject)
        if members is None:
            groups[subject] = [index]
        else:
            members.append(index)
    return groups


class Spans(dict):
    """The (first, last) of a slice of a times array, each found once per batch: a subject's
    columns share one times array when all its SLIs take every message, and a run reads its span
    for the clock, for each column's series and for the instant rules."""

    def __init__(self) -> None:
        super().__init__()
        # Keyed by the arrays' ids, so each array stays alive as long as its spans: a merged
        # column's times (``_merged``) are a batch's temporary, whose id another could take.
        self.arrays: list[np.ndarray] = []

    def of(self, times: np.ndarray, a: int, b: int) -> tuple[int, int]:
        key = (id(times), a, b)
        span = self.get(key)
        if span is None:
            part = times[a:b]
            span = self[key] = (int(_MIN(part)), int(_MAX(part)))
            self.arrays.append(times)
        return span


_MIN, _MAX, _ALL = np.minimum.reduce, np.maximum.reduce, np.logical_and.reduce  # without numpy's wrappers


def _run_length(engine: Any, t_all: np.ndarray, staged_all: np.ndarray, pos: int, end: int, spans: Spans) -> int:
    """How many of the plain messages from ``pos`` (up to ``end``) apply without the clock's
    attention: each on time, not ahead of the stream's highest timestamp plus the skew, and below
    the time that would close the next boundary (the first message past any of these ends the run)."""
    clock = engine.clock
    closed = clock.closed_until_ms
    t_ms, staged = t_all[pos:end], staged_all[pos:end]
    if closed is None:  # the first event starts the grid: the reference does that
        ends = staged
    else:
        trigger_ms = closed + clock.resolution_ms + clock.lateness_ms
        if end > pos and _ALL(staged):
            first_ms, last_ms = spans.of(t_all, pos, end)
            if first_ms >= closed and last_ms < trigger_ms and last_ms <= engine._skew_ceiling_ms:
                return len(t_ms)  # the usual case: every message is plain and fits
        ends = staged & ((t_ms < closed) | (t_ms >= trigger_ms) | (t_ms > engine._skew_ceiling_ms))
    if not len(ends):
        return 0
    first = int(ends.argmax())
    return first if ends[first] else len(ends)


def _apply_run(engine: Any, out: Outputs, plans: list[SubjectPlan], start: int, stop: int,
               t_ms: np.ndarray, staged: np.ndarray, spans: Spans, rejected: int) -> None:
    """Plain messages [start, stop): counted, their times noted, each SLI's events recorded.
    ``rejected``: how many of them are dead letters that no SLI takes."""
    if stop <= start:
        return
    n_staged = int(np.count_nonzero(staged[start:stop]))  # (a batch has few runs: counted per run)
    out.ignored += (stop - start) - n_staged - rejected
    if n_staged:
        latest_ms = spans.of(t_ms, start, stop)[1]  # unstaged messages hold 0
        clock = engine.clock
        if clock.max_ts_ms is None or latest_ms > clock.max_ts_ms:
            clock.max_ts_ms = latest_ms  # below the trigger: no boundary to close (_run_length)
    routed = engine.input.routed
    parts_of: dict[SliState, list] = {}  # an SLI's columns in the run, one per subject
    for plan in plans:
        lo, hi = bisect_left(plan.members, start), bisect_left(plan.members, stop)
        if lo == hi:
            continue
        routed[plan.subject] = routed.get(plan.subject, 0) + (hi - lo)
        for column in plan.columns:
            a, b = column.index.searchsorted((start, stop)).tolist()
            if a < b:
                parts_of.setdefault(column.sli, []).append((column, a, b))
    instant = engine.instant.slis
    placed: list[tuple[int, int, list, list]] | None = [] if any(sli in instant for sli in parts_of) else None
    for sli, parts in parts_of.items():
        if len(parts) > 1 and (sli.label_paths or parts[0][0].per_event or sli in instant):
            # An SLI of several subjects (``q.>``) whose recording depends on the events' order
            # (series created up to the cap, per-event buckets, rules firing on the event): its
            # subjects' columns merged back into batch order.
            parts = [(_merged(parts), 0, sum(b - a for _, a, b in parts))]
        for column, a, b in parts:
            if placed is None or sli not in instant:
                record_run(engine, out, sli, column, a, b, spans)
            else:
                _record_placed(engine, placed, sli, column, a, b, spans)
    if placed:
        # The reference publishes event by event, each event's SLIs in the engine's order and
        # each SLI's rules in theirs; a run published SLI by SLI and rule by rule (a stable sort
        # keeps the rules' order within an event).
        placed.sort(key=lambda piece: piece[:2])
        for _, _, alerts, actions in placed:
            out.alerts.extend(alerts)
            out.actions.extend(actions)


def _record_placed(engine: Any, placed: list, sli: SliState, column: Any, a: int, b: int, spans: Spans) -> None:
    """``record_run`` of an SLI with rules that fire on the event, its alerts and actions added to
    ``placed`` as (batch index of the event, the SLI's rank, alerts, actions)."""
    scratch = Outputs()
    placement = Placement(column.index[a:b])
    record_run(engine, scratch, sli, column, a, b, spans, placement)
    rank = engine.sli_rank[sli.name]
    alerts_at = actions_at = 0
    for at, alerts_end, actions_end in placement.marks:
        placed.append((at, rank, scratch.alerts[alerts_at:alerts_end], scratch.actions[actions_at:actions_end]))
        alerts_at, actions_at = alerts_end, actions_end


def _merged(parts: list) -> Any:
    """One column of the rows ``a..b`` of each of these columns (one SLI's), in batch order."""
    first = parts[0][0]
    index = np.concatenate([c.index[a:b] for c, a, b in parts])
    order = np.argsort(index, kind="stable")
    values = np.concatenate([np.asarray(c.values[a:b]) for c, a, b in parts])[order]
    payloads = None
    if first.payloads is not None:
        rows = [p for c, a, b in parts for p in c.payloads[a:b]]
        payloads = [rows[i] for i in order.tolist()]
    t_ms = np.concatenate([c.t_ms[a:b] for c, a, b in parts])[order]
    return type(first)(first.sli, index[order], t_ms, values, payloads, first.per_event)


def record_run(engine: Any, out: Outputs, sli: SliState, column: Any, a: int, b: int, spans: Spans,
               placement: Placement | None = None) -> None:
    """Events a..b of one SLI's column (plain, in batch order) into its series; ``placement``
    notes which event each alert comes from (``_record_placed``)."""
    res = engine.clock.resolution_ms
    instant = engine.instant if sli in engine.instant.slis else None
    # A rule that fires on the event, on an SLI with label series, goes event by event: its
    # transitions must come out in the order of the events that completed them, and a run
    # recorded series by series would order them by series.
    if column.per_event or (instant is not None and sli.label_paths):
        payloads = column.payloads
        times = column.t_ms[a:b].tolist()
        values = _listed(column.values[a:b])  # Python values, as the per-event path has them
        for i, t in enumerate(times):
            recorded = sli.record_one(payloads[a + i], t, values[i], res)
            if instant is not None and recorded is not None:
                instant.observe(sli, recorded[0], recorded[1], t, values[i], out)
                if placement is not None:
                    placement.mark(i, out)
        return
    times = column.t_ms[a:b]
    values = column.values[a:b]
    # Rules that fire on the event (engine/instant.py) see the series' run before it is recorded.
    if not sli.label_paths:
        series = sli.series.get(())
        if series is None:
            series = sli.series_for(())
        span = spans.of(column.t_ms, a, b)
        if instant is not None:
            instant.observe_run(sli, (), series, times, values, out, span, placement)
        _record_series(sli, series, times, values, res, span)
        return
    for _, series, rows in _series_of(sli, column.payloads[a:b]):
        _record_series(sli, series, times[rows], values[rows], res, None)


def _listed(values: Any) -> list:
    """A run's observations as the per-event path holds them (Python values, not numpy scalars)."""
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _series_of(sli: SliState, payloads: list) -> list[tuple[tuple, Any, Any]]:
    """(labels, series, rows) for each series these events go to: found event by event as the
    reference does (so series are created, and the cardinality cap counts, in the same order),
    grouped. ``labels`` are those of the first event (past the cap, the overflow series')."""
    rows_by_series: dict[Any, tuple[tuple, list[int]]] = {}
    all_series = sli.series
    for row, payload in enumerate(payloads):
        labels = sli.labels_of(payload)
        series = all_series.get(labels)
        if series is None:
            labels, series = sli.keyed_series(labels)
        entry = rows_by_series.get(series)
        if entry is None:
            rows_by_series[series] = (labels, [row])
        else:
            entry[1].append(row)
    if len(rows_by_series) == 1:
        return [(labels, series, slice(None)) for series, (labels, _) in rows_by_series.items()]
    return [(labels, series, np.asarray(rows)) for series, (labels, rows) in rows_by_series.items()]


def _record_series(sli: SliState, series: Any, times: np.ndarray, values: Any, res: int,
                   span: tuple[int, int] | None) -> None:
    """One SLI's events into one series: per sub-window, one call of the kind's run recorder.
    ``span``: the times' first and last, when known."""
    first_ms, last_ms = span if span is not None else (int(_MIN(times)), int(_MAX(times)))
    lo = first_ms - first_ms % res
    record = sli.record_many
    last = series.last_by_sub
    if lo == last_ms - last_ms % res:
        record(series, lo, values)
        if last is not None:
            _saw(last, lo, last_ms)
    else:
        subs = times - times % res
        for sub in np.unique(subs).tolist():
            rows = subs == sub
            record(series, sub, values[rows])
            if last is not None:
                _saw(last, sub, int(times[rows].max()))


def _saw(last: dict, sub: int, t_ms: int) -> None:
    prev = last.get(sub)
    if prev is None or t_ms > prev:
        last[sub] = t_ms
