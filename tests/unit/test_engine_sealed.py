"""Sub-windows older than the live hour are sealed as arrays (engine/sealed.py, snapshot version 5):
windows that reach them, instant rules included, read what the events put there; a snapshot
restores them exactly; a version-4 snapshot (every sub-window a row) restores to the same state."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.engine import Engine, run_all
from processor.engine.sealed import Sealed
from processor.engine.series import SEAL_EVERY_MS, Series, aggregate
from processor.kinds.buckets import Counts, Gauge
from tests.enginekit import H_MS, T0_MS, alert_key, event, ratio_sli, rule, sli, spec_of
from tests.enginekit import both_paths  # noqa: F401 - the fixture, by name

pytestmark = pytest.mark.usefixtures("both_paths")


def make_spec():
    slis = [sli("cost", "gauge", "g.cost", value_field="usd", labels=("m",)), ratio_sli("req", "svc.req")]
    rules = [
        rule("CostLong", "cost", "sum", ">", 40, window_ms=3 * H_MS),  # instant: reads sealed sub-windows
        rule("CostMax", "cost", "max", ">=", 9, window_ms=2 * H_MS, for_ms=10_000),
        rule("BadLong", "req", "bad_count", ">", 6, window_ms=3 * H_MS),  # instant too
        rule("Ratio", "req", "bad_ratio", ">", 0.4, window_ms=150 * 60_000, for_ms=10_000),
        rule("Day", "cost", "sum", ">", 60, calendar="day"),
    ]
    return spec_of(slis, rules, lateness_ms=2_000)


def to_events(steps):
    t, out = T0_MS, []
    for dt, kind, a, b in steps:
        t += dt
        if kind == 0:
            out.append(event("g.cost", t, usd=a * 0.7, m=f"m{b % 2}"))
        else:
            out.append(event("svc.req", t, status="ok" if a % 3 else "err"))
    return out


# Up to ~8 h of event time (and 4 h after): several hours sealed, windows of 2-3 h reaching across the cut.
steps = st.lists(st.tuples(st.integers(0, 600_000), st.integers(0, 1), st.integers(0, 13), st.integers(0, 9)),
                 min_size=1, max_size=50)


@settings(max_examples=25, deadline=None)
@given(steps, st.data())
def test_a_long_history_resumes_from_a_snapshot_exactly_with_its_old_sub_windows_sealed(stream, data):
    events = to_events(stream)
    cut = data.draw(st.integers(0, len(events)))
    end_ms = T0_MS + sum(s[0] for s in stream) + 4 * H_MS
    whole_engine = Engine(make_spec())
    whole = run_all(whole_engine, [events], end_ms)
    first = Engine(make_spec())
    before = run_all(first, [events[:cut]])
    second = Engine(make_spec())
    assert [] == second.restore_bytes(first.snapshot_bytes())
    after = run_all(second, [events[cut:]], end_ms)
    assert [alert_key(a) for a in whole.alerts] == [alert_key(a) for a in before.alerts + after.alerts]
    assert whole.actions == before.actions + after.actions
    # Sealed at the same cut whichever way the engine got there.
    assert whole_engine.snapshot() == second.snapshot()


def test_a_window_across_the_seal_reads_every_event_of_it():
    # Three and a half hours of one cost event a minute (0, 1, ... 4 dollars): by then the first two
    # hours or so are sealed, and the 3 h sum still counts every event of the last three hours.
    events = [event("g.cost", T0_MS + i * 60_000 + 1_000, usd=float(i % 5), m="m0") for i in range(210)]
    engine = Engine(make_spec())
    out = run_all(engine, [events], T0_MS + 210 * 60_000)
    series = next(s for s in engine.slis if s.name == "cost").series[("m0",)]
    assert series.sealed is not None and len(series.sealed) > 0
    assert int(series.sealed.starts[-1]) < T0_MS + 210 * 60_000 - SEAL_EVERY_MS
    t_ms = T0_MS + 210 * 60_000
    lo_ms = t_ms - 3 * H_MS
    expected = [float(i % 5) for i in range(210) if lo_ms <= T0_MS + i * 60_000 + 1_000 < t_ms]
    got = aggregate(series, lo_ms, t_ms)
    assert got.count == len(expected)
    total = 0.0
    for v in expected:
        total += v
    assert got.sum == total and got.max == max(expected) and got.min == min(expected)


def test_an_instant_rule_whose_window_reaches_sealed_sub_windows_fires_on_the_event():
    # 4 x 9 dollars in the first minutes, then nothing for two and a half hours (sealed by then),
    # then 5 dollars: the 3 h sum is 41 > 40 on that event, and only with the sealed ones read.
    events = [event("g.cost", T0_MS + i * 60_000, usd=9.0, m="m1") for i in range(1, 5)]
    events.append(event("g.cost", T0_MS + 150 * 60_000 + 2_500, usd=5.0, m="m1"))
    events.append(event("svc.req", T0_MS + 150 * 60_000 + 2_600, status="ok"))  # the next sub-window opens
    engine = Engine(make_spec())
    run_all(engine, [events[:4]])
    run_all(engine, [], T0_MS + 150 * 60_000)
    assert engine.snapshot()["slis"]["cost"]["series"][0][1]["sealed"]["n"] == 4
    out = run_all(engine, [events[4:]])
    fired = [a for a in out.alerts if dict(a.labels)["alertname"] == "CostLong"]
    assert [(a.status, a.active_at_ms, a.value) for a in fired] == [("firing", T0_MS + 150 * 60_000 + 2_500, 41.0)]


def test_a_version_4_snapshot_with_hours_of_sub_windows_as_rows_restores_to_the_same_sealed_state():
    rng = random.Random(7)
    events = []
    for i in range(300):
        t = T0_MS + i * 50_000 + rng.randrange(10_000)
        events.append(event("g.cost", t, usd=rng.random() * 3, m=f"m{i % 2}") if i % 3 else
                      event("svc.req", t, status="err" if rng.random() < 0.3 else "ok"))
    later = [event("g.cost", T0_MS + 300 * 50_000 + i * 7_000, usd=1.5, m="m1") for i in range(40)]
    engine = Engine(make_spec())
    run_all(engine, [events])
    now = engine.snapshot()
    assert any("sealed" in saved for entry in now["slis"].values() for _, saved in entry["series"])
    old = {**now, "version": 4, "slis": {name: {**entry, "series": [[labels, _as_rows(saved)] for labels, saved in
                                                                     entry["series"]]}
                                         for name, entry in now["slis"].items()}}
    restored = Engine(make_spec())
    assert [] == restored.restore(old)
    assert restored.snapshot() == now
    end_ms = T0_MS + 8 * H_MS
    a, b = run_all(engine, [later], end_ms), run_all(restored, [later], end_ms)
    assert [alert_key(x) for x in a.alerts] == [alert_key(x) for x in b.alerts] and a.alerts


def _as_rows(saved: dict) -> dict:
    saved = dict(saved)
    packed = saved.pop("sealed", None)
    if packed is not None:
        sealed = Sealed.restore(packed)
        # Written by hand, as version 4 wrote them: [start, bucket] in start order.
        rows = []
        for i in range(len(sealed)):
            bucket = sealed.bucket(i)
            rows.append([int(sealed.starts[i]), [bucket.good, bucket.total] if type(bucket) is Counts else
                         ["g", bucket.count, bucket.sum, bucket.min, bucket.max, bucket.last_ts, bucket.last]])
        saved["subs"] = rows + saved["subs"]
    return saved


def test_sealed_gauges_keep_every_field_and_non_finite_values_through_a_snapshot():
    series = Series()
    values = [1.5, -0.0, math.inf, 1e308, -2.25]
    for i, v in enumerate(values):
        g = series.subs[i * 10_000] = Gauge()
        g.add(i * 10_000 + 3, v)
        g.add(i * 10_000 + 9, v / 2)
    series.seal(2 * SEAL_EVERY_MS + 1)
    assert not series.subs and len(series.sealed) == len(values)
    back = Series()
    assert back.restore(series.snapshot(), Gauge.restore)
    for i, v in enumerate(values):
        g = back.sealed.bucket(i)
        assert (g.count, g.sum, g.min, g.max, g.last_ts, g.last) == (2, v + v / 2, min(v, v / 2), max(v, v / 2),
                                                                    i * 10_000 + 9, v / 2)


def test_a_sealed_snapshot_of_another_bucket_type_is_a_kind_change_and_a_damaged_one_names_its_field():
    series = Series()
    series.subs[0] = Counts(3, 4)
    series.seal(2 * SEAL_EVERY_MS)
    saved = series.snapshot()
    assert not Series().restore(saved, Gauge.restore)
    damaged = {**saved, "sealed": {**saved["sealed"], "total": saved["sealed"]["total"][:-4]}}
    with pytest.raises(ValueError, match="sealed total"):
        Series().restore(damaged, Counts.restore)
    with pytest.raises(ValueError, match="sealed sub-windows"):
        Series().restore({**saved, "sealed": {"type": "sketch", "n": 1, "first": 0}}, Counts.restore)
