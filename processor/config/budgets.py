"""Error budgets: ``budget:`` of an SLO merged over ``defaults.budget`` key by key, checked and built
into a :class:`~processor.config.model.BudgetConfig` with the burn-rate tiers of its catalogue.

A problem about a key the SLO inherited is reported where the key is written, in
``defaults.budget``, if it does not depend on the SLO (once: problems are deduplicated); if it
does (the SLI kind, the objective, the SLO's own window), at the SLO, saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from processor.config.catalogues import Catalogues
from processor.config.fields import (
    ConditionText,
    DurationMs,
    FractionText,
    MinEvents,
    PositiveInt,
    RawModel,
    StrictBool,
    TimeZone,
    TokenName,
)
from processor.config.kind_rules import stat_kind_problem
from processor.config.model import BudgetConfig, BurnTier, Condition, SliConfig
from processor.config.objectives import objective_direction_problem
from processor.config.parse import format_duration
from processor.config.problems import Issue, Problems, choices_hint
from processor.config.tree import Loc
from processor.config.windows import CALENDAR_NOMINAL_MS, calendar_slice_problem, window_problem

__all__ = [
    "BUDGET_DEFAULTS",
    "BudgetContext",
    "BudgetKeys",
    "Given",
    "RawBudget",
    "read_budget",
    "read_defaults_budget",
    "slo_budget_keys",
]

BUDGET_DEFAULTS = BudgetConfig()
# The policy recovery margin must stay below 50 %: leaving "prioritize reliability" for "normal"
# needs more than 50 % + hysteresis of the budget left, and no budget has more than 100 %.
_MAX_HYSTERESIS = Decimal("0.5")


class RawBudget(RawModel):
    """``budget:`` of an SLO or of ``defaults``. Every key is optional: None means "not given here",
    so that an SLO's budget can be merged over ``defaults.budget`` key by key."""

    method: Literal["occurrences", "time_slices"] | None = None
    window: DurationMs | None = None
    calendar: Literal["month", "week", "day"] | None = None
    timezone: TimeZone | None = None
    slice: DurationMs | None = None
    slice_condition: ConditionText | None = None
    no_data: Literal["good", "bad", "ignore"] | None = None
    burn_alerts: TokenName | None = None  # a catalogue name, or "none"
    disable_tiers: list[TokenName] | None = None
    min_events: MinEvents | None = None
    policy: StrictBool | None = None
    hysteresis: FractionText | None = None
    policy_min_events: PositiveInt | None = None
    report_every: DurationMs | None = None
    exhaustion_window: DurationMs | None = None


@dataclass(frozen=True)
class Given:
    """One key of a budget: its value (None if it was given but invalid, already reported), where it
    was written, and whether the SLO inherited it from ``defaults.budget``."""

    value: Any
    loc: Loc
    inherited: bool


@dataclass(frozen=True)
class BudgetKeys:
    """The keys of one budget (an SLO's merged over ``defaults.budget``, or ``defaults.budget`` on
    its own), and where a problem about each of them is reported."""

    given: dict[str, Given]
    loc: Loc  # the budget itself: slos.<name>.budget, or defaults.budget
    slo: str | None  # None: defaults.budget, checked on its own
    line_of: Callable[[Loc], int | None]

    def __contains__(self, key: str) -> bool:
        return key in self.given

    def value(self, key: str) -> Any:
        v = self.given.get(key)
        return None if v is None else v.value

    def broken(self, key: str) -> bool:
        return key in self.given and self.given[key].value is None

    def own(self, key: str) -> bool:
        return key in self.given and not self.given[key].inherited

    def issue(self, key: str, message: str, slo_dependent: bool = False, sub: Loc = ()) -> Issue:
        """A problem about ``key``: at the key (``sub`` below it), or at the budget when the key is
        not given, or when it is inherited and the problem is this SLO's."""
        v = self.given.get(key)
        if v is None:
            return self.loc, message
        if v.inherited and slo_dependent and self.slo is not None:
            line = self.line_of(v.loc + sub)
            return self.loc, f"{message} (budget.{key} comes from defaults.budget, line {line})"
        return v.loc + sub, message


@dataclass(frozen=True)
class BudgetContext:
    """What every budget of a file depends on besides its SLO."""

    catalogues: Catalogues
    slo_window_ms: int
    resolution_ms: int | None  # None: invalid, multiples of it are not checked
    defaults_budget: dict[str, Given] | None = None  # None: no defaults.budget (or a broken one)


