"""deploy/grafana/: the four dashboards of PLATFORM-SLOS.md ("Required Dashboards") as provisioned
Grafana JSON, checked structurally (Grafana itself cannot run here). That every query returns data
through a real Prometheus: tests/integration/test_prometheus_dashboards.py."""

from __future__ import annotations

import re

import pytest
import yaml

from processor.config.load import load_config
from processor.kinds import KINDS
from tests.dashboardkit import (
    DASHBOARDS_DIR,
    GRAFANA,
    METRIC_FAMILIES,
    PLATFORM_DOC,
    REQUIRED_DASHBOARDS_TEXT,
    all_queries,
    load_dashboards,
    parse_required_dashboards,
    required_dashboards,
    selectors,
)

# Grafana 11.0 writes schemaVersion 39.
MIN_SCHEMA_VERSION = 39
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


@pytest.fixture(scope="module")
def spec():
    return load_config("config/slo.yaml")


@pytest.fixture(scope="module")
def dashboards():
    return load_dashboards()


def _panels(dashboards):
    return [(d["title"], p) for d in dashboards.values() for p in d["panels"]]


@pytest.mark.skipif(not PLATFORM_DOC.is_file(), reason=f"{PLATFORM_DOC} is not on this machine")
def test_the_transcribed_section_is_the_documents_own_text():
    assert REQUIRED_DASHBOARDS_TEXT in PLATFORM_DOC.read_text()


def test_the_section_lists_four_dashboards_of_three_items():
    # The parser itself: a broken transcription or parser must not make the checks below vacuous.
    required = required_dashboards()
    assert ["Platform Overview", "Trading Performance", "AI Decision Quality", "Data Pipeline Health"] == list(required)
    assert [3, 3, 3, 3] == [len(items) for items in required.values()]
    assert {"X": ["a", "b"]} == parse_required_dashboards("1. **X**\n   - a\n   - b\n\nother text\n")


def test_there_is_one_dashboard_per_required_dashboard(dashboards):
    assert sorted(required_dashboards()) == sorted(d["title"] for d in dashboards.values())
    assert len({d["uid"] for d in dashboards.values()}) == len(dashboards)


def test_each_dashboard_has_one_panel_per_item_of_the_document_in_its_order(dashboards):
    required = required_dashboards()
    for d in dashboards.values():
        assert required[d["title"]] == [p["title"] for p in d["panels"]], d["title"]


def test_dashboards_are_current_grafana_json_with_a_prometheus_datasource_variable(dashboards):
    for name, d in dashboards.items():
        assert d["schemaVersion"] >= MIN_SCHEMA_VERSION, name
        variables = {v["name"]: v for v in d["templating"]["list"]}
        assert "datasource" == variables["datasource"]["type"], name
        assert "prometheus" == variables["datasource"]["query"], name


def test_every_panel_has_the_datasource_variable_targets_with_expr_and_a_place(dashboards):
    for title, panel in _panels(dashboards):
        where = f"{title} / {panel.get('title')}"
        assert {"type": "prometheus", "uid": "${datasource}"} == panel["datasource"], where
        assert panel["targets"], where
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs), where
        for t in panel["targets"]:
            assert t["expr"].strip(), where
            assert panel["datasource"] == t["datasource"], where
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in ("h", "w", "x", "y")), where
        assert grid["h"] > 0 and grid["w"] > 0 and grid["x"] >= 0 and grid["y"] >= 0, where
        assert grid["x"] + grid["w"] <= 24, where


def test_panel_ids_are_unique_and_panels_do_not_overlap(dashboards):
    for name, d in dashboards.items():
        ids = [p["id"] for p in d["panels"]]
        assert len(set(ids)) == len(ids), name
        cells = set()
        for p in d["panels"]:
            g = p["gridPos"]
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not cells & mine, f"{name}: {p['title']} overlaps another panel"
            cells |= mine


def test_queries_use_only_the_processors_metric_families():
    for q in all_queries():
        found = selectors(q.expr)
        assert found, q.name
        for s in found:
            family = s.metric
            if family not in METRIC_FAMILIES and family.endswith(HISTOGRAM_SERIES):
                family = family.rsplit("_", 1)[0]
                assert "histogram" == METRIC_FAMILIES.get(family), q.name
            assert family in METRIC_FAMILIES, f"{q.name}: {s.metric}"
        # Grafana's $variables would need substituting before Prometheus could run the query.
        assert "$" not in q.expr, q.name


def test_every_sli_slo_and_stat_a_query_names_is_in_the_catalogue(spec):
    slis = {s.name: s for s in spec.slis}
    slos = {s.name for s in spec.slos}
    named_slis = set()
    for q in all_queries():
        for s in selectors(q.expr):
            for label, op in ((lbl, m[0]) for lbl, m in s.matchers.items()):
                if label in ("sli", "slo", "stat"):
                    assert op in ("=", "=~"), f"{q.name}: {label}{op}"
            for sli in s.names("sli"):
                assert sli in slis, f"{q.name}: SLI {sli} is not in config/slo.yaml"
                named_slis.add(sli)
                # A stat the SLI's kind does not report would never have a series.
                reported = set(KINDS[slis[sli].kind].reported_stats)
                assert s.names("stat") <= reported, f"{q.name}: {sli} reports {sorted(reported)}"
            for slo in s.names("slo"):
                assert slo in slos, f"{q.name}: SLO {slo} is not in config/slo.yaml"
            if s.metric == "slo_sli_value":
                assert s.names("sli") and s.names("stat"), f"{q.name}: name the SLI and the stat"
    # The SLIs docs/slo-coverage.md names for the dashboards (#109-#119) are all drawn.
    assert {
        "trading_order_submission_latency", "trading_order_ack_latency", "trading_filled_qty",
        "trading_submitted_qty", "trading_time_to_fill", "trading_position_sync", "ai_decision_latency",
        "ai_model_requests", "ai_model_tokens", "ai_model_cost", "ai_decision_cost", "ai_decision_quality",
        "market_provider_availability", "market_quote_freshness", "market_cache",
    } <= named_slis


def test_health_status_covers_every_services_availability_slo(spec):
    # "All service health status": every availability SLO of a service (not the SLA views or the
    # LLM providers, which the Data Pipeline's provider panel shows).
    expected = {s.name for s in spec.slos if re.fullmatch(r"[a-z]+(_request)?_availability", s.name)}
    assert "trading_availability" in expected and "bus_availability" in expected
    health = [q for q in all_queries() if q.panel == "All service health status"]
    named = set().union(*(s.names("slo") for q in health for s in selectors(q.expr)))
    assert expected == named


def test_the_selector_parser_finds_names_in_matchers():
    (s,) = selectors('max by (stat) (slo_sli_value{sli=~"a|b", stat="p99"}) > 1')
    assert ("slo_sli_value", {"a", "b"}, {"p99"}) == (s.metric, s.names("sli"), s.names("stat"))


def test_provisioning_points_grafana_at_prometheus_and_the_dashboards_folder():
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert ("prometheus", "proxy") == (source["type"], source["access"])
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "slo.yml").read_text())
    (provider,) = providers["providers"]
    assert "file" == provider["type"]
    # docker-compose.yml mounts deploy/grafana/dashboards there (tests/unit/test_compose.py).
    assert "/var/lib/grafana/dashboards/slo" == provider["options"]["path"]
    assert {p.name for p in DASHBOARDS_DIR.glob("*.json")} == set(load_dashboards())
