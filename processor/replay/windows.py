"""Which windows a replay only partly filled.

A replay knows nothing before its first data: its ``--from`` (or the first message it read), or,
started from a checkpoint, the origin of the checkpoint's state (the first boundary the live run
had). Every SLO budget window, burn-rate tier window and alert-rule window that starts before that
moment holds less than its length until the moment plus the window's length: its budgets and burn
rates are computed over less history than they say. ``partial_windows`` names each, with the time
from which it is complete and whether it still was partial where the replay ended.
"""

from __future__ import annotations

__all__ = ["partial_windows"]

from typing import Any
from zoneinfo import ZoneInfo

from processor.config.model import Config
from processor.config.parse import format_duration
from processor.engine.budget import calendar_period_ms
from processor.runtime.render import rfc3339_ms


def _complete_from_ms(first_ms: int, window_ms: int | None, calendar: str | None, timezone: str) -> int:
    if calendar is None:
        assert window_ms is not None
        return first_ms + window_ms
    start_ms, end_ms = calendar_period_ms(first_ms, calendar, ZoneInfo(timezone))
    return first_ms if start_ms == first_ms else end_ms  # the first whole period


def _windows(config: Config) -> list[tuple[str, str, int | None, str | None, str]]:
    """(what, name, window_ms, calendar, timezone) of every window the config evaluates over."""
    found: list[tuple[str, str, int | None, str | None, str]] = []
    for slo in config.slos:
        budget = slo.budget
        if budget is None:
            found.append(("budget", slo.name, slo.window_ms, None, "UTC"))
            continue
        found.append(("budget", slo.name, None if budget.calendar else budget.window_ms, budget.calendar, budget.timezone))
        for tier in budget.burn_tiers:
            found.append(("burn_tier", f"{slo.name}/{tier.tier}", tier.long_ms, None, "UTC"))
    for alert in config.alerts:
        found.append(("alert", alert.name, None if alert.calendar else alert.window_ms, alert.calendar, alert.timezone))
    return found


def partial_windows(stream: str, config: Config, first_ms: int | None, end_ms: int | None) -> list[dict[str, Any]]:
    """The windows of one stream's engine (``config``: its part) that started before ``first_ms``,
    the replay's first data; ``end_ms``: where its event time ended. Empty when it had no data."""
    if first_ms is None:
        return []
    rows = []
    seen = set()
    for what, name, window_ms, calendar, timezone in _windows(config):
        if (what, name) in seen:
            continue
        seen.add((what, name))
        complete_ms = _complete_from_ms(first_ms, window_ms, calendar, timezone)
        if complete_ms <= first_ms:
            continue
        rows.append({
            "stream": stream, "what": what, "name": name,
            "window": calendar if calendar else format_duration(window_ms or 0),
            "complete_from": rfc3339_ms(complete_ms),
            "partial_at_end": end_ms is None or end_ms < complete_ms,
        })
    return rows
