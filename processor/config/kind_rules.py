"""What the config language asks of an SLI by its kind, read from the kinds' registry
(processor/kinds/): the stats a condition may use, the keys that belong to other kinds, the
objectives an SLI without good and bad events can have, and what a calendar rule can sum."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from processor.config.model import Condition, SliConfig
from processor.config.problems import Issue
from processor.config.tree import Loc
from processor.kinds import KINDS, Kind
from processor.kinds.base import EVERY_KIND_STATS

__all__ = ["calendar_kind_problem", "foreign_key_problems", "slice_only_problem", "stat_kind_problem"]


def _behaviours() -> list[Kind]:
    return [b for kind in KINDS.values() for b in kind.behaviours()]


def _needs(stat: str) -> str:
    """Which SLIs offer ``stat``, for messages: "a ratio, state or outcome correlation SLI"."""
    nouns = [b.noun for b in _behaviours() if stat in b.stats]
    listed = nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + " or " + nouns[-1]
    return f"a {listed} SLI"


def stat_kind_problem(condition: Condition, sli: SliConfig) -> str | None:
    """Whether ``condition``'s stat applies to ``sli``, and its threshold to the SLI's values."""
    stat = condition.stat.kind
    behaviour = KINDS[sli.kind].behaves_as(sli)
    if stat not in behaviour.stats:
        return f"{condition.stat} needs {_needs(stat)}, but {sli.name!r} is {behaviour.description}: {behaviour.stat_hint}"
    if stat in EVERY_KIND_STATS:
        return None
    return behaviour.threshold_problem(condition, sli)


def foreign_key_problems(kind: Kind, given: dict[str, Any], loc: Loc) -> Iterator[Issue]:
    """Keys of other kinds written on an SLI of ``kind`` (``given``: the keys as written)."""
    for key in given:
        owners = tuple(k.name for k in KINDS.values() if key in k.yaml_fields)
        if owners and kind.name not in owners:
            names = owners[0] if len(owners) == 1 else ", ".join(owners[:-1]) + " and " + owners[-1]
            yield loc + (key,), f"{key}: applies to {names} SLIs only; {kind.nature}"


def slice_only_problem(sli: SliConfig) -> str | None:
    """An SLI without good and bad events, whose objective (with occurrences) cannot be a ratio of them."""
    slice_only = KINDS[sli.kind].slice_only
    if slice_only is None:
        return None
    what, example = slice_only
    return (
        f"{sli.name!r} is {what}: its objective is a share of good time slices, e.g. objective: "
        f"99.95% with budget: {{method: time_slices, slice_condition: {example}}}"
    )


def calendar_kind_problem(sli: SliConfig) -> str | None:
    """An SLI whose stats a calendar rule (the day or month so far) cannot accumulate."""
    reason = KINDS[sli.kind].calendar_problem
    return None if reason is None else f"{sli.name!r} {reason}"
