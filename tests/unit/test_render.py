import orjson
import pytest

from processor.engine.outputs import AlertTransition, Rejection
from processor.runtime.render import alert_message, deadletter_message, rfc3339_ms, subject_token


def test_rfc3339_keeps_milliseconds_in_utc():
    # 1,700,000,000 s after the epoch is 2023-11-14 22:13:20 UTC.
    assert "2023-11-14T22:13:20.250Z" == rfc3339_ms(1_700_000_000_250)
    assert "1970-01-01T00:00:00.007Z" == rfc3339_ms(7)


def test_subject_tokens_lose_dots_spaces_and_wildcards():
    assert "api_gateway_v1__" == subject_token("api.gateway v1*>")


def test_an_alert_is_published_on_its_severity_and_service_with_alertmanager_fields():
    alert = AlertTransition(
        status="resolved",
        labels=(("alertname", "X"), ("service", "api-gateway"), ("severity", "critical")),
        templates=(("summary", "s"),),
        fingerprint="abc",
        active_at_ms=1_700_000_000_000,
        starts_at_ms=1_700_000_060_000,
        ends_at_ms=1_700_000_120_000,
        value=None,
        threshold=400.0,
        expr="p95 > 400ms",
        window_ms=60_000,
        window="1m",
        for_ms=120_000,
        evaluated_at_ms=1_700_000_120_000,
    )
    subject, payload, msg_id = alert_message(alert)
    body = orjson.loads(payload)
    assert "slo.alerts.critical.api-gateway" == subject
    assert "abc-resolved-1700000060000" == msg_id
    assert {
        "status": "resolved",
        "labels": {"alertname": "X", "service": "api-gateway", "severity": "critical"},
        "annotations": {"summary": "s", "runbook_url": "docs/runbooks.md#x"},
        "activeAt": "2023-11-14T22:13:20.000Z",
        "startsAt": "2023-11-14T22:14:20.000Z",
        "endsAt": "2023-11-14T22:15:20.000Z",
        "fingerprint": "abc",
        "value": None,
        "threshold": 400.0,
        "expr": "p95 > 400ms",
        "window": "1m",
        "for": "2m",
        "evaluatedAt": "2023-11-14T22:15:20.000Z",
    } == body


def _firing(alertname: str) -> AlertTransition:
    return AlertTransition(
        status="firing",
        labels=(("alertname", alertname), ("service", "api-gateway"), ("severity", "warning")),
        templates=(("summary", "p95 is {value}"),), fingerprint="f", active_at_ms=0, starts_at_ms=0,
        ends_at_ms=None, value=2.0, threshold=1.0, expr="p95 > 1ms", window_ms=60_000, window="1m", for_ms=0,
        evaluated_at_ms=0,
    )


def test_an_alert_links_its_runbook_section_by_githubs_anchor_of_its_name():
    annotations = orjson.loads(alert_message(_firing("GatewayLatencyP95High"))[1])["annotations"]
    # The heading "## GatewayLatencyP95High" of docs/runbooks.md, relative to the repository.
    assert {"summary": "p95 is 2.0", "runbook_url": "docs/runbooks.md#gatewaylatencyp95high"} == annotations


def test_an_alerts_runbook_url_starts_with_the_base_url_from_defaults():
    from processor.config.load import load_config_text

    config = load_config_text(
        "version: 1\ndefaults:\n  runbook_base_url: https://wiki.example.com/slo/runbooks\n"
        "slis:\n  s: {service: a, kind: events, subject: a.b}\n"
    )
    _, payload, _ = alert_message(_firing("ErrorBudgetBurn"), config.defaults.runbook_base_url)
    assert "https://wiki.example.com/slo/runbooks#errorbudgetburn" == orjson.loads(payload)["annotations"]["runbook_url"]


def test_runbook_base_url_may_not_be_empty_or_carry_an_anchor_of_its_own():
    from processor.config.load import load_config_text
    from processor.errors import ConfigError

    for bad in ('""', "docs/runbooks.md#top"):
        with pytest.raises(ConfigError, match="runbook_base_url"):
            load_config_text(f"version: 1\ndefaults:\n  runbook_base_url: {bad}\n"
                             "slis:\n  s: {service: a, kind: events, subject: a.b}\n")


def test_a_dead_letter_keeps_the_raw_bytes_and_says_where_they_came_from():
    subject, payload, headers, msg_id = deadletter_message(
        Rejection(3, "not_json", "payload is not valid JSON"), "trade.order.submitted", b"{oops", "TRADE", 42
    )
    assert "slo.deadletter.not_json" == subject
    assert b"{oops" == payload
    assert "trade.order.submitted" == headers["Slo-Original-Subject"]
    assert "42" == headers["Slo-Stream-Seq"]
    assert "dl-TRADE-42" == msg_id


