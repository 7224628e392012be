"""The row comparison every differential test relies on: unordered rows match within the
float tolerance however close floats happen to sort, and a real difference still fails."""

from __future__ import annotations

import pytest

from tests.support.reference import assert_same_rows


def test_rows_whose_close_floats_sort_apart_still_match() -> None:
    # 0.0 and 1.9e-8 sort alike, so the rows sort by their second column, whose noise differs
    assert_same_rows([(0.0, 5.0000000001), (1.9e-8, 3.0)], [(1.9e-8, 3.0), (0.0, 5.0)])


def test_a_row_without_a_close_partner_fails() -> None:
    with pytest.raises(AssertionError, match="differs"):
        assert_same_rows([(0.0, 5.0), (1.9e-8, 3.0)], [(0.0, 5.0), (1.9e-8, 4.0)])
    with pytest.raises(AssertionError, match="rows != "):
        assert_same_rows([(1.0,)], [(1.0,), (1.0,)])
