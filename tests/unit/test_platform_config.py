"""config/slo.yaml expresses the API Gateway and Trading Engine sections of PLATFORM-SLOS.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.spec.load import load_spec
from processor.spec.model import Condition, Spec, Stat

PLATFORM_CONFIG = Path(__file__).resolve().parents[2] / "config" / "slo.yaml"
MINUTE_MS = 60_000


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec(PLATFORM_CONFIG)


GATEWAY, TRADING = "api-gateway", "trading-engine"
# (the threshold as the document words it, service, expr, for, severity)
ALERT_THRESHOLDS = [
    ("Gateway warning: latency p95 > 150ms for 5 minutes", GATEWAY, "p95 > 150ms", 5 * MINUTE_MS, "warning"),
    ("Gateway critical: latency p95 > 400ms for 2 minutes", GATEWAY, "p95 > 400ms", 2 * MINUTE_MS, "critical"),
    ("Gateway warning: error rate > 0.05% for 10 minutes", GATEWAY, "bad_ratio > 0.05%", 10 * MINUTE_MS, "warning"),
    ("Gateway critical: error rate > 0.5% for 5 minutes", GATEWAY, "bad_ratio > 0.5%", 5 * MINUTE_MS, "critical"),
    ("Trading warning: order latency p95 > 80ms for 5 minutes", TRADING, "p95 > 80ms", 5 * MINUTE_MS, "warning"),
    ("Trading critical: order latency p95 > 200ms for 2 minutes", TRADING, "p95 > 200ms", 2 * MINUTE_MS, "critical"),
]


@pytest.mark.parametrize(
    ("service", "expr", "for_ms", "severity"), [c[1:] for c in ALERT_THRESHOLDS], ids=[c[0] for c in ALERT_THRESHOLDS]
)
def test_each_alert_threshold_of_the_document_is_a_rule(
    spec: Spec, service: str, expr: str, for_ms: int, severity: str
) -> None:
    matches = [
        a for a in spec.alerts
        if (a.service, a.condition.text, a.for_ms, a.severity) == (service, expr, for_ms, severity)
    ]
    assert 1 == len(matches)


def test_error_rate_alerts_watch_the_5xx_ratio_and_latency_alerts_the_right_sli(spec: Spec) -> None:
    expected = {
        ("p95 > 150ms", "gateway_request_latency"),
        ("p95 > 400ms", "gateway_request_latency"),
        ("bad_ratio > 0.05%", "gateway_requests"),
        ("bad_ratio > 0.5%", "gateway_requests"),
        ("p95 > 80ms", "trading_order_submission_latency"),
        ("p95 > 200ms", "trading_order_submission_latency"),
    }
    assert expected == {(a.condition.text, a.sli) for a in spec.alerts}
    assert 'status_code < 500' == spec.sli("gateway_requests").good.text  # type: ignore[union-attr]


# (sli, objective as normalised stat/op/threshold) for every SLO row of the two sections
SLOS = [
    ("Gateway availability 99.9%", "gateway_requests", ("good_ratio", ">=", 0.999)),
    ("Gateway latency p50 < 50ms", "gateway_request_latency", ("p50", "<", 50.0)),
    ("Gateway latency p95 < 200ms", "gateway_request_latency", ("p95", "<", 200.0)),
    ("Gateway latency p99 < 500ms", "gateway_request_latency", ("p99", "<", 500.0)),
    ("Gateway error rate < 0.1%", "gateway_requests", ("bad_ratio", "<", 0.001)),
    ("Gateway rate limit accuracy 99.99%", "gateway_rate_limit_accuracy", ("good_ratio", ">=", 0.9999)),
    ("Trading availability 99.95% of minutes with a heartbeat", "trading_heartbeat", ("good_ratio", ">=", 0.9995)),
    ("Order execution success 99.9%", "trading_order_outcomes", ("good_ratio", ">=", 0.999)),
    ("Order submission latency p95 < 100ms", "trading_order_submission_latency", ("p95", "<", 100.0)),
    ("Order acknowledgment p95 < 500ms", "trading_order_ack_latency", ("p95", "<", 500.0)),
    ("Risk check latency p95 < 50ms", "trading_risk_check_latency", ("p95", "<", 50.0)),
    ("Submit market order target < 50ms", "trading_market_order_latency", ("p95", "<", 50.0)),
    ("Submit market order max 100ms", "trading_market_order_latency", ("p99", "<", 100.0)),
    ("Submit limit order target < 50ms", "trading_limit_order_latency", ("p95", "<", 50.0)),
    ("Submit limit order max 100ms", "trading_limit_order_latency", ("p99", "<", 100.0)),
    ("Cancel order target < 100ms", "trading_cancel_latency", ("p95", "<", 100.0)),
    ("Cancel order max 200ms", "trading_cancel_latency", ("p99", "<", 200.0)),
    ("Get positions target < 30ms", "trading_positions_latency", ("p95", "<", 30.0)),
    ("Get positions max 100ms", "trading_positions_latency", ("p99", "<", 100.0)),
    ("Risk validation target < 20ms", "trading_risk_check_latency", ("p95", "<", 20.0)),
    ("Risk validation max 50ms", "trading_risk_check_latency", ("p99", "<", 50.0)),
]


@pytest.mark.parametrize(("sli", "objective"), [c[1:] for c in SLOS], ids=[c[0] for c in SLOS])
def test_each_slo_of_the_document_is_declared(spec: Spec, sli: str, objective: tuple[str, str, float]) -> None:
    declared = {(s.sli, (str(s.objective.stat), s.objective.op, s.objective.threshold)) for s in spec.slos}
    assert (sli, objective) in declared


SUBJECT_FILTERS = [
    ("market orders", "trading_market_order_latency", {"order_type": "market"}, True),
    ("limit orders are not market orders", "trading_market_order_latency", {"order_type": "limit"}, False),
    ("limit orders", "trading_limit_order_latency", {"order_type": "limit"}, True),
]


@pytest.mark.parametrize(
    ("sli", "payload", "expected"), [c[1:] for c in SUBJECT_FILTERS], ids=[c[0] for c in SUBJECT_FILTERS]
)
def test_critical_path_slis_select_their_order_type(spec: Spec, sli: str, payload: dict, expected: bool) -> None:
    where = spec.sli(sli).where
    assert where is not None
    assert ("trade.order.submitted", expected) == (spec.sli(sli).subject, where.fn(payload))


def test_rate_limit_accuracy_counts_every_request(spec: Spec) -> None:
    # A missed enforcement has rate_limited == false: filtering on rate_limited would never see it.
    sli = spec.sli("gateway_rate_limit_accuracy")
    missed_enforcement = {"rate_limited": False, "rate_limit_correct": False}
    assert sli.good is not None
    assert (None, False) == (sli.where, sli.good.fn(missed_enforcement))


# ---------------------------------------------------------------------------- error budgets

DAY_MS = 86_400_000
PLATFORM_TIERS = ("warning", "critical", "emergency")  # the platform catalogue without 1x "normal"
GATEWAY_GATES = (1000, 100)  # (long, short) at 1,000 requests/min
CATALOGUE_GATES = (100, 10)
# (slo, method, objective ratio, calendar, tiers, gates); every window is 30 days (a calendar month
# nominally so)
BUDGETS = [
    ("Gateway availability: 30 days rolling", "gateway_availability", "occurrences", 0.999, None,
     PLATFORM_TIERS, GATEWAY_GATES),
    ("Gateway availability as a calendar-month SLA view, without alerts", "gateway_availability_monthly",
     "occurrences", 0.999, "month", (), None),
    ("Gateway error rate", "gateway_error_rate", "occurrences", 0.999, None, PLATFORM_TIERS, GATEWAY_GATES),
    ("Gateway p50: no 5x or 10x tier, which a 50 % budget cannot reach", "gateway_latency_p50", "occurrences", 0.5,
     None, ("normal", "warning"), GATEWAY_GATES),
    ("Gateway p95", "gateway_latency_p95", "occurrences", 0.95, None, PLATFORM_TIERS, GATEWAY_GATES),
    ("Gateway p99", "gateway_latency_p99", "occurrences", 0.99, None, PLATFORM_TIERS, GATEWAY_GATES),
    ("Gateway rate limit accuracy", "gateway_rate_limit_accuracy", "occurrences", 0.9999, None, PLATFORM_TIERS,
     GATEWAY_GATES),
    ("Trading availability: minutes with a heartbeat, every minute counts", "trading_availability", "time_slices",
     0.9995, None, PLATFORM_TIERS, (0, 0)),
    ("Order execution success", "trading_order_execution_success", "occurrences", 0.999, None, PLATFORM_TIERS,
     CATALOGUE_GATES),
    *[
        (f"Trading latency {name}", name, "occurrences", ratio, None, PLATFORM_TIERS, CATALOGUE_GATES)
        for name, ratio in [
            ("trading_order_submission_latency_p95", 0.95),
            ("trading_order_ack_latency_p95", 0.95),
            ("trading_risk_check_latency_p95", 0.95),
            ("trading_market_order_target", 0.95),
            ("trading_market_order_max", 0.99),
            ("trading_limit_order_target", 0.95),
            ("trading_limit_order_max", 0.99),
            ("trading_cancel_order_target", 0.95),
            ("trading_cancel_order_max", 0.99),
            ("trading_get_positions_target", 0.95),
            ("trading_get_positions_max", 0.99),
            ("trading_risk_validation_target", 0.95),
            ("trading_risk_validation_max", 0.99),
        ]
    ],
]


def test_the_budget_table_covers_every_gateway_and_trading_slo(spec: Spec) -> None:
    expected = sorted(s.name for s in spec.slos if s.service in (GATEWAY, TRADING))
    assert (expected, len(spec.slos)) == (sorted(c[1] for c in BUDGETS), len(expected))


@pytest.mark.parametrize(
    ("slo_name", "method", "ratio", "calendar", "tiers", "gates"), [c[1:] for c in BUDGETS], ids=[c[0] for c in BUDGETS]
)
def test_each_slo_has_its_budget(
    spec: Spec, slo_name: str, method: str, ratio: float, calendar: str | None, tiers: tuple, gates: tuple | None
) -> None:
    [slo] = [s for s in spec.slos if s.name == slo_name]
    budget = slo.budget
    assert budget is not None
    assert (method, ratio, calendar, 30 * DAY_MS, 30 * DAY_MS) == (
        budget.method, slo.objective_ratio, budget.calendar, budget.window_ms, slo.window_ms
    )
    assert (tiers, "platform" if tiers else None) == (tuple(t.tier for t in budget.burn_tiers), budget.catalogue)
    assert ({gates} if tiers else set()) == {(t.min_events_long, t.min_events_short) for t in budget.burn_tiers}
    # The policy follows the rolling budget; the SLA view only reports.
    assert (calendar is None, 0.02, 60_000, 3_600_000) == (
        budget.policy, budget.hysteresis, budget.report_every_ms, budget.exhaustion_window_ms
    )


def test_the_platform_tiers_are_the_documents_burn_rate_levels(spec: Spec) -> None:
    [slo] = [s for s in spec.slos if s.name == "gateway_availability"]
    assert slo.budget is not None
    assert [
        ("warning", 2.0, DAY_MS, 2 * 3_600_000, "warning"),
        ("critical", 5.0, 6 * 3_600_000, 30 * 60_000, "critical"),
        ("emergency", 10.0, 3_600_000, 5 * 60_000, "emergency"),
    ] == [(t.tier, t.burn, t.long_ms, t.short_ms, t.severity) for t in slo.budget.burn_tiers]


def test_the_monthly_sla_view_is_a_calendar_month_in_utc(spec: Spec) -> None:
    [slo] = [s for s in spec.slos if s.name == "gateway_availability_monthly"]
    assert slo.budget is not None
    assert ("gateway_requests", "month", "UTC", (), False) == (
        slo.sli, slo.budget.calendar, slo.budget.timezone, slo.budget.burn_tiers, slo.budget.policy
    )


def test_trading_availability_counts_minutes_with_a_heartbeat(spec: Spec) -> None:
    [slo] = [s for s in spec.slos if s.name == "trading_availability"]
    sli = spec.sli(slo.sli)
    assert slo.budget is not None
    assert ("events", "trade.heartbeat", TRADING) == (sli.kind, sli.subject, sli.service)
    assert ("time_slices", 60_000, Condition(stat=Stat(kind="count"), op=">=", threshold=1.0, text="count >= 1")) == (
        slo.budget.method, slo.budget.slice_ms, slo.budget.slice_condition
    )
    # A minute without a heartbeat fails count >= 1 on its own: the no_data setting never applies.
    assert (False, True) == (slo.budget.slice_condition.holds(0), slo.budget.slice_condition.holds(1))
