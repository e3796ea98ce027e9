"""The idle clock: when a stream goes quiet, its event time runs on with the wall clock.

Event time only moves with events, so without this a silent stream would never close its windows:
absence and gap rules could not fire, and firing alerts could not resolve. Once no event has moved
event time for ``idle_after_s`` of wall-clock time, the lane advances its engine's watermark to
where it would be had events kept coming: the highest event time seen, plus the wall-clock time
elapsed since it was seen, minus the allowed lateness. A stream that has never had an event has
no event time to run on from: its time is the wall clock itself (``silent_watermark``), so that
a service that never reports is noticed (ServiceNeverReported). Only the live shell does this; a
replay has no wall clock at all, and moves time where the live run recorded it did.

The move is scheduled, not polled for: ``due_in_s`` says when the idle clock reaches the next
boundary plus the lateness (event time mapped onto the wall clock from the last event that moved
it), and the lane waits for messages at most that long, so a boundary rule is evaluated within
milliseconds of its boundary being due rather than at the next poll. ``idle_after_s`` stays the
least silence before the wall clock moves event time at all.

The clocks are arguments (a monotonic ``() -> seconds`` and an epoch ``() -> ms``), so the rules
are tested without sleeping.
"""

from __future__ import annotations

__all__ = ["IdleClock"]

import time
from collections.abc import Callable


class IdleClock:
    """The wall-clock side of one lane's event time."""

    def __init__(self, idle_after_s: float, clock: Callable[[], float] = time.monotonic,
                 wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> None:
        if idle_after_s < 0:
            raise ValueError("idle_after_s must be >= 0")
        self.idle_after_s = idle_after_s
        self._clock = clock
        self._wall_ms = wall_ms
        self._last_event_s = clock()

    def now(self) -> float:
        """The wall clock, read once per batch and passed back to the methods below."""
        return self._clock()

    def start(self) -> None:
        """The lane starts: the idle time counts from now, not from when it was built."""
        self._last_event_s = self._clock()

    def idle_watermark(self, max_ts_ms: int | None, lateness_ms: int, now_s: float) -> int | None:
        """The watermark to advance to at ``now_s``, or None while the stream is not idle.

        A stream that never had an event has no event time to run on from.
        """
        idle_s = now_s - self._last_event_s
        if max_ts_ms is None or idle_s < self.idle_after_s:
            return None
        return max_ts_ms + int(idle_s * 1000) - lateness_ms

    def due_in_s(self, max_ts_ms: int | None, closed_until_ms: int | None, resolution_ms: int, lateness_ms: int,
                  now_s: float) -> float | None:
        """Seconds from ``now_s`` until ``idle_watermark`` reaches the next boundary (at once: 0),
        or None without event time to run on. The silence it takes is at least ``idle_after_s``."""
        if max_ts_ms is None or closed_until_ms is None:
            return None
        boundary_ms = closed_until_ms + resolution_ms
        silence_s = max(self.idle_after_s, (boundary_ms + lateness_ms - max_ts_ms) / 1000)
        return max(0.0, self._last_event_s + silence_s - now_s)

    def silent_watermark(self, lateness_ms: int, now_s: float) -> int | None:
        """The watermark of a stream that has never had an event, once it has been idle: the
        wall clock minus the allowed lateness (None while not idle)."""
        if now_s - self._last_event_s < self.idle_after_s:
            return None
        return self._wall_ms() - lateness_ms

    def applied(self, max_ts_before_ms: int | None, max_ts_after_ms: int | None, now_s: float) -> None:
        """A batch (or a move of time) was applied at ``now_s``.

        Only events that moved event time count as "not idle": a stream of ignored or late
        messages must not freeze the windows.
        """
        if max_ts_after_ms != max_ts_before_ms:
            self._last_event_s = now_s
