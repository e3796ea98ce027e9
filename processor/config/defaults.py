"""The ``defaults:`` section: event time field, lateness, future skew, the resolution every window is a
multiple of, the rule and SLO windows. (``defaults.budget`` is read with the budgets.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from processor.config.fields import DurationMs, FieldPath, RawModel
from processor.config.model import Defaults, SloConfig
from processor.config.parse import format_duration
from processor.config.problems import Problems
from processor.config.tree import Loc
from processor.config.windows import window_problem

__all__ = ["DefaultsSection", "RawDefaults", "read_defaults"]

_DEFAULTS = Defaults()
_DEFAULT_SLO_WINDOW_MS: int = SloConfig.model_fields["window_ms"].default


class RawDefaults(RawModel):
    event_time_field: FieldPath = _DEFAULTS.event_time_field
    allowed_lateness: DurationMs = _DEFAULTS.allowed_lateness_ms
    max_future_skew: DurationMs = _DEFAULTS.max_future_skew_ms
    resolution: DurationMs = _DEFAULTS.resolution_ms
    rule_window: DurationMs = _DEFAULTS.rule_window_ms
    slo_window: DurationMs = _DEFAULT_SLO_WINDOW_MS
    never_seen_grace: DurationMs = _DEFAULTS.never_seen_grace_ms
    runbook_base_url: str = _DEFAULTS.runbook_base_url
    budget: Any = None  # a RawBudget, validated on its own so that its problems have their lines


@dataclass(frozen=True)
class DefaultsSection:
    """What the rest of the file inherits from ``defaults:`` (the built-in defaults where it is broken)."""

    defaults: Defaults = _DEFAULTS
    slo_window_ms: int = _DEFAULT_SLO_WINDOW_MS
    # None when the resolution is invalid (already reported): multiples of it are then not checked.
    resolution_ms: int | None = _DEFAULTS.resolution_ms


def _resolution_problem(resolution_ms: int) -> str | None:
    if resolution_ms <= 0:
        return "must be greater than 0"
    if 60_000 % resolution_ms != 0:
        # Budget windows past 6 h are kept in one-minute buckets that sub-windows must tile.
        return f"{format_duration(resolution_ms)} does not divide a minute; use e.g. 10s, 15s, 20s, 30s or 1m"
    return None


def _runbook_base_problem(url: str | None) -> str | None:
    if url is None:
        return None  # a wrong type, already reported
    if not url.strip():
        return "must not be empty: every alert's runbook_url starts with it"
    if "#" in url:
        # The anchor of the alert's section is appended after a '#'; a second one would break it.
        return "must not contain '#': the alert's section anchor is appended after one"
    return None


def read_defaults(data: dict[str, Any], problems: Problems) -> DefaultsSection:
    loc: Loc = ("defaults",)
    n = len(problems)
    _, raw = problems.validate(RawDefaults, data, loc)
    resolution_ms = raw.resolution
    if resolution_ms is not None and not problems.check(loc + ("resolution",), _resolution_problem(resolution_ms)):
        resolution_ms = None
    problems.check(loc + ("runbook_base_url",), _runbook_base_problem(raw.runbook_base_url))
    for key in ("rule_window", "slo_window", "never_seen_grace"):
        window_ms = getattr(raw, key)
        if window_ms is not None:
            problems.check(loc + (key,), window_problem(window_ms, resolution_ms))
    if len(problems) > n:
        return DefaultsSection(resolution_ms=resolution_ms)
    defaults = Defaults(
        event_time_field=raw.event_time_field,
        allowed_lateness_ms=raw.allowed_lateness,
        max_future_skew_ms=raw.max_future_skew,
        resolution_ms=raw.resolution,
        rule_window_ms=raw.rule_window,
        never_seen_grace_ms=raw.never_seen_grace,
        runbook_base_url=raw.runbook_base_url,
    )
    return DefaultsSection(defaults, raw.slo_window, resolution_ms)
