"""Durations against the engine's time grid: windows on the resolution, calendar periods, slices
that must not straddle a calendar period's midnight."""

from __future__ import annotations

import functools
from datetime import datetime
from math import gcd
from zoneinfo import ZoneInfo

from processor.config.parse import format_duration

__all__ = ["CALENDAR_NOMINAL_MS", "DAY_MS", "calendar_slice_problem", "multiple_problem", "window_problem"]

DAY_MS = 86_400_000
# The nominal length of a calendar budget window, for SloConfig.window_ms / BudgetConfig.window_ms and
# the checks that compare a duration with the budget window; the engine uses the real period.
CALENDAR_NOMINAL_MS = {"month": 30 * DAY_MS, "week": 7 * DAY_MS, "day": DAY_MS}


def multiple_problem(duration_ms: int | None, resolution_ms: int | None) -> str | None:
    """A duration off the resolution grid; nothing to say when either is unknown (None: invalid,
    already reported, so that multiples are not checked against a resolution the author did not mean)."""
    if duration_ms is None or resolution_ms is None or duration_ms % resolution_ms == 0:
        return None
    lower = duration_ms // resolution_ms * resolution_ms
    options = [format_duration(x) for x in (lower, lower + resolution_ms) if x > 0]
    return (
        f"{format_duration(duration_ms)} is not a multiple of the resolution "
        f"({format_duration(resolution_ms)}): the engine evaluates rules only at resolution "
        f"boundaries; use {' or '.join(options)}"
    )


def window_problem(duration_ms: int, resolution_ms: int | None) -> str | None:
    """A window that is not > 0 or not on the resolution grid."""
    if duration_ms <= 0:
        return "must be greater than 0"
    return multiple_problem(duration_ms, resolution_ms)


def calendar_slice_problem(slice_ms: int, calendar: str, timezone: str) -> str | None:
    """A calendar period starts at local midnight: a slice must not straddle it. Slices are aligned
    to the epoch, so the slice must divide a day and every UTC offset of the zone (sampled on the
    1st of each month of two years, which catches both halves of daylight saving time)."""
    if DAY_MS % slice_ms:
        return (
            f"a calendar {calendar} starts at midnight, so a slice must divide a day; "
            f"{format_duration(slice_ms)} does not"
        )
    zone = ZoneInfo(timezone)
    offsets = set()
    for year in (2024, 2025):
        for month in range(1, 13):
            offset = datetime(year, month, 1, 12, tzinfo=zone).utcoffset()
            assert offset is not None
            offsets.add(int(offset.total_seconds() * 1000))
    off = sorted(o for o in offsets if o % slice_ms)
    if not off:
        return None
    sign = "+" if off[0] >= 0 else "-"
    step = functools.reduce(gcd, offsets, DAY_MS)
    return (
        f"midnight in {timezone} is at UTC{sign}{format_duration(abs(off[0]))}, inside a "
        f"{format_duration(slice_ms)} slice (slices are aligned to UTC): use a slice that divides "
        f"{format_duration(step)}"
    )