class _Counting(NamedTuple):
    """How a budget counts, as far as it is valid (None: invalid, already reported)."""

    method: str
    window_ms: int | None
    calendar: str | None
    slice_ms: int | None


# --------------------------------------------------------------------------------------------
# The keys of a budget


def _given_keys(data: dict[str, Any], loc: Loc, inherited: bool, problems: Problems) -> dict[str, Given]:
    """The keys given in one ``budget:`` mapping (a value of None: given, but invalid)."""
    _, fields = problems.validate(RawBudget, data, loc)
    return {
        key: Given(getattr(fields, key), loc + (key,), inherited)
        for key in RawBudget.model_fields
        if data.get(key) is not None
    }


def read_defaults_budget(data: Any, ctx: BudgetContext, problems: Problems) -> BudgetContext:
    """``defaults.budget``, checked on its own; ``ctx`` with it, for the SLOs to inherit."""
    loc: Loc = ("defaults", "budget")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.add(
            loc, "expected a mapping of budget keys (method:, window:, burn_alerts:, ...) that every SLO inherits"
        )
        return ctx
    given = _given_keys(data, loc, True, problems)
    # On their own too, so that their problems show even where every SLO overrides them.
    read_budget(BudgetKeys(given, loc, None, problems.line_of), ctx, problems)
    return replace(ctx, defaults_budget=given)


def slo_budget_keys(
    slo: str, given: dict[str, Any], slo_window_ms: int | None, ctx: BudgetContext, problems: Problems
) -> BudgetKeys | None:
    """The SLO's budget keys merged over ``defaults.budget``; None when the SLO has no budget.
    ``given``: the SLO as written; ``slo_window_ms``: its ``window:``, if valid."""
    loc: Loc = ("slos", slo)
    if "budget" in given:
        own_data = {} if given["budget"] is None else given["budget"]
        if own_data is False:
            return None
        if not isinstance(own_data, dict):
            problems.add(
                loc + ("budget",),
                "expected a mapping of budget keys (method:, window:, burn_alerts:, ...), or false for no "
                f"budget, got {own_data!r}",
            )
            return None
        own = _given_keys(own_data, loc + ("budget",), False, problems)
    elif ctx.defaults_budget is not None:
        own = {}
    else:
        return None
    merged = dict(ctx.defaults_budget or {})
    # window and calendar are one setting: the SLO's own choice replaces the inherited one.
    sets_window = "window" in own or "calendar" in own
    if sets_window or given.get("window") is not None:
        merged.pop("window", None)
        merged.pop("calendar", None)
    merged.update(own)
    if given.get("window") is not None:
        if sets_window:
            key = "window" if "window" in own else "calendar"
            problems.add(
                loc + ("window",), f"the budget window is set twice, here and in budget.{key}: keep budget.{key}"
            )
        else:
            merged["window"] = Given(slo_window_ms, loc + ("window",), False)
    return BudgetKeys(merged, loc + ("budget",), slo, problems.line_of)


# --------------------------------------------------------------------------------------------
# One budget


