"""MarketDataStale's two conditions (PLATFORM-SLOS.md, Market Data: "Data staleness > 30 seconds"),
each shown to fire and resolve on its own, with the shipped config. Times are worked by hand: the
first quote at T starts the grid at T - 10 s (watermark T - 5 s); boundaries every 10 s."""

from __future__ import annotations

import orjson

from processor.config.load import load_config
from processor.engine import Engine, run_all
from tests.enginekit import T0_MS, Msg

CONFIG = load_config("config/slo.yaml")


def _quote(t_s: int, age_ms: int) -> Msg:
    ts = T0_MS + t_s * 1000
    payload = {"ts": ts, "symbol": "AAPL", "provider": "alpaca", "bid": 1.0, "ask": 1.01, "quote_ts": ts - age_ms}
    return Msg("market.quote.AAPL", orjson.dumps(payload))


def _stale(quotes: list[Msg]) -> list[tuple[str, str, int]]:
    out = run_all(Engine(CONFIG), [quotes])
    return [
        (a.label_map["reason"], a.status, (a.evaluated_at_ms - T0_MS) // 1000)
        for a in out.alerts
        if a.label_map["alertname"] == "MarketDataStale"
    ]


def test_a_symbol_that_stops_quoting_is_stale_for_no_quotes_only():
    # Fresh quotes (100 ms old) every 5 s up to 115 s, silence, then again from 200 s to 260 s.
    # since_last > 30s: the last quote before the gap is at 115 s, so 150 s is the first boundary
    # 35 s after it. The quote at 200 s is in the sub-window [200, 210): resolved at 210.
    # The quotes' age never passes 30 s, and the silent windows have no minimum: old_quotes stays quiet.
    quotes = [_quote(t, 100) for t in range(0, 120, 5)] + [_quote(t, 100) for t in range(200, 265, 5)]
    assert [("no_quotes", "firing", 150), ("no_quotes", "resolved", 210)] == _stale(quotes)


def test_a_symbol_whose_quotes_arrive_old_is_stale_for_old_quotes_only():
    # Quotes every 5 s, 40 s old until 115 s, then 100 ms old from 120 s to 240 s. min > 30s over
    # the 1 m rule window: the first boundary with quotes in its window, 10 s, holds 0 s and 5 s
    # (both 40 s old): firing. The first fresh quote (120 s) closes in at 130: the window
    # [70, 130) then has a minimum of 100 ms: resolved. A quote every 5 s: no_quotes stays quiet.
    quotes = [_quote(t, 40_000) for t in range(0, 120, 5)] + [_quote(t, 100) for t in range(120, 245, 5)]
    assert [("old_quotes", "firing", 10), ("old_quotes", "resolved", 130)] == _stale(quotes)
