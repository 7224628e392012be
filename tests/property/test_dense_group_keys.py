"""Integer group keys numbered densely (their range over their common step): the step found
from a key's first values is numpy's greatest common divisor of all of them, and a group-by
on such keys (window starts, multiples, one odd value late in the batch) groups as DuckDB
does."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab.engine.aggregate import _common_divisor


@st.composite
def _keys(draw: st.DrawFn) -> np.ndarray:
    rows = draw(st.integers(1, 300))
    step = draw(st.sampled_from([1, 2, 3, 7, 60, 1000]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.integers(0, 50, rows) * step
    if draw(st.booleans()):  # one value off the step, after the first 64
        values[draw(st.integers(0, rows - 1))] += draw(st.integers(1, step + 1))
    return values


@settings(max_examples=200, deadline=None)
@given(_keys())
def test_the_common_step_is_the_greatest_common_divisor(values: np.ndarray) -> None:
    shifted = values - values.min()
    assert _common_divisor(shifted) == (int(np.gcd.reduce(shifted)) or 1)


@settings(max_examples=40, deadline=None)
@given(_keys())
def test_a_group_by_on_stepped_integer_keys_groups_as_duckdb_does(values: np.ndarray) -> None:
    keyed = pa.table({"k": values, "v": np.arange(len(values))})
    got = sl.from_arrow(keyed).group_by("k").agg(sl.col("v").sum().alias("s")).collect()
    reference = duckdb.sql("select k, sum(v)::bigint as s from keyed group by k").to_arrow_table()
    assert got.sort_by("k").to_pylist() == reference.sort_by("k").to_pylist()
