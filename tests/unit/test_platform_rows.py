"""Issue 9, "Config rows to correct or add": each corrected row of config/slo.yaml measures what the
document says, shown on the shipped config by the engine. Each scenario failed on the config before
the correction. Expected times and values are worked by hand in the comments.

Times: T is a whole minute (2026-01-05 14:00:00 UTC). The engine's clock starts at the first
boundary, (first event - 5 s lateness) floored to 10 s; one-minute slices from T on are counted, the
slice before T is outside every window (tests/unit/test_engine_never_seen.py)."""

from __future__ import annotations

import pytest

from tests.platformkit import MIN, S, T
from tests.platformkit import burns as _burns
from tests.platformkit import last_report as _last_report
from tests.platformkit import msg as _msg
from tests.platformkit import run as _run


def _alerts(out, name: str) -> list[tuple[str, int]]:
    return [(a.status, (a.evaluated_at_ms - T) // S) for a in out.alerts if a.label_map["alertname"] == name]


# ---------------------------------------------------------------- trade.heartbeat, per service

# Both tiers at the first bad minute's end: one bad slice of six is far above every tier's burn for
# both objectives (1/6 / 0.0005 = 333x for trading, 1/6 / 0.001 = 167x for the orchestrator), and the
# tiers have no gates (min_events: 0); the 5-minute short window then holds [1m, 6m), 1 bad of 5.
FIRST_BAD_MINUTE_ENDS = [("critical", "firing", 360), ("emergency", "firing", 360), ("warning", "firing", 360)]


@pytest.mark.parametrize(
    ("silent", "silent_slo", "beating_slo"),
    [
        ("trading-engine", "trading_availability", "orchestrator_availability"),
        ("orchestrator", "orchestrator_availability", "trading_availability"),
    ],
    ids=["orchestrator heartbeats alone do not keep trading up",
         "engine heartbeats alone do not keep the orchestrator up"],
)
def test_the_other_services_heartbeats_do_not_keep_a_service_up(silent: str, silent_slo: str, beating_slo: str):
    beating = "orchestrator" if silent == "trading-engine" else "trading-engine"
    # Both beat every 10 s from T + 3 s; the silent one stops after 5 minutes (last beat 4m 53s),
    # the other goes on to 14m 53s.
    msgs = [_msg("trade.heartbeat", T + 3 * S + i * 10 * S, service=silent) for i in range(30)]
    msgs += [_msg("trade.heartbeat", T + 3_100 + i * 10 * S, service=beating) for i in range(90)]
    out = _run(msgs, T + 15 * MIN)
    # Slices [0, 1m) .. [14m, 15m): the silent service beat in the first five (good), then not in
    # the ten after (bad: seen, then silent). Before the fix every beat on trade.heartbeat counted for
    # both, and all 15 minutes were good.
    silent_report = _last_report(out, silent_slo)
    assert (5, 15) == (silent_report.good, silent_report.total)
    beating_report = _last_report(out, beating_slo)
    assert (15, 15) == (beating_report.good, beating_report.total)
    # The first bad slice [5m, 6m) closes at 6m.
    assert FIRST_BAD_MINUTE_ENDS == _burns(out, silent_slo)
    assert [] == _burns(out, beating_slo)


# ---------------------------------------------------------------- ai.decision.generated

def _decision(ts_ms: int, *, cached: bool = False, primary_failed: bool = False, fallback: bool = False,
              ok: bool = True) -> Msg:
    provider = "groq" if fallback else "openai"
    return _msg(
        "ai.decision.generated", ts_ms, decision_id=f"d{ts_ms}", provider=provider, model="m",
        latency_ms=40 if cached else 1_300, status="ok" if ok else "error", primary_failed=primary_failed,
        fallback=fallback, cached=cached, tokens=0 if cached else 600, cost_usd=0 if cached else 0.002,
    )


def test_a_fallback_that_fails_is_a_fallback_failure():
    # Every 10 s from T + 1 s for 5 minutes, 30 decisions whose primary failed: i % 3 == 0 answered by
    # a fallback (10), the other 20 failed by every model (fallback false: no model answered).
    # Plus 30 cached decisions and 30 the primary answered, which are no fallbacks at all.
    msgs = [_decision(T + S + i * 10 * S, primary_failed=True, fallback=i % 3 == 0, ok=i % 3 == 0) for i in range(30)]
    msgs += [_decision(T + 2 * S + i * 10 * S, cached=True) for i in range(30)]
    msgs += [_decision(T + 3 * S + i * 10 * S) for i in range(30)]
    out = _run(msgs, T + 5 * MIN)
    # All 30 fallbacks are in the budget, 10 good and 20 bad. Before the fix (where: fallback) only
    # the 10 that a fallback answered were, all good: the budget read 100 %.
    report = _last_report(out, "ai_model_fallback_success")
    assert (10, 30) == (report.good, report.total)


def test_cached_decisions_do_not_dilute_the_primary_fallback_rate():
    # Uncached decisions every 30 s from T + 1 s (20, the last at 9m 31s); the primaries of the last
    # two (9m 1s, 9m 31s) failed and a fallback answered. Cached decisions every 5 s from T + 2 s
    # (120, the last at 9m 57s).
    msgs = [_decision(T + S + i * 30 * S, primary_failed=i >= 18, fallback=i >= 18) for i in range(20)]
    msgs += [_decision(T + 2 * S + j * 5 * S, cached=True) for j in range(120)]
    out = _run(msgs, T + 10 * MIN)
    # The first failure's sub-window [9m, 9m 10s) closes at 9m 10s = 550 s. The 10-minute window
    # there starts before the first event and holds uncached i = 0..18: 1 bad of 19 = 5.26 % > 5 %.
    # Before the fix the 110 cached decisions of that window counted too: 1 of 129 = 0.78 %, and at
    # 9m 40s 2 of 136 = 1.5 %, so the alert never fired. Nothing resolves it before 10m.
    assert [("firing", 550)] == _alerts(out, "AiPrimaryModelFallbackRateHigh")
    [firing] = [a for a in out.alerts if a.label_map["alertname"] == "AiPrimaryModelFallbackRateHigh"]
    assert firing.value == pytest.approx(1 / 19)


# ---------------------------------------------------------------- market.request

def _request(ts_ms: int, ok: bool) -> Msg:
    return _msg("market.request", ts_ms, op="get_bars", latency_ms=4.0, status="ok" if ok else "error",
                cache="hit", provider="alpaca")


def test_a_market_service_that_heartbeats_but_fails_requests_burns_its_budget():
    # Heartbeats every 10 s from T + 3 s throughout (15 minutes). Requests every 2 s from T + 1 s:
    # in [0, 5m) one in three fails (i % 3 == 0: 10 of each minute's 30), from 5m every one fails.
    msgs = [_msg("market.heartbeat", T + 3 * S + i * 10 * S) for i in range(90)]
    msgs += [_request(T + S + i * 2 * S, ok=(i < 150 and i % 3 != 0)) for i in range(450)]
    out = _run(msgs, T + 15 * MIN)
    # Beating throughout, the heartbeat SLO sees 15 good minutes; before the fix that was all there was.
    beats = _last_report(out, "market_availability")
    assert (15, 15) == (beats.good, beats.total)
    assert [] == _burns(out, "market_availability")
    # By requests: a minute with 20 of 30 good (66.7 % >= 50 %) is up, one with none is down: 5 good
    # of 15. The first bad slice [5m, 6m) closes at 6m: 1 bad of 6 is 167x a 99.9 % budget.
    requests = _last_report(out, "market_request_availability")
    assert (5, 15) == (requests.good, requests.total)
    assert FIRST_BAD_MINUTE_ENDS == _burns(out, "market_request_availability")


# ---------------------------------------------------------------- trade.agent.status

def test_an_agent_stopped_without_a_reason_is_unexpected_and_alerts():
    # momentum reports stopped with no reason at T + 15 s; mean_reversion reports running (requested)
    # every 10 s, which moves event time on.
    msgs = [_msg("trade.agent.status", T + 15 * S, agent="momentum", state="stopped")]
    msgs += [_msg("trade.agent.status", T + 1_000 + i * 10 * S, agent="mean_reversion", state="running",
                  reason="requested") for i in range(60)]
    out = _run(msgs, T + 10 * MIN)
    # count > 0 over the 10 s window fires on the stop itself (docs/config.md, "Rules that fire on
    # the event"): at 15 s its window [10s, 20s) holds it. The boundary 20 s still holds; 30 s no
    # longer does; kept firing for 5m, it resolves at 30 s + 5m = 330 s. Before the fix,
    # where: reason != "requested" left the stop without a reason out: no alert at all.
    assert [("firing", 15), ("resolved", 330)] == _alerts(out, "OrchestratorAgentStoppedUnexpectedly")
    [firing] = [a for a in out.alerts if a.label_map["alertname"] == "OrchestratorAgentStoppedUnexpectedly"
                and a.status == "firing"]
    assert (T + 15 * S, T + 15 * S) == (firing.active_at_ms, firing.starts_at_ms)
    assert ("momentum", "critical") == (firing.label_map["agent"], firing.label_map["severity"])
