"""``kind: correlation``: pairs a start event with its end by an id field (sagas, reconnections).

``output: outcome`` counts like a ratio SLI: good when ``end`` matched within the timeout, bad when
``fail`` matched or the timeout passed (in event time, as the watermark passes start + timeout).
``output: duration`` feeds a latency series with end time - start time (ms). Open correlations are
capped at ``max_open``; past it the oldest is dropped and counted.
"""

from __future__ import annotations

import heapq
from typing import Any

from processor.config.predicate import FieldTypeError, MissingField
from processor.kinds.base import Kind, RecordContext, add_latency
from processor.kinds.buckets import Counts
from processor.kinds.latency import KIND as LATENCY
from processor.kinds.payload import Reject, field_path, lookup, read_text
from processor.kinds.ratio import KIND as RATIO
from processor.kinds.ratio import count_event
from processor.kinds.sketch import LatencyStore

__all__ = ["CorrelationKind", "Correlations", "KIND"]

START, END, FAIL = 0, 1, 2  # what an event is to its correlation


class Correlations:
    """Open start events of a correlation SLI, by id, with their deadlines (event time)."""

    __slots__ = ("open", "deadlines", "dropped", "unmatched", "max_open", "early")

    def __init__(self, max_open: int) -> None:
        # id -> [start_ms, labels, deadline_ms or None]; insertion order = start order, so the
        # first entry is the one to drop when the table is full.
        self.open: dict[str, list] = {}
        self.deadlines: list[tuple[int, str, int]] = []
        self.dropped = 0
        self.unmatched = 0
        self.max_open = max_open
        # Ends that arrived before their start (out of order within the lateness): id -> [end_ms,
        # role]. A start finds its end here; the watermark clears what no start claimed.
        self.early: dict[str, list] = {}

    def start(self, cid: str, ts_ms: int, labels: tuple, deadline_ms: int | None) -> list | None:
        """Open a correlation; if its end already arrived, return that [end_ms, role] instead."""
        early = self.early.get(cid)
        if early is not None and early[0] >= ts_ms:
            del self.early[cid]
            return early
        if cid in self.open:
            del self.open[cid]  # a restart of the same id: the newer start counts
        elif len(self.open) >= self.max_open:
            del self.open[next(iter(self.open))]
            self.dropped += 1
        self.open[cid] = [ts_ms, labels, deadline_ms]
        if deadline_ms is not None:
            heapq.heappush(self.deadlines, (deadline_ms, cid, ts_ms))
        return None

    def finish(self, cid: str, ts_ms: int, role: int) -> list | None:
        entry = self.open.pop(cid, None)
        if entry is None:
            if len(self.early) >= self.max_open:
                del self.early[next(iter(self.early))]
                self.unmatched += 1
            self.early[cid] = [ts_ms, role]
        return entry

    def forget_early(self, closed_ms: int) -> None:
        """Ends in closed sub-windows can no longer meet a start (it would be late): unmatched."""
        for cid in [c for c, (end_ms, _) in self.early.items() if end_ms < closed_ms]:
            del self.early[cid]
            self.unmatched += 1

    def expire(self, before_ms: int) -> list[tuple[int, tuple]]:
        """Pop the correlations whose deadline is before ``before_ms``: (deadline, labels)."""
        out = []
        while self.deadlines and self.deadlines[0][0] < before_ms:
            deadline, cid, start_ms = heapq.heappop(self.deadlines)
            entry = self.open.get(cid)
            if entry is not None and entry[0] == start_ms and entry[2] == deadline:
                del self.open[cid]
                out.append((deadline, entry[1]))
        return out

    def snapshot(self) -> dict:
        return {
            "open": [[cid, e[0], list(e[1]), e[2]] for cid, e in self.open.items()],
            "early": [[cid, e[0], e[1]] for cid, e in self.early.items()],
            "dropped": self.dropped,
            "unmatched": self.unmatched,
        }

    def restore(self, data: dict) -> None:
        self.open = {}
        self.deadlines = []
        for cid, start_ms, labels, deadline in data["open"]:
            self.open[cid] = [start_ms, tuple(labels), deadline]
            if deadline is not None:
                heapq.heappush(self.deadlines, (deadline, cid, start_ms))
        self.early = {cid: [end_ms, role] for cid, end_ms, role in data["early"]}
        self.dropped = data["dropped"]
        self.unmatched = data["unmatched"]


