"""Capacity Planning, "Current Baseline" (issue 9): usage reaching 80 % of baseline x headroom warns.
The shipped config, the engine alone; expected times worked out by hand, never recorded from the
engine. Interpretation of each row: docs/slo-coverage.md, #131-#134."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from processor.config.load import load_config
from processor.engine.core import Engine
from tests.enginekit import T0_MS, Msg

S = 1000
GATEWAY = {"route": "/api/portfolio", "method": "GET", "status_code": 200, "latency_ms": 60.0,
           "rate_limited": False, "rate_limit_correct": True}
DECISION = {"provider": "openai", "model": "gpt-4o", "latency_ms": 1300.0, "status": "ok", "primary_failed": False,
            "fallback": False, "cached": False, "cost_usd": 0.001}


@pytest.fixture(scope="module")
def spec():
    return load_config("config/slo.yaml")


def _alerts(out, name: str, origin_ms: int) -> list[tuple[str, int]]:
    return [(a.status, (a.evaluated_at_ms - origin_ms) // S) for a in out.alerts if a.label_map["alertname"] == name]


def _msg(subject: str, ts_ms: int, payload: dict) -> Msg:
    return Msg(subject, orjson.dumps({"ts": ts_ms, **payload}))


def test_api_requests_at_80_percent_of_the_headroom_warn(spec):
    # Two minutes at the simulator's nominal 1,200 requests/min (every 50 ms from T0 + 1 ms), then
    # from F = T0 + 120 s two minutes at one request every 7 ms (~8,571/min), then nothing.
    # The rule (count >= 8000) fires on the request that completes it (docs/config.md, "Rules that
    # fire on the event"): a request at F + x is checked against the 1 m window ending at its own
    # sub-window's end. For x in [40 s, 50 s) that is [F - 10 s, F + 50 s): 200 slow requests and
    # at most ceil(49,999 / 7) = 7,143 fast ones, 7,343 < 8,000. For x in [50 s, 60 s) it is
    # [F, F + 60 s), fast requests only: the 8,000th, at F + 1 + 7 * 7,999 ms = F + 55,994 ms,
    # fires. After F + 120 s: at F + 120 s the window [F + 60 s, F + 120 s) holds 8,571 (still firing); at
    # F + 130 s [F + 70 s, F + 120 s) holds 7,143 < 8,000 -> resolves at F + 130 s.
    f_ms = T0_MS + 120 * S
    slow = [_msg("analytics.gateway.request", t, GATEWAY) for t in range(T0_MS + 1, f_ms, 50)]
    fast = [_msg("analytics.gateway.request", t, GATEWAY) for t in range(f_ms + 1, f_ms + 120 * S, 7)]
    engine = Engine(spec)
    out = engine.ingest(slow + fast)
    out.extend(engine.advance(f_ms + 200 * S))
    assert [("firing", 55), ("resolved", 130)] == _alerts(out, "CapacityApiRequestsHigh", f_ms)
    assert [f_ms + 55_994] == [a.starts_at_ms for a in out.alerts if a.status == "firing"
                               and a.label_map["alertname"] == "CapacityApiRequestsHigh"]


def test_a_stream_at_80_percent_of_the_bus_headroom_warns(spec):
    # 14 messages every millisecond on the MARKET stream for a minute from T0: 840,000 a minute.
    # Each message is checked against the window ending at its sub-window's end, which holds every
    # message so far until T0 + 60 s: by T0 + 50 s 700,000; the 800,000th (index 799,999, in the
    # millisecond 799,999 // 14 = 57,142) fires at T0 + 57.142 s. At the boundary T0 + 70 s
    # [T0 + 10 s, T0 + 70 s) holds 700,000 -> resolves.
    one = [_msg("market.heartbeat", T0_MS + ms, {}) for ms in range(60 * S)]
    engine = Engine(spec)
    out = engine.ingest([m for m in one for _ in range(14)])
    out.extend(engine.advance(T0_MS + 120 * S))
    assert [("firing", 57), ("resolved", 70)] == _alerts(out, "CapacityEventMessagesHigh", T0_MS)
    assert T0_MS + 57_142 == next(a.starts_at_ms for a in out.alerts if a.status == "firing"
                                  and a.label_map["alertname"] == "CapacityEventMessagesHigh")
    assert {"MARKET"} == {a.label_map["stream"] for a in out.alerts if a.label_map["alertname"] ==
                          "CapacityEventMessagesHigh"}


def test_llm_tokens_at_80_percent_of_the_daily_headroom_warn_until_midnight(spec):
    # From midnight UTC a decision every 10 s (the nominal 6 a minute) of 1,000 tokens, 900 of them.
    # The 800th (k = 799, at 7,990 s + 1 ms) brings the day's sum to 800,000: its sub-window closes
    # at 8,000 s -> fires. The boundary at midnight (86,400 s) closes the day's last sub-window and
    # so still reports that day (the day of t - 1 ms, as tests/reference.py reads a calendar rule);
    # the next boundary, 86,410 s, sees the new day's empty sum -> resolves.
    day_ms = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)
    decisions = [
        _msg("ai.decision.generated", day_ms + 1 + k * 10 * S, {**DECISION, "decision_id": f"d{k}", "tokens": 1000})
        for k in range(900)
    ]
    engine = Engine(spec)
    out = engine.ingest(decisions)
    out.extend(engine.advance(day_ms + 86_400 * S + 20 * S))
    assert [("firing", 8000), ("resolved", 86_410)] == _alerts(out, "CapacityLlmTokensHigh", day_ms)


def _bus_round(ts_ms: int, messages_per_stream: int) -> list[Msg]:
    return [_msg("bus.stream.messages", ts_ms, {"stream": s, "messages": messages_per_stream})
            for s in ("MARKET", "TRADE", "AI", "ANALYTICS")]


def test_the_bus_as_a_whole_at_80_percent_of_its_headroom_warns_though_no_stream_is(spec):
    # Twelve bus monitor rounds, every 5 s from T0 (T0 .. T0 + 55 s), in each of which every one of
    # the four streams stored 20,000 messages: 80,000 a round, 960,000 in the minute, but 240,000 per
    # stream, far below what the per-stream rule needs. The sum fires on the message that brings it
    # there (docs/config.md, "Rules that fire on the event"), checked against the window ending at
    # its sub-window's end: round 8 (40 s) against [-10 s, 50 s), 9 rounds, 720,000; round 9 (45 s),
    # the same window: its fourth message makes 800,000 >= 800,000 -> fires at T0 + 45 s. At
    # boundary T0 + x the 1 m window holds the rounds in [x - 60 s, x): x = 50 and 60 hold; x = 70: rounds from 10 s, 10 of them, 800,000 (still firing); x = 80:
    # rounds from 20 s, 8 of them, 640,000 -> resolves at T0 + 80 s.
    engine = Engine(spec)
    out = engine.ingest([m for k in range(12) for m in _bus_round(T0_MS + k * 5 * S, 20_000)])
    out.extend(engine.advance(T0_MS + 120 * S))
    assert [("firing", 45), ("resolved", 80)] == _alerts(out, "CapacityBusMessagesHigh", T0_MS)
    assert [] == _alerts(out, "CapacityEventMessagesHigh", T0_MS)
    [firing, _] = [a for a in out.alerts if a.label_map["alertname"] == "CapacityBusMessagesHigh"]
    assert 800_000 == firing.value


def test_a_bus_just_under_80_percent_of_its_headroom_does_not_warn(spec):
    # The same minute with one message fewer in one stream's last round: 799,999 at most.
    rounds = [m for k in range(10) for m in _bus_round(T0_MS + k * 5 * S, 20_000)]
    rounds[-1] = _msg("bus.stream.messages", T0_MS + 45 * S, {"stream": "ANALYTICS", "messages": 19_999})
    engine = Engine(spec)
    out = engine.ingest(rounds)
    out.extend(engine.advance(T0_MS + 120 * S))
    assert [] == _alerts(out, "CapacityBusMessagesHigh", T0_MS)
