"""snapshot -> restore -> continue equals an uninterrupted run, for every SLI kind at once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.engine import Engine, run_all
from tests.enginekit import T0_MS, alert_key, event, rule, sli, spec_of
from tests.enginekit import both_paths  # noqa: F401 - the fixture, by name

# Each test runs on the batched path and on the per-event reference.
pytestmark = pytest.mark.usefixtures("both_paths")


def make_spec():
    slis = [
        sli("lag", "gauge", "g.lag", value_field="pending", labels=("c",)),
        sli("prov", "state", "s.status", entity_field="p", state_field="state", bad_states=("down",), bad_when="all"),
        sli("sagas", "correlation", "c.>", correlation=dict(
            id_field="id", start='_subject == "c.start"', end='_subject == "c.end"', timeout_ms=30_000)),
        sli("beats", "events", "h.beat"),
    ]
    rules = [
        rule("Lag", "lag", "max", ">", 50, for_ms=20_000, window_ms=60_000),
        rule("AllDown", "prov", "bad_for", ">", 15_000),
        rule("Sagas", "sagas", "bad_count", ">", 0, keep_firing_for_ms=20_000),
        rule("NoBeat", "beats", "since_last", ">", 40_000),
        rule("LagSum", "lag", "sum", ">", 500, calendar="day", action="page someone"),
    ]
    return spec_of(slis, rules, lateness_ms=2_000)


def to_events(steps):
    t = T0_MS
    out = []
    for dt, kind, a, b in steps:
        t += dt
        if kind == 0:
            out.append(event("g.lag", t, pending=a * 10, c=f"c{b % 3}"))
        elif kind == 1:
            out.append(event("s.status", t, p=f"p{b % 2}", state="down" if a % 2 else "up"))
        elif kind == 2:
            out.append(event("c.start" if a % 2 else "c.end", t, id=f"i{b % 5}"))
        else:
            out.append(event("h.beat", t))
    return out


steps = st.lists(
    st.tuples(st.integers(0, 15_000), st.integers(0, 3), st.integers(0, 9), st.integers(0, 9)),
    min_size=1,
    max_size=150,
)


@settings(max_examples=80, deadline=None)
@given(steps, st.data())
def test_every_kind_resumes_from_a_snapshot_exactly(stream, data):
    events = to_events(stream)
    cut = data.draw(st.integers(0, len(events)))
    end_ms = T0_MS + sum(s[0] for s in stream) + 300_000
    whole = run_all(Engine(make_spec()), [events], end_ms)
    first = Engine(make_spec())
    before = run_all(first, [events[:cut]])
    second = Engine(make_spec())
    assert [] == second.restore_bytes(first.snapshot_bytes())
    after = run_all(second, [events[cut:]], end_ms)
    assert [alert_key(a) for a in whole.alerts] == [alert_key(a) for a in before.alerts + after.alerts]
    assert whole.actions == before.actions + after.actions
