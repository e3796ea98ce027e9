"""``SliCardinalityOverflow``: an SLI with labels that went past its cap (``max_series``).

Past the cap every new label set shares one overflow series, so memory stays bounded and the
events still count; but per-label alerts can no longer tell those series apart, so this says so.
The alert fires at the first boundary whose rule window holds events of the overflow series, and
resolves at the first one whose window holds none (warning severity, one per SLI).
"""

from __future__ import annotations

from processor.config.model import AlertConfig, Condition, Stat
from processor.config.parse import format_duration
from processor.engine.outputs import Outputs
from processor.engine.rules import AlertRule, RuleState
from processor.engine.series import aggregate
from processor.engine.sli import SliState
from processor.vocabulary import OVERFLOW_LABEL

__all__ = ["CARDINALITY_ALERT", "CardinalityAlerts"]

CARDINALITY_ALERT = "SliCardinalityOverflow"


def _alert_config(sli: SliState, window_ms: int) -> AlertConfig:
    config = sli.config
    return AlertConfig(
        name=CARDINALITY_ALERT,
        sli=config.name,
        service=config.service,
        condition=Condition(stat=Stat(kind="count"), op=">", threshold=0, text="count > 0"),
        window_ms=window_ms,
        severity="warning",
        summary=f"{config.service} {config.name}: more than {config.max_series} label sets",
        description=(
            f"Label sets past max_series ({config.max_series}) share one overflow series: {{value:g}} events "
            f"in the last {format_duration(window_ms)}. Per-label alerts cannot tell them apart; raise "
            "max_series or drop a label that takes unbounded values."
        ),
    )


class CardinalityAlerts:
    def __init__(self, slis: list[SliState], window_ms: int) -> None:
        self.window_ms = window_ms
        self.rules = [
            (AlertRule(_alert_config(sli, window_ms), sli.config.series_label_names()), sli)
            for sli in slis
            if sli.config.labels
        ]

    def has_state(self) -> bool:
        return any(rule.states for rule, _ in self.rules)

    def evaluate(self, t_ms: int, out: Outputs) -> None:
        for rule, sli in self.rules:
            labels = (OVERFLOW_LABEL,) * len(sli.config.labels)
            series = sli.series.get(labels)
            if series is None and labels not in rule.states:
                continue
            bucket = None if series is None else aggregate(series, t_ms - self.window_ms, t_ms)
            value = None if bucket is None else float(bucket.count)
            transition = rule.evaluate(labels, value, t_ms)
            if transition is not None:
                out.alerts.append(transition)

    def snapshot(self) -> dict:
        return {
            rule.alert.sli: [[list(labels), st.snapshot()] for labels, st in rule.states.items()]
            for rule, _ in self.rules
            if rule.states
        }

    def restore(self, saved: dict) -> None:
        for rule, sli in self.rules:
            rule.states = {tuple(labels): RuleState.restore(st) for labels, st in saved.get(sli.name, [])}
