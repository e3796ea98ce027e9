"""``ServiceNeverReported``: an SLI whose silence is bad that has had no event at all.

Never seen is unknown, not down: until an SLI's first event, its time slices are not counted and
absence conditions on it have no value (engine/evaluation.py, engine/series.py), so a processor
started on a quiet bus pages nobody for the budgets of services it has not heard from. A service
that never reports at all is caught here instead: for each SLI read by an absence rule
(``since_last``) or a time-slice budget, the alert fires once ``defaults.never_seen_grace`` of
event time has passed since watching began without one event of that SLI, and resolves at the
first boundary after it is seen. Watching begins at the clock's origin (the first event), or
earlier on a stream that had no event at all, when its idle clock first moved
(``BoundaryClock.silent_origin_ms``, ``Engine.advance_idle``).
"""

from __future__ import annotations

from processor.config.model import AlertConfig, Condition, Config, Stat
from processor.config.parse import format_duration
from processor.engine.outputs import Outputs
from processor.engine.rules import AlertRule, RuleState
from processor.engine.sli import SliState

__all__ = ["NEVER_SEEN_ALERT", "NeverSeenAlerts"]

NEVER_SEEN_ALERT = "ServiceNeverReported"
_SEVERITY_RANK = ("info", "ticket", "warning", "critical", "page", "emergency")


def _severity_rank(severity: str) -> int:
    return _SEVERITY_RANK.index(severity) if severity in _SEVERITY_RANK else _SEVERITY_RANK.index("warning")


def _watched_slis(config: Config) -> dict[str, str]:
    """SLI name -> the alert's severity: the highest of the SLI's absence rules, else warning."""
    watched: dict[str, str] = {}
    for slo in config.slos:
        if slo.budget is not None and slo.budget.method == "time_slices":
            watched.setdefault(slo.sli, "warning")
    for alert in config.alerts:
        if alert.condition.stat.kind == "since_last":
            watched[alert.sli] = max(watched.get(alert.sli, "info"), alert.severity, key=_severity_rank)
    return watched


def _alert_config(sli: SliState, severity: str, grace_ms: int) -> AlertConfig:
    config = sli.config
    return AlertConfig(
        name=NEVER_SEEN_ALERT,
        sli=config.name,
        service=config.service,
        condition=Condition(
            stat=Stat(kind="since_last"), op=">=", threshold=grace_ms, text=f"no event since start >= {format_duration(grace_ms)}"
        ),
        window_ms=grace_ms,
        severity=severity,
        summary=f"{config.service}: no {config.name} event since monitoring started",
        description=(
            f"Not one event of {config.name} ({config.subject}) in the {{value:.0f}} ms since this processor's state "
            f"began. Its SLOs count nothing until it reports: is {config.service} running and publishing?"
        ),
    )


class NeverSeenAlerts:
    def __init__(self, config: Config, slis: list[SliState]) -> None:
        self.grace_ms = config.defaults.never_seen_grace_ms
        watched = _watched_slis(config)
        self.rules = [
            (AlertRule(_alert_config(sli, watched[sli.name], self.grace_ms), ()), sli)
            for sli in slis
            if sli.name in watched
        ]

    def has_state(self) -> bool:
        return any(rule.states for rule, _ in self.rules)

    def due_ms(self, origin_ms: int) -> list[int]:
        """When each SLI not yet seen would fire (catch-up evaluates those boundaries)."""
        return [origin_ms + self.grace_ms for rule, sli in self.rules if sli.seen_ms is None and not rule.states]

    def evaluate(self, t_ms: int, origin_ms: int, out: Outputs) -> None:
        for rule, sli in self.rules:
            if sli.seen_ms is None and rule.states:
                # Fired and still never seen: only its first event ends it. (A backlog read
                # after the alert may hold boundaries before the watch began.)
                continue
            value = float(t_ms - origin_ms) if sli.seen_ms is None else None
            transition = rule.evaluate((), value, t_ms)
            if transition is not None:
                out.alerts.append(transition)

    def snapshot(self) -> dict:
        return {rule.alert.sli: rule.states[()].snapshot() for rule, _ in self.rules if () in rule.states}

    def restore(self, saved: dict) -> None:
        for rule, sli in self.rules:
            if sli.name in saved:
                rule.states = {(): RuleState.restore(saved[sli.name])}
