"""TEMPORARY, delete when `slo run --http ADDR` (issue 11) is on main: a stand-in for the
processor's /metrics, so that tests/integration/test_prometheus_dashboards.py can run the dashboards'
queries through a real Prometheus before the real endpoint exists. Once `slo run --help` lists
--http, that test scrapes the real processor instead and this file is dead: remove it together
with the `fixture_exposition` branch of that test.

The exposition holds exactly the metric families the endpoint will serve (tests/dashboardkit.py,
METRIC_FAMILIES), written by hand in the text format from a small known state: every SLI of the
catalogue with each stat its kind reports (two series for an SLI with labels), every SLO's budget,
burn rates, the policy tier, one firing burn-rate alert, and the processor's own health."""

from __future__ import annotations

from processor.config.load import load_config
from processor.engine.budget import BURN_ALERT, POLICY_TIERS
from processor.kinds import KINDS
from tests.dashboardkit import METRIC_FAMILIES

STREAMS = ("MARKET", "TRADE", "AI", "ANALYTICS")
BURN_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d")
BUCKETS = (0.005, 0.05, 0.5, 5.0)


def _labels(**kv: str) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in kv.items()) + "}"


def _series_values(sli) -> list[str]:
    """The series label of an SLI's series: "" without labels, else two made-up series."""
    names = list(sli.series_label_names())
    if not names:
        return [""]
    return [",".join(f"{n}=v{i}" for n in names) for i in (1, 2)]


def exposition(config_path: str = "config/slo.yaml") -> str:
    spec = load_config(config_path)
    samples: dict[str, list[str]] = {name: [] for name in METRIC_FAMILIES}

    def add(family: str, value: float, suffix: str = "", **labels: str) -> None:
        samples[family].append(f"{family}{suffix}{_labels(**labels) if labels else ''} {value}")

    for sli in spec.slis:
        for series in _series_values(sli):
            for i, stat in enumerate(KINDS[sli.kind].reported_stats):
                add("slo_sli_value", 0.5 + i, service=sli.service, sli=sli.name, stat=stat, series=series)
    for n, slo in enumerate(spec.slos):
        if slo.budget is None:
            continue
        remaining = 1.0 - (n % 10) / 10
        add("slo_budget_remaining_ratio", remaining, service=slo.service, slo=slo.name)
        add("slo_budget_consumed_ratio", 1.0 - remaining, service=slo.service, slo=slo.name)
        for w in BURN_WINDOWS:
            add("slo_burn_rate", 0.5 * (n % 7), service=slo.service, slo=slo.name, window=w)
        current = POLICY_TIERS[n % len(POLICY_TIERS)][0]
        for tier, _, _ in POLICY_TIERS:
            add("slo_policy_tier", 1 if tier == current else 0, service=slo.service, slo=slo.name, tier=tier)
    first = next(s for s in spec.slos if s.budget is not None)
    add("slo_alert_firing", 1, alertname=BURN_ALERT, service=first.service, severity="critical",
        slo=first.name, sli=first.sli, tier="critical")
    for n, stream in enumerate(STREAMS):
        add("slo_events_total", 1000 * (n + 1), stream=stream)
        add("slo_events_rejected_total", n, stream=stream, reason="not_json")
        add("slo_consumer_pending_messages", 10 * n, stream=stream)
        _histogram(add, "slo_batch_duration_seconds", stream=stream)
    _histogram(add, "slo_publish_duration_seconds")
    add("slo_checkpoint_age_seconds", 12.0)
    add("slo_alertmanager_queue_length", 0)
    add("slo_alertmanager_dropped_total", 0)

    lines = []
    for family, kind in METRIC_FAMILIES.items():
        lines += [f"# HELP {family} stand-in (tests/metrics_fixture_temporary.py)", f"# TYPE {family} {kind}"]
        lines += samples[family]
    return "\n".join(lines) + "\n"


def _histogram(add, family: str, **labels: str) -> None:
    counts = (1, 3, 4, 4)
    for le, count in zip(BUCKETS, counts, strict=True):
        add(family, count, "_bucket", **labels, le=str(le))
    add(family, 5, "_bucket", **labels, le="+Inf")
    add(family, 7.5, "_sum", **labels)
    add(family, 5, "_count", **labels)
