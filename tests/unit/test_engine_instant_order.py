"""Alerts that fire on the event come out of the batched path in the order the per-event reference
publishes them, exactly (hypothesis): event by event, an event's SLIs in the engine's order, an
SLI's rules in theirs, whatever the batches. Subscribers of ``slo.alerts`` read them in that order,
and a replay cut into other batches must publish the same stream. (Before, a run published SLI by
SLI and rule by rule.)"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processor.engine import Engine
from tests.enginekit import T0_MS, cut, event, feed, rule, sli, spec_of

SPEC = spec_of(
    [
        sli("a", "ratio", "svc.req", good="ok_a"),
        sli("b", "ratio", "svc.req", good="ok_b"),
        sli("n", "events", "svc.req"),
        sli("c", "ratio", "svc.other", good="ok_a", labels=("route",)),
    ],
    [
        rule("AnyBadA", "a", "bad_count", ">", 0),
        rule("TwoBadA", "a", "bad_count", ">=", 2),
        rule("AnyBadB", "b", "bad_count", ">", 0),
        rule("Busy", "n", "count", ">=", 5),
        rule("AnyBadC", "c", "bad_count", ">", 0),
    ],
)

steps = st.tuples(
    st.integers(min_value=-3_000, max_value=4_000),  # time step, ms
    st.booleans(),  # on svc.other
    st.booleans(),  # ok_a
    st.booleans(),  # ok_b
    st.sampled_from(["/x", "/y"]),
)


def messages(stream) -> list:
    t, out = T0_MS, []
    for dt, other, ok_a, ok_b, route in stream:
        t = max(T0_MS, t + dt)
        subject = "svc.other" if other else "svc.req"
        out.append(event(subject, t, ok_a=ok_a, ok_b=ok_b, route=route))
    return out


def alerts_in_order(batched: bool, batches: list[list]) -> list[tuple]:
    engine = Engine(SPEC)
    engine.batched = batched
    engine.per_event_when_cheaper = False  # plan every batch: the planning is what is checked
    alerts = feed(engine, batches)[0]
    return [(a.label_map["alertname"], a.status, a.labels, a.starts_at_ms, a.ends_at_ms, a.value) for a in alerts]


@settings(max_examples=150, deadline=None)
@given(stream=st.lists(steps, min_size=1, max_size=150), cuts=st.lists(st.integers(0, 150), max_size=4))
def test_the_batched_path_publishes_in_the_reference_order(stream, cuts):
    batches = cut(messages(stream), cuts)
    assert alerts_in_order(False, batches) == alerts_in_order(True, batches)


def test_two_slis_of_one_subject_firing_in_one_batch_come_out_in_event_order():
    # b's first bad event (index 3) comes before the fifth event (index 4, Busy) and a's (index 7):
    # the reference publishes them in that order, though a comes first in the config.
    msgs = [event("svc.req", T0_MS + 1_000 + i, ok_a=i != 7, ok_b=i != 3, route="/x") for i in range(20)]
    for batched in (False, True):
        assert ["AnyBadB", "Busy", "AnyBadA"] == [name for name, *_ in alerts_in_order(batched, [msgs])]
