"""Memory stays bounded whatever values producers send: label sets, state entities, open
correlations, subjects and the length of text read from payloads (issue 8, cardinality attack).

The shipped config's engines, fed distinct values by the tens of thousands; the counts expected
below come from the number of values sent and the caps, not from the engine.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import orjson

from processor.bus.streams import load_stream_definitions
from processor.config.load import load_config
from processor.engine import Engine
from processor.engine.cardinality import CARDINALITY_ALERT
from processor.kinds.payload import MAX_TEXT_CHARS, bounded_text
from processor.kinds.state import StateTrack
from processor.runtime.topology import partition_config
from processor.vocabulary import OVERFLOW_LABEL
from tests.enginekit import Msg

ROOT = Path(__file__).parents[2]
PARTS, _ = partition_config(load_config(ROOT / "config" / "slo.yaml"), load_stream_definitions(ROOT / "streams"))
T0_MS = 1_767_225_600_000


def quotes(first: int, n: int, subject: str | None = None) -> list[Msg]:
    """Quotes of n distinct symbols, 10,000 per second of event time (inside one sub-window
    pair, so no series ages out and every new symbol is a new label set)."""
    out = []
    for i in range(first, first + n):
        ts_ms = T0_MS + (i // 10_000) * 1000
        body = {"ts": ts_ms, "symbol": f"S{i}", "provider": "x", "bid": 1.0, "ask": 1.1, "quote_ts": ts_ms - 30}
        out.append(Msg(subject or f"market.quote.S{i}", orjson.dumps(body)))
    return out


def ingest(engine: Engine, msgs: list[Msg], batch: int = 5000) -> None:
    for i in range(0, len(msgs), batch):
        engine.ingest(msgs[i : i + batch])


def test_a_hundred_thousand_symbols_fill_the_cap_then_share_the_overflow_series_and_raise_the_alert():
    engine = Engine(PARTS["MARKET"])
    n = 100_000
    ingest(engine, quotes(0, n))
    for name in ("market_quote_freshness", "market_quote_age"):
        cap = next(s.max_series for s in PARTS["MARKET"].slis if s.name == name)
        labels = engine.series_labels(name)
        assert (cap + 1, True) == (len(labels), (OVERFLOW_LABEL,) in labels)
        assert n - cap == engine.overflow_counts()[name]
    out = engine.advance(T0_MS + 60_000)
    firing = {dict(a.labels)["sli"] for a in out.alerts if dict(a.labels)["alertname"] == CARDINALITY_ALERT}
    assert {"market_quote_freshness", "market_quote_age"} == firing


def test_past_the_cap_new_label_values_cost_no_memory():
    engine = Engine(PARTS["MARKET"])
    ingest(engine, quotes(0, 4000, subject="market.quote.X"))  # cap (2,000) filled, overflow in use
    more = quotes(4000, 10_000, subject="market.quote.X")
    engine.flush()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        ingest(engine, more)
        engine.flush()  # latency values wait in a list until the next boundary: not per label
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, grown  # 10,000 more distinct values, and no more series


def test_the_subject_route_cache_is_bounded_in_entries_and_bytes():
    engine = Engine(PARTS["ANALYTICS"])
    body = orjson.dumps({"ts": T0_MS})
    for lo in range(0, 100_000, 5000):
        engine.ingest([Msg(f"analytics.x.{i}.\u00fc\x01", body) for i in range(lo, lo + 5000)])
    # Past 65,536 distinct subjects the cache started afresh: it holds the rest.
    assert 100_000 - 65_536 == engine.health()["routed_subjects"]
    long_subject = "analytics." + "y" * 4000  # subjects over 256 characters are matched, not remembered
    engine.ingest([Msg(f"{long_subject}.{i}", body) for i in range(2000)])
    engine.ingest([Msg("analytics.gateway.request", body)])
    # None is ignored: capacity_analytics_messages counts every message under analytics.> (issue 9).
    assert (100_000 - 65_536 + 1, 0) == (engine.health()["routed_subjects"], engine.ignored)


def test_a_state_sli_caps_its_entities_and_past_the_cap_they_share_one():
    engine = Engine(PARTS["AI"])
    msgs = [Msg("ai.provider.status", orjson.dumps({"ts": T0_MS + i // 1000, "provider": f"p{i}", "state": "up"}))
            for i in range(50_000)]
    ingest(engine, msgs)
    sli = next(s for s in engine.slis if s.name == "ai_providers")
    (series,) = sli.series.values()
    assert sli.config.max_series + 1 == len(series.state.entities)
    assert OVERFLOW_LABEL in series.state.entities


def test_past_the_cap_an_overflowing_entity_still_makes_the_series_bad():
    track = StateTrack("any", ("a", "b"), max_entities=3)
    for entity, bad in (("a", False), ("b", False), ("c", False)):
        track.update(entity, bad, T0_MS)
    assert 0.0 == track.bad_for(T0_MS + 1)
    track.update("d", True, T0_MS + 10)  # past the cap: the overflow entity is down
    assert 5.0 == track.bad_for(T0_MS + 15)
    track.update("e", False, T0_MS + 20)  # the overflow entity is up again
    assert ({"a", "b", "c", OVERFLOW_LABEL}, 0.0) == (set(track.entities), track.bad_for(T0_MS + 30))
    every_bad = StateTrack("all", ("a", "b"), max_entities=2)
    every_bad.update("a", True, T0_MS)
    every_bad.update("z", True, T0_MS + 1)  # the overflow entity, down; b is still up
    assert 0.0 == every_bad.bad_for(T0_MS + 2)
    every_bad.update("b", True, T0_MS + 5)
    assert 5.0 == every_bad.bad_for(T0_MS + 10)  # a, b and the overflow entity all down


def test_a_flood_of_saga_starts_keeps_the_deadline_heap_within_twice_the_open_cap():
    engine = Engine(PARTS["TRADE"])
    msgs = [Msg("trade.saga.started", orjson.dumps({"ts": T0_MS + i // 1000, "saga_id": f"s{i}",
                                                     "saga_type": "order_execution"})) for i in range(50_000)]
    ingest(engine, msgs)
    for sli in engine.slis:
        if sli.table is not None and sli.table.open:
            assert sli.table.max_open == len(sli.table.open)
            assert len(sli.table.deadlines) <= 2 * sli.table.max_open
            assert 50_000 - sli.table.max_open == sli.table.dropped


def test_long_label_values_are_cut_to_a_bounded_length_and_stay_distinct():
    engine = Engine(PARTS["MARKET"])
    symbols = [f"{i}" + "x" * 100_000 for i in range(50)] + ["y" * 100_000 + f"{i}" for i in range(50)]
    engine.ingest([Msg("market.quote.Z", orjson.dumps({"ts": T0_MS, "symbol": s, "quote_ts": T0_MS - 5})) for s in symbols])
    labels = engine.series_labels("market_quote_freshness")
    assert (100, MAX_TEXT_CHARS) == (len(labels), max(len(v) for (v,) in labels))


def test_bounded_text_keeps_short_text_and_never_raises():
    assert ("abc", "12", "None", "[1, 2]") == tuple(bounded_text(v) for v in ("abc", 12, None, [1, 2]))
    deep = orjson.loads(b"[" * 1020 + b"]" * 1020)
    assert "<list nested too deep>" == bounded_text(deep)
    long_a, long_b = bounded_text("a" * 1000 + "1"), bounded_text("a" * 1000 + "2")
    assert (MAX_TEXT_CHARS, MAX_TEXT_CHARS, True) == (len(long_a), len(long_b), long_a != long_b)
    assert long_a.startswith("a" * 200)
