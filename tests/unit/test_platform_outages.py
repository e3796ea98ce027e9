"""Partial outages (issue 9): a service that heartbeats but fails its calls burns the error-rate SLO
of those calls. The shipped config, the engine alone, traffic at the simulator's nominal volume
(``processor/simulate/platform.py``, rate 20): an hour of clean calls, then every call fails.
Expected firing times are worked out by hand below, never recorded from the engine.

How the times follow. Calls come every ``period`` from T0 + 1 ms; the failure starts at F = T0 + 1 h.
At the boundary F + x a tier fires when bad / total >= burn x (1 - objective) over both of its
windows and each holds its gate of events (exact comparison: a burn of exactly 10x fires). The
state began at T0 - 10 s (the first boundary before the first watermark), so the 1 d and 6 h
windows hold only the calls since T0: total (3600 + x) / period, bad x / period. The 1 h window
holds exactly 3600 / period calls, x / period of them bad. The short windows hold more failures in
proportion than the long ones, and pass as soon as the long one does (checked row by row)."""

from __future__ import annotations

import orjson
import pytest

from processor.config.load import load_config
from processor.engine.core import Engine
from tests.enginekit import T0_MS, Msg

S = 1000
F_MS = T0_MS + 3600 * S  # the failure begins one hour in

# Payloads as EVENTS.md gives them, so that the other SLIs on the subject take the event too.
PAYLOADS = {
    "market.request": {"op": "get_quote", "latency_ms": 5.0, "cache": "hit", "provider": "alpaca"},
    "analytics.query": {"latency_ms": 40.0},
    "analytics.report.generated": {"report": "daily_pnl", "latency_ms": 900.0},
    "trade.order.cancelled": {"order_id": "ord-1", "latency_ms": 35.0},
    "trade.positions.fetched": {"latency_ms": 8.0},
    "ai.decision.generated": {"decision_id": "dec-1", "provider": "openai", "model": "gpt-4o", "latency_ms": 1300.0,
                              "primary_failed": False, "fallback": False, "cached": False, "tokens": 600,
                              "cost_usd": 0.002},
}

# (SLO, subject, period in ms at nominal volume, {tier: seconds after F at which it fires})
OUTAGES = [
    # 600 requests a minute (0.5 x rate). Objective 99.9 %: 1 - o = 0.001.
    #   warning 2x:    x / (3600 + x) >= 0.002 -> x >= 7.2 s   -> F + 10 s
    #   critical 5x:   x / (3600 + x) >= 0.005 -> x >= 18.1 s  -> F + 20 s (30 m: 200 bad of 18,000, 1.1 %)
    #   emergency 10x: x / 3600 >= 0.01        -> x >= 36 s    -> F + 40 s (5 m: 400 bad of 3,000)
    pytest.param("market_request_error_rate", "market.request", 100,
                 {"warning": 10, "critical": 20, "emergency": 40}, id="market requests"),
    # 120 queries a minute (0.1 x rate): every 0.5 s. Objective 99.5 %: 1 - o = 0.005.
    #   warning:   x / (3600 + x) >= 0.01  -> x >= 36.4 s -> F + 40 s
    #   critical:  x / (3600 + x) >= 0.025 -> x >= 92.3 s -> F + 100 s (30 m: 200 bad of 3,600, 5.6 %)
    #   emergency: x / 3600 >= 0.05        -> x >= 180 s  -> F + 180 s, exactly 10x (5 m: 360 of 600)
    pytest.param("analytics_query_error_rate", "analytics.query", 500,
                 {"warning": 40, "critical": 100, "emergency": 180}, id="analytics queries"),
    # ~2.4 reports a minute (0.002 x rate): every 30 s, a little under the nominal volume. 99.5 %;
    # the SLO's own gates, 50 and 5. 120 reports before F; at F + x, b = ceil(x / 30) bad (the k-th
    # failed report at F + 30k s + 1 ms closes with the boundary after it).
    #   warning:   b / (120 + b) >= 0.01  -> b >= 1.21 -> 2 (F + 30 s) -> F + 40 s (122 reports >= 50)
    #   critical:  b / (120 + b) >= 0.025 -> b >= 3.08 -> 4 (F + 90 s) -> F + 100 s
    #              (30 m: 60 reports, 4 bad, 6.7 % >= 2.5 %, 60 >= 5)
    #   emergency: b / 120 >= 0.05 -> b = 6 (F + 150 s) -> F + 160 s, exactly 10x
    #              (5 m [F - 140 s, F + 160 s): 10 reports, 6 bad, 10 >= 5)
    pytest.param("analytics_report_error_rate", "analytics.report.generated", 30_000,
                 {"warning": 40, "critical": 100, "emergency": 160}, id="analytics reports"),
    # A slow spell, a report every 40 s (1.5 a minute, as a Poisson count often is): 90 before F, so
    # the 1 h window holds 90 and the 5 m window 8. The catalogue's gates (100, 10) would keep every
    # tier shut; the SLO's own (50, 5) let it page. b = ceil(x / 40) bad at F + x.
    #   warning:   b / (90 + b) >= 0.01  -> b = 1            -> F + 10 s (91 >= 50)
    #   critical:  b / (90 + b) >= 0.025 -> b >= 2.3 -> 3    -> F + 90 s (30 m: 45 reports, 3 bad)
    #   emergency: b / 90 >= 0.05        -> b >= 4.5 -> 5 (F + 160 s) -> F + 170 s
    #              (5 m [F - 130 s, F + 170 s): 8 reports, 5 bad, 8 >= 5)
    pytest.param("analytics_report_error_rate", "analytics.report.generated", 40_000,
                 {"warning": 10, "critical": 90, "emergency": 170}, id="analytics reports in a slow spell"),
    # ~7 cancels a minute: every 10 s, a little under. Objective 99.95 %: 1 - o = 0.0005. 360 before F.
    #   warning:   b / (360 + b) >= 0.001  -> b = 1 (1/361 = 0.0028) -> F + 10 s
    #   critical:  b / (360 + b) >= 0.0025 -> b = 1 (0.0028)         -> F + 10 s (30 m: 1 of 180, 0.56 %)
    #   emergency: b / 360 >= 0.005        -> b >= 1.8 -> 2          -> F + 20 s (5 m: 2 of 30, 6.7 %)
    pytest.param("trading_cancel_error_rate", "trade.order.cancelled", 10_000,
                 {"warning": 10, "critical": 10, "emergency": 20}, id="order cancels"),
    # 60 position reads a minute (0.05 x rate). 99.95 %.
    #   warning:   x / (3600 + x) >= 0.001  -> x >= 3.6 s -> F + 10 s
    #   critical:  x / (3600 + x) >= 0.0025 -> x >= 9.0 s -> F + 10 s (30 m: 10 of 1,800, 0.56 %)
    #   emergency: x / 3600 >= 0.005        -> x >= 18 s  -> F + 20 s (5 m: 20 of 300)
    pytest.param("trading_positions_error_rate", "trade.positions.fetched", 1_000,
                 {"warning": 10, "critical": 10, "emergency": 20}, id="position reads"),
    # 6 decisions a minute (DECISIONS_PER_S = 0.1): every 10 s. 99.5 %. 360 before F.
    #   warning:   b / (360 + b) >= 0.01  -> b >= 3.6 -> 4  -> F + 40 s
    #   critical:  b / (360 + b) >= 0.025 -> b >= 9.2 -> 10 -> F + 100 s (30 m: 10 of 180, 5.6 %)
    #   emergency: b / 360 >= 0.05        -> b = 18         -> F + 180 s, exactly 10x (5 m: 18 of 30)
    pytest.param("ai_decision_error_rate", "ai.decision.generated", 10_000,
                 {"warning": 40, "critical": 100, "emergency": 180}, id="AI decisions"),
]


