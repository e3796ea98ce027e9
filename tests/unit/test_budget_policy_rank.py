"""The policy tier of one budget, ranked in Python integers at a boundary, against the tier read
from the exact fraction of budget remaining (and against the array ranking stretches use)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from processor.engine.budget import POLICY_RANK, POLICY_TIERS, policy_rank, policy_ranks

MARGINS = st.sampled_from([Fraction(0), Fraction(1, 20), Fraction(1, 10), Fraction(3, 100)])


def tier_of(bad: int, allowed: Fraction, margin: Fraction) -> int:
    """The tier as the document states it: > 50 % remaining is normal, 25-50 %, 10-25 %, < 10 %."""
    if allowed == 0:
        return 0 if bad == 0 else len(POLICY_TIERS) - 1
    remaining = 1 - Fraction(bad) / allowed - margin
    if remaining > Fraction(1, 2):
        return POLICY_RANK["normal"]
    if remaining >= Fraction(1, 4):
        return 1
    if remaining >= Fraction(1, 10):
        return 2
    return 3


@given(st.integers(0, 10**6), st.integers(0, 10**5), st.integers(1, 10**4), MARGINS)
def test_one_budget_is_ranked_as_its_remaining_fraction_says(bad, allowed_num, allowed_den, margin):
    expected = tier_of(bad, Fraction(allowed_num, allowed_den), margin)
    assert expected == policy_rank(bad, allowed_num, allowed_den, margin)
    assert expected == int(policy_ranks(bad, allowed_num, allowed_den, margin))


def test_the_borders_themselves():
    # allowed 100: 50 bad leaves exactly 50 % (not "> 50 %"), 75 leaves 25 %, 90 leaves 10 %.
    assert [0, 1, 1, 2, 2, 3] == [policy_rank(b, 100, 1, Fraction(0)) for b in (49, 50, 75, 76, 90, 91)]


# Window sums of reported counts (a ratio SLI's good_count/bad_count: up to 10**12 an event) fit
# an int64, but their products with the tier terms and the allowed fraction's denominator may not.
BIG = st.integers(0, 2**62)


@given(BIG, st.integers(1, 4), st.sampled_from([1, 3, 1000, 10**5]), MARGINS)
def test_window_sums_past_the_products_int64_holds_are_ranked_exactly(bad, eb_num, eb_den, margin):
    # The stretch path's form: allowed = error_budget.numerator * total / denominator, unreduced.
    total = bad + bad // 3
    allowed_num = eb_num * total
    if allowed_num >= 2**63:
        return  # the stretch's own sums are int64
    expected = tier_of(bad, Fraction(allowed_num, eb_den), margin)
    assert expected == policy_rank(bad, allowed_num, eb_den, margin)
    assert [expected] == policy_ranks([bad], [allowed_num], eb_den, margin).tolist()


def test_a_spent_budget_of_a_huge_window_stays_spent_in_arrays():
    # 3e15 bad of 1e16 events with 0.1 % allowed (1e13): spent. 2 * 3e15 * 1000 wraps an int64.
    assert 3 == policy_rank(3 * 10**15, 10**16, 1000, Fraction(0))
    assert [3, 3] == policy_ranks([3 * 10**15, 3 * 10**15], [10**16, 10**16], 1000, Fraction(0)).tolist()
