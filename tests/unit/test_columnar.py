"""kinds/columnar.py: a predicate over a column of payloads says, for each payload, what the
per-event predicate (config/predicate.py) says of it, or None (leave the column to it).

Checked against the per-event predicate itself on columns of ints (small, near 2**53, past
int64), floats, bools, strings, nulls and missing fields.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processor.config.predicate import FieldTypeError, MissingField, parse_predicate
from processor.kinds.columnar import column_predicate

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
    assert "refused" not in expected
    assert got.tolist() == expected


def test_a_column_of_plain_status_codes_is_answered_at_once():
    column = column_predicate(parse_predicate("code < 500"))
    assert column([{"code": 200}, {"code": 503}, {"code": 499}]).tolist() == [True, False, True]
