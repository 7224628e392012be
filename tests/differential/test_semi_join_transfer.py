"""Semi joins transferred across a join (``transfer_semi_joins``): random tables with nulls and
duplicate keys, the right input reached directly or through a rename, a filter and a
group-by on the key, inner, left, semi and anti joins: the same rows optimized and as
written, and the rule applied in every plan."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.logical import HashJoin
from tests.support.reference import assert_same_rows


def _table(
    rng: np.random.Generator, rows: int, prefix: str, null_share: float, keys: int = 12
) -> pa.Table:
    return pa.table(
        {
            f"{prefix}k": pa.array(
                rng.integers(0, keys, rows), pa.int64(), mask=rng.random(rows) < null_share
            ),
            f"{prefix}v": pa.array(rng.integers(-20, 20, rows), pa.int64()),
        }
    )


def _right(rng: np.random.Generator, shape: str, null_share: float) -> sl.Stream:
    right = sl.from_arrow(_table(rng, int(rng.integers(0, 60)), "r", null_share))
    if shape == "renamed":
        return right.select(col("rk").alias("key"), (col("rv") * 2).alias("w"))
    if shape == "grouped":
        return (
            right.filter(col("rv") > -15)
            .group_by("rk")
            .agg(col("rv").sum().alias("total"))
            .select(col("rk").alias("key"), col("total"))
        )
    return right.select(col("rk").alias("key"), col("rv").alias("w"))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**32 - 1),
    how=st.sampled_from(["inner", "left", "semi", "anti"]),
    shape=st.sampled_from(["direct", "renamed", "grouped"]),
    null_share=st.sampled_from([0.0, 0.25]),
)
def test_transferred_semi_joins_give_the_rows_as_written(
    seed: int, how: str, shape: str, null_share: float
) -> None:
    rng = np.random.default_rng(seed)
    left = sl.from_arrow(_table(rng, int(rng.integers(0, 40)), "l", null_share))
    reducer = sl.from_arrow(_table(rng, int(rng.integers(0, 8)), "y", null_share))
    stream = left.join(reducer, left_on="lk", right_on="yk", how="semi").join(
        _right(rng, shape, null_share), left_on="lk", right_on="key", how=how
    )
    plan = stream.optimize()
    assert "transfer_semi_joins" in plan.trace.render()
    semis = [n for n in plan if isinstance(n.op, HashJoin) and n.op.how == "semi"]
    assert len(semis) == 2 + (how == "semi")
    assert_same_rows(stream.collect(), stream.collect(optimize=False), ordered=False)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**32 - 1),
    how=st.sampled_from(["inner", "left", "semi", "anti"]),
    through=st.sampled_from(["grouped", "joined"]),
    null_share=st.sampled_from([0.0, 0.25]),
)
def test_inner_join_reducers_give_the_rows_as_written(
    seed: int, how: str, through: str, null_share: float
) -> None:
    """A few keys inner-joined reduce a right input of many keys, grouped or joined (an
    inner join is joined into one region with the others, and ordered: it may not be)."""
    rng = np.random.default_rng(seed)
    left = sl.from_arrow(_table(rng, int(rng.integers(0, 40)), "l", null_share))
    reducer = sl.from_arrow(_table(rng, int(rng.integers(1, 4)), "y", null_share))
    right = sl.from_arrow(_table(rng, int(rng.integers(60, 90)), "r", null_share, keys=40))
    if through == "grouped":
        right = right.group_by("rk").agg(col("rv").max().alias("top"))
    else:
        other = sl.from_arrow(_table(rng, int(rng.integers(0, 30)), "o", null_share))
        right = right.join(other, left_on="rv", right_on="ov", how="left")
    stream = left.join(reducer, left_on="lk", right_on="yk").join(
        right.select(col("rk").alias("key"), *[c for c in right.columns if c != "rk"]),
        left_on="lk",
        right_on="key",
        how=how,
    )
    trace = stream.optimize().trace.render()
    if how != "inner":  # a semi or anti join may move below the inner join instead
        pushed = how != "left" and "push_down_semi_joins" in trace
        assert pushed or "as the other input's inner join does" in trace
    assert_same_rows(stream.collect(), stream.collect(optimize=False), ordered=False)


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**32 - 1),
    how=st.sampled_from(["inner", "left", "semi", "anti"]),
    null_share=st.sampled_from([0.0, 0.25]),
)
def test_reducers_below_joins_on_other_keys_give_the_rows_as_written(
    seed: int, how: str, null_share: float
) -> None:
    """A few keys inner-joined, then joined with another input on another key and filtered
    (TPC-H Q2's parts, then their suppliers), reduce a grouped right input of many keys."""
    rng = np.random.default_rng(seed)
    left = sl.from_arrow(_table(rng, int(rng.integers(20, 40)), "l", null_share))
    reducer = sl.from_arrow(_table(rng, int(rng.integers(1, 4)), "y", null_share))
    other = sl.from_arrow(_table(rng, int(rng.integers(5, 30)), "o", null_share))
    right = sl.from_arrow(_table(rng, int(rng.integers(60, 90)), "r", null_share, keys=40))
    grouped = right.group_by("rk").agg(col("rv").min().alias("low"))
    stream = (
        left.join(reducer, left_on="lk", right_on="yk")
        .join(other, left_on="lv", right_on="ov")
        .filter(col("ok").is_null() | (col("ok") != 3))
        .join(grouped, left_on="lk", right_on="rk", how=how)
    )
    if how != "inner":  # an inner join is ordered with the others: the group-by may move
        assert "whose rk is in" in stream.optimize().trace.render()
    assert_same_rows(stream.collect(), stream.collect(optimize=False), ordered=False)