def test_a_dead_letter_too_large_for_its_headers_is_cut_to_exactly_the_servers_max_payload():
    max_payload = 1024 * 1024
    subject = "market.quote.\u00fc\U0001f642"  # header bytes, not characters, count
    raw = b"{" + b" " * (max_payload - 1)
    _, payload, headers, msg_id = deadletter_message(
        Rejection(0, "not_json", "payload is not valid JSON"), subject, raw, "MARKET", 7, max_payload)
    # The header block as the client writes it, with the Nats-Msg-Id the publisher adds.
    block = "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Nats-Msg-Id": msg_id}.items()) + "\r\n"
    assert (max_payload, str(max_payload)) == (len(block.encode()) + len(payload), headers["Slo-Original-Size"])
    assert raw.startswith(payload)
    _, small, small_headers, _ = deadletter_message(
        Rejection(0, "not_json", "payload is not valid JSON"), subject, b"{oops", "MARKET", 8, max_payload)
    assert (b"{oops", False) == (small, "Slo-Original-Size" in small_headers)


def test_a_dead_letter_names_the_slis_that_rejected_it_and_only_then():
    partly = Rejection(0, "missing_field", "rate_limit_correct", ("gateway_rate_limit_accuracy", "other"), True)
    _, _, headers, _ = deadletter_message(partly, "analytics.gateway.request", b"{}", "ANALYTICS", 7)
    assert ("missing_field", "gateway_rate_limit_accuracy,other") == (headers["Slo-Reason"], headers["Slo-Rejected-Slis"])
    _, _, headers, _ = deadletter_message(Rejection(0, "not_json", "x"), "a.b", b"{", "ANALYTICS", 8)
    assert "Slo-Rejected-Slis" not in headers


def test_a_budget_report_goes_to_its_service_and_slo_subject_with_times_as_rfc3339():
    from processor.engine.outputs import BudgetReport, PolicyAction
    from processor.runtime.render import action_message, budget_message

    report = BudgetReport(
        slo="gateway_availability", service="api-gateway", sli="gateway_requests", reason="periodic",
        evaluated_at_ms=1_700_000_060_000, method="occurrences", objective=0.999, window="30d",
        period_start_ms=1_697_408_060_000, period_end_ms=1_700_000_060_000, good=4_315_680, total=4_320_000,
        allowed_bad=4320.0, consumed=1.0, remaining=0.0, remaining_bad=0.0,
        burn_rates=((300_000, 2.0), (3_600_000, None)), time_to_exhaustion_ms=0, policy="emergency",
    )
    subject, payload, msg_id = budget_message(report)
    body = orjson.loads(payload)
    assert "slo.budget.api-gateway.gateway_availability" == subject
    assert "budget-gateway_availability-1700000060000-periodic" == msg_id
    assert ("2023-10-15T22:14:20.000Z", 4320, {"5m": 2.0, "1h": None}, 0.0) == (
        body["periodStart"], body["bad"], body["burnRates"], body["timeToExhaustionSeconds"]
    )
    action = PolicyAction(slo="gateway_availability", service="api-gateway", evaluated_at_ms=1_700_000_060_000,
                          policy="feature_freeze", previous_policy="prioritize_reliability",
                          action="feature freeze, focus on stability", remaining=0.2)
    subject, payload, msg_id = action_message(action)
    assert "slo.actions.api-gateway" == subject
    assert "feature freeze, focus on stability" == orjson.loads(payload)["action"]


def test_a_time_move_names_its_stream_the_sequence_it_follows_and_the_boundary():
    from processor.runtime.render import clock_message

    subject, payload, msg_id = clock_message("TRADE", 1_700_000_010_000, 42)
    assert "slo.clock.TRADE" == subject
    assert {"stream": "TRADE", "afterSeq": 42, "closedThroughMs": 1_700_000_010_000,
            "closedThrough": "2023-11-14T22:13:30.000Z"} == orjson.loads(payload)
    # One move per boundary and stream: a replica or a restart making the same move is a duplicate.
    assert "clock-TRADE-1700000010000" == msg_id


def test_a_budget_report_carries_policy_min_events_and_the_slo_page_says_when_it_holds_the_policy():
    from dataclasses import replace

    from processor.engine.outputs import BudgetReport
    from processor.runtime import page
    from processor.runtime.render import budget_message

    report = BudgetReport(
        slo="gateway_error_rate", service="api-gateway", sli="gateway_requests", reason="periodic",
        evaluated_at_ms=1_700_000_060_000, method="occurrences", objective=0.999, window="30d",
        period_start_ms=1_697_408_060_000, period_end_ms=1_700_000_060_000, good=8, total=9, allowed_bad=0.009,
        consumed=111.1, remaining=-110.1, remaining_bad=-0.991, burn_rates=(), time_to_exhaustion_ms=0,
        policy="normal", policy_min_events=100,
    )
    assert 100 == orjson.loads(budget_message(report)[1])["policyMinEvents"]
    assert "normal (held: 9 of the 100 events it needs)" == page._policy_text(report)
    assert "normal" == page._policy_text(replace(report, good=99, total=100))
    slices = replace(report, method="time_slices", total=3, policy_min_events=10)
    assert "normal (held: 3 of the 10 slices it needs)" == page._policy_text(slices)
