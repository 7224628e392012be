"""The row comparison every differential test relies on: unordered rows match within the
float tolerance however close floats happen to sort, and a real difference still fails."""

from __future__ import annotations

import pytest

from tests.support.reference import assert_same_rows


def test_rows_whose_close_floats_sort_apart_still_match() -> None:
    # equal within the tolerance, but on either side of a rounding boundary: the first table's
    # rows sort by their first column, the second's tie there and sort by the second column
    first = [(4.9999996e-7, 9.0), (1e-6, 1.0)]
    second = [(5.0000004e-7, 9.0), (1e-6, 1.0)]
    assert_same_rows(first, second)


def test_a_row_without_a_close_partner_fails() -> None:
    with pytest.raises(AssertionError, match="differs"):
        assert_same_rows([(0.0, 5.0), (1.9e-8, 3.0)], [(0.0, 5.0), (1.9e-8, 4.0)])
    with pytest.raises(AssertionError, match="rows != "):
        assert_same_rows([(1.0,)], [(1.0,), (1.0,)])
