"""config/slo.yaml expresses every section of PLATFORM-SLOS.md: each alerting threshold, SLO, SLA,
cost control and scaling trigger, checked here against the document's own numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processor.config.load import load_config
from processor.config.model import Condition, Config, Stat

ROOT = Path(__file__).resolve().parents[2]
PLATFORM_CONFIG = ROOT / "config" / "slo.yaml"
SECOND_MS = 1_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def spec() -> Config:
    return load_config(PLATFORM_CONFIG)


GATEWAY, TRADING, AI, MARKET = "api-gateway", "trading-engine", "ai-decision", "market-data"
ANALYTICS, ORCHESTRATOR, BUS, PLATFORM = "analytics", "orchestrator", "event-bus", "platform"
DETECTED = (10 * SECOND_MS, 0, None, 5 * MINUTE_MS)  # (window, for, for_events, keep_firing_for) of "... detected"
RULE_WINDOW = MINUTE_MS

# Every alert rule of the config, each from a line of the document:
# (the line as the document words it, alertname, service, sli, expr, (window, for, for_events,
#  keep_firing_for), severity, calendar, action)
ALERT_THRESHOLDS = [
    # API Gateway, "Alerting Thresholds"
    ("Gateway warning: latency p95 > 150ms for 5 minutes", "GatewayLatencyP95High", GATEWAY,
     "gateway_request_latency", "p95 > 150ms", (RULE_WINDOW, 5 * MINUTE_MS, None, 0), "warning", None, None),
    ("Gateway critical: latency p95 > 400ms for 2 minutes", "GatewayLatencyP95High", GATEWAY,
     "gateway_request_latency", "p95 > 400ms", (RULE_WINDOW, 2 * MINUTE_MS, None, 0), "critical", None, None),
    ("Gateway warning: error rate > 0.05% for 10 minutes, over 5 minutes of traffic", "GatewayErrorRateHigh",
     GATEWAY, "gateway_requests", "bad_ratio > 0.05%", (5 * MINUTE_MS, 10 * MINUTE_MS, None, 0), "warning", None,
     None),
    ("Gateway critical: error rate > 0.5% for 5 minutes", "GatewayErrorRateHigh", GATEWAY, "gateway_requests",
     "bad_ratio > 0.5%", (RULE_WINDOW, 5 * MINUTE_MS, None, 0), "critical", None, None),
    # Trading Engine
    ("Trading warning: order latency p95 > 80ms for 5 minutes", "TradingOrderLatencyP95High", TRADING,
     "trading_order_submission_latency", "p95 > 80ms", (RULE_WINDOW, 5 * MINUTE_MS, None, 0), "warning", None, None),
    ("Trading critical: order latency p95 > 200ms for 2 minutes", "TradingOrderLatencyP95High", TRADING,
     "trading_order_submission_latency", "p95 > 200ms", (RULE_WINDOW, 2 * MINUTE_MS, None, 0), "critical", None,
     None),
    ("Trading critical: position sync mismatch detected", "TradingPositionSyncMismatch", TRADING,
     "trading_position_sync", "bad_count > 0", DETECTED, "critical", None, None),
    ("Trading critical: Alpaca API connection lost > 30 seconds", "TradingBrokerConnectionLost", TRADING,
     "trading_broker_connection", "bad_for > 30s", (RULE_WINDOW, 0, None, 0), "critical", None, None),
    # AI Decision Service
    ("AI warning: decision latency p95 > 4s for 10 minutes", "AiDecisionLatencyP95High", AI, "ai_decision_latency",
     "p95 > 4s", (RULE_WINDOW, 10 * MINUTE_MS, None, 0), "warning", None, None),
    ("AI critical: decision latency p95 > 8s for 5 minutes", "AiDecisionLatencyP95High", AI, "ai_decision_latency",
     "p95 > 8s", (RULE_WINDOW, 5 * MINUTE_MS, None, 0), "critical", None, None),
    ("AI warning: primary model fallback rate > 5%, over 10 minutes of decisions", "AiPrimaryModelFallbackRateHigh",
     AI, "ai_primary_answers", "bad_ratio > 5%", (10 * MINUTE_MS, 0, None, 0), "warning", None, None),
    ("AI critical: all models unavailable > 1 minute", "AiAllModelsUnavailable", AI, "ai_providers", "bad_for > 1m",
     (RULE_WINDOW, 0, None, 0), "critical", None, None),
    ("AI cost control: daily token budget $50, switch to cheaper model", "AiDailyTokenBudgetExceeded", AI,
     "ai_decision_cost", "sum > 50", (DAY_MS, 0, None, 0), "warning", "day", "switch to cheaper model"),
    ("AI cost control: per-request cost $0.10, use cached reasoning", "AiRequestCostHigh", AI,
     "ai_expensive_decisions", "count > 0", DETECTED, "info", None, "use cached reasoning"),
    ("AI cost control: monthly cost $1,000, alert and review", "AiMonthlyCostHigh", AI, "ai_decision_cost",
     "sum > 1000", (30 * DAY_MS, 0, None, 0), "warning", "month", "alert and review"),
    # Market Data Service
    ("Market warning: quote latency p95 > 80ms for 5 minutes", "MarketQuoteLatencyP95High", MARKET,
     "market_quote_latency", "p95 > 80ms", (RULE_WINDOW, 5 * MINUTE_MS, None, 0), "warning", None, None),
    ("Market critical: data staleness > 30 seconds, no quote at all", "MarketDataStale", MARKET, "market_quote_age",
     "since_last > 30s", (RULE_WINDOW, 0, None, 0), "critical", None, None),
    ("Market critical: data staleness > 30 seconds, only old quotes", "MarketDataStale", MARKET, "market_quote_age",
     "min > 30s", (RULE_WINDOW, 0, None, 0), "critical", None, None),
    ("Market warning: cache hit rate < 70% for 15 minutes", "MarketCacheHitRateLow", MARKET, "market_cache",
     "good_ratio < 70%", (RULE_WINDOW, 15 * MINUTE_MS, None, 0), "warning", None, None),
    ("Market critical: all providers unavailable > 1 minute", "MarketAllProvidersUnavailable", MARKET,
     "market_providers", "bad_for > 1m", (RULE_WINDOW, 0, None, 0), "critical", None, None),
    ("Market data provider table: a failover off the documented route", "MarketFailoverOffRoute", MARKET,
     "market_failover_route", "bad_count > 0", DETECTED, "info", None, None),
    # Analytics Service
    ("Analytics warning: query latency p95 > 400ms for 10 minutes", "AnalyticsQueryLatencyP95High", ANALYTICS,
     "analytics_query_latency", "p95 > 400ms", (RULE_WINDOW, 10 * MINUTE_MS, None, 0), "warning", None, None),
    ("Analytics critical: P&L calculation error detected", "AnalyticsPnlCalculationError", ANALYTICS,
     "analytics_pnl_reconciliation", "bad_count > 0", DETECTED, "critical", None, None),
    ("Analytics warning: snapshot gap > 2 minutes", "AnalyticsSnapshotGap", ANALYTICS, "analytics_snapshots",
     "since_last > 2m", (RULE_WINDOW, 0, None, 0), "warning", None, None),
    ("Analytics critical: database connection lost > 30 seconds", "AnalyticsDatabaseConnectionLost", ANALYTICS,
     "analytics_db_connection", "bad_for > 30s", (RULE_WINDOW, 0, None, 0), "critical", None, None),
    # Orchestrator
    ("Orchestrator warning: cycle duration p95 > 90s for 3 cycles", "OrchestratorCycleDurationP95High",
     ORCHESTRATOR, "orchestrator_cycle_duration", "p95 > 90s", (10 * MINUTE_MS, 0, 3, 0), "warning", None, None),
    ("Orchestrator critical: cycle failure rate > 1% for 10 minutes", "OrchestratorCycleFailureRateHigh",
     ORCHESTRATOR, "orchestrator_cycles", "bad_ratio > 1%", (10 * MINUTE_MS, 10 * MINUTE_MS, None, 0), "critical",
     None, None),
    ("Orchestrator critical: agent stopped unexpectedly", "OrchestratorAgentStoppedUnexpectedly", ORCHESTRATOR,
     "orchestrator_agents_stopped", "count > 0", DETECTED, "critical", None, None),
    ("Orchestrator warning: schedule drift > 10 seconds", "OrchestratorScheduleDriftHigh", ORCHESTRATOR,
     "orchestrator_schedule_drift", "max > 10s", DETECTED, "warning", None, None),
    # Event Bus
    ("Bus warning: consumer lag > 50 messages for 1 minute", "BusConsumerLagHigh", BUS, "bus_consumer_lag",
     "last > 50", (RULE_WINDOW, MINUTE_MS, None, 0), "warning", None, None),
    ("Bus critical: consumer lag > 500 messages for 30 seconds", "BusConsumerLagHigh", BUS, "bus_consumer_lag",
     "last > 500", (RULE_WINDOW, 30 * SECOND_MS, None, 0), "critical", None, None),
    ("Bus critical: message publish failure", "BusPublishFailed", BUS, "bus_publish", "bad_count > 0", DETECTED,
     "critical", None, None),
    ("Bus critical: stream unavailable > 10 seconds", "BusStreamUnavailable", BUS, "bus_streams", "bad_for > 10s",
     (RULE_WINDOW, 0, None, 0), "critical", None, None),
    ("Bus Stream Configuration SLOs: a stream's settings differ from streams/ for 1 minute", "StreamConfigDrift",
     BUS, "bus_stream_config", "bad_count > 0", (RULE_WINDOW, MINUTE_MS, None, 0), "warning", None, None),
    # Capacity Planning, "Scaling Triggers"
    ("Scaling: CPU usage > 70% sustained, add replica", "ScaleCpuHigh", PLATFORM, "capacity_cpu", "avg > 70",
     (5 * MINUTE_MS, 5 * MINUTE_MS, None, 0), "warning", None, "add replica"),
    ("Scaling: memory usage > 80%, increase limits", "ScaleMemoryHigh", PLATFORM, "capacity_memory", "max > 80",
     (RULE_WINDOW, 0, None, 0), "warning", None, "increase limits"),
    ("Scaling: request queue > 100 pending, add replica", "ScaleRequestQueueHigh", PLATFORM,
     "capacity_request_queue", "last > 100", (RULE_WINDOW, 0, None, 0), "warning", None, "add replica"),
    ("Scaling: database connections > 80% of the pool, increase pool", "ScaleDatabaseConnectionsHigh", PLATFORM,
     "capacity_db_connections", "last > 80", (RULE_WINDOW, 0, None, 0), "warning", None, "increase pool"),
]

# Capacity Planning, "Current Baseline" (issue 9): usage reaching 80 % of baseline x headroom. Event
# messages per stream (each stream has its own engine); database connections are #138's rule above.
ALERT_THRESHOLDS += [
    ("Capacity: API requests at 80% of 10 x 1,000/min", "CapacityApiRequestsHigh", PLATFORM, "capacity_api_requests",
     "count >= 8000", (RULE_WINDOW, 0, None, 0), "warning", None, None),
    *[
        (f"Capacity: {stream} messages at 80% of 100 x 10,000/min", "CapacityEventMessagesHigh", PLATFORM, sli,
         "count >= 800000", (RULE_WINDOW, 0, None, 0), "warning", None, None)
        for stream, sli in [("MARKET", "capacity_market_messages"), ("TRADE", "capacity_trade_messages"),
                            ("AI", "capacity_ai_messages"), ("ANALYTICS", "capacity_analytics_messages")]
    ],
    ("Capacity: the four streams' messages together at 80% of 100 x 10,000/min", "CapacityBusMessagesHigh",
     PLATFORM, "bus_event_messages", "sum >= 800000", (RULE_WINDOW, 0, None, 0), "warning", None, None),
    ("Capacity: LLM tokens today at 80% of 2 x 500,000", "CapacityLlmTokensHigh", PLATFORM, "capacity_llm_tokens",
     "sum >= 800000", (DAY_MS, 0, None, 0), "warning", "day", None),
]

# Rules for SLOs too low in volume for burn-rate tiers (issue 9, "Every SLO can alert at its own
# volume"): no line of the document's thresholds, each protects its SLO.
ALERT_THRESHOLDS += [
    ("Low volume: a fallback that fails", "AiModelFallbackFailed", AI, "ai_fallback_success", "bad_count > 0",
     DETECTED, "warning", None, None),
    ("Low volume: a failover over 10 s", "MarketFailoverSlow", MARKET, "market_provider_failover", "p99 > 10s",
     DETECTED, "warning", None, None),
    ("Low volume: a reconnection over 5 s", "MarketReconnectionSlow", MARKET, "market_stream_reconnection",
     "p99 > 5s", DETECTED, "warning", None, None),
    ("Low volume: analysis cycles p95 over 60 s in 30 minutes", "OrchestratorAnalysisCycleSlow", ORCHESTRATOR,
     "orchestrator_analysis_cycle_duration", "p95 > 60s", (30 * MINUTE_MS, 0, None, 0), "warning", None, None),
    ("Low volume: rebalance cycles p95 over 180 s in an hour", "OrchestratorRebalanceCycleSlow", ORCHESTRATOR,
     "orchestrator_rebalance_cycle_duration", "p95 > 180s", (60 * MINUTE_MS, 0, None, 0), "warning", None, None),
    ("Low volume: a portfolio-rebalance saga fails", "OrchestratorRebalanceSagaFailed", ORCHESTRATOR,
     "orchestrator_portfolio_rebalance_sagas", "bad_count > 0", (10 * SECOND_MS, 0, None, 30 * MINUTE_MS),
     "warning", None, None),
    # A p95 SLO alone on its SLI: its tiers take ~6 m 40 s after an hour of good traffic.
    ("Objective broken over 5 minutes: order acknowledgment p95", "TradingOrderAckLatencyP95High", TRADING,
     "trading_order_ack_latency", "p95 >= 500ms", (5 * MINUTE_MS, 0, None, 0), "warning", None, None),
    ("Objective broken over 5 minutes: analytics query p95", "AnalyticsQueryLatencyP95AboveObjective", ANALYTICS,
     "analytics_query_latency", "p95 >= 500ms", (5 * MINUTE_MS, 0, None, 0), "warning", None, None),
    ("Objective broken over 5 minutes: report generation p95", "AnalyticsReportGenerationSlow", ANALYTICS,
     "analytics_report_latency", "p95 >= 5s", (5 * MINUTE_MS, 0, None, 0), "warning", None, None),
]


# Rules that are no line of the document: the processor's own input (issue 8, "Rejected input is
# measured"), in the same shape as the table above.
INPUT_RULES = [
    ("A stream with over 1% of its messages dead-lettered for 2 minutes pages", "InputRejectedHigh",
     "slo-processor", "input_messages", "bad_ratio > 1%", (5 * MINUTE_MS, 2 * MINUTE_MS, None, 0), "critical", None,
     None),
    ("An SLI that cannot use over 1% of its messages for 2 minutes warns", "InputRejectedBySli", "slo-processor",
     "input_messages_by_sli", "bad_ratio > 1%", (5 * MINUTE_MS, 2 * MINUTE_MS, None, 0), "warning", None, None),
]


def _rule(a) -> tuple:  # type: ignore[no-untyped-def]
    return (
        a.name, a.service, a.sli, a.condition.text, (a.window_ms, a.for_ms, a.for_events, a.keep_firing_for_ms),
        a.severity, a.calendar, a.action,
    )


@pytest.mark.parametrize("rule", [c[1:] for c in ALERT_THRESHOLDS + INPUT_RULES],
                         ids=[c[0] for c in ALERT_THRESHOLDS + INPUT_RULES])
def test_each_alert_threshold_of_the_document_is_a_rule(spec: Config, rule: tuple) -> None:
    assert [rule] == [_rule(a) for a in spec.alerts if _rule(a) == rule]


def test_the_config_has_no_alert_rule_beyond_the_table(spec: Config) -> None:
    assert sorted(c[1:] for c in ALERT_THRESHOLDS + INPUT_RULES) == sorted(_rule(a) for a in spec.alerts)


def test_the_input_is_measured_per_stream_and_per_sli_as_ratios_of_the_engines_counts(spec: Config) -> None:
    measured = {(s.name, s.kind, s.subject, s.good_count_field, s.bad_count_field, s.series_label_names())
                for s in spec.slis if s.subject.startswith("slo.input.")}
    assert {
        ("input_messages", "ratio", "slo.input.stream", "accepted", "rejected", ("stream",)),
        ("input_messages_by_sli", "ratio", "slo.input.sli", "accepted", "rejected",
         ("stream", "target_sli", "target_service")),
    } == measured
    assert [] == [s.name for s in spec.slos if s.sli in {m[0] for m in measured}]


def test_calendar_cost_rules_count_the_day_and_month_in_utc(spec: Config) -> None:
    assert {("AiDailyTokenBudgetExceeded", "UTC"), ("AiMonthlyCostHigh", "UTC"), ("CapacityLlmTokensHigh", "UTC")} == {
        (a.name, a.timezone) for a in spec.alerts if a.calendar
    }


def test_the_two_kinds_of_staleness_are_told_apart_by_a_reason_label(spec: Config) -> None:
    assert [(("reason", "no_quotes"),), (("reason", "old_quotes"),)] == [
        a.labels for a in spec.alerts if a.name == "MarketDataStale"
    ]


def test_alerts_that_protect_an_slo_name_it(spec: Config) -> None:
    named = {a.name: a.slo for a in spec.alerts if a.slo}
    assert {
        "GatewayLatencyP95High": "gateway_latency_p95",
        "GatewayErrorRateHigh": "gateway_error_rate",
        "TradingOrderLatencyP95High": "trading_order_submission_latency_p95",
        "TradingPositionSyncMismatch": "trading_position_sync_accuracy",
        "AiDecisionLatencyP95High": "ai_decision_latency_p95",
        "MarketQuoteLatencyP95High": "market_quote_latency_p95",
        "MarketCacheHitRateLow": "market_cache_hit_rate",
        "MarketFailoverOffRoute": "market_failover_route",
        "AnalyticsQueryLatencyP95High": "analytics_query_latency_p95",
        "AnalyticsPnlCalculationError": "analytics_pnl_accuracy",
        "AnalyticsSnapshotGap": "analytics_snapshot_frequency",
        "OrchestratorCycleDurationP95High": "orchestrator_cycle_duration_p95",
        "OrchestratorCycleFailureRateHigh": "orchestrator_cycle_completion",
        # issue 9: SLOs whose volume no burn-rate tier fits
        "AiModelFallbackFailed": "ai_model_fallback_success",
        "MarketFailoverSlow": "market_provider_failover_time",
        "MarketReconnectionSlow": "market_reconnection_time",
        "OrchestratorAnalysisCycleSlow": "orchestrator_analysis_cycle_target",
        "OrchestratorRebalanceCycleSlow": "orchestrator_rebalance_cycle_target",
        "OrchestratorRebalanceSagaFailed": "orchestrator_portfolio_rebalance_saga",
        "TradingOrderAckLatencyP95High": "trading_order_ack_latency_p95",
        "AnalyticsQueryLatencyP95AboveObjective": "analytics_query_latency_p95",
        "AnalyticsReportGenerationSlow": "analytics_report_generation_p95",
    } == named


# ---------------------------------------------------------------------------- SLOs

# (the document's row, sli, objective as normalised stat/op/threshold)
SLOS = [
    # Global Platform SLAs
    ("SLA platform availability 99.5%, through the gateway", "gateway_requests", ("good_ratio", ">=", 0.995)),
    ("SLA order execution success 99.9%", "trading_order_outcomes", ("good_ratio", ">=", 0.999)),
    ("SLA data freshness < 5 seconds", "market_quote_freshness", ("p99", "<", 5000.0)),
    ("SLA API response time p95 < 500ms", "gateway_request_latency", ("p95", "<", 500.0)),
    # API Gateway
    ("Gateway availability 99.9%", "gateway_requests", ("good_ratio", ">=", 0.999)),
    ("Gateway latency p50 < 50ms", "gateway_request_latency", ("p50", "<", 50.0)),
    ("Gateway latency p95 < 200ms", "gateway_request_latency", ("p95", "<", 200.0)),
    ("Gateway latency p99 < 500ms", "gateway_request_latency", ("p99", "<", 500.0)),
    ("Gateway error rate < 0.1%", "gateway_requests", ("bad_ratio", "<", 0.001)),
    ("Gateway rate limit accuracy 99.99%", "gateway_rate_limit_accuracy", ("good_ratio", ">=", 0.9999)),
    # Trading Engine
    ("Trading availability 99.95% of minutes with a heartbeat", "trading_heartbeat", ("good_ratio", ">=", 0.9995)),
    ("Order execution success 99.9%", "trading_order_outcomes", ("good_ratio", ">=", 0.999)),
    ("Order submission latency p95 < 100ms", "trading_order_submission_latency", ("p95", "<", 100.0)),
    ("Order acknowledgment p95 < 500ms", "trading_order_ack_latency", ("p95", "<", 500.0)),
    ("Position sync accuracy 100%", "trading_position_sync", ("good_ratio", ">=", 1.0)),
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
    # AI Decision Service
    ("AI availability 99.5% of minutes with a heartbeat", "ai_heartbeat", ("good_ratio", ">=", 0.995)),
    ("Decision generation p50 < 2 seconds", "ai_decision_latency", ("p50", "<", 2000.0)),
    ("Decision generation p95 < 5 seconds", "ai_decision_latency", ("p95", "<", 5000.0)),
    ("Decision generation p99 < 10 seconds", "ai_decision_latency", ("p99", "<", 10000.0)),
    ("Model fallback success 99.9%", "ai_fallback_success", ("good_ratio", ">=", 0.999)),
    ("Decision quality > 55% accuracy", "ai_decision_quality", ("good_ratio", ">", 0.55)),
    ("OpenAI GPT-4o availability 99.5%", "ai_provider_openai", ("good_ratio", ">=", 0.995)),
    ("Groq Mixtral availability 99%", "ai_provider_groq", ("good_ratio", ">=", 0.99)),
    ("Together Llama availability 99%", "ai_provider_together", ("good_ratio", ">=", 0.99)),
    # Market Data Service
    ("Market availability 99.9% of minutes with a heartbeat", "market_heartbeat", ("good_ratio", ">=", 0.999)),
    # Issue 9: a market service that beats but fails its requests is down too.
    ("Market availability 99.9% of minutes answering requests", "market_request_outcomes",
     ("good_ratio", ">=", 0.999)),
    ("Quote latency p95 < 100ms", "market_quote_latency", ("p95", "<", 100.0)),
    ("Data freshness < 5 seconds", "market_quote_freshness", ("p99", "<", 5000.0)),
    ("Cache hit rate > 80%", "market_cache", ("good_ratio", ">", 0.8)),
    ("Provider failover time < 10 seconds", "market_provider_failover", ("p99", "<", 10000.0)),
    ("Failovers follow the data provider table", "market_failover_route", ("good_ratio", ">=", 1.0)),
    ("WebSocket uptime 99.9%", "market_stream_connection", ("good_ratio", ">=", 0.999)),
    ("Reconnection time < 5 seconds", "market_stream_reconnection", ("p99", "<", 5000.0)),
    # Analytics Service
    ("Analytics availability 99.5% of minutes with a heartbeat", "analytics_heartbeat", ("good_ratio", ">=", 0.995)),
    ("Query latency p95 < 500ms", "analytics_query_latency", ("p95", "<", 500.0)),
    ("P&L calculation accuracy 100%", "analytics_pnl_reconciliation", ("good_ratio", ">=", 1.0)),
    ("Snapshot every 60 seconds", "analytics_snapshots", ("good_ratio", ">=", 0.995)),
    ("Report generation p95 < 5 seconds", "analytics_report_latency", ("p95", "<", 5000.0)),
    ("Position sync lag < 5 seconds", "analytics_position_sync_lag", ("p99", "<", 5000.0)),
    # Orchestrator
    ("Orchestrator availability 99.9% of minutes with its own heartbeat", "orchestrator_heartbeat",
     ("good_ratio", ">=", 0.999)),
    ("Cycle completion rate 99.9%", "orchestrator_cycles", ("good_ratio", ">=", 0.999)),
    ("Cycle duration p95 < 120 seconds", "orchestrator_cycle_duration", ("p95", "<", 120_000.0)),
    ("Saga completion rate 99.5%", "orchestrator_sagas", ("good_ratio", ">=", 0.995)),
    ("Schedule accuracy < 5 second drift", "orchestrator_schedule_drift", ("good_ratio", ">=", 0.999)),
    ("Analysis cycle target < 60 seconds", "orchestrator_analysis_cycle_duration", ("p95", "<", 60_000.0)),
    ("Analysis cycle max 120 seconds", "orchestrator_analysis_cycle_duration", ("p99", "<", 120_000.0)),
    ("Heartbeat cycle target < 5 seconds", "orchestrator_heartbeat_cycle_duration", ("p95", "<", 5_000.0)),
    ("Heartbeat cycle max 10 seconds", "orchestrator_heartbeat_cycle_duration", ("p99", "<", 10_000.0)),
    ("Rebalance cycle target < 180 seconds", "orchestrator_rebalance_cycle_duration", ("p95", "<", 180_000.0)),
    ("Rebalance cycle max 300 seconds", "orchestrator_rebalance_cycle_duration", ("p99", "<", 300_000.0)),
    ("Order execution saga 99.9%", "orchestrator_order_execution_sagas", ("good_ratio", ">=", 0.999)),
    ("Position close saga 99.9%", "orchestrator_position_close_sagas", ("good_ratio", ">=", 0.999)),
    ("Portfolio rebalance saga 99%", "orchestrator_portfolio_rebalance_sagas", ("good_ratio", ">=", 0.99)),
    # Event Bus
    ("Bus availability 99.99%", "bus_publish", ("good_ratio", ">=", 0.9999)),
    ("Message delivery 99.999%", "bus_probe_delivery", ("good_ratio", ">=", 0.99999)),
    ("Publish latency p99 < 10ms", "bus_publish_latency", ("p99", "<", 10.0)),
    ("Consumer lag < 100 messages", "bus_consumer_lag", ("good_ratio", ">=", 0.9999)),
]

# Partial outages (issue 9): an error rate from `status` of each call that can fail; the document
# gives none but the gateway's, so each is held to its service's availability.
SLOS += [
    ("Market request error rate < 0.1 %", "market_request_status", ("bad_ratio", "<", 0.001)),
    ("Analytics query error rate < 0.5 %", "analytics_query_status", ("bad_ratio", "<", 0.005)),
    ("Report generation error rate < 0.5 %", "analytics_report_status", ("bad_ratio", "<", 0.005)),
    ("Cancel order error rate < 0.05 %", "trading_cancel_status", ("bad_ratio", "<", 0.0005)),
    ("Get positions error rate < 0.05 %", "trading_positions_status", ("bad_ratio", "<", 0.0005)),
    ("Decision error rate < 0.5 %", "ai_decision_status", ("bad_ratio", "<", 0.005)),
]


@pytest.mark.parametrize(("sli", "objective"), [c[1:] for c in SLOS], ids=[c[0] for c in SLOS])
def test_each_slo_of_the_document_is_declared(spec: Config, sli: str, objective: tuple[str, str, float]) -> None:
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
def test_critical_path_slis_select_their_order_type(spec: Config, sli: str, payload: dict, expected: bool) -> None:
    where = spec.sli(sli).where
    assert where is not None
    assert ("trade.order.submitted", expected) == (spec.sli(sli).subject, where.fn(payload))


def test_rate_limit_accuracy_counts_every_request(spec: Config) -> None:
    # A missed enforcement has rate_limited == false: filtering on rate_limited would never see it.
    sli = spec.sli("gateway_rate_limit_accuracy")
    missed_enforcement = {"rate_limited": False, "rate_limit_correct": False}
    assert sli.good is not None
    assert (None, False) == (sli.where, sli.good.fn(missed_enforcement))


# ---------------------------------------------------------------------------- what each SLI reads

# (sli, kind, subject, value field, minus field, labels as alert label names)
READS = [
    ("Freshness is a quote's event time minus its source time, per symbol", "market_quote_freshness", "latency",
     "market.quote.>", "ts", "quote_ts", ("symbol",)),
    ("Staleness reads the same age as a gauge, per symbol", "market_quote_age", "gauge", "market.quote.>", "ts",
     "quote_ts", ("symbol",)),
    ("Schedule drift is the start minus the scheduled time, per cycle type", "orchestrator_schedule_drift", "gauge",
     "trade.cycle.completed", "started_ts", "scheduled_ts", ("cycle_type",)),
    ("Provider failover time is the event's duration", "market_provider_failover", "latency",
     "market.provider.failover", "duration_ms", None, ()),
    ("AI cost is each decision's cost in dollars", "ai_decision_cost", "gauge", "ai.decision.generated", "cost_usd",
     None, ()),
    ("Consumer lag is the pending count per stream and consumer", "bus_consumer_lag", "gauge", "bus.consumer.lag",
     "pending", None, ("stream", "consumer")),
    ("Publish latency is the probe's publish-to-ack time", "bus_publish_latency", "latency", "bus.publish.probe",
     "latency_ms", None, ()),
    ("Position sync lag is the snapshot's lag", "analytics_position_sync_lag", "latency", "analytics.snapshot",
     "position_lag_ms", None, ()),
    ("CPU is labelled by the service it measures, renamed target_service", "capacity_cpu", "gauge",
     "analytics.capacity", "cpu_pct", None, ("target_service",)),
    ("Memory likewise", "capacity_memory", "gauge", "analytics.capacity", "mem_pct", None, ("target_service",)),
    ("Request queue likewise", "capacity_request_queue", "gauge", "analytics.capacity", "queue_depth", None,
     ("target_service",)),
    ("Database pool likewise", "capacity_db_connections", "gauge", "analytics.capacity", "db_conn_pct", None,
     ("target_service",)),
]


@pytest.mark.parametrize(
    ("sli", "kind", "subject", "value", "minus", "labels"), [c[1:] for c in READS], ids=[c[0] for c in READS]
)
def test_each_measured_sli_reads_its_payload_field(
    spec: Config, sli: str, kind: str, subject: str, value: str, minus: str | None, labels: tuple
) -> None:
    s = spec.sli(sli)
    assert (kind, subject, value, minus, labels) == (
        s.kind, s.subject, s.value_field, s.value_minus_field, s.series_label_names()
    )


def test_capacity_labels_read_the_payload_service_field(spec: Config) -> None:
    names = ("capacity_cpu", "capacity_memory", "capacity_request_queue", "capacity_db_connections")
    assert {(("service",), 50)} == {(spec.sli(n).labels, spec.sli(n).max_series) for n in names}


# (sli, entity field, known entities, bad states, bad when, series labels)
STATES = [
    ("The broker connection, per broker", "trading_broker_connection", "broker", (), ("down",), "any", ("broker",)),
    ("All LLM providers: bad only while all three are down", "ai_providers", "provider",
     ("openai", "groq", "together"), ("down",), "all", ()),
    ("All data providers: bad only while all six are down", "market_providers", "provider",
     ("alpaca", "finnhub", "polygon", "coingecko", "newsapi", "gdelt"), ("down",), "all", ()),
    ("WebSocket streams: bad while any is disconnected", "market_stream_connection", "stream", (), ("disconnected",),
     "any", ()),
    ("The analytics database, one state", "analytics_db_connection", None, (), ("down",), "any", ()),
    ("JetStream streams, per stream", "bus_streams", "stream", (), ("down",), "any", ("stream",)),
    ("OpenAI's own availability", "ai_provider_openai", None, (), ("down",), "any", ()),
]


@pytest.mark.parametrize(
    ("sli", "entity", "entities", "bad_states", "bad_when", "labels"), [c[1:] for c in STATES],
    ids=[c[0] for c in STATES],
)
def test_state_slis(
    spec: Config, sli: str, entity: str | None, entities: tuple, bad_states: tuple, bad_when: str, labels: tuple
) -> None:
    s = spec.sli(sli)
    assert ("state", entity, entities, bad_states, bad_when, labels, "state") == (
        s.kind, s.entity_field, s.entities, s.bad_states, s.bad_when, s.labels, s.state_field
    )


# (sli, output, fixed timeout, per-type timeouts)
SAGA_TIMEOUTS = (("order_execution", 60_000), ("position_close", 60_000), ("portfolio_rebalance", 300_000))
CORRELATIONS = [
    ("Every saga, with its type's timeout", "orchestrator_sagas", "outcome", None, SAGA_TIMEOUTS),
    ("Order execution sagas time out after 60 s", "orchestrator_order_execution_sagas", "outcome", 60_000, ()),
    ("Position close sagas time out after 60 s", "orchestrator_position_close_sagas", "outcome", 60_000, ()),
    ("Portfolio rebalance sagas time out after 300 s", "orchestrator_portfolio_rebalance_sagas", "outcome",
     300_000, ()),
    ("Reconnection time runs from disconnected to connected", "market_stream_reconnection", "duration", None, ()),
]


@pytest.mark.parametrize(
    ("sli", "output", "timeout_ms", "timeouts"), [c[1:] for c in CORRELATIONS], ids=[c[0] for c in CORRELATIONS]
)
def test_correlations(spec: Config, sli: str, output: str, timeout_ms: int | None, timeouts: tuple) -> None:
    c = spec.sli(sli).correlation
    assert c is not None
    assert (output, timeout_ms, timeouts, "saga_type" if timeouts else None) == (
        c.output, c.timeout_ms, c.timeouts_ms, c.timeout_by_field
    )


# (sli, predicate, subject as the engine provides it, payload, expected)
SAGA = "orchestrator_sagas"
CORRELATION_ROLES = [
    ("A saga starts on trade.saga.started", SAGA, "start", "trade.saga.started", True),
    ("A completion is not a start", SAGA, "start", "trade.saga.completed", False),
    ("A saga ends on trade.saga.completed", SAGA, "end", "trade.saga.completed", True),
    ("A saga fails on trade.saga.failed", SAGA, "fail", "trade.saga.failed", True),
]


@pytest.mark.parametrize(
    ("sli", "role", "subject", "expected"), [c[1:] for c in CORRELATION_ROLES], ids=[c[0] for c in CORRELATION_ROLES]
)
def test_saga_roles_read_the_subject(spec: Config, sli: str, role: str, subject: str, expected: bool) -> None:
    predicate = getattr(spec.sli(sli).correlation, role)
    payload = {"saga_id": "s1", "saga_type": "order_execution", "_subject": subject}
    assert expected == predicate.fn(payload)


# (sli, which predicate, payload, expected)
PREDICATES = [
    ("Alpaca fails over to Finnhub", "market_failover_route", "good", {"from": "alpaca", "to": "finnhub"}, True),
    ("Finnhub fails over to Polygon", "market_failover_route", "good", {"from": "finnhub", "to": "polygon"}, True),
    ("NewsAPI fails over to GDELT", "market_failover_route", "good", {"from": "newsapi", "to": "gdelt"}, True),
    ("Alpaca to Polygon is off the route", "market_failover_route", "good", {"from": "alpaca", "to": "polygon"},
     False),
    ("CoinGecko has no failover", "market_failover_route", "good", {"from": "coingecko", "to": "finnhub"}, False),
    ("A decision above $0.10 is expensive", "ai_expensive_decisions", "where", {"cost_usd": 0.11}, True),
    ("A decision of exactly $0.10 is not", "ai_expensive_decisions", "where", {"cost_usd": 0.10}, False),
    # Issue 9: the fallback rows read primary_failed (fallbacks were tried), not fallback (one answered).
    ("A decision whose primary failed is not the primary's", "ai_primary_answers", "good",
     {"primary_failed": True, "fallback": True}, False),
    ("A decision whose every model failed is not the primary's either", "ai_primary_answers", "good",
     {"primary_failed": True, "fallback": False}, False),
    ("A cached decision is not in the primary fallback rate", "ai_primary_answers", "where", {"cached": True}, False),
    ("An uncached decision is", "ai_primary_answers", "where", {"cached": False}, True),
    ("Fallback success looks at decisions whose primary failed only", "ai_fallback_success", "where",
     {"primary_failed": False, "fallback": False}, False),
    ("A fallback that failed is still a fallback", "ai_fallback_success", "where",
     {"primary_failed": True, "fallback": False}, True),
    ("A crash is an unexpected stop", "orchestrator_agents_stopped", "where",
     {"state": "stopped", "reason": "crash"}, True),
    ("A requested stop is expected", "orchestrator_agents_stopped", "where",
     {"state": "stopped", "reason": "requested"}, False),
    ("Issue 9: a stop without a reason is unexpected", "orchestrator_agents_stopped", "where",
     {"state": "stopped"}, True),
    ("A running agent without a reason is no stop", "orchestrator_agents_stopped", "where", {"state": "running"},
     False),
    ("A cache miss is bad", "market_cache", "good", {"cache": "miss"}, False),
    ("A request that bypassed the cache is not in the hit rate", "market_cache", "where", {"cache": "none"}, False),
    ("Quote requests only", "market_quote_latency", "where", {"op": "get_bars"}, False),
    ("A reconciliation with discrepancies is bad", "trading_position_sync", "good", {"discrepancies": 2}, False),
    ("A P&L reconciliation without mismatches is good", "analytics_pnl_reconciliation", "good", {"mismatches": 0},
     True),
    # Issue 9: trade.heartbeat is shared; each service is up by its own beats only.
    ("The orchestrator's heartbeat names it", "orchestrator_heartbeat", "where", {"service": "orchestrator"}, True),
    ("The engine's heartbeat is not the orchestrator's", "orchestrator_heartbeat", "where",
     {"service": "trading-engine"}, False),
    ("The engine's heartbeat names it", "trading_heartbeat", "where", {"service": "trading-engine"}, True),
    ("The orchestrator's heartbeat is not the engine's", "trading_heartbeat", "where", {"service": "orchestrator"},
     False),
    ("A failed market request is bad", "market_request_outcomes", "good", {"status": "error"}, False),
    ("A failed publish is bad", "bus_publish", "good", {"status": "error"}, False),
    ("Publish latency only of acknowledged probes", "bus_publish_latency", "where", {"status": "error"}, False),
]


@pytest.mark.parametrize(
    ("sli", "which", "payload", "expected"), [c[1:] for c in PREDICATES], ids=[c[0] for c in PREDICATES]
)
def test_predicates_select_what_the_document_means(
    spec: Config, sli: str, which: str, payload: dict, expected: bool
) -> None:
    predicate = getattr(spec.sli(sli), which)
    assert predicate is not None
    assert expected == predicate.fn(payload)


# ---------------------------------------------------------------------------- the event bus

def _stream_files() -> dict[str, dict]:
    return {
        d["name"]: d
        for d in (json.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "streams").glob("*.json")))
    }


def test_the_bus_monitor_measures_every_consumer_and_counts_the_messages_of_the_platform_streams(
    spec: Config,
) -> None:
    # Issue 9: the platform's consumers on the four streams, the processor's own durables among them
    # (found, not listed); as many as the lag SLI keeps series.
    monitor = spec.bus_monitor
    assert monitor is not None
    inputs = sorted(name for name in _stream_files() if name != "SLO")
    assert (5_000, "slo.probe", 5_000) == (monitor.interval_ms, monitor.probe_subject, monitor.delivery_timeout_ms)
    assert (sorted(_stream_files()), [], inputs, inputs) == (
        sorted(monitor.streams), sorted(monitor.consumers), sorted(monitor.discover_consumers),
        sorted(monitor.count_messages),
    )
    assert spec.sli("bus_consumer_lag").max_series == monitor.max_consumers


def test_the_probe_subject_is_in_the_slo_stream() -> None:
    assert ["slo.>"] == _stream_files()["SLO"]["subjects"]


# "Stream Configuration SLOs": (stream, subjects, retention, replicas, max age)
STREAM_TABLE = [
    ("market.* keeps 1 hour", "MARKET", "market.>", 3_600),
    ("trade.* keeps 7 days", "TRADE", "trade.>", 7 * 86_400),
    ("ai.* keeps 24 hours", "AI", "ai.>", 86_400),
    ("analytics.* keeps 30 days", "ANALYTICS", "analytics.>", 30 * 86_400),
]


@pytest.mark.parametrize(("name", "subject", "max_age_s"), [c[1:] for c in STREAM_TABLE],
                         ids=[c[0] for c in STREAM_TABLE])
def test_stream_definitions_follow_the_stream_configuration_table(name: str, subject: str, max_age_s: int) -> None:
    d = _stream_files()[name]
    assert ([subject], "limits", 3, max_age_s * 1_000_000_000) == (
        d["subjects"], d["retention"], d["num_replicas"], d["max_age"]
    )


# ---------------------------------------------------------------------------- error budgets

PLATFORM_TIERS = ("warning", "critical", "emergency")  # the platform catalogue without 1x "normal"
GATEWAY_GATES = (1000, 100)  # (long, short) at 1,000 requests/min
CATALOGUE_GATES = (100, 10)
# Low volume (issue 9): gates from the SLO's expected volume: the long gate about what 10 minutes hold,
# the short one a third of what the 10x tier's 5-minute window holds (at most the catalogue's).
CANCEL_GATES = (70, 10)  # ~7 cancels a minute
DECISION_GATES = (60, 10)  # ~6 decisions a minute
CYCLE_GATES = (20, 3)  # ~2 cycles (or reports) a minute
SNAPSHOT_GATES = (10, 1)  # one snapshot a minute
NO_GATES = (0, 0)  # time slices: the gates would count minutes
OCC, SLICES = "occurrences", "time_slices"
# (slo, method, objective ratio, calendar, tiers, gates, slice condition); every window is 30 days (a
# calendar month nominally so). An SLO at 100 % has no budget: (method, ...) is None.
BUDGETS = [
    ("Gateway availability: minutes up, 30 days rolling, every minute counts", "gateway_availability", SLICES,
     0.999, None, PLATFORM_TIERS, NO_GATES, "bad_ratio < 1%"),
    ("Gateway availability as a calendar-month SLA view, without alerts", "gateway_availability_monthly", SLICES,
     0.999, "month", (), None, "bad_ratio < 1%"),
    ("Gateway error rate", "gateway_error_rate", OCC, 0.999, None, PLATFORM_TIERS, GATEWAY_GATES, None),
    ("Gateway p50: no 5x or 10x tier, which a 50 % budget cannot reach", "gateway_latency_p50", OCC, 0.5, None,
     ("normal", "warning"), GATEWAY_GATES, None),
    ("Gateway p95", "gateway_latency_p95", OCC, 0.95, None, PLATFORM_TIERS, GATEWAY_GATES, None),
    ("Gateway p99", "gateway_latency_p99", OCC, 0.99, None, PLATFORM_TIERS, GATEWAY_GATES, None),
    ("Gateway rate limit accuracy", "gateway_rate_limit_accuracy", OCC, 0.9999, None, PLATFORM_TIERS, GATEWAY_GATES,
     None),
    ("Trading availability: minutes with a heartbeat, every minute counts", "trading_availability", SLICES, 0.9995,
     None, PLATFORM_TIERS, NO_GATES, "count >= 1"),
    ("Order execution success", "trading_order_execution_success", OCC, 0.999, None, PLATFORM_TIERS,
     CATALOGUE_GATES, None),
    *[
        (f"Trading latency {name}", name, OCC, ratio, None, PLATFORM_TIERS,
         CANCEL_GATES if "cancel" in name else CATALOGUE_GATES, None)
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
    ("Position sync accuracy: 100 %, no budget", "trading_position_sync_accuracy", None, 1.0, None, (), None, None),
    ("AI availability: minutes with a heartbeat", "ai_availability", SLICES, 0.995, None, PLATFORM_TIERS, NO_GATES,
     "count >= 1"),
    ("AI p50: no 5x or 10x tier", "ai_decision_latency_p50", OCC, 0.5, None, ("normal", "warning"),
     DECISION_GATES, None),
    ("AI p95", "ai_decision_latency_p95", OCC, 0.95, None, PLATFORM_TIERS, DECISION_GATES, None),
    ("AI p99", "ai_decision_latency_p99", OCC, 0.99, None, PLATFORM_TIERS, DECISION_GATES, None),
    ("Model fallback success: a few an hour, no tiers (AiModelFallbackFailed)", "ai_model_fallback_success", OCC,
     0.999, None, (), None, None),
    ("Decision quality: a 45 % budget cannot reach 5x or 10x", "ai_decision_quality", OCC, 0.55, None,
     ("normal", "warning"), CATALOGUE_GATES, None),
    *[
        (f"LLM provider {name}: minutes up for at least half of them", f"ai_provider_{name}_availability", SLICES,
         ratio, None, PLATFORM_TIERS, NO_GATES, "good_ratio >= 50%")
        for name, ratio in [("openai", 0.995), ("groq", 0.99), ("together", 0.99)]
    ],
    ("Market availability: minutes with a heartbeat", "market_availability", SLICES, 0.999, None, PLATFORM_TIERS,
     NO_GATES, "count >= 1"),
    ("Market availability: minutes in which at least half the requests succeeded", "market_request_availability",
     SLICES, 0.999, None, PLATFORM_TIERS, NO_GATES, "good_ratio >= 50%"),
    ("Quote latency", "market_quote_latency_p95", OCC, 0.95, None, PLATFORM_TIERS, CATALOGUE_GATES, None),
    ("Data freshness", "market_data_freshness", OCC, 0.99, None, PLATFORM_TIERS, CATALOGUE_GATES, None),
    ("Cache hit rate: a 20 % budget cannot reach 10x", "market_cache_hit_rate", OCC, 0.8, None,
     ("warning", "critical"), CATALOGUE_GATES, None),
    ("Provider failover time: a few a day, no tiers (MarketFailoverSlow)", "market_provider_failover_time", OCC,
     0.99, None, (), None, None),
    ("Failover route: 100 %, no budget", "market_failover_route", None, 1.0, None, (), None, None),
    ("WebSocket uptime", "market_websocket_uptime", SLICES, 0.999, None, PLATFORM_TIERS, NO_GATES,
     "good_ratio >= 50%"),
    ("Message delivery, from the reports' counts", "market_message_delivery", OCC, 0.9999, None, PLATFORM_TIERS,
     CATALOGUE_GATES, None),
    ("Reconnection time: a few a day, no tiers (MarketReconnectionSlow)", "market_reconnection_time", OCC, 0.99,
     None, (), None, None),
    ("Analytics availability: minutes with a heartbeat", "analytics_availability", SLICES, 0.995, None,
     PLATFORM_TIERS, NO_GATES, "count >= 1"),
    ("Query latency", "analytics_query_latency_p95", OCC, 0.95, None, PLATFORM_TIERS, CATALOGUE_GATES, None),
    ("P&L accuracy: 100 %, no budget", "analytics_pnl_accuracy", None, 1.0, None, (), None, None),
    ("P&L reconciliation: 100 %, no budget", "analytics_pnl_reconciliation", None, 1.0, None, (), None, None),
    ("Snapshot frequency: minutes ending at most 70 s after a snapshot", "analytics_snapshot_frequency", SLICES,
     0.995, None, PLATFORM_TIERS, NO_GATES, "since_last <= 70s"),
    ("Report generation", "analytics_report_generation_p95", OCC, 0.95, None, PLATFORM_TIERS, CYCLE_GATES, None),
    ("Position sync lag", "analytics_position_sync_lag", OCC, 0.99, None, PLATFORM_TIERS, SNAPSHOT_GATES, None),
    ("Orchestrator availability: minutes with a heartbeat", "orchestrator_availability", SLICES, 0.999, None,
     PLATFORM_TIERS, NO_GATES, "count >= 1"),
    ("Cycle completion", "orchestrator_cycle_completion", OCC, 0.999, None, PLATFORM_TIERS, CYCLE_GATES, None),
    ("Cycle duration", "orchestrator_cycle_duration_p95", OCC, 0.95, None, PLATFORM_TIERS, CYCLE_GATES, None),
    ("Saga completion", "orchestrator_saga_completion", OCC, 0.995, None, PLATFORM_TIERS, CATALOGUE_GATES, None),
    ("Schedule accuracy: minutes without a start 5 s late", "orchestrator_schedule_accuracy", SLICES, 0.999, None,
     PLATFORM_TIERS, NO_GATES, "max < 5s"),
    *[
        # analysis (12 an hour) and rebalance (48 a day) cycles: no tiers, a rule each
        (f"Cycle table {name}", name, OCC, ratio, None, *((PLATFORM_TIERS, CYCLE_GATES) if "heartbeat" in name
                                                         else ((), None)), None)
        for name, ratio in [
            ("orchestrator_analysis_cycle_target", 0.95),
            ("orchestrator_analysis_cycle_max", 0.99),
            ("orchestrator_heartbeat_cycle_target", 0.95),
            ("orchestrator_heartbeat_cycle_max", 0.99),
            ("orchestrator_rebalance_cycle_target", 0.95),
            ("orchestrator_rebalance_cycle_max", 0.99),
        ]
    ],
    ("Order execution saga", "orchestrator_order_execution_saga", OCC, 0.999, None, PLATFORM_TIERS, CATALOGUE_GATES,
     None),
    ("Position close saga", "orchestrator_position_close_saga", OCC, 0.999, None, PLATFORM_TIERS, CATALOGUE_GATES,
     None),
    ("Portfolio rebalance saga: 48 a day, no tiers (OrchestratorRebalanceSagaFailed)",
     "orchestrator_portfolio_rebalance_saga", OCC, 0.99, None, (), None, None),
    ("Bus availability: minutes with most probes acknowledged", "bus_availability", SLICES, 0.9999, None,
     PLATFORM_TIERS, NO_GATES, "good_ratio >= 50%"),
    ("Message delivery", "bus_message_delivery", OCC, 0.99999, None, PLATFORM_TIERS, CATALOGUE_GATES, None),
    ("Publish latency", "bus_publish_latency_p99", OCC, 0.99, None, PLATFORM_TIERS, CATALOGUE_GATES, None),
    ("Consumer lag: minutes below 100 pending", "bus_consumer_lag", SLICES, 0.9999, None, PLATFORM_TIERS, NO_GATES,
     "max < 100"),
    ("SLA platform availability, the gateway's minutes of a calendar month", "sla_platform_availability", SLICES,
     0.995, "month", (), None, "bad_ratio < 1%"),
    ("SLA order execution success, a calendar month", "sla_order_execution_success", OCC, 0.999, "month", (), None,
     None),
    ("SLA data freshness, a calendar month", "sla_data_freshness", OCC, 0.99, "month", (), None, None),
    ("SLA API response time, a calendar month", "sla_api_response_time", OCC, 0.95, "month", (), None, None),
]

# Partial outages (issue 9): the platform tiers; reports (~2.4 a minute) with gates of their own.
BUDGETS += [
    ("Market request error rate", "market_request_error_rate", OCC, 0.999, None, PLATFORM_TIERS, CATALOGUE_GATES,
     None),
    ("Analytics query error rate", "analytics_query_error_rate", OCC, 0.995, None, PLATFORM_TIERS, CATALOGUE_GATES,
     None),
    ("Report error rate: gates for ~2 reports a minute", "analytics_report_error_rate", OCC, 0.995, None,
     PLATFORM_TIERS, CYCLE_GATES, None),
    ("Cancel error rate", "trading_cancel_error_rate", OCC, 0.9995, None, PLATFORM_TIERS, CANCEL_GATES, None),
    ("Get positions error rate", "trading_positions_error_rate", OCC, 0.9995, None, PLATFORM_TIERS,
     CATALOGUE_GATES, None),
    ("Decision error rate", "ai_decision_error_rate", OCC, 0.995, None, PLATFORM_TIERS, DECISION_GATES, None),
]


# A model right 70 % of the time spends two thirds of a 45 % budget as a matter of course: the policy
# would always say "prioritize reliability".
NO_POLICY = {"ai_decision_quality"}


def test_the_budget_table_covers_every_slo(spec: Config) -> None:
    assert sorted(s.name for s in spec.slos) == sorted(c[1] for c in BUDGETS)


@pytest.mark.parametrize(
    ("slo_name", "method", "ratio", "calendar", "tiers", "gates", "slice_condition"), [c[1:] for c in BUDGETS],
    ids=[c[0] for c in BUDGETS],
)
def test_each_slo_has_its_budget(
    spec: Config, slo_name: str, method: str | None, ratio: float, calendar: str | None, tiers: tuple,
    gates: tuple | None, slice_condition: str | None,
) -> None:
    [slo] = [s for s in spec.slos if s.name == slo_name]
    budget = slo.budget
    if method is None:
        assert (None, ratio) == (budget, slo.objective_ratio)
        return
    assert budget is not None
    assert (method, ratio, calendar, 30 * DAY_MS, 30 * DAY_MS) == (
        budget.method, slo.objective_ratio, budget.calendar, budget.window_ms, slo.window_ms
    )
    assert (tiers, "platform" if tiers else None) == (tuple(t.tier for t in budget.burn_tiers), budget.catalogue)
    assert ({gates} if tiers else set()) == {(t.min_events_long, t.min_events_short) for t in budget.burn_tiers}
    assert (slice_condition, MINUTE_MS) == (
        budget.slice_condition.text if budget.slice_condition else None, budget.slice_ms
    )
    # The policy follows the rolling budget; the SLA views only report.
    assert (calendar is None and slo_name not in NO_POLICY, 0.02, 60_000, 3_600_000) == (
        budget.policy, budget.hysteresis, budget.report_every_ms, budget.exhaustion_window_ms
    )


def test_the_platform_tiers_are_the_documents_burn_rate_levels(spec: Config) -> None:
    [slo] = [s for s in spec.slos if s.name == "gateway_availability"]
    assert slo.budget is not None
    assert [
        ("warning", 2.0, DAY_MS, 2 * 3_600_000, "warning"),
        ("critical", 5.0, 6 * 3_600_000, 30 * 60_000, "critical"),
        ("emergency", 10.0, 3_600_000, 5 * 60_000, "emergency"),
    ] == [(t.tier, t.burn, t.long_ms, t.short_ms, t.severity) for t in slo.budget.burn_tiers]


def test_the_monthly_sla_view_is_a_calendar_month_in_utc(spec: Config) -> None:
    [slo] = [s for s in spec.slos if s.name == "gateway_availability_monthly"]
    assert slo.budget is not None
    assert ("gateway_requests", "month", "UTC", (), False) == (
        slo.sli, slo.budget.calendar, slo.budget.timezone, slo.budget.burn_tiers, slo.budget.policy
    )


def test_trading_availability_counts_minutes_with_a_heartbeat(spec: Config) -> None:
    [slo] = [s for s in spec.slos if s.name == "trading_availability"]
    sli = spec.sli(slo.sli)
    assert slo.budget is not None
    assert ("events", "trade.heartbeat", TRADING) == (sli.kind, sli.subject, sli.service)
    assert ("time_slices", 60_000, Condition(stat=Stat(kind="count"), op=">=", threshold=1.0, text="count >= 1")) == (
        slo.budget.method, slo.budget.slice_ms, slo.budget.slice_condition
    )
    # A minute without a heartbeat fails count >= 1 on its own: the no_data setting never applies.
    assert (False, True) == (slo.budget.slice_condition.holds(0), slo.budget.slice_condition.holds(1))


# Each service's availability is measured by its own heartbeat subject.
HEARTBEATS = [
    ("AI decision service", "ai_availability", AI, "ai.heartbeat"),
    ("Market data service", "market_availability", MARKET, "market.heartbeat"),
    ("Analytics service", "analytics_availability", ANALYTICS, "analytics.heartbeat"),
    # Issue 9: on trade.heartbeat, by its own beats (where: service == "orchestrator"), not its cycles.
    ("Orchestrator", "orchestrator_availability", ORCHESTRATOR, "trade.heartbeat"),
]


@pytest.mark.parametrize(
    ("slo_name", "service", "subject"), [c[1:] for c in HEARTBEATS], ids=[c[0] for c in HEARTBEATS]
)
def test_availability_is_measured_by_heartbeats(spec: Config, slo_name: str, service: str, subject: str) -> None:
    [slo] = [s for s in spec.slos if s.name == slo_name]
    sli = spec.sli(slo.sli)
    assert ("events", subject, service) == (sli.kind, sli.subject, slo.service)


# ---------------------------------------------------------------------------- docs/slo-coverage.md

# Rows that are no line of the document: K and B (its code blocks), I1-I2 (the processor's input),
# P1-P6 (partial outages, issue 9: error rates the document does not list).
BEYOND_THE_DOCUMENT = ("K", "B", "I1", "I2", *(f"P{i}" for i in range(1, 7)))


def _coverage_rows() -> dict[str, str]:
    """The coverage table rows by their number (#1..#145) and those of BEYOND_THE_DOCUMENT."""
    rows: dict[str, str] = {}
    text = (ROOT / "docs" / "slo-coverage.md").read_text(encoding="utf-8")
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] and (cells[0].isdigit() or cells[0] in BEYOND_THE_DOCUMENT):
            assert cells[0] not in rows, f"row {cells[0]} twice"
            rows[cells[0]] = line
    return rows