def read_budget(
    keys: BudgetKeys,
    ctx: BudgetContext,
    problems: Problems,
    *,
    sli: SliConfig | None = None,
    objective: Condition | None = None,
    ratio: float | None = None,
) -> BudgetConfig | None:
    """Check and build one SLO's budget; None if it has problems (and always for ``defaults.budget``,
    which is only checked). ``sli``, ``objective`` and ``ratio``: the SLO's, if valid."""
    n = len(problems)
    method = keys.value("method") or BUDGET_DEFAULTS.method
    calendar = keys.value("calendar")
    window_ms = problems.collect(_budget_window(keys, calendar, ctx))
    timezone = keys.value("timezone") or BUDGET_DEFAULTS.timezone
    if keys.own("timezone") and calendar is None and not keys.broken("calendar"):
        message = "timezone applies to calendar budget windows only: add calendar: month, week or day"
        problems.add(*keys.issue("timezone", message))
    slice_ms = problems.collect(_slice(keys, method, calendar, timezone, window_ms, ctx.resolution_ms))
    if method == "time_slices":
        problems.add_all(_slice_condition_problems(keys, sli))
    counting = _Counting(method, window_ms, calendar, slice_ms)
    catalogue, tiers = problems.collect(_burn_tiers(keys, ctx.catalogues))
    if tiers and keys.slo is not None:
        problems.add_all(_tier_problems(tiers, _TierNames(keys, catalogue or ""), counting, objective, ratio))
    problems.add_all(_policy_problems(keys, ctx.resolution_ms))
    exhaustion_ms = problems.collect(_exhaustion_window(keys, counting, ctx.resolution_ms))
    if keys.slo is None or len(problems) > n or window_ms is None or slice_ms is None or exhaustion_ms is None:
        return None
    return BudgetConfig(
        method=method,
        window_ms=window_ms,
        calendar=calendar,
        timezone=timezone,
        slice_ms=slice_ms,
        slice_condition=keys.value("slice_condition") if method == "time_slices" else None,
        no_data=keys.value("no_data") or BUDGET_DEFAULTS.no_data,
        burn_tiers=tiers,
        catalogue=catalogue,
        policy=_or_default(keys, "policy"),
        hysteresis=_or_default(keys, "hysteresis"),
        policy_min_events=_or_default(keys, "policy_min_events"),
        report_every_ms=keys.value("report_every") or BUDGET_DEFAULTS.report_every_ms,
        exhaustion_window_ms=exhaustion_ms,
    )


def _or_default(keys: BudgetKeys, key: str) -> Any:
    value = keys.value(key)
    return getattr(BUDGET_DEFAULTS, key) if value is None else value


def _budget_window(keys: BudgetKeys, calendar: str | None, ctx: BudgetContext) -> Generator[Issue, None, int | None]:
    """The budget window: a calendar period's nominal length, or rolling."""
    if "window" in keys and "calendar" in keys:
        yield keys.issue(
            "calendar",
            "window and calendar are mutually exclusive: a budget window is either rolling "
            "(window: 30d) or a calendar period (calendar: month)",
        )
    if calendar is not None:
        return CALENDAR_NOMINAL_MS[calendar]
    if "window" in keys:
        window_ms: int | None = keys.value("window")
        if window_ms is not None and (problem := window_problem(window_ms, ctx.resolution_ms)):
            yield keys.issue("window", problem)
            return None
        return window_ms
    if keys.broken("calendar"):
        return None
    return ctx.slo_window_ms


def _slice(
    keys: BudgetKeys, method: str, calendar: str | None, timezone: str, window_ms: int | None, resolution_ms: int | None
) -> Generator[Issue, None, int | None]:
    """The slice of a time-slice budget, against the window and the calendar; the keys of time
    slices are problems with occurrences."""
    slice_ms: int | None = BUDGET_DEFAULTS.slice_ms if keys.value("slice") is None else keys.value("slice")
    if keys.broken("slice"):
        slice_ms = None
    if method != "time_slices":
        for key in ("slice", "slice_condition", "no_data"):
            if keys.own(key):
                message = f"{key} applies to budget.method: time_slices only; with occurrences every event counts"
                yield keys.issue(key, message)
        return slice_ms
    if slice_ms is not None and "slice" in keys and (problem := window_problem(slice_ms, resolution_ms)):
        yield keys.issue("slice", problem)
        slice_ms = None
    if slice_ms is not None and calendar is not None and not keys.broken("timezone"):
        problem = calendar_slice_problem(slice_ms, calendar, timezone)
        if problem:
            yield keys.issue("slice", problem, slo_dependent=True)
    elif slice_ms is not None and window_ms is not None and window_ms % slice_ms:
        yield keys.issue(
            "window" if keys.own("window") else "slice",
            f"the budget window ({format_duration(window_ms)}) is not a whole number of "
            f"{format_duration(slice_ms)} slices",
            slo_dependent=True,
        )
    return slice_ms


