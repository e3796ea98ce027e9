"""What the processor concluded lately, kept for ``/metrics`` and the SLO page (``runtime/http.py``).

Fed with the outputs the outbox has published (``SloBoard.observe``), never with anything else, so
that what an operator sees on the page and in Prometheus is what subscribers of ``slo.>`` got:

- the latest SLI report of every SLI series (an SLI's reports at a newer boundary replace the
  older ones: a series the engine evicted disappears);
- the latest budget report of every SLO;
- the latest transition of every alert (its fingerprint), firing or resolved;
- per SLO, a bounded history in event time: the SLI (the worst of its series on the objective's
  stat), the remaining budget and the burn rates, one point per ``step_ms`` over ``history_ms``
  (default 6 h at 1 min: 361 points per SLO), and its last ``alert_history`` alert transitions.

Memory is bounded by the config: the SLIs' ``max_series``, the SLOs, and the constants above.
"""

from __future__ import annotations

__all__ = ["HISTORY_MS", "STEP_MS", "SloBoard", "series_label", "stat_value", "worst"]

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from processor.config.model import Config, SloConfig
from processor.config.parse import format_duration
from processor.engine.outputs import AlertTransition, BudgetReport, Outputs, SliReport

HISTORY_MS = 6 * 3_600_000
STEP_MS = 60_000
ALERT_HISTORY = 50

Labels = tuple[tuple[str, str], ...]


def series_label(labels: Labels | dict[str, str]) -> str:
    """An SLI series as one label value: ``k=v,k=v`` sorted by key, ``""`` for no labels."""
    items = labels.items() if isinstance(labels, dict) else labels
    return ",".join(f"{k}={v}" for k, v in sorted(items))


def stat_value(values: dict[str, float | None], stat: str) -> float | None:
    """A stat from a report's values; ``bad_ratio`` (not reported) is 1 - ``good_ratio``. A stat
    the SLI's kind does not report (``p99.9`` of a latency SLI reports p50/p95/p99) is None."""
    if stat == "bad_ratio" and stat not in values:
        good = values.get("good_ratio")
        return None if good is None else 1.0 - good
    return values.get(stat)


def worst(slo: SloConfig, values: Iterable[float | None]) -> float | None:
    """The value of the series furthest on the bad side of the objective (the highest for
    ``p95 < 200ms``, the lowest for ``good_ratio >= 99.9%``); None when no series has a value."""
    known = [v for v in values if v is not None]
    if not known:
        return None
    return max(known) if slo.objective.op in ("<", "<=") else min(known)


@dataclass(slots=True)
class SloTrack:
    """One SLO's recent history (event time, epoch ms)."""

    sli: deque[tuple[int, float | None]]
    budget: deque[tuple[int, float, dict[str, float | None]]]
    alerts: deque[AlertTransition]
    sli_now: float | None = None
    series: int = 0


@dataclass(slots=True)
class _SliLatest:
    service: str
    at_ms: int
    series: dict[Labels, tuple[tuple[str, float | None], ...]] = field(default_factory=dict)


class SloBoard:
    def __init__(self, config: Config, *, history_ms: int = HISTORY_MS, step_ms: int = STEP_MS,
                 alert_history: int = ALERT_HISTORY) -> None:
        self.config = config
        self.history_ms = history_ms
        self.step_ms = step_ms
        points = history_ms // step_ms + 1
        self.slos = {s.name: s for s in config.slos}
        self.tracks = {s.name: SloTrack(deque(maxlen=points), deque(maxlen=points), deque(maxlen=alert_history))
                       for s in config.slos}
        self._by_sli: dict[str, list[SloConfig]] = {}
        for s in config.slos:
            self._by_sli.setdefault(s.sli, []).append(s)
        self.slis: dict[str, _SliLatest] = {}
        self.budgets: dict[str, BudgetReport] = {}
        self.alerts: dict[str, AlertTransition] = {}

    def observe(self, out: Outputs) -> None:
        """Take in what a batch published (in the order the engine produced it)."""
        touched: set[str] = set()
        for report in out.slis:
            self._sli(report)
            touched.add(report.sli)
        for name in touched:
            self._sli_points(name)
        for budget in out.budgets:
            self._budget(budget)
        for alert in out.alerts:
            self.alerts[alert.fingerprint] = alert
            for slo in self._about(alert.label_map):
                self.tracks[slo].alerts.append(alert)

    def restored(self, firing: Iterable[AlertTransition]) -> None:
        """Alerts a restored engine holds as firing (their transition came before this process)."""
        for alert in firing:
            self.alerts.setdefault(alert.fingerprint, alert)

    def firing(self) -> list[AlertTransition]:
        return [a for a in self.alerts.values() if a.status == "firing"]

    def firing_for(self, slo: str) -> list[AlertTransition]:
        return [a for a in self.firing() if slo in self._about(a.label_map)]

    def _about(self, labels: dict[str, str]) -> list[str]:
        if labels.get("slo") in self.slos:
            return [labels["slo"]]
        return [s.name for s in self._by_sli.get(labels.get("sli", ""), ()) if s.service == labels.get("service")]

    def _sli(self, report: SliReport) -> None:
        latest = self.slis.get(report.sli)
        if latest is None or report.evaluated_at_ms > latest.at_ms:
            latest = self.slis[report.sli] = _SliLatest(report.service, report.evaluated_at_ms)
        elif report.evaluated_at_ms < latest.at_ms:
            return  # an older boundary's report (a catch-up): the newer one stands
        latest.series[report.labels] = report.values

    def _sli_points(self, sli: str) -> None:
        latest = self.slis[sli]
        for slo in self._by_sli.get(sli, ()):
            stat = str(slo.objective.stat)
            value = worst(slo, (stat_value(dict(values), stat) for values in latest.series.values()))
            track = self.tracks[slo.name]
            track.sli_now, track.series = value, len(latest.series)
            self._append(track.sli, (latest.at_ms, value))

    def _budget(self, report: BudgetReport) -> None:
        previous = self.budgets.get(report.slo)
        if previous is not None and report.evaluated_at_ms < previous.evaluated_at_ms:
            return
        self.budgets[report.slo] = report
        track = self.tracks.get(report.slo)
        if track is not None:
            rates = {format_duration(w): b for w, b in report.burn_rates}
            self._append(track.budget, (report.evaluated_at_ms, report.remaining, rates))

    def _append(self, points: deque, point: tuple) -> None:
        """One point per step: a newer point in the same step replaces the last; points older
        than the history are dropped."""
        t_ms = point[0]
        if points and points[-1][0] // self.step_ms == t_ms // self.step_ms:
            points[-1] = point
        else:
            points.append(point)
        while points and points[0][0] < t_ms - self.history_ms:
            points.popleft()

