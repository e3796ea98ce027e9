"""The four required dashboards of PLATFORM-SLOS.md ("Monitoring & Observability") read SLIs that
the processor publishes on slo.sli.<service>.<sli> every minute (issue 9). Each item of the
dashboards names the SLIs that carry it; a minute of events shows the values a dashboard reads,
worked out by hand."""

from __future__ import annotations

import orjson
import pytest

from processor.config.load import load_config
from processor.engine.core import Engine
from tests.enginekit import T0_MS, Msg

S = 1000
# SLI reports fall on epoch minutes: T0 is 20 s past one (1,700,000,000 s = 28,333,333 min + 20 s),
# so the first report is at T0 + 40 s, over [T0 - 20 s, T0 + 40 s): every event below is in it.
REPORT_MS = T0_MS + 40 * S

# (dashboard item, the SLIs that carry it); the fill rate is filled / submitted shares.
DASHBOARD_DATA = [
    ("Trading Performance: order execution latency", {"trading_order_submission_latency", "trading_order_ack_latency"}),
    ("Trading Performance: fill rates", {"trading_filled_qty", "trading_submitted_qty"}),
    ("Trading Performance: time to fill", {"trading_time_to_fill"}),
    ("Trading Performance: position accuracy", {"trading_position_sync"}),
    ("AI Decision Quality: decision latency distribution", {"ai_decision_latency"}),
    ("AI Decision Quality: model usage, requests and tokens per model", {"ai_model_requests", "ai_model_tokens"}),
    ("AI Decision Quality: costs", {"ai_decision_cost", "ai_model_cost"}),
    ("AI Decision Quality: accuracy", {"ai_decision_quality"}),
    ("Data Pipeline Health: provider availability",
     {"market_provider_availability", "ai_provider_openai", "ai_provider_groq", "ai_provider_together"}),
    ("Data Pipeline Health: freshness", {"market_quote_freshness"}),
    ("Data Pipeline Health: cache performance", {"market_cache"}),
]


@pytest.fixture(scope="module")
def spec():
    return load_config("config/slo.yaml")


@pytest.mark.parametrize(("slis",), [(c[1],) for c in DASHBOARD_DATA], ids=[c[0] for c in DASHBOARD_DATA])
def test_each_dashboard_item_is_an_sli_of_the_config(spec, slis):
    # Every SLI is published on slo.sli.* (engine/evaluation.py, SliReporter): declaring it is enough.
    assert slis <= {s.name for s in spec.slis}


def _msg(subject: str, ts_ms: int, **fields) -> Msg:
    return Msg(subject, orjson.dumps({"ts": ts_ms, **fields}))


def _reports(out, sli: str, at_ms: int) -> dict[tuple, dict]:
    return {r.labels: dict(r.values) for r in out.slis if r.sli == sli and r.evaluated_at_ms == at_ms}


def _minute_of_trading() -> list[Msg]:
    # Three orders of 100, 50 and 10 shares (a fourth failed to submit); two fill whole, the limit
    # order of 10 fills 4 shares before it is cancelled.
    out = [
        _msg("trade.order.submitted", T0_MS + 1 * S, order_id="o1", order_type="market", symbol="AAPL", qty=100,
             latency_ms=18.0, status="ok"),
        _msg("trade.order.submitted", T0_MS + 2 * S, order_id="o2", order_type="market", symbol="SPY", qty=50,
             latency_ms=18.0, status="ok"),
        _msg("trade.order.submitted", T0_MS + 3 * S, order_id="o3", order_type="limit", symbol="NVDA", qty=10,
             latency_ms=20.0, status="ok"),
        _msg("trade.order.submitted", T0_MS + 4 * S, order_id="o4", order_type="limit", symbol="NVDA", qty=70,
             latency_ms=20.0, status="error"),
        _msg("trade.order.filled", T0_MS + 11 * S, order_id="o1", symbol="AAPL", qty=100, filled_qty=100,
             latency_ms=400.0),
        _msg("trade.order.filled", T0_MS + 12 * S, order_id="o2", symbol="SPY", qty=50, filled_qty=50,
             latency_ms=800.0),
        _msg("trade.order.filled", T0_MS + 13 * S, order_id="o3", symbol="NVDA", qty=10, filled_qty=4,
             latency_ms=1200.0),
    ]
    return out + [_msg("trade.heartbeat", T0_MS + 70 * S, service="trading-engine")]


