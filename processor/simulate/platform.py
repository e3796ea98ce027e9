"""The simulated trading platform: its entities, subjects, streams, periods and rates.

Rate model
----------
``rate`` is the number of ``analytics.gateway.request`` events per second of event time: the
busiest subject at any rate >= 1/s. The default, 20/s (1,200 requests/min), is about the
document's baseline of 1,000 API requests/min. The other request-driven subjects are Poisson
processes at a fixed share of it (``RATE_SHARES``; the order flow, its sagas and the
position-close sagas follow from ``trade.risk.checked`` and ``position_close``).

Clock-driven subjects keep their real period at every rate, because their SLOs are about that
period (heartbeat minutes, snapshot every 60 s, staleness of a quote every second) or about sums
per day (AI cost): heartbeats, quotes, status and delivery reports, snapshots, reconciliations,
capacity reports (``SCHEDULE``), orchestrator cycles (``CYCLE_TYPES``) and AI decisions, a Poisson
process of ``DECISIONS_PER_S`` (0.1/s, 8,640 a day, ~$13 a day).

Periodic reports of entity ``i`` (a symbol, provider, agent or service, in the order of the
tuples below) are at ``start_ms + offset_ms + i * stagger_ms + k * period_ms``; a cycle of a type
is scheduled at ``start_ms + offset_ms + k * period_ms``.
"""

from __future__ import annotations

__all__ = [
    "AGENTS",
    "AI_PROVIDERS",
    "ALL",
    "ALL_MODELS",
    "BROKERS",
    "CAPACITY_SERVICES",
    "CYCLE_TYPES",
    "DECISIONS_PER_S",
    "DEFAULT_RATE",
    "MARKET_FAILOVER",
    "MARKET_PROVIDERS",
    "RATE_SHARES",
    "SAGA_TIMEOUT_MS",
    "SAGA_TYPES",
    "SCHEDULE",
    "STREAM_OF_PREFIX",
    "SYMBOLS",
    "WS_STREAMS",
    "CycleType",
    "Periodic",
]

from dataclasses import dataclass

# Incident targets that stand for several entities.
ALL = "all"
ALL_MODELS = "all_models"

SYMBOLS = ("AAPL", "MSFT", "NVDA", "SPY", "BTCUSD")

MARKET_PROVIDERS = ("alpaca", "finnhub", "polygon", "coingecko", "newsapi", "gdelt")
# PLATFORM-SLOS.md "Data Provider SLOs"; a provider whose failover is down fails over further.
MARKET_FAILOVER = {"alpaca": "finnhub", "finnhub": "polygon", "newsapi": "gdelt"}
WS_STREAMS = ("alpaca-ws",)
BROKERS = ("alpaca",)

AI_PROVIDERS = ("openai", "groq", "together")  # the document's fallback order

AGENTS = ("momentum", "mean_reversion", "sentiment")
SAGA_TYPES = ("order_execution", "position_close", "portfolio_rebalance")
SAGA_TIMEOUT_MS = {"order_execution": 60_000, "position_close": 60_000, "portfolio_rebalance": 300_000}
CAPACITY_SERVICES = ("api-gateway", "market-data", "trading-engine", "orchestrator", "ai-decision", "analytics")

STREAM_OF_PREFIX = {"market": "MARKET", "trade": "TRADE", "ai": "AI", "analytics": "ANALYTICS"}

DEFAULT_RATE = 20.0
# Events per second of event time per unit of ``rate`` (request-driven subjects only).
RATE_SHARES = {
    "analytics.gateway.request": 1.0,
    "market.request": 0.5,
    "analytics.query": 0.1,
    "trade.risk.checked": 0.05,  # 98 % approved: each an order_execution saga with one order
    "trade.positions.fetched": 0.05,
    "position_close": 0.01,  # trade.saga.started of type position_close
    "analytics.report.generated": 0.002,
}
DECISIONS_PER_S = 0.1


@dataclass(frozen=True)
class Periodic:
    period_ms: int
    offset_ms: int
    stagger_ms: int = 0  # entity i reports at offset_ms + i * stagger_ms


SCHEDULE = {
    "market.quote": Periodic(1_000, 100, 50),  # per SYMBOLS
    "market.heartbeat": Periodic(10_000, 1_000),
    "market.provider.status": Periodic(30_000, 2_000, 100),  # per MARKET_PROVIDERS
    "market.stream.status": Periodic(30_000, 4_000, 100),  # per WS_STREAMS
    "market.stream.delivery": Periodic(10_000, 6_000, 100),  # per WS_STREAMS
    "trade.heartbeat": Periodic(10_000, 3_000, 100),  # trading-engine, then orchestrator
    "trade.broker.status": Periodic(30_000, 8_000),
    "trade.agent.status": Periodic(60_000, 9_000, 100),  # per AGENTS
    "trade.positions.reconciled": Periodic(60_000, 30_000),
    "ai.heartbeat": Periodic(10_000, 5_000),
    "ai.provider.status": Periodic(30_000, 12_000, 100),  # per AI_PROVIDERS
    "analytics.heartbeat": Periodic(10_000, 7_000),
    "analytics.snapshot": Periodic(60_000, 20_000),
    "analytics.pnl.reconciled": Periodic(60_000, 40_000),
    "analytics.db.status": Periodic(30_000, 14_000),
    "analytics.capacity": Periodic(15_000, 11_000, 100),  # per CAPACITY_SERVICES
}


@dataclass(frozen=True)
class CycleType:
    period_ms: int
    offset_ms: int
    median_ms: float
    sigma: float  # of the log-normal duration


# Medians keep even the p99 of every type under the 90 s warning, so that a p95 over any mix of
# cycle types stays clear of it in the baseline.
CYCLE_TYPES = {
    "heartbeat": CycleType(30_000, 0, 1_200, 0.3),
    "analysis": CycleType(300_000, 15_000, 20_000, 0.25),
    "rebalance": CycleType(1_800_000, 90_000, 50_000, 0.2),
}
