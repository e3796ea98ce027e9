"""The open correlations of a correlation SLI: start events waiting for their end, by id, with
their deadlines in event time, and ends that arrived before their start."""

from __future__ import annotations

import heapq
from collections import OrderedDict

__all__ = ["Correlations"]


class Correlations:
    """Open start events of a correlation SLI, by id, with their deadlines (event time)."""

    __slots__ = ("open", "deadlines", "dropped", "unmatched", "max_open", "early")

    def __init__(self, max_open: int) -> None:
        # id -> [start_ms, labels, deadline_ms or None]; insertion order = start order, so the
        # first entry is the one to drop when the table is full.
        # OrderedDicts: dropping the oldest of a plain dict (next(iter(d))) walks the slots its
        # earlier deletions left, which under a flood of new ids costs microseconds per event.
        self.open: OrderedDict[str, list] = OrderedDict()
        self.deadlines: list[tuple[int, str, int]] = []
        self.dropped = 0
        self.unmatched = 0
        self.max_open = max_open
        # Ends that arrived before their start (out of order within the lateness): id -> [end_ms,
        # role]. A start finds its end here; the watermark clears what no start claimed.
        self.early: OrderedDict[str, list] = OrderedDict()

    def start(self, cid: str, ts_ms: int, labels: tuple, deadline_ms: int | None) -> list | None:
        """Open a correlation; if its end already arrived, return that [end_ms, role] instead."""
        early = self.early.get(cid)
        if early is not None and early[0] >= ts_ms:
            del self.early[cid]
            return early
        if cid in self.open:
            del self.open[cid]  # a restart of the same id: the newer start counts
        elif len(self.open) >= self.max_open:
            self.open.popitem(last=False)
            self.dropped += 1
        self.open[cid] = [ts_ms, labels, deadline_ms]
        if deadline_ms is not None:
            heapq.heappush(self.deadlines, (deadline_ms, cid, ts_ms))
            if len(self.deadlines) > 2 * self.max_open:
                self._compact_deadlines()
        return None

    def _compact_deadlines(self) -> None:
        # A deadline stays in the heap after its correlation ended, was dropped at the cap or was
        # restarted; expire() skips those. A flood of starts within one timeout would otherwise
        # grow the heap without bound, so rebuild it from the open ones (at most max_open) once
        # it is twice that: amortised O(1) per start.
        self.deadlines = [(e[2], cid, e[0]) for cid, e in self.open.items() if e[2] is not None]
        heapq.heapify(self.deadlines)

    def finish(self, cid: str, ts_ms: int, role: int) -> list | None:
        entry = self.open.pop(cid, None)
        if entry is None:
            if len(self.early) >= self.max_open:
                self.early.popitem(last=False)
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
        self.open = OrderedDict()
        self.deadlines = []
        for cid, start_ms, labels, deadline in data["open"]:
            self.open[cid] = [start_ms, tuple(labels), deadline]
            if deadline is not None:
                heapq.heappush(self.deadlines, (deadline, cid, start_ms))
        self.early = OrderedDict((cid, [end_ms, role]) for cid, end_ms, role in data["early"])
        self.dropped = data["dropped"]
        self.unmatched = data["unmatched"]
