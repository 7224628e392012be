"""The grouped sum and count kernels against Python's exact integers and ``np.bincount``: an
integer sum is reported as fitting only when it equals the exact sum, and always when each
part of it fits; float sums are ``bincount``'s to the last bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sabot_lab.kernels.grouped_sums import count_by_code, sum_float64_by_code, sum_int64_by_code

INT64 = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=200, deadline=None)
@given(
    size=st.sampled_from([1, 3, 4097]),
    rows=st.lists(st.tuples(st.integers(0, 4096), INT64 | st.integers(-5, 5)), max_size=40),
    strided=st.booleans(),
)
def test_int64_sums_are_exact_or_report_overflow(
    size: int, rows: list[tuple[int, int]], strided: bool
) -> None:
    codes = np.array([c % size for c, _ in rows], dtype=np.int64)
    values = np.array([v for _, v in rows], dtype=np.int64)
    if strided:  # as the low words of decimal128 values are read: a view with stride 16
        values = np.repeat(values, 2)[::2]
    sums = np.zeros(size, dtype=np.int64)
    exact = [0] * size
    for code, value in zip(codes.tolist(), values.tolist(), strict=True):
        exact[code] += value
    fits = sum_int64_by_code(codes, values, sums)
    if fits:
        assert sums.tolist() == exact
    if not all(-(2**63) <= s < 2**63 for s in exact):
        assert not fits
    if all(abs(v) < 2**63 // max(len(rows), 1) for v in values.tolist()):
        assert fits  # no part of a sum can overflow


@settings(max_examples=100, deadline=None)
@given(
    size=st.integers(1, 9),
    rows=st.lists(
        st.tuples(
            st.integers(0, 8),
            st.floats(allow_nan=False, width=64, min_value=-1e300, max_value=1e300),
        ),
        max_size=60,
    ),
)
def test_float_sums_and_counts_equal_bincount(size: int, rows: list[tuple[int, float]]) -> None:
    codes = np.array([c % size for c, _ in rows], dtype=np.int64)
    values = np.array([v for _, v in rows], dtype=np.float64)
    sums, counts = np.zeros(size), np.zeros(size, dtype=np.int64)
    sum_float64_by_code(codes, values, sums)
    count_by_code(codes, counts)
    assert sums.tobytes() == np.bincount(codes, weights=values, minlength=size).tobytes()
    assert counts.tolist() == np.bincount(codes, minlength=size).tolist()


@given(code=st.sampled_from([-1, 3, 2**62]), lanes=st.sampled_from([3, 5000]))
def test_a_code_outside_the_groups_raises(code: int, lanes: int) -> None:
    codes = np.array([0, 1, code, 2], dtype=np.int64)
    for kernel, values, out in (
        (sum_int64_by_code, np.ones(4, np.int64), np.zeros(lanes, np.int64)),
        (sum_float64_by_code, np.ones(4), np.zeros(lanes)),
        (count_by_code, None, np.zeros(lanes, np.int64)),
    ):
        args = (codes, out) if values is None else (codes, values, out)
        if 0 <= code < lanes:  # a group of the larger sets
            kernel(*args)
        else:
            with pytest.raises(ValueError, match="group numbers must lie in"):
                kernel(*args)