class CorrelationKind(Kind):
    name = "correlation"
    stats = RATIO.stats | LATENCY.stats  # narrowed per SLI by behaves_as
    reported_stats = RATIO.reported_stats

    def behaves_as(self, sli: Any) -> Kind:
        return LATENCY if sli.correlation.output == "duration" else RATIO

    def observer(self, sli: Any):
        return _observer(sli.correlation)

    def restore_bucket(self, sli: Any, data: Any) -> Any:
        if type(data) is dict:
            return LatencyStore.restore(data)
        return Counts.restore(data)

    def new_table(self, sli: Any) -> Correlations:
        return Correlations(sli.correlation.max_open)

    def applier(self, state: Any, ctx: RecordContext):
        close = _closer(state, ctx)
        table: Correlations = state.table

        def apply(payload: dict, t: int, observed: tuple) -> None:
            role, cid, timeout_ms = observed
            if role == START:
                labels = state.labels_of(payload)
                deadline_ms = None if timeout_ms is None else t + timeout_ms
                early = table.start(cid, t, labels, deadline_ms)
                if early is not None:
                    close(t, labels, deadline_ms, early[0], early[1])
                return
            entry = table.finish(cid, t, role)
            if entry is not None:
                close(entry[0], entry[1], entry[2], t, role)

        return apply

    def close_boundary(self, state: Any, t_ms: int, ctx: RecordContext) -> None:
        """Correlations whose deadline passed before boundary t count as failed, in the
        sub-window of their deadline (the one closing now)."""
        res = ctx.resolution_ms
        table: Correlations = state.table
        table.forget_early(t_ms - res)
        if state.config.correlation.output != "outcome":
            return
        for deadline_ms, labels in table.expire(t_ms):
            count_event(state.series_for(labels), deadline_ms - deadline_ms % res, deadline_ms, False)


def _closer(state: Any, ctx: RecordContext):
    res = ctx.resolution_ms
    durations = state.config.correlation.output == "duration"

    def close(start_ms: int, labels: tuple, deadline_ms: int | None, end_ms: int, role: int) -> None:
        series = state.series_for(labels)
        sub = end_ms - end_ms % res
        if durations:
            add_latency(ctx, state, series, sub, float(max(0, end_ms - start_ms)))
        else:
            count_event(series, sub, end_ms, role == END and (deadline_ms is None or end_ms <= deadline_ms))

    return close


def _observer(c: Any):
    id_path = field_path(c.id_field)
    timeout_by_path = field_path(c.timeout_by_field)
    timeouts_ms = dict(c.timeouts_ms)
    start, end = c.start.fn, c.end.fn
    fail = c.fail.fn if c.fail is not None else None

    def role_of(payload: dict) -> int | None:
        if start(payload):
            return START
        if end(payload):
            return END
        if fail is not None and fail(payload):
            return FAIL
        return None

    def timeout_of(payload: dict) -> int | None:
        if not timeout_by_path:
            return c.timeout_ms
        try:
            key = lookup(payload, timeout_by_path)
        except KeyError:
            key = None
        return timeouts_ms.get(key if type(key) is str else str(key), c.timeout_ms)

    def observe(payload: dict) -> tuple | None:
        try:
            role = role_of(payload)
        except MissingField as exc:
            raise Reject("missing_field", exc.field) from None
        except FieldTypeError as exc:
            raise Reject("bad_field_type", exc.field) from None
        if role is None:
            return None
        cid = read_text(payload, id_path, c.id_field)
        return role, cid, timeout_of(payload) if role == START else None

    return observe


KIND = CorrelationKind()