@pytest.fixture(scope="module")
def spec():
    return load_config("config/slo.yaml")


def _calls(subject: str, period_ms: int, until_ms: int) -> list[Msg]:
    """A call every period_ms from T0 + 1 ms; those from F on fail."""
    out = []
    for ts in range(T0_MS + 1, until_ms, period_ms):
        status = "error" if ts >= F_MS else "ok"
        out.append(Msg(subject, orjson.dumps({"ts": ts, **PAYLOADS[subject], "status": status})))
    return out


def _burns(out, slo: str) -> list[tuple[str, str, int]]:
    return [
        (a.label_map["tier"], a.status, (a.evaluated_at_ms - F_MS) // S)
        for a in out.alerts
        if a.label_map["alertname"] == "ErrorBudgetBurn" and a.label_map.get("slo") == slo
    ]


@pytest.mark.parametrize(("slo", "subject", "period_ms", "fires"), OUTAGES)
def test_a_total_failure_at_nominal_volume_burns_the_error_rate_slo(spec, slo, subject, period_ms, fires):
    [declared] = [s for s in spec.slos if s.name == slo]
    assert subject == spec.sli(declared.sli).subject
    engine = Engine(spec)
    out = engine.ingest(_calls(subject, period_ms, F_MS + 300 * S))
    out.extend(engine.advance(F_MS + 300 * S))
    # Nothing burns in the clean hour; each tier fires once, at its worked-out time.
    assert sorted((tier, "firing", s) for tier, s in fires.items()) == sorted(_burns(out, slo))
    # The bar: a total failure pages within the fastest tier's short window (5 m) plus one
    # resolution step.
    assert min(fires.values()) <= 300 + 10


def test_the_low_volume_report_slo_has_gates_that_fit_its_volume(spec):
    # ~2.4 reports a minute: 12 in the emergency tier's 5 m window, 144 in its 1 h window. The
    # catalogue's gates (10, 100) sit near or above what a restart's first hour can hold. The gates
    # derived from the expected volume (issue 9): about 10 minutes' reports in the long window, a
    # third of the 5 m window's in the short.
    [slo] = [s for s in spec.slos if s.name == "analytics_report_error_rate"]
    assert 2.4 == slo.expected_per_min
    assert {(20, 3)} == {(t.min_events_long, t.min_events_short) for t in slo.budget.burn_tiers}
