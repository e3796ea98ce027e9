"""`slo tail --json`: each message as the replay's NDJSON lines have it; a dead letter's raw
message unchanged, as text when it is UTF-8 and as ``data_b64`` when it is not (decoding it with
replacement characters would lose the bytes one needs to fix it and publish it again)."""

from __future__ import annotations

import base64

import orjson

from processor.client import Output
from processor.ops.cli import json_line

HEADERS = {"Slo-Reason": "not_json"}


def test_a_dead_letter_that_is_not_utf8_keeps_its_bytes_in_data_b64():
    raw = b"\xff\xfe\x00garbage"
    line = orjson.loads(json_line(Output("slo.deadletter.not_json", "deadletter", None, raw, HEADERS, 7)))
    assert {"subject": "slo.deadletter.not_json", "seq": 7, "headers": HEADERS,
            "data_b64": base64.b64encode(raw).decode()} == line
    assert raw == base64.b64decode(line["data_b64"])


def test_a_dead_letter_that_is_text_is_data_and_an_output_its_json_body():
    letter = orjson.loads(json_line(Output("slo.deadletter.not_json", "deadletter", None, b"{oops \xc3\xa9", HEADERS, 8)))
    assert "{oops é" == letter["data"] and "data_b64" not in letter
    body = {"status": "firing", "labels": {"alertname": "X"}}
    alert = orjson.loads(json_line(Output("slo.alerts.page.svc", "alerts", body, orjson.dumps(body), {}, 9)))
    assert {"subject": "slo.alerts.page.svc", "seq": 9, "data": body} == alert


def test_a_readable_sli_line_shows_a_stat_without_events_as_a_dash_not_none():
    from processor.ops.lines import format_line

    body = {"evaluatedAt": "2026-12-03T10:00:00.000Z", "service": "api-gateway", "sli": "gateway_requests",
            "values": {"count": 0, "good_ratio": None, "bad_count": 2}}
    line = format_line(Output("slo.sli.api-gateway.gateway_requests", "sli", body, orjson.dumps(body), {}, 3))
    assert line.endswith("SLI      api-gateway gateway_requests count=0 good_ratio=- bad_count=2")


def test_a_budget_line_says_when_its_policy_is_held_by_policy_min_events():
    from processor.ops.lines import format_line

    def line(total: int) -> str:
        body = {"evaluatedAt": "2026-12-03T10:00:00.000Z", "service": "api-gateway", "slo": "gateway_error_rate",
                "method": "occurrences", "total": total, "remaining": -10.111, "policy": "normal",
                "policyMinEvents": 100, "burnRates": {"5m": 1011.1}}
        return format_line(Output("slo.budget.api-gateway.gateway_error_rate", "budget", body, orjson.dumps(body), {}, 4))

    assert line(9).endswith("remaining=-1011.1% policy=normal (held: 9 of the 100 events it needs) burn 5m=1011.10")
    assert line(100).endswith("remaining=-1011.1% policy=normal burn 5m=1011.10")
