"""What each SLI must keep, decided from the whole config before any SLI state is built.

An SLI's sub-windows are kept as long as the longest window that reads them (an alert's window,
a time slice, the rule window of ``slo.sli.*`` reports); its series note the latest event time per
sub-window only when an absence condition (``since_last``) reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from processor.config.model import Config

__all__ = ["SliPlan", "plan_slis"]


@dataclass(frozen=True, slots=True)
class SliPlan:
    horizon_ms: int  # the longest window any consumer of this SLI reads
    tracks_last: bool  # a since_last stat reads it
    # Every window length read from its sub-windows (alerts, time slices, reports, the horizon):
    # a sub-window leaving one of them is when a quiet stretch can change (engine/catchup.py).
    windows_ms: tuple[int, ...] = ()


def plan_slis(config: Config) -> dict[str, SliPlan]:
    horizon_ms = {s.name: config.defaults.rule_window_ms for s in config.slis}
    windows_ms = {s.name: {config.defaults.rule_window_ms} for s in config.slis}
    tracked: set[str] = set()
    for alert in config.alerts:
        horizon_ms[alert.sli] = max(horizon_ms[alert.sli], alert.window_ms)
        windows_ms[alert.sli].add(alert.window_ms)
        if alert.condition.stat.kind == "since_last":
            tracked.add(alert.sli)
    for slo in config.slos:
        budget = slo.budget
        if budget is None:
            continue
        if budget.method == "time_slices":
            horizon_ms[slo.sli] = max(horizon_ms[slo.sli], budget.slice_ms)
            windows_ms[slo.sli].add(budget.slice_ms)
        if budget.slice_condition is not None and budget.slice_condition.stat.kind == "since_last":
            tracked.add(slo.sli)
    return {
        name: SliPlan(horizon, name in tracked, tuple(sorted(windows_ms[name] | {horizon})))
        for name, horizon in horizon_ms.items()
    }
