"""kinds/columnar.py: a predicate over a column of payloads says, for each payload, what the
per-event predicate (config/predicate.py) says of it, or leaves it to the per-event predicate: the
whole column (None), or its odd rows (``(column, odd)``), among them every one it would refuse.

Checked against the per-event predicate itself on columns of ints (small, near 2**53, past
int64), floats, bools, strings, nulls and missing fields; the number and bool columns they read,
against Python's own conversion of each value.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.config.predicate import FieldTypeError, MissingField, parse_predicate
from processor.kinds.columnar import bools, column_predicate, number_column, numbers

TEXTS = ["code < 500", "code >= 500", "code > 2.5", "code <= 0", "code < 9007199254740993", "ok"]
VALUES = st.one_of(st.integers(-1_000, 1_000), st.sampled_from([2**53 + 1, 2**63, -(2**63) - 1, 2**70]),
                   st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none(), st.just("500"))


def per_event(predicate, payload):
    try:
        return bool(predicate.fn(payload))
    except (MissingField, FieldTypeError):
        return "refused"


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(TEXTS), st.lists(st.one_of(VALUES.map(lambda v: {"code": v, "ok": v}), st.just({})),
                                        max_size=6))
def test_a_column_predicate_agrees_with_the_per_event_one(text, payloads):
    predicate = parse_predicate(text)
    column = column_predicate(predicate)
    assert column is not None
    got = column(payloads)
    expected = [per_event(predicate, p) for p in payloads]
    if got is None:
        return  # left to the per-event predicate: always allowed
    if type(got) is tuple:
        got, odd = got
        assert not odd.all()  # all of them left: None instead
    else:
        odd = np.zeros(len(payloads), dtype=bool)
    for answer, left, want in zip(got.tolist(), odd.tolist(), expected, strict=True):
        assert left or (want != "refused" and answer == want)


def test_a_column_of_plain_status_codes_is_answered_at_once():
    column = column_predicate(parse_predicate("code < 500"))
    assert column([{"code": 200}, {"code": 503}, {"code": 499}]).tolist() == [True, False, True]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(VALUES, st.just([1]), st.just({})), max_size=6))
def test_a_number_column_holds_each_number_as_python_converts_it_or_is_refused(raw):
    column = numbers(raw)
    every_number = all(type(v) in (int, float) for v in raw)
    if column is None:
        # Refused: a value that is not a number, or an int past int64 (left to the per-event path).
        assert not every_number or any(type(v) is int and not -(2**63) <= v < 2**63 for v in raw)
        return
    assert every_number
    if column.dtype == np.int64:
        assert all(type(v) is int for v in raw) and column.tolist() == raw
    else:
        assert column.tolist() == [float(v) for v in raw]
    floats, odd = number_column([{"x": v} for v in raw], "x")
    assert odd is None and floats.tolist() == [float(v) for v in raw]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(VALUES, st.just([1]), st.just("x" * 100)), max_size=6), st.integers(0, 6))
def test_a_number_column_leaves_to_the_observer_exactly_the_rows_it_cannot_convert(raw, missing_at):
    payloads = [{"x": v} for v in raw]
    payloads.insert(min(missing_at, len(payloads)), {})  # one without the field
    column, odd = number_column(payloads, "x")
    assert odd is not None  # a missing field: never a plain column
    for payload, value, left in zip(payloads, column.tolist(), odd.tolist(), strict=True):
        v = payload.get("x", None)
        plain = type(v) in (int, float) and abs(v) < 2**53
        assert left == (not plain)
        assert value == (float(v) if plain else 0.0)


@given(st.lists(st.one_of(st.booleans(), VALUES), max_size=6))
def test_a_truth_column_is_taken_only_when_every_value_is_a_bool(raw):
    column = bools(raw)
    if all(type(v) is bool for v in raw):
        assert column is not None and column.dtype == bool and column.tolist() == raw
    else:
        assert column is None


def _peak_bytes(fn, *args) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("read", [
    lambda raw: numbers(raw),
    lambda raw: bools(raw),
    lambda raw: number_column([{"v": v} for v in raw], "v"),
    lambda raw: column_predicate(parse_predicate("v > 1"))([{"v": v} for v in raw]),
    lambda raw: column_predicate(parse_predicate("v"))([{"v": v} for v in raw]),
])
def test_one_long_string_among_many_numbers_costs_no_more_than_itself(read) -> None:
    # numpy's type discovery makes a fixed-width string array of them all, each as wide as the
    # longest: one hostile 200 kB string in a batch of 300 would be 240 MB (a 1 MB payload in a
    # batch of 1000: 4 GB, the processor killed for memory).
    raw = [1] * 150 + [True] * 150 + ["x" * 200_000]
    result = read(raw)
    # Left to the per-event path: the whole column, or at least the string's row.
    assert result is None or (type(result) is tuple and result[1][-1])
    assert _peak_bytes(read, raw) < 5_000_000
