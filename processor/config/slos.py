"""The ``slos:`` section: each SLO's SLI, objective and error budget (see :mod:`processor.config.budgets`)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from processor.config.budgets import BUDGET_DEFAULTS, BudgetContext, BudgetKeys, read_budget, slo_budget_keys
from processor.config.fields import DurationMs, RawModel, is_token_name
from processor.config.input_slis import input_slo_problem
from processor.config.kind_rules import slice_only_problem, stat_kind_problem
from processor.config.model import BudgetConfig, Condition, SliConfig, SloConfig
from processor.config.parse import format_duration, parse_duration_ms
from processor.config.objectives import objective_direction_problem, objective_ratio, parse_objective
from processor.config.problems import Declared, Problems
from processor.config.slis import SliTable
from processor.config.tree import Loc
from processor.config.windows import window_problem

__all__ = ["RawSlo", "SloTable", "read_slos"]


class RawSlo(RawModel):
    sli: str
    objective: str | float
    description: str = ""
    window: DurationMs | None = None
    expected: str | None = None  # the SLI's expected volume, "48/1d": checks that its tiers can fire
    budget: Any = None  # a RawBudget, or false to opt out of defaults.budget


class SloTable(Declared[SloConfig]):
    """The SLOs of a file, for the alerts that refer to them."""

    what = "SLO"


def read_slos(entries: dict[str, Any], slis: SliTable, ctx: BudgetContext, problems: Problems) -> SloTable:
    table = SloTable(list(entries))
    for name, data in entries.items():
        slo = _read_slo(name, data, slis, ctx, problems)
        if slo is not None:
            table.valid[name] = slo
    return table


def _read_slo(name: str, data: Any, slis: SliTable, ctx: BudgetContext, problems: Problems) -> SloConfig | None:
    loc: Loc = ("slos", name)
    n = len(problems)
    if not is_token_name(name):
        problems.add(loc, f"{name!r} is not a valid SLO name: use letters, digits, '_' and '-'")
    entry, raw = problems.validate(RawSlo, data, loc)
    given = data if isinstance(data, dict) else {}
    sli = None
    if raw.sli is not None:
        problems.check(loc + ("sli",), slis.reference_problem(raw.sli))
        sli = slis.valid.get(raw.sli)
        if sli is not None:
            problems.check(loc + ("sli",), input_slo_problem(sli.subject))
    if raw.window is not None:
        problems.check(loc + ("window",), window_problem(raw.window, ctx.resolution_ms))
    keys = slo_budget_keys(name, given, raw.window, ctx, problems)
    objective, ratio = _objective(raw.objective, sli, keys, "budget" not in given, loc, problems)
    budget = None
    if keys is not None:
        budget = read_budget(
            keys,
            ctx,
            problems,
            sli=sli,
            objective=objective if ratio is not None else None,
            ratio=ratio,
        )
    expected_per_min = None
    if raw.expected is not None:
        expected_per_min = _expected_per_min(raw.expected)
        if expected_per_min is None:
            problems.add(loc + ("expected",), f"expected events per duration such as 48/1d or 1000/1m, got {raw.expected!r}")
        elif budget is not None:
            problems.add_all(_volume_problems(raw.expected, expected_per_min / 60_000, budget, loc))
    if entry is None or len(problems) > n or sli is None or objective is None or ratio is None:
        return None
    if keys is not None and budget is None:
        return None
    return SloConfig(
        name=name,
        sli=sli.name,
        service=sli.service,
        objective=objective,
        objective_ratio=ratio,
        description=entry.description,
        window_ms=budget.window_ms if budget is not None else (
            ctx.slo_window_ms if entry.window is None else entry.window
        ),
        budget=budget,
        expected_per_min=expected_per_min,
    )


def _objective(
    written: str | float | None,
    sli: SliConfig | None,
    keys: BudgetKeys | None,
    inherited_budget: bool,
    loc: Loc,
    problems: Problems,
) -> tuple[Condition | None, float | None]:
    """The objective and the fraction that must be good (None: invalid, reported)."""
    if written is None:
        return None, None
    try:
        objective = parse_objective(written)
    except ValueError as exc:
        problems.add(loc + ("objective",), str(exc))
        return None, None
    method = (keys.value("method") if keys is not None else None) or BUDGET_DEFAULTS.method
    problem = _objective_problem(objective, sli, keys is not None and method == "time_slices")
    ratio = None
    if problem is None:
        ratio = objective_ratio(objective)
        if ratio >= 1 and keys is not None:
            problem = (
                "an objective of 100% leaves no error budget (burn rates divide by 1 - objective): "
                "lower it, or remove the budget"
                + (" with budget: false (it comes from defaults.budget)" if inherited_budget else "")
            )
    if problem:
        problems.add(loc + ("objective",), problem)
        return objective, None
    return objective, ratio


def _objective_problem(objective: Condition, sli: SliConfig | None, time_slices: bool) -> str | None:
    """An objective that does not state what good looks like, or not for this SLI and budget method."""
    problem = objective_direction_problem(objective)
    if problem is not None:
        return problem
    if time_slices:
        if objective.stat.kind in ("good_ratio", "bad_ratio"):
            return None
        return (
            "with budget.method: time_slices the objective is the share of good slices, such as "
            f"99.95%; what makes a slice good ({objective.text}) goes in budget.slice_condition"
        )
    if sli is None:
        return None
    return slice_only_problem(sli) or stat_kind_problem(objective, sli)


_VOLUME_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/\s*(\S+)\s*")


def _expected_per_min(written: str) -> float | None:
    """``48/1d`` as events per minute; None when it is not events per duration."""
    m = _VOLUME_RE.fullmatch(written)
    try:
        per_min = float(m[1]) * 60_000 / parse_duration_ms(m[2]) if m else None
    except (ValueError, ZeroDivisionError):  # not a duration, or none at all (0/0, 5/0s)
        return None
    return per_min or None


def _volume_problems(written: str, per_ms: float, budget: BudgetConfig, loc: Loc) -> Iterator[tuple[Loc, str]]:
    """Burn-rate tiers whose gates the SLO's expected volume can never fill: a total failure would
    page nobody. Under time slices a gate counts slices, and a slice counts only when it holds an
    event unless ``no_data`` judges empty ones (or the condition is a ``count``, which judges them
    itself)."""
    res_loc = loc + ("expected",)
    for tier in budget.burn_tiers:
        for which, window_ms, gate in (("long", tier.long_ms, tier.min_events_long),
                                       ("short", tier.short_ms, tier.min_events_short)):
            held, unit = _held(per_ms, window_ms, budget)
            if held < gate:
                lower = (f"write budget.min_events: {{{which}: {max(1, int(held / 3))}}} (a third of what "
                         f"the window holds) or lower, or " if held >= 1 else "")
                yield res_loc, (
                    f"at {written.strip()} the {tier.tier} burn-rate tier cannot fire: its {which} window "
                    f"({format_duration(window_ms)}) holds about {held:.3g} {unit}, under its min_events "
                    f"of {gate}; {lower}disable the tier (budget.disable_tiers: [{tier.tier}], or "
                    f"burn_alerts: none) and alert on each bad event with a rule (expr: bad_count > 0 on a "
                    f"ratio SLI, a quantile over a short window on a latency SLI)"
                )


def _held(per_ms: float, window_ms: int, budget: BudgetConfig) -> tuple[float, str]:
    """How many events (or counted slices) a window holds at the expected volume."""
    if budget.method != "time_slices":
        return per_ms * window_ms, "events"
    slices = window_ms / budget.slice_ms
    judged = budget.no_data != "ignore" or (budget.slice_condition is not None
                                             and budget.slice_condition.stat.kind == "count")
    if judged:
        return slices, "slices"
    # A slice holds an event with probability 1 - exp(-rate x slice) (Poisson arrivals).
    return slices * -math.expm1(-per_ms * budget.slice_ms), "slices with events"
