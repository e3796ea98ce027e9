"""What each SLI kind allows, in one place: the stats it measures, the keys it needs and the keys
that belong to other kinds, the objectives it can have, and the messages that say so.

Everything that depends on the SLI kind by name is here, so that the kinds can become a registry
of SLI-kind modules (each with its config keys, stats and rules) without touching the sections
that use these functions (slis, slos and budgets, alerts).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from processor.config.fields import duplicate_problems
from processor.config.model import Condition, SliConfig
from processor.config.parse import GAUGE_STATS, threshold_unit
from processor.config.problems import Issue
from processor.config.tree import Loc

if TYPE_CHECKING:
    from processor.config.slis import RawSli

__all__ = [
    "calendar_kind_problem",
    "effective_kind",
    "sli_key_problems",
    "slice_only_problem",
    "stat_kind_problem",
]

# --------------------------------------------------------------------------------------------
# Stats per kind

# What each kind of SLI measures, as (description, stats, hint). Every kind has count and since_last.
_EVERY_KIND = frozenset({"count", "since_last"})
_LATENCY_STATS = _EVERY_KIND | {"quantile"}
_OUTCOME_STATS = _EVERY_KIND | {"good_ratio", "bad_ratio", "bad_count"}
_KIND_STATS: dict[str, tuple[str, frozenset[str], str]] = {
    "latency": ("a latency SLI", _LATENCY_STATS, "use a quantile such as p95"),
    "ratio": ("a ratio SLI", _OUTCOME_STATS, "use good_ratio, bad_ratio or bad_count"),
    "events": ("an events SLI", _EVERY_KIND, "an events SLI only counts events: use count or since_last"),
    "gauge": ("a gauge SLI", _EVERY_KIND | set(GAUGE_STATS), "use last, min, max, avg or sum"),
    "state": (
        "a state SLI",
        _EVERY_KIND | {"good_ratio", "bad_ratio", "bad_for"},
        "use bad_for, or good_ratio and bad_ratio (shares of the window's time)",
    ),
    "outcome": (
        "an outcome correlation SLI",
        _OUTCOME_STATS,
        "an outcome correlation counts good and bad outcomes: use good_ratio, bad_ratio or bad_count",
    ),
    "duration": (
        "a duration correlation SLI",
        _LATENCY_STATS,
        "a duration correlation is a distribution of durations: use a quantile such as p95",
    ),
}
# Which SLIs a stat needs, for messages.
_STAT_NEEDS = {
    "quantile": "a latency SLI or a duration correlation",
    "good_ratio": "a ratio, state or outcome correlation SLI",
    "bad_ratio": "a ratio, state or outcome correlation SLI",
    "bad_count": "a ratio or outcome correlation SLI",
    "bad_for": "a state SLI",
    **{stat: "a gauge SLI" for stat in GAUGE_STATS},
}


def effective_kind(sli: SliConfig) -> str:
    """The SLI's kind, with a correlation resolved to what it feeds: outcomes or durations."""
    if sli.kind == "correlation" and sli.correlation is not None:
        return sli.correlation.output
    return sli.kind


def stat_kind_problem(condition: Condition, sli: SliConfig, gauge_unit: str | None = None) -> str | None:
    """Whether ``condition``'s stat applies to ``sli``; for a gauge, also whether its threshold is
    written in the gauge's unit (``gauge_unit``: the SLI's ``unit:``, None for a plain number)."""
    kind = condition.stat.kind
    description, stats, hint = _KIND_STATS[effective_kind(sli)]
    if kind not in stats:
        return f"{condition.stat} needs {_STAT_NEEDS[kind]}, but {sli.name!r} is {description}: {hint}"
    if kind in GAUGE_STATS:
        written = threshold_unit(condition)
        if gauge_unit is not None and not written:
            return (
                f"{sli.name!r} is a gauge of durations (unit: {gauge_unit}): write the threshold with a unit, "
                f"such as {condition.stat} {condition.op} 10s"
            )
        if gauge_unit is None and written:
            return (
                f"{sli.name!r} is a gauge of plain numbers: write the threshold without a unit, or give the SLI "
                "unit: ms (or s, us, ns) if its value is a duration"
            )
    return None


# --------------------------------------------------------------------------------------------
# Keys of an SLI per kind

