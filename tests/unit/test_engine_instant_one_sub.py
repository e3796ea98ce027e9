"""Instant rules on whole-number stats (count, bad_count) of label-less SLIs, fed dense streams
whose batched runs mostly fall in one sub-window: the batched path's replay skips the events
before the first that can make the window hold and stops once a firing state keeps it
(engine/instant.py ``_first_that_can_hold``, the ``one_sub`` break). Against the per-event
reference: the same outputs and the same state, for thresholds whole and not, ``>`` and ``>=``,
``for_events`` rules, states already firing (or kept) before a run, windows reaching sealed
sub-windows, and latency counts that include queued (pending) values."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.engine import Engine
from tests.enginekit import T0_MS, Msg, cut, feed, rule, sli, spec_of, state_of

SLIS = [
    sli("ok", "ratio", "s.ok", good="v < 50"),
    sli("lat", "latency", "s.lat", value_field="v"),
    sli("cnt", "events", "s.cnt", where="v > 10"),
]
RULES = [
    rule("Bad3", "ok", "bad_count", ">", 3, window_ms=10_000),
    rule("BadGe", "ok", "bad_count", ">=", 5.5, window_ms=30_000),
    rule("BadTwice", "ok", "bad_count", ">=", 2, for_events=2, window_ms=20_000, keep_firing_for_ms=10_000),
    rule("Busy", "lat", "count", ">=", 6, window_ms=20_000),
    rule("BusyHalf", "lat", "count", ">", 2.5, window_ms=10_000, for_events=3),
    rule("Many", "cnt", "count", ">", 4, window_ms=30_000),
    rule("ManyGe", "cnt", "count", ">=", 1, window_ms=10_000),
]
SPEC = spec_of(SLIS, RULES, lateness_ms=4_000)

# (time step ms, subject, value); mostly small steps: many events share a sub-window.
step = st.tuples(st.sampled_from([0, 0, 1, 7, 300, 900, 2_500, -1_500, 6_000, 15_000]),
                 st.sampled_from(["s.ok", "s.lat", "s.cnt"]),
                 st.sampled_from([1, 20, 49, 50, 80, 300]))


def to_messages(steps) -> list[Msg]:
    t, out = T0_MS, []
    for dt, subject, v in steps:
        t = max(T0_MS, t + dt)
        out.append(Msg(subject, orjson.dumps({"ts": t, "v": v})))
    return out


def fed(e: Engine, batches: list) -> tuple:
    """``feed``, alert transitions compared rule by rule (in order within each): a batched run
    gives them rule by rule, the reference event by event."""
    alerts, *rest = feed(e, batches)
    return sorted(alerts, key=lambda a: a.labels), *rest


def engine(batched: bool) -> Engine:
    e = Engine(SPEC, stream="S")
    e.batched, e.per_event_when_cheaper = batched, False
    return e


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=150), cuts=st.lists(st.integers(0, 150), max_size=5))
def test_dense_runs_decide_as_the_per_event_reference(steps, cuts):
    messages = to_messages(steps)
    batches = cut(messages, cuts)
    end_ms = T0_MS + 10_000_000
    batches.append([Msg("s.ok", orjson.dumps({"ts": end_ms, "v": 1}))])
    reference, batched = engine(False), engine(True)
    assert fed(reference, batches) == fed(batched, batches)
    assert state_of(reference) == state_of(batched)
