"""Objectives and slice conditions: what *good* looks like, and the fraction that must be good."""

from __future__ import annotations

import re
from decimal import Decimal

from processor.config.model import Condition, Stat
from processor.config.parse import parse_condition, parse_fraction
from processor.vocabulary import GAUGE_STATS

__all__ = ["objective_direction_problem", "objective_ratio", "parse_objective"]

_BARE_TARGET_RE = re.compile(r"\s*[\d.]")
# Stats for which lower is better.
_UPPER_BOUND_STATS = ("quantile", "bad_ratio", "bad_count", "since_last", "bad_for")


def parse_objective(raw: str | float) -> Condition:
    """``p95 < 200ms``, ``good_ratio >= 99.9%``, or a bare target ``99.9%`` (Sloth/Pyrra style) that
    means ``good_ratio >= 99.9%``."""
    if isinstance(raw, (int, float)) or _BARE_TARGET_RE.match(raw):
        threshold = parse_fraction(raw)
        return Condition(stat=Stat(kind="good_ratio"), op=">=", threshold=threshold, text=str(raw).strip())
    return parse_condition(raw)


def objective_ratio(objective: Condition) -> float:
    """The fraction of events (or slices) that must be good: ``good_ratio >= 99.9%`` and
    ``bad_ratio < 0.1%`` -> 0.999, ``p95 < 200ms`` -> 0.95. Exact in decimal: ``1 - 0.001`` is
    taken from the threshold's shortest decimal form, not computed in binary."""
    kind = objective.stat.kind
    if kind == "quantile":
        assert objective.stat.q is not None
        return objective.stat.q
    if kind == "good_ratio":
        return objective.threshold
    if kind == "bad_ratio":
        return float(1 - Decimal(repr(objective.threshold)))
    raise ValueError(f"{objective.stat} is not an objective")


def objective_direction_problem(condition: Condition, what: str = "an objective") -> str | None:
    """An objective (or a slice condition) states what *good* looks like; the inverse is almost
    always a copy of an alert. Gauge stats and count have no good direction (low lag is good, low
    traffic is not), so only an objective rejects them, and only for not being a ratio."""
    kind = condition.stat.kind
    if what == "an objective" and kind not in ("quantile", "good_ratio", "bad_ratio"):
        return _not_an_objective(condition)
    if kind == "count" or kind in GAUGE_STATS:
        return None
    if kind in _UPPER_BOUND_STATS and condition.op in (">", ">="):
        return f"{what} says what good looks like: write {condition.stat} < ..., not {condition.op}"
    if kind not in _UPPER_BOUND_STATS and condition.op in ("<", "<="):
        return f"{what} says what good looks like: write {condition.stat} >= ..., not {condition.op}"
    return None


def _not_an_objective(condition: Condition) -> str:
    kind = condition.stat.kind
    if kind == "count":
        return (
            "count is for alert rules (e.g. count < 1: no traffic) and slice conditions; an objective needs "
            "a quantile or a ratio (for heartbeats: objective: 99.95% with budget: {method: time_slices, "
            "slice_condition: count >= 1})"
        )
    example = {"since_last": "since_last <= 70s", "bad_for": "bad_for < 10s", "bad_count": "bad_count < 1"}.get(
        kind, f"{kind} < 100"
    )
    return (
        f"{condition.stat} is for alert rules and slice conditions; an objective needs a quantile or a ratio: "
        f"the share of good time slices, e.g. objective: 99.9% with budget: {{method: time_slices, "
        f"slice_condition: {example}}}"
    )
