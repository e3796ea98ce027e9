"""The four Grafana dashboards of deploy/grafana/ and what they must show: the "Required
Dashboards" section of PLATFORM-SLOS.md, transcribed below (tests/unit/test_deploy_grafana.py
checks the transcription against the document when it is on this machine), and the queries of
every panel."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS_DIR = GRAFANA / "dashboards"
# Where the platform's document lives on the team's machines; SLO_PLATFORM_DOC overrides.
PLATFORM_DOC = Path(os.environ.get("SLO_PLATFORM_DOC", "/work/shared/PLATFORM-SLOS.md"))

# PLATFORM-SLOS.md, "Monitoring & Observability", verbatim.
REQUIRED_DASHBOARDS_TEXT = """\
### Required Dashboards

1. **Platform Overview**
   - All service health status
   - Error budget burn rate
   - Active alerts summary

2. **Trading Performance**
   - Order execution latency
   - Fill rates
   - Position accuracy

3. **AI Decision Quality**
   - Decision latency distribution
   - Model usage and costs
   - Accuracy metrics

4. **Data Pipeline Health**
   - Provider availability
   - Data freshness
   - Cache performance
"""

# The metric families of `slo run --http ADDR` /metrics (issue 11), the only names a panel may query.
METRIC_FAMILIES = {
    "slo_sli_value": "gauge",
    "slo_budget_remaining_ratio": "gauge",
    "slo_budget_consumed_ratio": "gauge",
    "slo_burn_rate": "gauge",
    "slo_policy_tier": "gauge",
    "slo_alert_firing": "gauge",
    "slo_events_total": "counter",
    "slo_events_rejected_total": "counter",
    "slo_consumer_pending_messages": "gauge",
    "slo_batch_duration_seconds": "histogram",
    "slo_publish_duration_seconds": "histogram",
    "slo_checkpoint_age_seconds": "gauge",
    "slo_alertmanager_queue_length": "gauge",
    "slo_alertmanager_dropped_total": "counter",
}


def parse_required_dashboards(text: str) -> dict[str, list[str]]:
    """{dashboard title: [its items]} from the section's numbered titles and their bullets."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        title = re.fullmatch(r"\d+\.\s+\*\*(.+?)\*\*\s*", line)
        item = re.fullmatch(r"\s+[-*]\s+(.+?)\s*", line)
        if title:
            current = out.setdefault(title.group(1), [])
        elif item and current is not None:
            current.append(item.group(1))
    return out


def required_dashboards() -> dict[str, list[str]]:
    return parse_required_dashboards(REQUIRED_DASHBOARDS_TEXT)


def load_dashboards() -> dict[str, dict]:
    """{file name: dashboard JSON} of every dashboard Grafana provisions."""
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref: str
    expr: str

    @property
    def name(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}"


def all_queries() -> list[Query]:
    return [
        Query(d["title"], p["title"], t["refId"], t["expr"])
        for d in load_dashboards().values() for p in d["panels"] for t in p.get("targets", [])
    ]


# Every metric of the processor starts with slo_; a matcher's value never holds a brace.
SELECTOR = re.compile(r"\b(slo_[a-z0-9_]+)\s*(?:\{([^}]*)\})?")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: dict[str, tuple[str, str]]  # label -> (operator, value)

    def names(self, label: str) -> set[str]:
        """The values a label matcher names: "a" for =, each of "a|b" for =~."""
        if label not in self.matchers:
            return set()
        op, value = self.matchers[label]
        return set(value.split("|")) if op == "=~" else {value}


def selectors(expr: str) -> list[Selector]:
    """The processor's metric selectors in an expression, with their matchers."""
    return [
        Selector(m.group(1), {k: (op, v) for k, op, v in MATCHER.findall(m.group(2) or "")})
        for m in SELECTOR.finditer(expr)
    ]
