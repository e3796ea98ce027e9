"""What the live processor logs about the actions it publishes: enough to act on from the log alone."""

from __future__ import annotations

import asyncio

import structlog
from structlog.testing import capture_logs

from processor.engine.outputs import AlertAction, Outputs, PolicyAction
from processor.runtime.outbox import Outbox


def test_a_policy_change_is_logged_with_its_slo_both_tiers_and_the_budget_left():
    policy = PolicyAction(slo="gateway_error_rate", service="api-gateway", evaluated_at_ms=0, policy="feature_freeze",
                          previous_policy="prioritize_reliability", action="feature freeze, focus on stability",
                          remaining=0.241234)
    cost = AlertAction(service="ai-decision", alertname="AiRequestCostHigh", action="use cached reasoning",
                       labels=(), fingerprint="f", evaluated_at_ms=0, value=2.5)
    with capture_logs() as logs:
        outbox = Outbox(None, asyncio.Event(), structlog.get_logger("slo"))  # type: ignore[arg-type]
        outbox._log_outputs("ANALYTICS", [], Outputs(actions=[policy, cost]), [])  # noqa: SLF001
    assert [
        {"event": "action.budget_policy", "log_level": "warning", "service": "api-gateway", "slo": "gateway_error_rate",
         "policy": "feature_freeze", "previous_policy": "prioritize_reliability", "remaining": 0.2412,
         "action": "feature freeze, focus on stability"},
        {"event": "action.alert", "log_level": "warning", "service": "ai-decision", "alertname": "AiRequestCostHigh",
         "action": "use cached reasoning"},
    ] == logs