def _slice_condition_problems(keys: BudgetKeys, sli: SliConfig | None) -> Iterator[Issue]:
    """What makes a slice good: needed, fitting the SLI, stating good; and no_data where it applies."""
    condition: Condition | None = keys.value("slice_condition")
    if keys.slo is not None and "slice_condition" not in keys:
        yield (
            keys.loc,
            "budget.method: time_slices needs slice_condition: what makes a slice good, e.g. "
            "p95 < 200ms, good_ratio >= 99% or count >= 1",
        )
    elif keys.slo is not None and condition is not None and sli is not None:
        problem = stat_kind_problem(condition, sli)
        if problem is None:
            problem = objective_direction_problem(condition, "a slice condition")
        if problem:
            yield keys.issue("slice_condition", problem, slo_dependent=True)
    if condition is not None and condition.stat.kind in ("count", "since_last") and keys.own("no_data"):
        what = "count 0" if condition.stat.kind == "count" else "a since_last that keeps growing"
        yield keys.issue(
            "no_data",
            f"no_data does not apply to a {condition.stat.kind} condition: a slice without events has {what}, "
            f"which the condition judges itself ({condition.text})",
        )


def _policy_problems(keys: BudgetKeys, resolution_ms: int | None) -> Iterator[Issue]:
    hysteresis = keys.value("hysteresis")
    if hysteresis is not None and not Decimal(repr(hysteresis)) < _MAX_HYSTERESIS:
        yield keys.issue(
            "hysteresis",
            "must be less than 50%: leaving 'prioritize reliability' for 'normal' needs more than "
            "50% + hysteresis of the budget left, and no budget has more than 100%",
        )
    report_every = keys.value("report_every")
    if report_every is not None and (problem := window_problem(report_every, resolution_ms)):
        yield keys.issue("report_every", problem)


def _exhaustion_window(
    keys: BudgetKeys, counting: _Counting, resolution_ms: int | None
) -> Generator[Issue, None, int | None]:
    """The window whose burn rate "time to exhaustion" projects, within the budget window."""
    exhaustion_ms: int | None = keys.value("exhaustion_window")
    if exhaustion_ms is None:
        if keys.broken("exhaustion_window"):
            return None
        exhaustion_ms = BUDGET_DEFAULTS.exhaustion_window_ms
    elif problem := window_problem(exhaustion_ms, resolution_ms):
        yield keys.issue("exhaustion_window", problem)
        return None
    if keys.slo is None:
        return exhaustion_ms
    default = "" if "exhaustion_window" in keys else " (the default)"
    window_ms, slice_ms = counting.window_ms, counting.slice_ms
    if window_ms is not None and exhaustion_ms > window_ms:
        yield keys.issue(
            "exhaustion_window",
            f"the exhaustion window{default}, {format_duration(exhaustion_ms)}, is longer than the "
            f"budget window ({format_duration(window_ms)})",
            slo_dependent=True,
        )
    if counting.method == "time_slices" and slice_ms is not None and exhaustion_ms % slice_ms:
        yield keys.issue(
            "exhaustion_window",
            f"the exhaustion window{default}, {format_duration(exhaustion_ms)}, is not a whole number of "
            f"{format_duration(slice_ms)} slices",
            slo_dependent=True,
        )
    return exhaustion_ms


# --------------------------------------------------------------------------------------------
# Burn-rate tiers


def _burn_tiers(
    keys: BudgetKeys, catalogues: Catalogues
) -> Generator[Issue, None, tuple[str | None, tuple[BurnTier, ...]]]:
    """The catalogue that ``burn_alerts:`` names (None: none) and the tiers the budget takes from it."""
    catalogue = keys.value("burn_alerts")
    if catalogue is not None and catalogue != "none":
        tiers = yield from _chosen_tiers(keys, catalogue, catalogues)
        return catalogue, tiers
    if not keys.broken("burn_alerts"):
        for key in ("disable_tiers", "min_events"):
            if keys.own(key):
                yield keys.issue(
                    key, f"{key} adjusts burn-rate alerts, but this budget has none: set burn_alerts: <catalogue>"
                )
    return None, ()


def _chosen_tiers(
    keys: BudgetKeys, catalogue_name: str, catalogues: Catalogues
) -> Generator[Issue, None, tuple[BurnTier, ...]]:
    """The tiers of the chosen catalogue, minus the disabled ones, with min_events overrides."""
    catalogue = catalogues.valid.get(catalogue_name)
    if catalogue is None:
        problem = catalogues.reference_problem(catalogue_name)
        if problem:
            yield keys.issue("burn_alerts", problem)
        return ()
    names = [t.tier for t in catalogue]
    disabled = keys.value("disable_tiers") or []
    # Which tiers exist depends on the catalogue: a disable_tiers inherited from defaults is the
    # SLO's problem only when the SLO chose another catalogue.
    dependent = bool(disabled) and keys.given["disable_tiers"].inherited and not keys.given["burn_alerts"].inherited
    for i, tier in enumerate(disabled):
        if tier not in names:
            message = f"catalogue {catalogue_name!r} has no tier {tier!r}: {choices_hint(tier, names, 'its tiers are')}"
            yield keys.issue("disable_tiers", message, dependent, (i,))
    min_long, min_short = keys.value("min_events") or (None, None)
    update = {}
    if min_long is not None:
        update["min_events_long"] = min_long
    if min_short is not None:
        update["min_events_short"] = min_short
    return tuple(tier.model_copy(update=update) for tier in catalogue if tier.tier not in disabled)


