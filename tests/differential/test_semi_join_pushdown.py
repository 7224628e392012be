"""Semi and anti joins pushed down their left input (``push_down_semi_joins``): random tables
with nulls and duplicate keys, the key reached through a rename, a filter, a group-by on
it, or an inner or left join that carries it from either input: the same rows optimized and
as written, and the rule applied wherever it probes no more rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from tests.support.reference import assert_same_rows


def _table(rng: np.random.Generator, rows: int, prefix: str, null_share: float) -> pa.Table:
    return pa.table(
        {
            f"{prefix}k": pa.array(
                rng.integers(0, 12, rows), pa.int64(), mask=rng.random(rows) < null_share
            ),
            f"{prefix}v": pa.array(rng.integers(-20, 20, rows), pa.int64()),
        }
    )


def _left(rng: np.random.Generator, shape: str, null_share: float) -> sl.Stream:
    """A left input whose column ``key`` comes unchanged from a table below it."""
    rows = sl.from_arrow(_table(rng, int(rng.integers(20, 50)), "l", null_share))
    # one row per value of lv: the joins keep the row count (the rule moves the semi join
    # only where it probes no more rows), a null key now and then
    values = rng.permutation(np.arange(-20, 20))
    other = sl.from_arrow(
        pa.table(
            {
                "ok": pa.array(rng.integers(0, 12, 40), mask=rng.random(40) < null_share),
                "ov": pa.array(values, mask=rng.random(40) < null_share),
            }
        )
    )
    if shape == "renamed":
        return rows.select(col("lk").alias("key"), col("lv"))
    if shape == "filtered":
        return rows.filter(col("lv") > -10).select(col("lk").alias("key"), col("lv"))
    if shape == "grouped":
        return rows.group_by("lk").agg(col("lv").sum().alias("total")).rename({"lk": "key"})
    if shape == "inner_right":  # the key comes from the join's right input
        return other.join(rows, left_on="ov", right_on="lv").rename({"lk": "key"})
    how = "inner" if shape == "inner" else "left"
    return rows.join(other, left_on="lv", right_on="ov", how=how).rename({"lk": "key"})


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**32 - 1),
    how=st.sampled_from(["semi", "anti"]),
    shape=st.sampled_from(["renamed", "filtered", "grouped", "inner", "inner_right", "left"]),
    null_share=st.sampled_from([0.0, 0.25]),
)
def test_pushed_down_semi_joins_give_the_rows_as_written(
    seed: int, how: str, shape: str, null_share: float
) -> None:
    rng = np.random.default_rng(seed)
    reducer = sl.from_arrow(_table(rng, int(rng.integers(0, 8)), "y", null_share))
    stream = _left(rng, shape, null_share).join(reducer, left_on="key", right_on="yk", how=how)
    # a filter that drops rows keeps the semi join above it: it would probe more rows (a
    # group-by does when its groups are estimated fewer than its rows)
    pushed = "push_down_semi_joins" in stream.optimize().trace.render()
    assert pushed or shape in ("filtered", "grouped")
    assert not (pushed and shape == "filtered")
    assert_same_rows(stream.collect(), stream.collect(optimize=False), ordered=False)
