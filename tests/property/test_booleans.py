"""Boolean arrays unpacked by numpy (:func:`sabot_lab.engine.booleans.as_bools`) equal
pyarrow's own conversion, at any length and slice offset."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from sabot_lab.engine.booleans import as_bools


@given(
    values=st.lists(st.booleans(), max_size=300),
    start=st.integers(0, 20),
    length=st.integers(0, 300),
)
def test_unpacked_bits_equal_pyarrows_conversion(
    values: list[bool], start: int, length: int
) -> None:
    mask = pa.array(values, pa.bool_()).slice(start, length)
    unpacked = as_bools(mask)
    assert unpacked.dtype == bool and unpacked.tolist() == mask.to_pylist()
    assert unpacked.tolist() == mask.to_numpy(zero_copy_only=False).tolist()