def test_a_minute_of_orders_gives_the_fill_rate_and_time_to_fill(spec):
    engine = Engine(spec)
    out = engine.ingest(_minute_of_trading())
    at = REPORT_MS
    # Fill rate: 154 shares filled of 160 submitted (the failed order's 70 are not submitted).
    assert 154 == _reports(out, "trading_filled_qty", at)[()]["sum"]
    assert 160 == _reports(out, "trading_submitted_qty", at)[()]["sum"]
    ttf = _reports(out, "trading_time_to_fill", at)[()]
    # Three fills; the median of 400, 800, 1,200 ms is 800 ms within the sketch's 1 %.
    assert 3 == ttf["count"]
    assert ttf["p50"] == pytest.approx(800.0, rel=0.01)


def test_a_minute_of_decisions_gives_usage_and_cost_per_model(spec):
    engine = Engine(spec)
    decision = {"latency_ms": 1300.0, "status": "ok", "primary_failed": False, "fallback": False}
    out = engine.ingest([
        _msg("ai.decision.generated", T0_MS + 1 * S, decision_id="d1", provider="openai", model="gpt-4o", cached=False,
             tokens=600, cost_usd=0.0021, **decision),
        _msg("ai.decision.generated", T0_MS + 2 * S, decision_id="d2", provider="openai", model="gpt-4o", cached=False,
             tokens=400, cost_usd=0.0014, **decision),
        _msg("ai.decision.generated", T0_MS + 3 * S, decision_id="d3", provider="groq", model="mixtral-8x7b",
             cached=False, tokens=500, cost_usd=0.00015, **decision),
        # A cached decision calls no model: not a request of any model, and it costs nothing.
        _msg("ai.decision.generated", T0_MS + 4 * S, decision_id="d4", provider="openai", model="gpt-4o", cached=True,
             tokens=0, cost_usd=0.0, **decision),
        _msg("ai.heartbeat", T0_MS + 70 * S),
    ])
    at = REPORT_MS
    openai, groq = ("openai", "gpt-4o"), ("groq", "mixtral-8x7b")
    requests = _reports(out, "ai_model_requests", at)
    assert {openai: 2, groq: 1} == {tuple(v for _, v in k): r["count"] for k, r in requests.items()}
    tokens = _reports(out, "ai_model_tokens", at)
    assert {openai: 1000, groq: 500} == {tuple(v for _, v in k): r["sum"] for k, r in tokens.items()}
    cost = _reports(out, "ai_model_cost", at)
    assert {openai: pytest.approx(0.0035), groq: pytest.approx(0.00015)} == {
        tuple(v for _, v in k): r["sum"] for k, r in cost.items()
    }


def test_each_market_provider_has_its_own_availability_series(spec):
    engine = Engine(spec)
    out = engine.ingest([
        _msg("market.provider.status", T0_MS + 1 * S, provider="alpaca", state="up"),
        _msg("market.provider.status", T0_MS + 1 * S, provider="finnhub", state="down"),
        _msg("market.provider.status", T0_MS + 31 * S, provider="finnhub", state="up"),
        _msg("market.heartbeat", T0_MS + 70 * S),
    ])
    at = REPORT_MS
    by_provider = {k: r for k, r in _reports(out, "market_provider_availability", at).items()}
    # Alpaca up since T0 + 1 s; Finnhub down from T0 + 1 s to T0 + 31 s. No bad_for for Alpaca.
    assert {(("provider", "alpaca"),), (("provider", "finnhub"),)} == set(by_provider)
    assert by_provider[(("provider", "alpaca"),)]["good_ratio"] > by_provider[(("provider", "finnhub"),)]["good_ratio"]
