"""Event time as the engine sees it: the watermark and the grid of sub-window boundaries.

The watermark is the highest event time seen minus the allowed lateness. Sub-windows are
``resolution_ms`` wide and epoch-aligned; every sub-window ending at or before the watermark is
closed, and an event whose time falls in a closed sub-window is late. The first event starts the
grid (``origin_ms``): nothing before it can be evaluated.
"""

from __future__ import annotations

__all__ = ["BoundaryClock"]


class BoundaryClock:
    __slots__ = ("resolution_ms", "lateness_ms", "max_ts_ms", "closed_until_ms", "origin_ms", "silent_origin_ms",
                 "silent_until_ms")

    def __init__(self, resolution_ms: int, lateness_ms: int) -> None:
        self.resolution_ms = resolution_ms
        self.lateness_ms = lateness_ms
        self.max_ts_ms: int | None = None  # highest event time seen
        self.closed_until_ms: int | None = None  # every sub-window ending at or before it is closed
        self.origin_ms: int | None = None  # first boundary: since_last of a never-seen series counts from it
        # A stream with no event yet whose idle clock moved time (engine.advance_idle): when that
        # began and how far it got. Provisional: the grid itself starts with the first event, so a
        # backlog read later is never late; only ServiceNeverReported runs on this time.
        self.silent_origin_ms: int | None = None
        self.silent_until_ms: int | None = None

    def boundary_at_or_before(self, t_ms: int) -> int:
        return t_ms - t_ms % self.resolution_ms

    def late_reason(self, t_lo_ms: int, t_hi_ms: int) -> str | None:
        """Why an event with these times (one per time field it is read with) is late, or None."""
        closed = self.closed_until_ms
        if closed is not None and t_lo_ms < closed:
            return f"event time {t_lo_ms} is before the closed boundary {closed}"
        if t_lo_ms != t_hi_ms:
            # SLIs reading different time fields: the latest may close the window the earliest
            # belongs to, and an event is applied whole or not at all.
            wm = max(t_hi_ms, self.max_ts_ms or t_hi_ms) - self.lateness_ms
            if t_lo_ms < self.boundary_at_or_before(wm):
                return f"event times {t_lo_ms} and {t_hi_ms} are further apart than the lateness allows"
        return None

    def observe(self, t_ms: int) -> int | None:
        """Note an accepted event's time; the watermark to close through when it moved a boundary."""
        if self.max_ts_ms is not None and t_ms <= self.max_ts_ms:
            return None
        self.max_ts_ms = t_ms
        closed = self.closed_until_ms
        if closed is None or t_ms - self.lateness_ms >= closed + self.resolution_ms:
            return t_ms - self.lateness_ms
        return None

    def start(self, watermark_ms: int) -> int | None:
        """The boundary to close through, or None when there is nothing to close (the first
        watermark only starts the grid)."""
        target = self.boundary_at_or_before(watermark_ms)
        if self.closed_until_ms is None:
            self.closed_until_ms = self.origin_ms = target
            return None
        return target if target > self.closed_until_ms else None

    def closed_through(self, boundary_ms: int) -> None:
        """Every sub-window ending at or before ``boundary_ms`` is now closed (evaluated)."""
        self.closed_until_ms = boundary_ms

    @property
    def watch_origin_ms(self) -> int | None:
        """When watching began: the silent start if there was one, else the grid's origin."""
        return self.silent_origin_ms if self.silent_origin_ms is not None else self.origin_ms

    def snapshot(self) -> dict:
        return {"max_ts_ms": self.max_ts_ms, "closed_until_ms": self.closed_until_ms, "origin_ms": self.origin_ms,
                "silent_origin_ms": self.silent_origin_ms, "silent_until_ms": self.silent_until_ms}

    def restore(self, data: dict) -> None:
        self.max_ts_ms = data["max_ts_ms"]
        self.closed_until_ms = data["closed_until_ms"]
        self.origin_ms = data.get("origin_ms")
        self.silent_origin_ms = data.get("silent_origin_ms")
        self.silent_until_ms = data.get("silent_until_ms")
