"""The four measures of the SRE Workbook ("Alerting on SLOs") and pages per week, of a rule and of
a rule set, against labelled incidents. Each is defined in docs/backtest.md; in short:

- an episode *detects* an incident when its labels name the incident's service (or SLO) and it
  fires at some moment of ``[start, end]`` of the incident;
- precision: the share of episodes that detect some incident (None without episodes); page
  precision the same of the page-worthy episodes alone;
- recall: the share of the incidents in scope that at least one episode detects (None when none
  is in scope; a rule's scope is the services and SLOs it alerts on, a rule set's every incident);
- detection time: from an incident's start to the first start of an episode detecting it (0 when
  one was already firing), averaged over the detected incidents;
- reset time: from an incident's end to the last end of the episodes detecting it (0 when all
  ended before), averaged over the incidents whose episodes all resolved within the range;
- pages per week: episodes of a page-worthy severity (critical, page, emergency) per 7 days of
  the range.
"""

from __future__ import annotations

__all__ = ["Scores", "WEEK_MS", "rule_scopes", "score", "score_rule_set"]

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from processor.config.model import Config
from processor.engine.budget import BURN_ALERT
from processor.replay.incidents import Incident
from processor.replay.timeline import Episode, rule_of

WEEK_MS = 7 * 86_400_000


@dataclass(frozen=True)
class Scores:
    episodes: int
    true_episodes: int
    precision: float | None
    incidents: int  # in scope
    detected: int
    recall: float | None
    detection_s: float | None  # mean over the detected incidents
    reset_s: float | None  # mean over the detected incidents whose episodes all resolved
    pages: int
    true_pages: int
    page_precision: float | None  # the precision of the page-worthy episodes alone
    pages_per_week: float

    def as_dict(self) -> dict:
        return asdict(self)


def rule_scopes(config: Config) -> dict[str, tuple[set[str], set[str]]]:
    """rule -> (services, SLOs) its alerts are about, from the config."""
    scopes: dict[str, tuple[set[str], set[str]]] = {}
    for alert in config.alerts:
        labels = dict(alert.labels) | {"alertname": alert.name, "severity": alert.severity}
        services, slos = scopes.setdefault(rule_of(labels), (set(), set()))
        services.add(alert.service)
        if alert.slo:
            slos.add(alert.slo)
    for slo in config.slos:
        for tier in (slo.budget.burn_tiers if slo.budget else ()):
            services, slos = scopes.setdefault(rule_of({"alertname": BURN_ALERT, "tier": tier.tier}), (set(), set()))
            services.add(slo.service)
            slos.add(slo.name)
    return scopes


def _detecting(incident: Incident, eps: Sequence[Episode], range_end_ms: int) -> list[Episode]:
    return [e for e in eps if incident.concerns(e.labels) and e.overlaps(incident.start_ms, incident.end_ms, range_end_ms)]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def score(eps: Sequence[Episode], incidents: Sequence[Incident], range_start_ms: int, range_end_ms: int,
          in_scope: Sequence[Incident] | None = None) -> Scores:
    """The measures of these episodes against ``incidents``; recall, detection and reset count
    the incidents ``in_scope`` (default: all)."""
    scope = list(incidents if in_scope is None else in_scope)
    true = [e for e in eps if any(i.concerns(e.labels) and e.overlaps(i.start_ms, i.end_ms, range_end_ms)
                                  for i in incidents)]
    true_eps = len(true)
    detections, resets = [], []
    detected = 0
    for inc in scope:
        found = _detecting(inc, eps, range_end_ms)
        if not found:
            continue
        detected += 1
        detections.append(max(0, min(e.start_ms for e in found) - inc.start_ms) / 1000)
        if all(e.end_ms is not None for e in found):
            resets.append(max(0, max(e.end_ms for e in found) - inc.end_ms) / 1000)  # type: ignore[type-var]
    pages = sum(1 for e in eps if e.pages)
    true_pages = sum(1 for e in true if e.pages)
    span_ms = max(1, range_end_ms - range_start_ms)
    return Scores(
        episodes=len(eps), true_episodes=true_eps, precision=true_eps / len(eps) if eps else None,
        incidents=len(scope), detected=detected, recall=detected / len(scope) if scope else None,
        detection_s=_mean(detections), reset_s=_mean(resets),
        pages=pages, true_pages=true_pages, page_precision=true_pages / pages if pages else None,
        pages_per_week=pages * WEEK_MS / span_ms,
    )


def score_rule_set(config: Config, eps: Sequence[Episode], incidents: Sequence[Incident], range_start_ms: int,
                   range_end_ms: int, rules: Sequence[str] = ()) -> dict:
    """``{"set": scores of every episode, "rules": {rule: scores}}``; ``rules`` adds rules to list
    even when this config has none of them (the other side's)."""
    scopes = rule_scopes(config)
    for e in eps:
        services, slos = scopes.setdefault(e.rule, (set(), set()))
        services.add(e.labels.get("service", ""))
        if "slo" in e.labels:
            slos.add(e.labels["slo"])
    by_rule = {}
    for rule in sorted(set(scopes) | set(rules)):
        services, slos = scopes.get(rule, (set(), set()))
        scope = [i for i in incidents if i.service in services or i.slo in slos]
        mine = [e for e in eps if e.rule == rule]
        by_rule[rule] = score(mine, incidents, range_start_ms, range_end_ms, scope).as_dict()
    return {"set": score(eps, incidents, range_start_ms, range_end_ms).as_dict(), "rules": by_rule}