def test_the_coverage_document_has_every_row_of_the_slo_document_once() -> None:
    numbered = sorted(int(k) for k in _coverage_rows() if k.isdigit())
    assert (list(range(1, 146)), set(BEYOND_THE_DOCUMENT)) == (
        numbered, {k for k in _coverage_rows() if not k.isdigit()}
    )


def test_every_slo_and_alert_rule_of_the_config_is_in_the_coverage_document(spec: Config) -> None:
    text = "\n".join(_coverage_rows().values())
    names = {s.name for s in spec.slos} | {a.name for a in spec.alerts}
    assert set() == {n for n in names if f"`{n}`" not in text}


def test_every_name_the_coverage_document_gives_exists_in_the_config(spec: Config) -> None:
    import re

    text = "\n".join(_coverage_rows().values())
    known = {s.name for s in spec.slis} | {s.name for s in spec.slos} | {a.name for a in spec.alerts}
    what = r"(?:SLOs?|SLIs?|alerts?|gauge|correlation|state SLI|events SLI)"
    quoted = set(re.findall(what + r" `([A-Za-z_]+)`", text))
    assert set() == quoted - known


@pytest.mark.parametrize("doc", ["README.md", "docs/config.md"])
def test_the_documents_give_the_counts_that_slo_validate_prints(spec: Config, doc: str) -> None:
    # README's figures are hand-written: they must follow the config (issue 9).
    import re

    text = (ROOT / doc).read_text(encoding="utf-8")
    figures = re.findall(r"(\d+) SLIs, (\d+) SLOs, (\d+) alert rules", text)
    assert figures
    assert {(len(spec.slis), len(spec.slos), len(spec.alerts))} == {tuple(map(int, f)) for f in figures}
