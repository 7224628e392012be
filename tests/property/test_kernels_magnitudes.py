"""The largest magnitude of 64-bit integers against Python's exact ``max(abs(v))``: any values
(the lowest int64 too, whose magnitude int64 cannot hold), contiguous or a strided view like a
decimal128 array's low words."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sabot_lab.kernels.magnitudes import largest_magnitude

INT64 = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(INT64 | st.integers(-5, 5), max_size=60), step=st.sampled_from([1, 2, 3]))
def test_the_largest_magnitude_is_the_exact_one(values: list[int], step: int) -> None:
    spread = np.zeros(len(values) * step, np.int64)
    spread[::step] = values
    view = spread[::step]
    assert largest_magnitude(view) == max((abs(v) for v in values), default=0)