# Keys of an SLI that belong to some kinds only.
_SLI_KEY_KINDS: dict[str, tuple[str, ...]] = {
    "value": ("latency", "gauge"),
    "minus": ("latency", "gauge"),
    "unit": ("latency", "gauge"),
    "good": ("ratio",),
    "good_count": ("ratio",),
    "bad_count": ("ratio",),
    "entity": ("state",),
    "entities": ("state",),
    "state": ("state",),
    "bad_states": ("state",),
    "bad_when": ("state",),
    "correlate": ("correlation",),
}
_SLI_REQUIRED: dict[str, dict[str, str]] = {
    "latency": {"value": "a latency SLI needs value: the payload field with the latency"},
    "ratio": {
        "good": "a ratio SLI needs good: a predicate such as status_code < 500 (or good_count: and "
        "bad_count: when each event reports counts)"
    },
    "gauge": {"value": "a gauge SLI needs value: the payload field with the number"},
    "state": {
        "state": "a state SLI needs state: the payload field with the entity's state",
        "bad_states": "a state SLI needs bad_states: the states that count as bad, e.g. [down]",
    },
    "correlation": {
        "correlate": "a correlation SLI needs correlate: {id: ..., start: ..., end: ..., timeout: ...}",
    },
}
_KIND_NATURE = {
    "latency": "a latency SLI reads value: and is judged by quantiles",
    "ratio": "a ratio SLI counts good events",
    "events": "an events SLI only counts its events (heartbeats, say)",
    "gauge": "a gauge SLI reads a number from value:",
    "state": "a state SLI tracks the state: of each entity:",
    "correlation": "a correlation SLI reads what correlate: says",
}


def _foreign_key_message(key: str, kinds: tuple[str, ...], kind: str) -> str:
    names = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
    return f"{key}: applies to {names} SLIs only; {_KIND_NATURE[kind]}"


def sli_key_problems(raw: RawSli, given: dict[str, Any], loc: Loc) -> Iterator[Issue]:
    """The keys an SLI of its kind needs and must not have (``given``: the keys as written)."""
    kind = raw.kind
    if kind is not None:
        counted = kind == "ratio" and ("good_count" in given or "bad_count" in given)
        for key, message in _SLI_REQUIRED.get(kind, {}).items():
            if key not in given and not (counted and key == "good"):
                yield loc + (key,), message
        if counted:
            yield from _count_key_problems(given, loc)
        for key, kinds in _SLI_KEY_KINDS.items():
            if key in given and kind not in kinds:
                yield loc + (key,), _foreign_key_message(key, kinds, kind)
    if kind == "state":
        yield from _state_key_problems(raw, given, loc)


def _count_key_problems(given: dict[str, Any], loc: Loc) -> Iterator[Issue]:
    """A ratio from the counts each event reports: good_count and bad_count, instead of good."""
    if "good" in given:
        yield loc + ("good",), "give either good: or good_count: with bad_count:, not both"
    for key in ("good_count", "bad_count"):
        if key not in given:
            yield (
                loc + (key,),
                "good_count: and bad_count: go together: the payload fields with the numbers of good and of bad "
                "events it reports",
            )


def _state_key_problems(raw: RawSli, given: dict[str, Any], loc: Loc) -> Iterator[Issue]:
    if raw.bad_states is not None and not raw.bad_states:
        yield loc + ("bad_states",), "a state SLI needs at least one bad state, e.g. [down]"
    yield from duplicate_problems(raw.bad_states, loc + ("bad_states",), "bad state")
    yield from duplicate_problems(raw.entities, loc + ("entities",), "entity")
    if "entity" not in given:
        for key in ("entities", "bad_when"):
            if key in given:
                yield (
                    loc + (key,),
                    f"{key} needs entity: the payload field that names each entity (provider, broker, ...); "
                    "without it the SLI has one state",
                )


# --------------------------------------------------------------------------------------------
# Objectives and calendar rules per kind

# SLI kinds whose SLOs can only count good time slices: (what the SLI is, a slice condition).
_SLICE_ONLY = {
    "events": ("an events SLI, which only counts events", "count >= 1"),
    "gauge": ("a gauge SLI, a number per event rather than good or bad events", "max < 100"),
    "state": ("a state SLI, whose state changes are not good or bad events", "good_ratio >= 50%"),
}


def slice_only_problem(sli: SliConfig) -> str | None:
    """An SLI without good and bad events, whose objective (with occurrences) cannot be a ratio of them."""
    if sli.kind not in _SLICE_ONLY:
        return None
    what, example = _SLICE_ONLY[sli.kind]
    return (
        f"{sli.name!r} is {what}: its objective is a share of good time slices, e.g. objective: "
        f"99.95% with budget: {{method: time_slices, slice_condition: {example}}}"
    )


def calendar_kind_problem(sli: SliConfig) -> str | None:
    """An SLI whose stats a calendar rule (the day or month so far) cannot accumulate."""
    if sli.kind == "state":
        return f"{sli.name!r} is a state SLI, whose ratios are shares of a trailing window's time: use window:"
    return None
