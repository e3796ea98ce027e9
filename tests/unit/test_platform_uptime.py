"""Issue 9, "Uptime": the gateway's availability and the platform's monthly uptime are budgets of
one-minute slices of the shipped config/slo.yaml. A minute is down when 1 % or more of the gateway's
requests got a 5xx (the slice condition, bad_ratio < 1%) or when the gateway was silent in it after
having been seen (no_data: bad); minutes before its first request are not counted. Each scenario
failed on the config before (a request-based copy of the error-rate SLO, which read a silent gateway
as 100 %). Expected values are worked by hand in the comments.

Times: T is a whole minute (2026-01-05 14:00:00 UTC). The engine's clock starts at the first
boundary, (first event - 5 s lateness) floored to 10 s = T - 10 s; one-minute slices from T on are
counted, the slice [T - 1m, T) starts before the state began and is not."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from tests.enginekit import Msg
from tests.platformkit import MIN, S, T
from tests.platformkit import burns as _burns
from tests.platformkit import last_report as _last_report
from tests.platformkit import run as _run

UPTIME_SLOS = ("gateway_availability", "gateway_availability_monthly", "sla_platform_availability")


def _request(ts_ms: int, status_code: int = 200) -> Msg:
    return Msg("analytics.gateway.request", orjson.dumps({
        "ts": ts_ms, "route": "/api/v1/portfolio", "method": "GET", "status_code": status_code,
        "latency_ms": 20.0, "rate_limited": False, "rate_limit_correct": True,
    }))


def test_a_silent_gateway_after_being_seen_burns_its_minutes():
    # 30 good requests a minute (every 2 s from T + 1 s) for 5 minutes, then nothing until 15m.
    msgs = [_request(T + S + i * 2 * S) for i in range(150)]
    out = _run(msgs, T + 15 * MIN)
    # Slices [0, 1m) .. [14m, 15m): five up, then ten silent after the gateway was seen: down.
    # Before: 150 good requests of 150, 100 %.
    for slo in UPTIME_SLOS:
        report = _last_report(out, slo)
        assert ("time_slices", 5, 15) == (report.method, report.good, report.total), slo
    # The first silent slice [5m, 6m) closes at 6m = 360 s: 1 bad of 6 is 1/6 / 0.1 % = 167x over the
    # 1 h, 6 h and 1 d windows, and the 5 m window [1m, 6m) holds 1 bad of 5 (200x): every tier of
    # the platform catalogue (2x, 5x, 10x; no gates on minutes) fires there. Only the rolling SLO
    # alerts; the calendar views report.
    assert [("critical", "firing", 360), ("emergency", "firing", 360), ("warning", "firing", 360)] == _burns(
        out, "gateway_availability")
    assert [] == _burns(out, "gateway_availability_monthly") + _burns(out, "sla_platform_availability")


def test_a_gateway_failing_above_the_slice_condition_for_3_minutes_burns_3_minutes():
    # 100 requests a minute (every 600 ms from T + 300 ms) for 10 minutes. In minutes 3, 4 and 5 the
    # first request is a 503: 1 of 100 = 1 %, not under 1 %: down. In minute 8 another 100 requests
    # (every 600 ms from 8m) and one of them a 500: 1 of 200 = 0.5 %, up.
    msgs = [_request(T + 300 + i * 600, 503 if i in (300, 400, 500) else 200) for i in range(1000)]
    msgs += [_request(T + 8 * MIN + i * 600, 500 if i == 50 else 200) for i in range(100)]
    out = _run(msgs, T + 10 * MIN)
    # 10 slices, 3 down: 7 good. Before: 1,096 good requests of 1,100.
    for slo in UPTIME_SLOS:
        report = _last_report(out, slo)
        assert (7, 10, 3) == (report.good, report.total, report.total - report.good), slo
    # The first down slice [3m, 4m) closes at 4m = 240 s: 1 bad of 4 counted slices is 250x; every
    # tier fires. The emergency tier's 5 m window is clean of [5m, 6m) only at 11m, after the end.
    assert [("critical", "firing", 240), ("emergency", "firing", 240), ("warning", "firing", 240)] == _burns(
        out, "gateway_availability")


def test_a_gateway_never_seen_burns_nothing_and_is_reported_as_never_seen():
    # Only the analytics service's heartbeats (every 10 s from T + 1 s) for 15 minutes: the gateway
    # never answers a request.
    msgs = [Msg("analytics.heartbeat", orjson.dumps({"ts": T + S + i * 10 * S})) for i in range(90)]
    out = _run(msgs, T + 15 * MIN)
    # Its minutes are unknown, not down: no slice counted, no tier fires.
    for slo in UPTIME_SLOS:
        assert {(0, 0)} == {(b.good, b.total) for b in out.budgets if b.slo == slo}, slo
        assert [] == _burns(out, slo)
    # ServiceNeverReported instead, once never_seen_grace (5 m) has passed since the state began at
    # T - 10 s: at 290 s. Before, no SLO read the gateway's silence, and nothing said it was missing.
    never = [(a.status, (a.evaluated_at_ms - T) // S) for a in out.alerts
             if a.label_map["alertname"] == "ServiceNeverReported" and a.label_map["sli"] == "gateway_requests"]
    assert [("firing", 290)] == never


def test_the_minutes_before_the_gateways_first_request_are_not_counted_the_silence_after_it_is():
    # The analytics service beats every 10 s from T + 1 s (the state begins at T - 10 s); the gateway
    # answers its first request at 5m 50s, then one every 2 s until 9m 58s, then nothing until 15m.
    msgs = [Msg("analytics.heartbeat", orjson.dumps({"ts": T + S + i * 10 * S})) for i in range(90)]
    msgs += [_request(T + 5 * MIN + 50 * S + i * 2 * S) for i in range(125)]
    out = _run(msgs, T + 15 * MIN)
    # [0, 1m) .. [4m, 5m) closed before the gateway was seen: not counted. [5m, 6m) holds its first
    # five requests: up, as are [6m, 7m) .. [9m, 10m); [10m, 11m) .. [14m, 15m) are silent: down.
    for slo in UPTIME_SLOS:
        report = _last_report(out, slo)
        assert (5, 10) == (report.good, report.total), slo
    # The first silent minute closes at 11m = 660 s: 1 bad of 6 counted minutes (167x) over the long
    # windows, 1 of 5 over the 5 m one: every tier fires there.
    assert [("critical", "firing", 660), ("emergency", "firing", 660), ("warning", "firing", 660)] == _burns(
        out, "gateway_availability")


def _ms(year: int, month: int, day: int = 1) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("start_ms", "month_start_ms", "month_end_ms", "platform_minutes", "gateway_minutes"),
    [
        # January: 31 x 1,440 = 44,640 minutes. 0.5 % of them is 223.2, 0.1 % is 44.64.
        (T, _ms(2026, 1), _ms(2026, 2), 223.2, 44.64),
        # February 2026: 28 x 1,440 = 40,320 minutes: 201.6 and 40.32.
        (_ms(2026, 2, 10), _ms(2026, 2), _ms(2026, 3), 201.6, 40.32),
        # April: 30 x 1,440 = 43,200 minutes: 216 (3.6 hours) and 43.2.
        (_ms(2026, 4, 10), _ms(2026, 4), _ms(2026, 5), 216.0, 43.2),
    ],
    ids=["31-day month", "28-day month", "30-day month"],
)
def test_the_budgets_allow_their_share_of_the_minutes(start_ms, month_start_ms, month_end_ms, platform_minutes,
                                                      gateway_minutes):
    out = _run([_request(start_ms + S + i * 2 * S) for i in range(60)], start_ms + 3 * MIN)
    # Rolling 30 days: 0.1 % of 30 x 1,440 = 43,200 minutes is 43.2 bad minutes, the document's figure.
    # Before: allowed bad requests, 0.1 % of the 60 requests seen.
    rolling = _last_report(out, "gateway_availability")
    assert pytest.approx(43.2, rel=1e-12) == rolling.allowed_bad
    for slo, allowed in [("sla_platform_availability", platform_minutes), ("gateway_availability_monthly", gateway_minutes)]:
        report = _last_report(out, slo)
        assert (month_start_ms, month_end_ms) == (report.period_start_ms, report.period_end_ms), slo
        assert pytest.approx(allowed, rel=1e-12) == report.allowed_bad, slo
