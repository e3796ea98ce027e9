"""Error budgets' rings through a snapshot: the packed arrays of snapshot version 4, the rows of
versions 3 and before still read, and a restore in the middle of weeks of counts changing nothing."""

from __future__ import annotations

import copy

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.config.model import Condition, Stat
from processor.engine import Engine, run_all
from processor.engine.budget import pack_ring, unpack_ring
from tests.enginekit import T0_MS, alert_key, budget_slo, event, ratio_sli, spec_of

MIN_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def make_spec():
    """A 30-day occurrences budget (one-minute ring for 30 days) and a 7-day time-slice budget
    that counts slices without data as good, both with a policy and burn-rate tiers."""
    slices = budget_slo(
        name="slices", objective=0.99, method="time_slices", slice_ms=MIN_MS, window_ms=7 * DAY_MS, no_data="ignore",
        slice_condition=Condition(stat=Stat(kind="good_ratio"), op=">=", threshold=0.9, text="good_ratio >= 0.9"),
        report_every_ms=6 * HOUR_MS, policy_min_events=10)
    return spec_of([ratio_sli()], [], slos=[budget_slo(objective=0.99, report_every_ms=6 * HOUR_MS, policy_min_events=10),
                                           slices])


# Bursts of events: (gap before the burst in minutes, up to 4 days; events in it; share bad). Over
# a few dozen bursts the rings fill with runs of minutes and gaps, and wrap past 30 days.
bursts = st.lists(
    st.tuples(st.integers(min_value=0, max_value=4 * 24 * 60), st.integers(min_value=1, max_value=20),
              st.sampled_from([0.0, 0.05, 0.5, 1.0])),
    min_size=1, max_size=10,
)


def to_events(drawn):
    t = T0_MS
    events = []
    for gap_min, n, bad_share in drawn:
        t += gap_min * MIN_MS
        for i in range(n):
            t += 7_000
            events.append(event("svc.req", t, status="err" if i < n * bad_share else "ok"))
    return events


def rings(engine):
    return [(ring.ids.copy(), ring.good.copy(), ring.total.copy()) for tracker, _ in engine.budgets.trackers
            for ring in (tracker.ring0, tracker.ring1) if ring is not None]


def as_version_3(snapshot: dict, engine: Engine) -> dict:
    """The same state as versions 2 and 3 wrote it: each ring's live slots as [bucket, good, total] rows in
    slot order (the rows are read off the engine's arrays, not through pack_ring)."""
    old = copy.deepcopy(snapshot)
    old["version"] = 3
    for tracker, _ in engine.budgets.trackers:
        saved = old["budgets"][tracker.slo.name]
        for name in ("ring0", "ring1"):
            ring = getattr(tracker, name)
            live = np.flatnonzero(ring.total) if ring is not None else []
            saved[name] = [[int(ring.ids[i]), int(ring.good[i]), int(ring.total[i])] for i in live]
    return old


@settings(max_examples=10, deadline=None)
@given(bursts, st.booleans(), st.data())
def test_weeks_of_budget_counts_resume_from_a_snapshot_exactly(drawn, from_rows, data):
    events = to_events(drawn)
    cut = data.draw(st.integers(min_value=0, max_value=len(events)))
    end_ms = orjson.loads(events[-1].data)["ts"] + 6 * HOUR_MS

    whole_engine = Engine(make_spec())
    whole = run_all(whole_engine, [events], end_ms)

    first = Engine(make_spec())
    before = run_all(first, [events[:cut]])
    saved = orjson.loads(first.snapshot_bytes())
    if from_rows:
        saved = as_version_3(saved, first)
    second = Engine(make_spec())
    assert [] == second.restore(saved)
    for (ids, good, total), (ids2, good2, total2) in zip(rings(first), rings(second), strict=True):
        live = total != 0
        assert np.array_equal(ids[live], ids2[live]) and np.array_equal(good, good2) and np.array_equal(total, total2)
    after = run_all(second, [events[cut:]], end_ms)

    assert [alert_key(a) for a in whole.alerts] == [alert_key(a) for a in before.alerts + after.alerts]
    assert whole.budgets == before.budgets + after.budgets
    assert whole.actions == before.actions + after.actions


def test_a_hand_written_version_3_budget_restores_its_rows():
    engine = Engine(make_spec())
    snapshot = orjson.loads(engine.snapshot_bytes())
    snapshot["version"] = 3
    minute = T0_MS // MIN_MS
    # Two minutes of the 30-day ring, out of order as a slot order can be, and one 10 s bucket.
    snapshot["budgets"]["avail"]["ring1"] = [[minute + 5, 7, 9], [minute, 3, 3]]
    snapshot["budgets"]["avail"]["ring0"] = [[(T0_MS + 300_000) // 10_000, 7, 9]]
    snapshot["closed_until_ms"] = T0_MS + 310_000
    restored = Engine(make_spec())
    assert [] == restored.restore(snapshot)
    tracker = next(t for t, _ in restored.budgets.trackers if t.slo.name == "avail")
    assert tracker.ring1.get(T0_MS + 5 * MIN_MS) == (7, 9)
    assert tracker.ring1.get(T0_MS) == (3, 3)
    assert tracker.ring1.get(T0_MS + MIN_MS) == (0, 0)
    assert tracker.ring0.get(T0_MS + 300_000) == (7, 9)
    assert (tracker.windows[30 * DAY_MS].good, tracker.windows[30 * DAY_MS].total) == (10, 12)


@pytest.mark.parametrize("ids", [[], [5], [5, 6, 7, 10, 11, 40], list(range(-3, 3))])
def test_a_packed_ring_reads_back_its_buckets_and_counts(ids):
    rng = np.random.default_rng(len(ids))
    ids = np.array(ids, dtype=np.int64)
    total = rng.integers(0, 2**40, ids.size) if ids.size > 3 else rng.integers(1, 100, ids.size)
    good = total - rng.integers(0, 2, ids.size)
    packed = orjson.loads(orjson.dumps(pack_ring(ids, good, total)))
    back = unpack_ring(packed)
    assert [ids.tolist(), good.tolist(), total.tolist()] == [a.tolist() for a in back]


def test_a_packed_ring_with_fewer_counts_than_buckets_is_refused_naming_the_field():
    packed = pack_ring(np.array([1, 2, 3]), np.array([1, 1, 1]), np.array([1, 1, 1]))
    packed["runs"] = [[1, 4]]
    with pytest.raises(ValueError, match="ring good: 3 values for 4 buckets"):
        unpack_ring(packed)
