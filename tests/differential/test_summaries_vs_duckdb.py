"""``describe`` checked against DuckDB's aggregates and Polars' ``describe``, ``sample``'s
properties (size, rows drawn from the input, reproducible with a seed) and ``with_row_index``
against DuckDB's ``row_number()``, on random tables with nulls."""

from __future__ import annotations

from collections import Counter

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.errors import PlanError
from tests.support.reference import assert_same_rows, collect_all_ways, duckdb_table
from tests.support.strategies import keyed_tables, tables

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STATISTICS = ["count", "null_count", "mean", "std", "min", "10%", "50%", "90%", "max"]


@SETTINGS
@given(table=keyed_tables())
def test_describe_matches_duckdb_aggregates(table: pa.Table) -> None:
    summary = sl.from_arrow(table).describe([0.1, 0.5, 0.9], interpolation="linear")
    assert summary.column_names == ["statistic", "k", "g", "x", "y"]
    assert summary["statistic"].to_pylist() == STATISTICS
    for name in ("k", "x", "y"):
        expected = duckdb_table(
            f"SELECT count({name}), count(*) - count({name}), avg({name}), stddev_samp({name}), "
            f"min({name}), quantile_cont({name}, 0.1), quantile_cont({name}, 0.5), "
            f"quantile_cont({name}, 0.9), max({name}) FROM t",
            t=table,
        )
        assert_same_rows([tuple(summary[name].to_pylist())], expected)
    texts = duckdb_table("SELECT count(g), count(*) - count(g), min(g), max(g) FROM t", t=table)
    count, nulls, low, high = texts.to_pylist()[0].values()
    assert summary["g"].to_pylist() == [
        str(count),
        str(nulls),
        None,
        None,
        low,
        None,
        None,
        None,
        high,
    ]


@SETTINGS
@given(table=tables(min_rows=1))
def test_describe_matches_polars_but_for_its_percentiles(table: pa.Table) -> None:
    ours = sl.from_arrow(table).describe(percentiles=None)
    theirs = pl.from_arrow(table).describe(percentiles=None).to_arrow()
    for name in ("i", "j", "f", "b", "s"):
        mine, polars = ours[name].to_pylist(), theirs[name].to_pylist()
        if name == "b":  # Polars gives booleans' min and max, mean and std as we do
            polars = [None if v is None else float(v) for v in polars]
        assert_same_rows([tuple(mine)], [tuple(polars)], rel=1e-6)


def test_describe_refuses_an_unbounded_stream() -> None:
    with pytest.raises(PlanError, match=r"never ends.*head"):
        sl.nexmark(events=None).bids.describe()


@SETTINGS
@given(
    table=keyed_tables(max_rows=40),
    n=st.integers(0, 40),
    replace=st.booleans(),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_sample_draws_a_sub_multiset_of_the_rows_reproducibly(
    table: pa.Table, n: int, replace: bool, shuffle: bool, seed: int
) -> None:
    stream = sl.from_arrow(table).with_row_index("rn")
    if n > table.num_rows and (not replace or table.num_rows == 0) and n:
        with pytest.raises(PlanError):
            stream.sample(n, with_replacement=replace, seed=seed)
        return
    drawn = stream.sample(n, with_replacement=replace, shuffle=shuffle, seed=seed).collect()
    assert drawn.num_rows == n and drawn.schema == stream.schema
    rows = Counter(map(tuple, (r.values() for r in stream.collect().to_pylist())))
    picked = Counter(map(tuple, (r.values() for r in drawn.to_pylist())))
    if replace:
        assert set(picked) <= set(rows)
    else:
        assert not picked - rows  # each input row at most once
        if not shuffle:
            assert drawn["rn"].to_pylist() == sorted(drawn["rn"].to_pylist())
    again = stream.sample(n, with_replacement=replace, shuffle=shuffle, seed=seed).collect()
    assert again.equals(drawn)


def test_sample_by_fraction_and_its_errors() -> None:
    s = sl.from_pydict({"x": list(range(10))})
    assert s.sample(fraction=0.35, seed=1).collect().num_rows == 3
    assert s.sample(fraction=2.0, with_replacement=True, seed=1).collect().num_rows == 20
    assert {len(set(s.sample(5, seed=i).collect()["x"].to_pylist())) for i in range(5)} == {5}
    assert len({tuple(s.sample(5, seed=i).collect()["x"].to_pylist()) for i in range(5)}) > 1
    with pytest.raises(PlanError, match="not both"):
        s.sample(2, fraction=0.5)
    with pytest.raises(PlanError, match="with_replacement=True"):
        s.sample(11)
    with pytest.raises(PlanError, match="never ends"):
        sl.nexmark(events=None).bids.sample(3)


@SETTINGS
@given(table=keyed_tables(), offset=st.integers(0, 5))
def test_with_row_index_matches_duckdb_row_number(table: pa.Table, offset: int) -> None:
    stream = sl.from_arrow(table).with_row_index("n", offset=offset).filter(col("x") > 0)
    assert stream.columns == ["n", "k", "g", "x", "y"]
    expected = duckdb_table(
        f"SELECT * FROM (SELECT row_number() OVER () - 1 + {offset} AS n, * FROM t) WHERE x > 0",
        t=table,
    )
    for result in collect_all_ways(stream):
        assert_same_rows(result, expected, ordered=True)
    polars = pl.from_arrow(table).with_row_index("n", offset=offset).filter(pl.col("x") > 0)
    assert_same_rows(stream.collect(), polars.to_arrow(), ordered=True)


def test_with_row_index_after_a_sort_numbers_the_sorted_rows() -> None:
    s = sl.from_pydict({"x": [3, 1, 2]}).sort("x", descending=True).with_row_index()
    assert s.collect().to_pydict() == {"index": [0, 1, 2], "x": [3, 2, 1]}
    with pytest.raises(PlanError, match="offset=-1"):
        s.with_row_index("i", offset=-1)
