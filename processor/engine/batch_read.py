"""Step 1 of the batched path (engine/batch.py): what each message of one subject gives each of
its SLIs, for a whole batch at once.

Nothing here depends on the engine's state: the filter, the observed value and the event time
are functions of the payload (and, for a missing time, of the message's stream timestamp). Each
SLI's column holds the plain messages it takes, in batch order; the messages that need the
reference loop are marked exceptional (see engine/batch.py). A message that some SLI refuses
(garbage: not an object, a value or a time it cannot read) is not exceptional when its dead
letter can be told here: the reference's own step for one message (``Engine._stage``) names
the refusals, and the SLIs that take it have it in their columns. The dead letter is then
written in its run (``Marks.refusals``; engine/batch.py), and garbage does not cut a batch into
runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress
from typing import Any

import numpy as np

from processor.engine.sli import SliState
from processor.kinds.columnar import numbers
from processor.kinds.event_time import MAX_EVENT_TIME_MS
from processor.kinds.payload import Reject
from processor.vocabulary import SUBJECT_FIELD

__all__ = ["Column", "Marks", "SubjectPlan", "read_subject"]


class Column:
    """The plain messages one SLI takes: batch indices, event times, observed values, and the
    payloads when recording needs them (label values, or an SLI applied per event)."""

    __slots__ = ("sli", "index", "t_ms", "values", "payloads", "per_event")

    def __init__(self, sli: SliState, index: np.ndarray, t_ms: np.ndarray, values: Any, payloads: list | None,
                 per_event: bool) -> None:
        self.sli = sli
        self.index = index
        self.t_ms = t_ms
        self.values = values
        self.payloads = payloads
        self.per_event = per_event


class Marks:
    """What reading a batch's subjects finds about each message, in batch order: its event time
    and whether some SLI takes it (``t_ms``, ``staged``), whether it needs the reference loop
    (``exceptional``), and for a message dead-lettered inside its run, its refusals
    (``refusals``: batch index -> (the (SLI, Reject) pairs in the reference's order, whether
    some SLI takes it))."""

    __slots__ = ("t_ms", "staged", "exceptional", "refusals")

    def __init__(self, n: int) -> None:
        self.t_ms = np.zeros(n, dtype=np.int64)  # a staged message's event time (0 for one no SLI takes)
        self.staged = np.zeros(n, dtype=bool)
        self.exceptional = np.zeros(n, dtype=bool)
        self.refusals: dict[int, tuple[tuple, bool]] = {}


class SubjectPlan:
    __slots__ = ("subject", "members", "columns")

    def __init__(self, subject: str, members: list[int], columns: list[Column]) -> None:
        self.subject = subject
        self.members = members  # batch indices of the subject's messages, ascending
        self.columns = columns


def read_subject(engine: Any, subject: str, members: list[int], batch: Sequence[Any], payloads: list, objects: bool,
                 marks: Marks) -> SubjectPlan | None:
    """The subject's plan; fills ``marks`` at its messages. ``objects``: every payload is known
    to be a dict."""
    slis = engine._slis_of(subject)
    if not slis:
        return None  # ignored, as in the reference: counted by the run
    if len(members) == len(payloads):  # the whole batch (members ascend): no list to convert
        rows, index = payloads, np.arange(len(members))
    else:
        rows, index = [payloads[i] for i in members], np.asarray(members, dtype=np.int64)
    if any(sli.apply is not None for sli in slis):
        # Correlations keep state across SLIs' events (their open table): the reference loop.
        marks.exceptional[index] = True
        return SubjectPlan(subject, members, [])
    unreadable = [] if objects else [r for r, p in enumerate(rows) if type(p) is not dict]
    if unreadable:
        for r in unreadable:  # no SLI takes it: dead-lettered inside its run
            marks.refusals[int(index[r])] = (tuple(engine._unreadable_refusals(slis, rows[r])), False)
        readable = np.ones(len(rows), dtype=bool)
        readable[unreadable] = False
        index = index[readable]
        rows = list(compress(rows, readable.tolist()))
    # The messages themselves are read only for stream timestamps (a missing or odd time field),
    # each when its row needs it: row r is message at[r] of the batch.
    at = range(len(batch)) if len(rows) == len(batch) else index.tolist()
    msgs = _Rows(batch, at)
    _fill_fields(engine, subject, slis, rows, msgs)
    times: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    observed = []
    clean = True  # every SLI takes every row, all at one readable time field
    for sli in slis:
        take, values, refused = _observe_column(sli, rows)
        field_times = times.get(sli.ts_field)
        if field_times is None:
            field_times = times[sli.ts_field] = _times(engine, sli.ts_field, rows, msgs)
        clean = clean and take is None and refused is None and field_times[1] is None
        observed.append((sli, take, values, refused, field_times))
    if clean and len(times) == 1:
        # The common case, without a mask: every message is plain, at the one time read.
        t = observed[0][4][0]
        marks.t_ms[index] = t
        marks.staged[index] = True
        columns = [_column(engine, sli, None, values, index, t, rows) for sli, _, values, _, _ in observed]
    else:
        columns = _masked_columns(engine, observed, len(times) > 1, index, rows, msgs, marks)
    return SubjectPlan(subject, members, [c for c in columns if len(c.index)])


def _masked_columns(engine: Any, observed: list, several_times: bool, index: np.ndarray, rows: list,
                    msgs: _Rows, marks: Marks) -> list[Column]:
    """The columns when some SLI leaves rows out, refuses them, or reads another time field."""
    m = len(rows)
    msg_t = np.zeros(m, dtype=np.int64)
    taken = np.zeros(m, dtype=bool)
    odd = np.zeros(m, dtype=bool)  # refused by some SLI, or read at different times
    takes = []
    for sli, take, values, refused, (t, bad_t) in observed:
        take = np.ones(m, dtype=bool) if take is None else take
        if refused is not None:
            odd |= refused
        if bad_t is not None:
            odd |= take & bad_t
            take &= ~bad_t
        if several_times:
            odd |= take & taken & (msg_t != t)
        msg_t = np.where(take & ~taken, t, msg_t)
        taken |= take
        takes.append((sli, take, values))
    plain = ~odd
    if odd.any():
        plain |= _dead_letters_in_run(engine, takes, rows, msgs, odd, msg_t, index, marks)
    marks.exceptional[index[~plain]] = True
    marks.t_ms[index] = msg_t
    marks.staged[index] = taken & plain
    return [_column(engine, sli, take & plain, values, index, msg_t, rows) for sli, take, values in takes]


def _dead_letters_in_run(engine: Any, takes: list, rows: list, msgs: _Rows, odd: np.ndarray, msg_t: np.ndarray,
                         index: np.ndarray, marks: Marks) -> np.ndarray:
    """The rows of ``odd`` whose dead letters are written inside their runs, their refusals
    (the reference's, ``Engine._stage``) noted in ``marks``: those that the reference refuses
    and whose takers are the columns', all at the row's one time (so its run decides whether it
    is on time, as for a plain row). Not the others: times that differ between SLIs, which the
    reference weighs against the clock, or (never expected) a kind's column function and its
    per-event observe that disagree; the reference loop applies those rows."""
    slis = [sli for sli, _, _ in takes]
    absorbed = np.zeros(len(rows), dtype=bool)
    for r in np.flatnonzero(odd).tolist():
        staged, refused, t_lo, t_hi = engine._stage(rows[r], slis, msgs[r])
        takers = [sli for sli, take, _ in takes if take[r]]
        if refused and [sli for sli, _, _ in staged] == takers and (not staged or t_lo == t_hi == msg_t[r]):
            marks.refusals[int(index[r])] = (refused, bool(staged))
            absorbed[r] = True
    return absorbed


class _Rows:
    """Row r's message, looked up when asked for (a batch's messages may be built on demand:
    bus/leanread.Deliveries)."""

    __slots__ = ("at", "batch")

    def __init__(self, batch: Sequence[Any], at: Sequence[int]) -> None:
        self.batch, self.at = batch, at

    def __getitem__(self, r: int) -> Any:
        return self.batch[self.at[r]]


def _fill_fields(engine: Any, subject: str, slis: tuple, rows: list, msgs: _Rows) -> None:
    """What the reference puts into a payload before its SLIs read it: the subject, for SLIs
    whose predicates read it, and missing time fields that a value subtracts from."""
    if engine._subject_readers and any(sli.needs_subject for sli in slis):
        for payload in rows:
            payload[SUBJECT_FIELD] = subject
    if engine._time_readers and any(sli.value_reads_time for sli in slis):
        for r, payload in enumerate(rows):
            engine._fill_stream_times(payload, subject, slis, msgs[r])


def _observe_column(sli: SliState, rows: list) -> tuple[np.ndarray | None, Any, np.ndarray | None]:
    """(rows the SLI takes, None for all; their observed values aligned with all rows; rows it
    refuses, None for none)."""
    m = len(rows)
    if sli.where is None:
        chosen = rows
        selected = None
    else:
        selected, odd = _split(sli.select_many(rows) if sli.select_many is not None else None)
        if selected is None:
            selected = np.fromiter((sli.selects(p) for p in rows), dtype=bool, count=m)
        elif odd is not None:
            for r in np.flatnonzero(odd).tolist():
                selected[r] = sli.selects(rows[r])
        chosen = [p for p, ok in zip(rows, selected) if ok]
    values, odd = _split(sli.observe_many(chosen) if sli.observe_many is not None else None)
    if values is not None:
        take = refused = None
        if odd is not None:
            take, refused = _observe_odd(sli, chosen, values, odd)
        if selected is None:
            return take, values, refused
        take = np.ones(len(chosen), dtype=bool) if take is None else take
        refused = np.zeros(len(chosen), dtype=bool) if refused is None else refused
    else:
        values, take, refused = _observe_each(sli, chosen)
    if selected is None:
        return take, values, refused
    full_take = np.zeros(m, dtype=bool)
    full_take[selected] = take
    full_refused = np.zeros(m, dtype=bool)
    full_refused[selected] = refused
    full_values = np.empty(m, dtype=values.dtype)
    full_values[selected] = values
    return full_take, full_values, full_refused


def _split(result: Any) -> tuple[Any, np.ndarray | None]:
    """A column function's answer (kinds/columnar.py) as (values or None, odd rows or None)."""
    return result if type(result) is tuple else (result, None)


