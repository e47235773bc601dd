"""Largest-remainder allocation: exact, bounded, fair to the cent, the same every time."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.allocation import allocate

weights_st = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=12).filter(
    lambda w: sum(w) > 0
)


@settings(max_examples=300)
@given(weights_st, st.data())
def test_parts_sum_exactly_stay_within_their_weight_and_one_unit_of_their_share(weights, data):
    total = data.draw(st.integers(min_value=0, max_value=sum(weights)))
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all(0 <= part <= weight for part, weight in zip(parts, weights, strict=True))
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(total * weight, sum(weights))
        assert abs(part - exact) < 1
    assert allocate(total, weights) == parts


def test_a_hundred_over_three_equal_lines_gives_the_odd_cent_to_the_first():
    assert allocate(10_000, [6_000, 6_000, 6_000]) == [3_334, 3_333, 3_333]


def test_ties_go_to_earlier_lines_and_larger_remainders_first():
    assert allocate(2, [1, 1, 1]) == [1, 1, 0]
    assert allocate(10, [1, 2, 4]) == [1, 3, 6]  # exact 1.43, 2.86, 5.71


def test_the_whole_amount_over_the_weights_is_the_weights():
    assert allocate(10_000, [3_333, 3_333, 3_334]) == [3_333, 3_333, 3_334]


def test_nothing_to_split_and_impossible_splits():
    assert allocate(0, [0, 0]) == [0, 0]
    with pytest.raises(ValueError):
        allocate(1, [0, 0])
    with pytest.raises(ValueError):
        allocate(-1, [1])
