"""What the engine returns: alert transitions, rejections and counters. Plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from processor.vocabulary import REJECTION_REASONS

__all__ = [
    "AlertAction",
    "AlertTransition",
    "BudgetReport",
    "Outputs",
    "PolicyAction",
    "REJECTION_REASONS",
    "Rejection",
    "SliReport",
]



@dataclass(frozen=True, slots=True)
class Rejection:
    """Message ``index`` of the batch was dead-lettered, for ``reason`` (see REJECTION_REASONS).

    ``slis`` rejected it; the other SLIs that read it used it (``applied``). When the SLIs rejected
    it for several reasons, ``reason`` is the first one's (in config order), ``detail`` says each.
    """

    index: int
    reason: str
    detail: str
    slis: tuple[str, ...] = ()
    applied: bool = False


@dataclass(frozen=True, slots=True)
class AlertTransition:
    """An alert fired or resolved at a sub-window boundary; all times are event time, epoch ms."""

    status: Literal["firing", "resolved"]
    labels: tuple[tuple[str, str], ...]  # sorted by key; includes alertname, service, severity
    # (annotation, template) as the rule wrote them: rendered for people at the edge (render.py)
    templates: tuple[tuple[str, str], ...]
    fingerprint: str
    active_at_ms: int
    starts_at_ms: int
    ends_at_ms: int | None
    value: float | None
    threshold: float
    expr: str
    window_ms: int
    for_ms: int
    evaluated_at_ms: int
    window: str  # as written for people: "1m", or "day" / "month" for calendar rules

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def transition_id(self) -> str:
        """Stable across replicas and restarts: the same episode and status give the same id."""
        return f"{self.fingerprint}-{self.status}-{self.starts_at_ms}"


@dataclass(slots=True)
class Outputs:
    alerts: list[AlertTransition] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    budgets: list[BudgetReport] = field(default_factory=list)
    actions: list[PolicyAction | AlertAction] = field(default_factory=list)
    slis: list[SliReport] = field(default_factory=list)
    # Boundaries that advance() closed through without events (an idle stream's time moving with
    # the wall clock): time as data, which the shell records so that a replay moves time alike.
    time_moves: list[int] = field(default_factory=list)
    accepted: int = 0  # messages every SLI that reads them used (a partly used one is a rejection)
    ignored: int = 0  # messages on subjects that no SLI reads: not an error, not dead-lettered

    def extend(self, other: Outputs) -> None:
        self.alerts.extend(other.alerts)
        self.rejections.extend(other.rejections)
        self.budgets.extend(other.budgets)
        self.actions.extend(other.actions)
        self.slis.extend(other.slis)
        self.time_moves.extend(other.time_moves)
        self.accepted += other.accepted
        self.ignored += other.ignored


@dataclass(frozen=True, slots=True)
class BudgetReport:
    """An SLO's error-budget state at a boundary (event time). Fractions are of the whole budget."""

    slo: str
    service: str
    sli: str
    reason: Literal["periodic", "policy_transition"]
    evaluated_at_ms: int
    method: str
    objective: float
    window: str  # "30d" (rolling) or "month" / "week" / "day" (calendar)
    period_start_ms: int
    period_end_ms: int
    good: int
    total: int
    allowed_bad: float  # events, or slices for time slices
    consumed: float  # bad / allowed_bad; above 1 once the budget is overspent
    remaining: float  # 1 - consumed
    remaining_bad: float  # allowed_bad - bad: how many more bad events (or slices) the budget takes
    burn_rates: tuple[tuple[int, float | None], ...]  # (window_ms, burn rate or None: no data)
    time_to_exhaustion_ms: int | None  # at the burn rate over the exhaustion window; None: not burning
    policy: str | None  # the policy tier; None: the SLO has no budget policy (``policy: false``)
    previous_policy: str | None = None
    # Events (or slices) the budget window must hold before the policy moves (``policy_min_events``):
    # below it the tier stays where it was whatever ``remaining`` says. None without a policy.
    policy_min_events: int | None = None


@dataclass(frozen=True, slots=True)
class SliReport:
    """An SLI series' values over the trailing window at a boundary, for dashboards."""

    sli: str
    service: str
    kind: str
    labels: tuple[tuple[str, str], ...]
    evaluated_at_ms: int
    window_ms: int
    values: tuple[tuple[str, float | None], ...]  # stat name -> value (None: no data)


@dataclass(frozen=True, slots=True)
class AlertAction:
    """An alert rule with an ``action`` fired (cost controls, scaling triggers)."""

    service: str
    alertname: str
    action: str
    labels: tuple[tuple[str, str], ...]
    fingerprint: str  # the alert's, so an action can be matched with the alert that caused it
    evaluated_at_ms: int
    value: float | None


@dataclass(frozen=True, slots=True)
class PolicyAction:
    """The budget policy moved an SLO to another tier; ``action`` says what the platform should do."""

    slo: str
    service: str
    evaluated_at_ms: int
    policy: str
    previous_policy: str
    action: str
    remaining: float