@dataclass(frozen=True)
class _TierNames:
    """Tiers as problems name them, and the ``disable_tiers`` that would silence them."""

    keys: BudgetKeys
    catalogue: str

    def of(self, bad: list[BurnTier]) -> str:
        names = [repr(t.tier) for t in bad]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return f"tier{'s' if len(bad) > 1 else ''} {listed} of {self.catalogue!r}"

    def fix(self, bad: list[BurnTier]) -> str:
        disabled = list(self.keys.value("disable_tiers") or [])
        them = "it" if len(bad) == 1 else "them"
        return f"disable {them}: disable_tiers: [{', '.join(disabled + [t.tier for t in bad])}]"


def _tier_problems(
    tiers: tuple[BurnTier, ...],
    names: _TierNames,
    counting: _Counting,
    objective: Condition | None,
    ratio: float | None,
) -> Iterator[Issue]:
    """What makes a tier of the catalogue wrong for this SLO: its objective or its window."""
    keys = names.keys
    if counting.window_ms is not None:
        too_long = [t for t in tiers if t.long_ms > counting.window_ms]
        if too_long:
            nominal = f", the nominal length of a calendar {counting.calendar}" if counting.calendar else ""
            yield keys.issue(
                "burn_alerts",
                f"{names.of(too_long)} look{'s' if len(too_long) == 1 else ''} back further than the budget "
                f"window ({format_duration(counting.window_ms)}{nominal}): {names.fix(too_long)}",
                slo_dependent=True,
            )
    if ratio is not None and objective is not None:
        budget = 1 - Decimal(repr(ratio))
        impossible = [t for t in tiers if Decimal(repr(t.burn)) * budget > 1]
        if impossible:
            what = "slices" if counting.method == "time_slices" else "events"
            yield keys.issue(
                "burn_alerts",
                f"{names.of(impossible)} can never fire: the error budget is {float(budget * 100):g}% of the "
                f"{what} (objective {objective.text}), so no burn rate exceeds {float(1 / budget):g}x "
                f"(every one bad); {names.fix(impossible)}",
                slo_dependent=True,
            )
    if counting.method == "time_slices" and counting.slice_ms is not None:
        yield from _sliced_tier_problems(tiers, names, counting.slice_ms)


def _sliced_tier_problems(tiers: tuple[BurnTier, ...], names: _TierNames, slice_ms: int) -> Iterator[Issue]:
    """Tiers of a time-slice budget: windows of whole slices, and min_events that slices can reach."""
    keys = names.keys
    off_grid = [t for t in tiers if t.long_ms % slice_ms or t.short_ms % slice_ms]
    if off_grid:
        yield keys.issue(
            "burn_alerts",
            f"the windows of {names.of(off_grid)} are not whole numbers of {format_duration(slice_ms)} "
            f"slices: {names.fix(off_grid)}",
            slo_dependent=True,
        )
    # A time-slice window never holds more than window / slice slices: a larger gate never opens.
    gated = [
        t for t in tiers
        if t not in off_grid
        and (t.min_events_long > t.long_ms // slice_ms or t.min_events_short > t.short_ms // slice_ms)
    ]
    if gated:
        t = gated[0]
        yield keys.issue(
            "min_events" if "min_events" in keys else "burn_alerts",
            f"{names.of(gated)} can never fire: a time-slice window holds at most one count per "
            f"{format_duration(slice_ms)} slice ({t.short_ms // slice_ms} in the {format_duration(t.short_ms)} "
            f"short window of {t.tier!r}), fewer than min_events {{long: {t.min_events_long}, "
            f"short: {t.min_events_short}}}; lower min_events",
            slo_dependent=True,
        )
