"""The validated, immutable model of a config file.

The YAML loader (``processor.spec.load``) turns text into these objects; the engine builds its
stateful evaluators from them. Everything here is frozen: a running engine never sees its config
change under it. Units are in the names: ``*_ms`` are milliseconds, thresholds of latency stats are
milliseconds (the config writes them with a unit, ``150ms``, ``1.5s``), ratios are fractions in [0, 1].
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from processor.spec.predicate import Predicate

__all__ = [
    "AlertSpec",
    "BudgetSpec",
    "BurnTier",
    "Condition",
    "Defaults",
    "SliSpec",
    "SloSpec",
    "Spec",
    "Stat",
]

Op = Literal[">", ">=", "<", "<="]
# info/warning/critical are the document's escalation levels; emergency is its 10x burn tier;
# page/ticket are the well-known SRE burn-rate catalogue's.
Severity = Literal["info", "warning", "critical", "emergency", "page", "ticket"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class Stat(_Frozen):
    """What a condition measures over a window of one SLI series.

    - ``quantile``: the q-quantile of a latency SLI, in ms (``p95`` is q=0.95).
    - ``good_ratio`` / ``bad_ratio``: good/total and 1 - good/total of a ratio SLI.
    - ``count``: number of accepted events in the window (any SLI kind).
    """

    kind: Literal["quantile", "good_ratio", "bad_ratio", "count", "burn_rate"]
    q: float | None = None

    def __str__(self) -> str:
        if self.kind == "quantile":
            assert self.q is not None
            return f"p{self.q * 100:g}"
        return self.kind


class Condition(_Frozen):
    """``<stat> <op> <threshold>``, e.g. ``p95 > 150ms`` or ``bad_ratio > 0.05%``.

    ``threshold`` is normalised: milliseconds for quantiles, a fraction for ratios, a plain number
    for counts. ``text`` keeps what the user wrote, for messages.
    """

    stat: Stat
    op: Op
    threshold: float
    text: str

    def holds(self, value: float) -> bool:
        if self.op == ">":
            return value > self.threshold
        if self.op == ">=":
            return value >= self.threshold
        if self.op == "<":
            return value < self.threshold
        return value <= self.threshold


class Defaults(_Frozen):
    event_time_field: str = "ts"
    allowed_lateness_ms: int = 5_000
    resolution_ms: int = 10_000
    rule_window_ms: int = 60_000


class SliSpec(_Frozen):
    """One service level indicator: which events feed it and what is read from them."""

    name: str
    service: str
    kind: Literal["latency", "ratio", "events"]  # events: only counted (heartbeats, say)
    subject: str  # NATS subject pattern, ``*`` and ``>`` wildcards allowed
    where: Predicate | None = None  # events not matching are not part of this SLI (not rejected)
    labels: tuple[str, ...] = ()  # payload fields whose values split the SLI into series
    description: str = ""
    # latency only
    value_field: str | None = None
    unit_to_ms: float = 1.0  # multiply a payload value by this to get milliseconds
    # ratio only
    good: Predicate | None = None
    event_time_field: str  # resolved from defaults when the SLI does not override it


class BurnTier(_Frozen):
    """One multi-window burn-rate alert tier: fires while the burn rate over both windows is at
    least ``burn`` and each window holds at least its minimum number of events (or slices)."""

    tier: str  # label value, e.g. "emergency" or "page-fast"
    burn: float
    long_ms: int
    short_ms: int
    severity: Severity
    min_events_long: int = 0
    min_events_short: int = 0


class BudgetSpec(_Frozen):
    """How an SLO's error budget is counted.

    ``occurrences``: good events / total events; for a latency objective ``pQ < T`` an event is
    good when its latency is below T and the objective ratio is Q. ``time_slices``: the fraction
    of good slices of ``slice_ms``; a slice is good when ``slice_condition`` holds over its data.
    The budget window is rolling (``window_ms``) unless ``calendar`` aligns it to the month, week
    (Monday) or day in ``timezone``.
    """

    method: Literal["occurrences", "time_slices"] = "occurrences"
    window_ms: int = 30 * 86_400_000
    calendar: Literal["month", "week", "day"] | None = None
    timezone: str = "UTC"  # IANA name, checked at load
    slice_ms: int = 60_000
    slice_condition: Condition | None = None  # time_slices only
    no_data: Literal["good", "bad", "ignore"] = "ignore"  # time_slices: a slice without data
    burn_tiers: tuple[BurnTier, ...] = ()  # from the chosen catalogue, minus disabled tiers
    catalogue: str | None = None
    policy: bool = True
    hysteresis: float = 0.02  # fraction of the budget by which a recovery must clear a border
    report_every_ms: int = 60_000
    exhaustion_window_ms: int = 3_600_000  # burn rate that "time to exhaustion" projects


class SloSpec(_Frozen):
    """An objective on an SLI, e.g. ``p95 < 200ms`` or ``good_ratio >= 99.9%``."""

    name: str
    sli: str
    service: str
    objective: Condition
    # The fraction that must be good: 0.999 for good_ratio >= 99.9 % (or bad_ratio < 0.1 %), 0.95
    # for p95 < 200ms (occurrences), the share of good slices for time slices.
    objective_ratio: float
    description: str = ""
    window_ms: int = 30 * 86_400_000  # the error-budget period ("Error Budget (30 days)")
    budget: BudgetSpec | None = None


class AlertSpec(_Frozen):
    """An alert rule: fires when ``condition`` holds at every boundary for ``for_ms``."""

    name: str  # Alertmanager ``alertname``
    sli: str
    service: str
    slo: str | None = None
    condition: Condition
    window_ms: int
    for_ms: int = 0
    keep_firing_for_ms: int = 0
    severity: Severity
    summary: str = ""
    description: str = ""
    labels: tuple[tuple[str, str], ...] = ()  # extra static labels, sorted by key


class Spec(_Frozen):
    version: Literal[1] = 1
    source: str = "<memory>"
    defaults: Defaults = Defaults()
    slis: tuple[SliSpec, ...] = ()
    slos: tuple[SloSpec, ...] = ()
    alerts: tuple[AlertSpec, ...] = ()

    def sli(self, name: str) -> SliSpec:
        for s in self.slis:
            if s.name == name:
                return s
        raise KeyError(name)
