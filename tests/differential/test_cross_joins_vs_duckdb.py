"""Cross joins and non-equi joins (``join(how="cross")``, ``join_where``, SQL ``CROSS JOIN``,
``FROM a, b`` and ``JOIN ... ON a.x < b.y``) checked against DuckDB on random tables with
nulls, optimized and not, with batch boundaries everywhere."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.errors import PlanError, SchemaError
from tests.support.reference import assert_same_rows, collect_all_ways, duckdb_table
from tests.support.strategies import keyed_tables

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(stream: sl.Stream, sql: str, **tables: pa.Table) -> None:
    expected = duckdb_table(sql, **tables)
    for optimize in (True, False):
        for result in collect_all_ways(stream, optimize=optimize):
            assert result.schema == stream.schema
            assert_same_rows(result, expected)


@SETTINGS
@given(left=keyed_tables(max_rows=15), right=keyed_tables(max_rows=15))
def test_cross_join_matches_duckdb(left: pa.Table, right: pa.Table) -> None:
    stream = sl.from_arrow(left).join(sl.from_arrow(right).select("k", "y"), how="cross")
    assert stream.columns == ["k", "g", "x", "y", "k_right", "y_right"]
    check(stream, "SELECT l.*, r.k AS rk, r.y AS ry FROM l CROSS JOIN r", l=left, r=right)


@SETTINGS
@given(left=keyed_tables(max_rows=20), right=keyed_tables(max_rows=20))
def test_join_where_matches_duckdb_non_equi_join(left: pa.Table, right: pa.Table) -> None:
    stream = sl.from_arrow(left).join_where(
        sl.from_arrow(right),
        col("x") < col("x_right"),
        col("y") >= col("y_right") - 2,
        col("g_right") != "c",
    )
    check(
        stream,
        "SELECT l.*, r.k AS rk, r.g AS rg, r.x AS rx, r.y AS ry "
        "FROM l JOIN r ON l.x < r.x AND l.y >= r.y - 2 AND r.g != 'c'",
        l=left,
        r=right,
    )


@SETTINGS
@given(left=keyed_tables(max_rows=20), right=keyed_tables(max_rows=20))
def test_join_where_with_equal_columns_matches_duckdb(left: pa.Table, right: pa.Table) -> None:
    """Equal integer or string columns become the keys of a hash join; floats stay a filter."""
    stream = sl.from_arrow(left).join_where(
        sl.from_arrow(right),
        (col("k") == col("k_right")) & (col("x") <= col("x_right")),
        col("g_right") == col("g"),
        col("y") == col("y_right").fill_null(0.0),
    )
    joins = [n for n in stream.graph if n.operator_type.value == "hash_join"]
    assert [n.op.left_on for n in joins] == [["k", "g"]]
    check(
        stream,
        "SELECT l.*, r.k AS rk, r.g AS rg, r.x AS rx, r.y AS ry FROM l JOIN r "
        "ON l.k = r.k AND l.x <= r.x AND r.g = l.g AND l.y = coalesce(r.y, 0.0)",
        l=left,
        r=right,
    )


@SETTINGS
@given(left=keyed_tables(max_rows=20), right=keyed_tables(max_rows=20))
def test_sql_non_equi_and_cross_joins_match_duckdb(left: pa.Table, right: pa.Table) -> None:
    for query in (
        "SELECT l.k, l.x, r.x AS rx FROM l JOIN r ON l.x BETWEEN r.x - 5 AND r.x + 5",
        "SELECT l.g, r.g AS rg, l.x + r.x AS s FROM l CROSS JOIN r WHERE l.k < r.k",
        "SELECT l.k, r.x AS rx FROM l, r WHERE l.x > r.y",
        "SELECT l.k, r.k AS rk FROM l INNER JOIN r ON l.k = r.k AND l.x < r.x",
    ):
        check(sl.sql(query, l=sl.from_arrow(left), r=sl.from_arrow(right)), query, l=left, r=right)


def test_cross_join_takes_no_keys_and_join_where_needs_predicates() -> None:
    a, b = sl.from_pydict({"x": [1]}), sl.from_pydict({"y": [2]})
    with pytest.raises(PlanError, match="takes no keys"):
        a.join(b, on="x", how="cross")
    with pytest.raises(PlanError, match="at least one predicate"):
        a.join_where(b)
    with pytest.raises(SchemaError, match="expected bool"):
        a.join_where(b, col("x") + col("y"))


def test_cross_join_needs_a_bounded_right_side_and_streams_the_left() -> None:
    bids = sl.nexmark(events=None).bids
    with pytest.raises(PlanError, match="unbounded"):
        sl.from_pydict({"x": [1]}).join(bids, how="cross")
    tiers = sl.from_pydict({"lo": [0, 1000], "tier": ["low", "high"]})
    tiered = bids.join_where(tiers, col("price") >= col("lo")).head(5).collect()
    assert tiered.num_rows == 5 and "tier" in tiered.column_names
