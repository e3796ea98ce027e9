"""What the engine returns: alert transitions, rejections and counters. Plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["AlertTransition", "Outputs", "Rejection", "REJECTION_REASONS"]

# Every reason a message can be rejected for; each is also the last token of its dead-letter
# subject (``slo.deadletter.<reason>``), so they must stay valid subject tokens.
REJECTION_REASONS = (
    "not_json",
    "not_object",
    "missing_field",
    "bad_field_type",
    "bad_value",
    "negative_value",
    "bad_timestamp",
    "no_timestamp",
    "late",
)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Message ``index`` of the batch was not applied, for ``reason`` (see REJECTION_REASONS)."""

    index: int
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class AlertTransition:
    """An alert fired or resolved at a sub-window boundary; all times are event time, epoch ms."""

    status: Literal["firing", "resolved"]
    labels: tuple[tuple[str, str], ...]  # sorted by key; includes alertname, service, severity
    annotations: tuple[tuple[str, str], ...]
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
    accepted: int = 0
    ignored: int = 0  # messages on subjects that no SLI reads: not an error, not dead-lettered

    def extend(self, other: Outputs) -> None:
        self.alerts.extend(other.alerts)
        self.rejections.extend(other.rejections)
        self.accepted += other.accepted
        self.ignored += other.ignored