def _observe_odd(sli: SliState, rows: list, values: np.ndarray, odd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows taken, rows refused) when the per-event observe decides the rows of ``odd``, each
    value it observes written into ``values``: a few garbage payloads cost their own rows only."""
    take, refused = ~odd, np.zeros(len(rows), dtype=bool)
    _observe_rows(sli, rows, np.flatnonzero(odd).tolist(), values, take, refused)
    return take, refused


def _observe_each(sli: SliState, rows: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kind's per-event observe, row by row: for kinds without a vectorised one, and for a
    batch where the vectorised one met values it leaves to the reference's checks."""
    m = len(rows)
    values, take, refused = np.empty(m, dtype=object), np.zeros(m, dtype=bool), np.zeros(m, dtype=bool)
    _observe_rows(sli, rows, range(m), values, take, refused)
    return values, take, refused


def _observe_rows(sli: SliState, rows: list, at: Any, values: np.ndarray, take: np.ndarray,
                  refused: np.ndarray) -> None:
    """The per-event observe of rows ``at``: what it observes into ``values`` and ``take``, what
    it rejects into ``refused``."""
    observe = sli.observe
    for r in at:
        try:
            observed = observe(rows[r])
        except Reject:
            refused[r] = True
            continue
        if observed is not None:
            values[r] = observed
            take[r] = True


