import math

import numpy as np
import orjson
import pytest
from ddsketch import DDSketch, LogarithmicMapping
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.kinds.sketch import MAX_KEY, MAX_TRACKABLE_MS, MIN_KEY, MIN_TRACKABLE_MS, LatencyStore, keys_of

MAPPING = LogarithmicMapping(0.01)


def test_every_bucket_key_equals_the_ddsketch_library_key_including_boundaries():
    rng = np.random.default_rng(7)
    keys = np.arange(MIN_KEY, MAX_KEY + 1)
    boundaries = np.power(MAPPING.gamma, keys.astype(float))  # the exact edges between buckets
    values = np.concatenate(
        [
            rng.lognormal(2.0, 3.0, 200_000),
            boundaries,
            np.nextafter(boundaries, 0),
            np.nextafter(boundaries, np.inf),
            [MAPPING.value(int(k)) for k in keys],
            [1.0, 2.0, 10.0, 100.0, 150.0, 1000.0],
        ]
    )
    values = values[(values >= MIN_TRACKABLE_MS) & (values <= MAX_TRACKABLE_MS)]
    expected = np.array([MAPPING.key(float(v)) for v in values])
    assert expected.tolist() == keys_of(values).tolist()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=0.01, max_value=1e6, allow_nan=False), min_size=1, max_size=400),
    st.sampled_from([0.5, 0.9, 0.95, 0.99, 0.999]),
)
def test_quantiles_are_within_one_percent_of_exact_numpy_quantiles(values, q):
    store = LatencyStore()
    store.add_many(np.asarray(values))
    data = np.sort(np.asarray(values))
    # DDSketch answers for the element of rank floor-ish(q*(n-1)); check against the exact
    # order statistics on either side of that rank with the sketch's relative accuracy.
    rank = q * (len(data) - 1)
    lower = data[int(math.floor(rank))]
    upper = data[int(math.ceil(rank))]
    got = store.quantile(q)
    assert lower * 0.99 <= got <= upper * 1.01


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=1e7, allow_nan=False), max_size=200),
    st.lists(st.floats(min_value=0.0, max_value=1e7, allow_nan=False), max_size=200),
)
def test_merging_two_stores_equals_the_store_of_the_union(a, b):
    sa, sb, union = LatencyStore(), LatencyStore(), LatencyStore()
    sa.add_many(np.asarray(a, dtype=float))
    sb.add_many(np.asarray(b, dtype=float))
    union.add_many(np.asarray(a + b, dtype=float))
    sa.merge(sb)
    assert union.bins.tolist() == sa.bins.tolist()
    assert union.zero_count == sa.zero_count


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.just(0.0), st.floats(min_value=MIN_TRACKABLE_MS, max_value=1e6)), min_size=1, max_size=300))
def test_export_to_ddsketch_answers_the_same_quantiles_as_the_library_fed_directly(values):
    store = LatencyStore()
    store.add_many(np.asarray(values))
    exported = store.to_ddsketch()
    direct = DDSketch(0.01)
    for v in values:
        direct.add(v)
    assert direct.count == exported.count
    for q in (0.0, 0.5, 0.95, 0.99, 1.0):
        assert direct.get_quantile_value(q) == pytest.approx(exported.get_quantile_value(q), rel=1e-12)
        assert direct.get_quantile_value(q) == pytest.approx(store.quantile(q), rel=1e-12)


def test_values_outside_the_trackable_range_are_clipped_and_counted_not_lost():
    store = LatencyStore()
    store.add_many(np.array([0.0, 1e-9, 5.0, 1e12]))
    assert 4 == store.count
    assert 1 == store.zero_count
    assert 2 == store.clipped


def test_a_merged_store_counts_the_clipped_values_of_both_and_keeps_them_through_a_snapshot():
    # Worked without the store: a positive value below 1 µs (1e-3 ms) or above 1e8 ms is clipped.
    # a: 1e-9 and 1e-5 below, 2e8 above: 3 clipped; 5 ms in range; 0 is a zero, not clipped.
    # b: 1e-7 below, 3e9 and 4e9 above: 3 clipped; 50 ms in range. Merged: 3 + 3 = 6 of 9 values.
    a_values, b_values = [1e-9, 1e-5, 2e8, 5.0, 0.0], [3e9, 1e-7, 4e9, 50.0]
    outside = [v for v in a_values + b_values if v > 0 and not MIN_TRACKABLE_MS <= v <= MAX_TRACKABLE_MS]
    assert 6 == len(outside)
    a, b = LatencyStore(), LatencyStore()
    a.add_many(np.array(a_values))
    b.add_many(np.array(b_values))
    assert (3, 3) == (a.clipped, b.clipped)
    merged = a.copy()
    merged.merge(b)
    assert (6, 9, 1) == (merged.clipped, merged.count, merged.zero_count)
    assert (3, 3) == (a.clipped, b.clipped)  # merging into a copy leaves both as they were
    # Through a snapshot (what a checkpoint stores), and merged again after one.
    again = LatencyStore.restore(orjson.loads(orjson.dumps(merged.snapshot())))
    assert (6, 9, 1) == (again.clipped, again.count, again.zero_count)
    restored_a = LatencyStore.restore(a.snapshot())
    restored_a.merge(LatencyStore.restore(b.snapshot()))
    assert (6, 9) == (restored_a.clipped, restored_a.count)


def test_snapshot_restore_round_trip_keeps_every_count():
    store = LatencyStore()
    store.add_many(np.random.default_rng(3).lognormal(3, 1, 5000))
    again = LatencyStore.restore(store.snapshot())
    assert store.bins.tolist() == again.bins.tolist()
