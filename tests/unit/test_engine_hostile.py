"""Hostile payloads on the decode/extract path of the whole catalogue: whatever a message holds,
the engine accepts, ignores or rejects it with a known reason; it never raises."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.config.load import load_config
from processor.engine import Engine
from processor.runtime.topology import partition_config
from processor.bus.streams import load_stream_definitions
from processor.vocabulary import REJECTION_REASONS
from tests.enginekit import Msg, event, sli, spec_of
from tests.enginekit import both_paths  # noqa: F401 - the fixture, by name

# Each test runs on the batched path and on the per-event reference.
pytestmark = pytest.mark.usefixtures("both_paths")

ROOT = Path(__file__).parents[2]
PARTS, _ = partition_config(load_config(ROOT / "config" / "slo.yaml"), load_stream_definitions(ROOT / "streams"))
SUBJECTS = sorted({sli.subject.replace("*", "x").replace(">", "y") for part in PARTS.values() for sli in part.slis})
FIELDS = sorted({f for part in PARTS.values() for sli in part.slis for f in sli.model_dump(exclude={"where"}).values()
                 if isinstance(f, str) and f.isidentifier()} | {"ts", "status", "latency_ms", "provider", "state"})
T0_MS = 1_767_225_600_000

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e308, -0.0, 0.0, 10**19, "2026-01-01T00:00:00+14:00", "2026-01-01T00:00:00-23:59", ""])
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def messages(draw):
    """(subject, payload) where the payload is a dict (its ``ts`` an offset from a start) or raw bytes."""
    subject = draw(st.sampled_from(SUBJECTS) | st.text(min_size=1, max_size=12))
    if not draw(st.booleans()):
        return subject, draw(st.sampled_from([b"", b"{", b"[1,", b"\xff", b"null", b'{"ts": 1e999}']))
    body = {"ts": draw(st.integers(0, 120_000))}
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=6)):
        body[field] = draw(json_values)
    return subject, body


def _batch(drawn, start_ms: int) -> list[Msg]:
    out = []
    for subject, payload in drawn:
        if isinstance(payload, dict):
            payload = orjson.dumps({**payload, "ts": start_ms + payload["ts"]} if type(payload["ts"]) is int else payload)
        out.append(Msg(subject, payload))
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages(), min_size=1, max_size=40))
def test_whatever_a_message_holds_the_engine_accounts_for_it(drawn):
    for part in PARTS.values():
        engine = Engine(part)
        batch = _batch(drawn, T0_MS)
        out = engine.ingest(batch)
        out.extend(engine.advance(T0_MS + 300_000))
        assert len(batch) == out.accepted + out.ignored + len(out.rejections)
        assert {r.reason for r in out.rejections} <= set(REJECTION_REASONS)
        # The state survives a checkpoint and goes on working with the same kind of input.
        restored = Engine(part)
        restored.restore(orjson.loads(orjson.dumps(engine.snapshot())))
        restored.ingest(_batch(drawn, T0_MS + 310_000))
        restored.advance(T0_MS + 900_000)


def test_a_gauge_sum_that_overflows_survives_a_checkpoint_and_goes_on():
    lag = spec_of([sli("lag", "gauge", "g.lag", value_field="v")], [])
    engine = Engine(lag)
    out = engine.ingest([event("g.lag", T0_MS, v=1e308), event("g.lag", T0_MS + 1, v=1e308)])
    assert (2, []) == (out.accepted, out.rejections)  # each value is a finite number; their sum is not
    restored = Engine(lag)
    assert [] == restored.restore(orjson.loads(orjson.dumps(engine.snapshot())))
    for e in (engine, restored):
        e.ingest([event("g.lag", T0_MS + 2, v=1.0)])
    assert engine.snapshot() == restored.snapshot()
    first_minute = next(r for r in restored.advance(T0_MS + 100_000).slis if r.evaluated_at_ms == T0_MS + 60_000)
    report = dict(first_minute.values)
    assert (3.0, float("inf"), 1.0) == (report["count"], report["sum"], report["min"])


def test_a_gauge_value_beyond_a_float_after_its_unit_is_out_of_range():
    lag = spec_of([sli("lag", "gauge", "g.lag", value_field="v", unit_to_ms=1000.0)], [])
    out = Engine(lag).ingest([event("g.lag", T0_MS, v=1e308), event("g.lag", T0_MS, v=1e305)])
    assert [(0, "out_of_range")] == [(r.index, r.reason) for r in out.rejections]  # 1e311 ms is not a float