def _times(engine: Any, field: str, rows: list, msgs: _Rows) -> tuple[np.ndarray, np.ndarray | None]:
    """(event time of each row read at ``field``, rows whose time cannot be read: None for none)."""
    try:
        raw = [p[field] for p in rows]  # faster than .get while every row has the field
    except KeyError:
        raw = [p.get(field) for p in rows]
    t = numbers(raw)
    if t is not None and t.dtype == np.int64 and len(t) and np.minimum.reduce(t) >= 0 \
            and np.maximum.reduce(t) <= MAX_EVENT_TIME_MS:
        return t, None  # epoch ms as ints: the common case
    t, odd_rows = _epoch_ms_or_odd(raw)
    bad = np.zeros(len(raw), dtype=bool)
    for r in odd_rows:  # the reference's full reading, for the rows that are not epoch ms as ints
        try:
            t[r] = engine._event_time_ms(rows[r], field, msgs[r])
        except Reject:
            bad[r] = True
    return t, (bad if bad.any() else None)


def _epoch_ms_or_odd(raw: list) -> tuple[np.ndarray, list[int]]:
    """``raw`` as int64 epoch ms, and the rows that are not an int in range (0 there)."""
    odd_rows = [r for r, v in enumerate(raw) if type(v) is not int or not 0 <= v <= MAX_EVENT_TIME_MS]
    raw = raw.copy()
    for r in odd_rows:
        raw[r] = 0
    return np.fromiter(raw, np.int64, len(raw)), odd_rows


def _column(engine: Any, sli: SliState, take: np.ndarray | None, values: Any, index: np.ndarray, msg_t: np.ndarray,
            rows: list) -> Column:
    """The SLI's column: the rows in ``take`` (None: all of them)."""
    per_event = sli.record_many is None or sli.name in engine.per_event
    needs_payloads = per_event or bool(sli.label_paths)
    if take is None:
        return Column(sli, index, msg_t, values, rows if needs_payloads else None, per_event)
    keep = np.flatnonzero(take)
    payloads = [rows[r] for r in keep.tolist()] if needs_payloads else None
    return Column(sli, index[keep], msg_t[keep], values[keep], payloads, per_event)
