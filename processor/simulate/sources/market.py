"""Sources of the MARKET stream: data requests, quotes, provider status and failovers, the
websocket stream's status and deliveries (its heartbeats are ``shapes.heartbeat``)."""

from __future__ import annotations

__all__ = ["failovers", "market_requests", "provider_status", "quotes", "ws_delivery", "ws_status"]

import math
from collections.abc import Iterator

from processor.simulate.incidents import Incident
from processor.simulate.platform import MARKET_FAILOVER, MARKET_PROVIDERS, RATE_SHARES, SYMBOLS, WS_STREAMS
from processor.simulate.sources.run import Raw, Run, lognormal, z
from processor.simulate.sources.shapes import status_source
from processor.simulate.timeline import covering

_CRYPTO = frozenset({"BTCUSD"})
_START_MID = {"AAPL": 190.0, "MSFT": 420.0, "NVDA": 120.0, "SPY": 560.0, "BTCUSD": 65_000.0}
_MARKET_OPS = (("get_quote", 0.60), ("get_bars", 0.85), ("get_fundamentals", 0.95), ("get_news", 1.00))
_MARKET_ERRORS = 2e-5
_CACHE_HIT_RATE = 0.9


def _failover_ms(inc: Incident) -> int:
    return int((inc.magnitude or 0.0) * 1000)


def _route(run: Run, provider: str, ts: int) -> str | None:
    """Who serves ``provider``'s data at ``ts``: itself, a failover that is up, or nobody
    (during the failover time, or with no failover up)."""
    down = run.incidents.down("provider_down", provider, ts)
    if down is None:
        return provider
    if ts < down.start_ms + _failover_ms(down.first):
        return None
    return _failover_target(run, provider, ts)


def _failover_target(run: Run, provider: str, ts: int) -> str | None:
    nxt = MARKET_FAILOVER.get(provider)
    while nxt is not None:
        if run.incidents.down("provider_down", nxt, ts) is None:
            return nxt
        nxt = MARKET_FAILOVER.get(nxt)
    return None


def market_requests(run: Run, until_ms: int) -> Iterator[Raw]:
    rng = run.rng("market.request")
    incidents = run.incidents
    for ts in run.arrivals(rng, run.rate * RATE_SHARES["market.request"], until_ms):
        u_op, u_crypto, u_cache, z_hit, z_miss, u_fault = (rng.random() for _ in range(6))
        z_hit, z_miss = z(z_hit), z(z_miss)
        op = next(name for name, cum in _MARKET_OPS if u_op < cum)
        if op in ("get_quote", "get_bars"):
            provider = "coingecko" if u_crypto < 0.2 else "alpaca"
        else:
            provider = "finnhub" if op == "get_fundamentals" else "newsapi"
        hit_rate = incidents.level("cache_misses", ts, worst=min)
        hit = u_cache < (_CACHE_HIT_RATE if hit_rate is None else hit_rate)
        latency = lognormal(4.0, 0.4, z_hit) if hit else lognormal(40.0, 0.3, z_miss)
        latency *= incidents.multiplier("latency_spike", ts, "quotes")
        ok = u_fault >= max(_MARKET_ERRORS, incidents.level("outage", ts, "market") or 0.0)
        if not hit:
            served_by = _route(run, provider, ts)
            if served_by is None:
                ok = False
            else:
                provider = served_by
        yield ts, "market.request", {
            "ts": ts,
            "op": op,
            "latency_ms": round(latency, 2),
            "status": "ok" if ok else "error",
            "cache": "hit" if hit else "miss",
            "provider": provider,
        }


def quotes(run: Run, until_ms: int, index: int) -> Iterator[Raw]:
    symbol = SYMBOLS[index]
    subject = f"market.quote.{symbol}"
    rng = run.rng(subject)
    home = "coingecko" if symbol in _CRYPTO else "alpaca"
    mid = _START_MID[symbol]
    stale = run.incidents.intervals(("stale_quotes",), symbol)
    frozen: dict[int, tuple[float, float]] = {}  # interval start -> bid, ask
    for ts in run.ticks("market.quote", index, until_ms):
        u_mid, u_spread, u_lag = rng.random(), rng.random(), rng.random()
        mid *= math.exp(0.0003 * z(u_mid))
        half_spread = mid * (0.00005 + 0.0001 * u_spread) / 2
        bid = round(mid - half_spread, 2)
        ask = round(max(mid + half_spread, bid + 0.01), 2)  # a cent at least, after rounding
        quote_ts = ts - int(20 + 280 * u_lag)
        if run.incidents.active("quotes_stop", ts, symbol):
            continue
        provider = _route(run, home, ts)
        if provider is None:
            continue
        interval = covering(stale, ts)
        if interval is not None:
            quote_ts = interval.start_ms
            bid, ask = frozen.setdefault(interval.start_ms, (bid, ask))
        yield ts, subject, {
            "ts": ts,
            "symbol": symbol,
            "provider": provider,
            "bid": bid,
            "ask": ask,
            "quote_ts": quote_ts,
        }


def provider_status(run: Run, until_ms: int, index: int) -> Iterator[Raw]:
    provider = MARKET_PROVIDERS[index]
    intervals = run.incidents.intervals(("provider_down",), provider)
    return status_source(run, until_ms, "market.provider.status", index, intervals, {"provider": provider})


def failovers(run: Run, until_ms: int) -> Iterator[Raw]:
    events: list[Raw] = []
    for provider in MARKET_FAILOVER:
        for s, e, inc in run.incidents.intervals(("provider_down",), provider):
            failover_ms = _failover_ms(inc)
            ts = s + failover_ms
            if not (run.start_ms <= ts < min(e, until_ms)):
                continue
            target = _failover_target(run, provider, ts)
            if target is not None:
                events.append(
                    (ts, "market.provider.failover",
                     {"ts": ts, "from": provider, "to": target, "duration_ms": failover_ms})
                )
    events.sort(key=lambda event: event[0])
    return iter(events)


def ws_status(run: Run, until_ms: int, index: int) -> Iterator[Raw]:
    stream = WS_STREAMS[index]
    intervals = run.incidents.intervals(("stream_disconnect",), stream)
    return status_source(
        run, until_ms, "market.stream.status", index, intervals, {"stream": stream}, ("disconnected", "connected")
    )


def ws_delivery(run: Run, until_ms: int, index: int) -> Iterator[Raw]:
    stream = WS_STREAMS[index]
    rng = run.rng(f"market.stream.delivery/{stream}")
    intervals = run.incidents.intervals(("stream_disconnect",), stream)
    for ts in run.ticks("market.stream.delivery", index, until_ms):
        would_deliver = 400 + int(200 * rng.random())
        down = covering(intervals, ts) is not None
        yield ts, "market.stream.delivery", {
            "ts": ts,
            "stream": stream,
            "delivered": 0 if down else would_deliver,
            "dropped": would_deliver if down else 0,
        }
