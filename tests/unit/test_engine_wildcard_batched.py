"""Wildcard SLIs (one SLI over several subjects) on the batched path against the per-event
reference: merged columns (labels, instant rules, per-event kinds), the ``_subject`` field, the
hand-over to the reference for scattered batches, and pending latencies across snapshots."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.engine import Engine
from tests.enginekit import T0_MS, Msg, feed, rule, sli, spec_of, state_of

SLIS = [
    sli("lat", "latency", "q.>", value_field="v", labels=("r",), max_series=2),
    sli("lat1", "latency", "q.>", value_field="v"),
    sli("cnt", "events", "q.>", labels=("r",), where='_subject == "q.a" or v > 100'),
    sli("ok", "ratio", "q.>", good="v < 150"),
    sli("g", "gauge", "q.>", value_field="v", where="v exists"),
    sli("fresh", "latency", "q.*", value_field="ts", value_minus_field="qts", labels=("r",)),
    sli("ev", "events", "q.>", where='_subject == "q.b"'),
]
RULES = [
    rule("Many", "cnt", "count", ">=", 3, window_ms=20_000),
    rule("Big", "lat1", "count", ">=", 4, window_ms=20_000),
    rule("BigL", "lat", "count", ">=", 2, window_ms=20_000),
    rule("Max", "g", "max", ">", 250.0),
    rule("Bad", "ok", "bad_count", ">", 1, window_ms=20_000),
]
SPEC = spec_of(SLIS, RULES, lateness_ms=3_000)

step = st.tuples(st.integers(-4_000, 9_000), st.sampled_from(["q.a", "q.b", "q.c", "q.d.e", "x"]),
                 st.sampled_from([1.0, 50, 120, 200.5, 300, True, None, "x", 2**63, 1e308, -0.0]),
                 st.sampled_from(["/a", "/b", "/c", None, 1, True]),
                 st.sampled_from([None] * 12 + [b"{bad", b"[1]", b'{"ts": 1e999}', b'{"a": {"b": 1}}', b"", b"null"]))


def to_messages(steps) -> list[Msg]:
    t, out = T0_MS, []
    for dt, subject, v, r, raw in steps:
        t = max(T0_MS, t + dt)
        body = {k: x for k, x in {"ts": t, "v": v, "r": r}.items() if x is not None}
        out.append(Msg(subject, raw if raw is not None else orjson.dumps(body)))
    return out


def fed(e: Engine, batches: list) -> tuple:
    """``feed``, alert transitions compared series by series, each series' in order: within one
    run the batched path gives the transitions of different SLIs SLI by SLI, the reference event
    by event (the same before 2026-12-02's engine changes; see the review's report)."""
    alerts, *rest = feed(e, batches)
    return sorted(alerts, key=lambda a: a.labels), *rest


def engine(batched: bool, cheaper: bool) -> Engine:
    e = Engine(SPEC, stream="S", per_event=frozenset({"ev"}) if batched else frozenset())
    e.batched, e.per_event_when_cheaper = batched, cheaper
    return e


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=200), st.sets(st.integers(1, 199)), st.booleans())
def test_wildcard_slis_batched_equal_the_reference(steps, cuts, cheaper):
    msgs = to_messages(steps)
    edges = [0, *sorted(c for c in cuts if c < len(msgs)), len(msgs)]
    batches = [msgs[a:b] for a, b in zip(edges, edges[1:])]
    reference, batched = engine(False, cheaper), engine(True, cheaper)
    assert fed(batched, batches) == fed(reference, [[m] for m in msgs])
    assert state_of(batched) == state_of(reference)
    end_ms = T0_MS + 3_600_000
    assert batched.advance(end_ms) == reference.advance(end_ms)
    assert state_of(batched) == state_of(reference)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=2, max_size=150), st.integers(1, 149))
def test_a_snapshot_between_pending_latencies_restores(steps, at):
    msgs = to_messages(steps)
    at = min(at, len(msgs) - 1)
    reference, batched = engine(False, False), engine(True, False)
    feed(reference, [msgs])
    feed(batched, [msgs[:at]])
    resumed = engine(True, False)
    assert resumed.restore_bytes(batched.snapshot_bytes()) == []
    feed(resumed, [msgs[at:]])
    end_ms = T0_MS + 3_600_000
    assert resumed.advance(end_ms) == reference.advance(end_ms)
    assert state_of(resumed)[0] == state_of(reference)[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=64, max_size=300), st.integers(0, 40))
def test_a_whole_batch_handed_to_the_reference_equals_it(steps, spread):
    """Batches of 64 or more, on few subjects or scattered over many: ``_per_event_is_cheaper``
    hands them to the reference loop with their payloads decoded."""
    msgs = [Msg(m.subject if i % (spread + 1) else f"{m.subject}.n{i}", m.data) for i, m in enumerate(to_messages(steps))]
    reference, batched = engine(False, True), engine(True, True)
    assert fed(batched, [msgs]) == fed(reference, [[m] for m in msgs])
    assert state_of(batched) == state_of(reference)
