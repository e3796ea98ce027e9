"""Properties of the engine that must hold for any input (hypothesis)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.engine import Engine, run_all
from tests.enginekit import T0_MS, alert_key, budget_slo, event, latency_sli, quantile_alert, spec_of
from tests.enginekit import both_paths  # noqa: F401 - the fixture, by name

# Each test runs on the batched path and on the per-event reference.
pytestmark = pytest.mark.usefixtures("both_paths")

LATENESS_MS = 5_000


def latency_budget():
    from processor.config.model import Condition, Stat

    slo = budget_slo(sli="lat", objective=0.95, report_every_ms=30_000, tiers=(
        ("fast", 2.0, 60_000, 20_000, "page"), ("slow", 1.0, 7 * 3_600_000, 60_000, "ticket")))
    cond = Condition(stat=Stat(kind="quantile", q=0.95), op="<", threshold=150.0, text="p95 < 150ms")
    return slo.model_copy(update={"objective": cond})


def make_spec():
    return spec_of(
        [latency_sli(labels=("route",))],
        [
            quantile_alert(0.95, ">", 150.0, for_ms=20_000, keep_firing_for_ms=10_000),
            quantile_alert(0.5, ">", 120.0, name="MedianHigh", window_ms=30_000, severity="critical"),
        ],
        lateness_ms=LATENESS_MS,
        slos=[latency_budget()],
    )


# An event stream: increments of event time (ms) with a latency and a route.
streams = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=4_000),
        st.floats(min_value=0.0, max_value=400.0, allow_nan=False),
        st.sampled_from(["/a", "/b"]),
    ),
    min_size=1,
    max_size=300,
)


def to_events(stream):
    t = T0_MS
    events = []
    for dt, latency, route in stream:
        t += dt
        events.append(event("svc.req", t, latency_ms=latency, route=route))
    return events


def final_watermark(events):
    return orjson.loads(events[-1].data)["ts"] + 600_000


@settings(max_examples=80, deadline=None)
@given(streams, st.integers(min_value=1, max_value=50), st.data())
def test_snapshot_restore_continue_equals_an_uninterrupted_run(stream, batch, data):
    events = to_events(stream)
    cut = data.draw(st.integers(min_value=0, max_value=len(events)))
    batches = lambda evs: [evs[i : i + batch] for i in range(0, len(evs), batch)]  # noqa: E731

    whole = run_all(Engine(make_spec()), batches(events), final_watermark(events))

    first = Engine(make_spec())
    before = run_all(first, batches(events[:cut]))
    raw = first.snapshot_bytes()
    second = Engine(make_spec())
    assert [] == second.restore_bytes(raw)
    after = run_all(second, batches(events[cut:]), final_watermark(events))

    assert [alert_key(a) for a in whole.alerts] == [alert_key(a) for a in before.alerts + after.alerts]
    assert whole.budgets == before.budgets + after.budgets
    assert whole.actions == before.actions + after.actions
    assert first.snapshot()["counters"]["accepted"] + after.accepted == whole.accepted


@settings(max_examples=80, deadline=None)
@given(streams, st.randoms(use_true_random=False))
def test_outputs_do_not_depend_on_arrival_order_within_the_allowed_lateness(stream, rnd):
    events = to_events(stream)
    # Shuffle while keeping every event no more than the allowed lateness behind the highest
    # event time already delivered: swap neighbours only when their times are that close.
    shuffled = list(events)
    ts = lambda m: orjson.loads(m.data)["ts"]  # noqa: E731
    for _ in range(len(shuffled)):
        i = rnd.randrange(len(shuffled))
        j = min(len(shuffled) - 1, i + rnd.randrange(1, 4))
        if max(ts(m) for m in shuffled[i : j + 1]) - min(ts(m) for m in shuffled[i : j + 1]) <= LATENESS_MS:
            shuffled[i], shuffled[j] = shuffled[j], shuffled[i]

    ordered = run_all(Engine(make_spec()), [events], final_watermark(events))
    permuted = run_all(Engine(make_spec()), [shuffled], final_watermark(events))
    assert [] == permuted.rejections
    assert sorted(alert_key(a) for a in ordered.alerts) == sorted(alert_key(a) for a in permuted.alerts)


@settings(max_examples=50, deadline=None)
@given(streams, st.integers(min_value=1, max_value=40))
def test_outputs_do_not_depend_on_how_the_stream_is_cut_into_batches(stream, batch):
    events = to_events(stream)
    one = run_all(Engine(make_spec()), [events], final_watermark(events))
    many = run_all(Engine(make_spec()), [events[i : i + batch] for i in range(0, len(events), batch)], final_watermark(events))
    assert [alert_key(a) for a in one.alerts] == [alert_key(a) for a in many.alerts]
    assert one.budgets == many.budgets
