"""explode, unnest, unpivot and pivot checked against DuckDB (``UNNEST``, ``struct.*``,
``UNPIVOT``, conditional aggregates) and Polars on random tables with nulls, null lists and
empty lists, collected with batch boundaries everywhere."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.errors import ComputeError, PlanError, SchemaError
from tests.support.reference import assert_same_rows, collect_all_ways, duckdb_table
from tests.support.strategies import keyed_tables

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ITEMS = st.one_of(st.none(), st.integers(-5, 5))


@st.composite
def list_tables(draw: st.DrawFn) -> pa.Table:
    """A row number, a string key and two list columns of equal lengths per row (null lists
    and empty lists included, null elements too)."""
    n = draw(st.integers(0, 25))
    lists = [draw(st.one_of(st.none(), st.lists(ITEMS, max_size=4))) for _ in range(n)]
    twins = [None if v is None else [None if x is None else x * 10 for x in v] for v in lists]
    return pa.table(
        {
            "rn": pa.array(range(n), pa.int64()),
            "g": pa.array([draw(st.one_of(st.none(), st.sampled_from("ab"))) for _ in range(n)]),
            "l": pa.array(lists, pa.list_(pa.int64())),
            "m": pa.array(twins, pa.large_list(pa.int64())),
        }
    )


def check(stream: sl.Stream, expected: pa.Table, ordered: bool = False) -> None:
    for result in collect_all_ways(stream):
        assert result.schema == stream.schema
        assert_same_rows(result, expected, ordered=ordered)


@pytest.mark.parametrize(
    ("empty_as_null", "keep_nulls", "replaced"),
    [
        (False, True, "CASE WHEN l IS NULL THEN [NULL] ELSE l END"),
        (True, True, "CASE WHEN l IS NULL OR len(l) = 0 THEN [NULL] ELSE l END"),
        (False, False, "l"),
        (True, False, "CASE WHEN len(l) = 0 THEN [NULL] ELSE l END"),
    ],
)
@SETTINGS
@given(table=list_tables())
def test_explode_matches_duckdb_unnest_and_polars(
    table: pa.Table, empty_as_null: bool, keep_nulls: bool, replaced: str
) -> None:
    stream = sl.from_arrow(table).explode("l", empty_as_null=empty_as_null, keep_nulls=keep_nulls)
    stream = stream.select("rn", "g", "l")
    # DuckDB's UNNEST drops null and empty lists: the cases Polars keeps become [NULL]
    expected = duckdb_table(
        "SELECT rn, g, l FROM (SELECT rn, g, UNNEST(x) AS l, generate_subscripts(x, 1) AS i "
        f"FROM (SELECT rn, g, {replaced} AS x FROM t)) ORDER BY rn, i",
        t=table.select(["rn", "g", "l"]),
    )
    check(stream, expected, ordered=True)
    polars = (
        pl.from_arrow(table.select(["rn", "g", "l"]))
        .explode("l", empty_as_null=empty_as_null, keep_nulls=keep_nulls)
        .to_arrow()
    )
    assert_same_rows(stream.collect(), polars, ordered=True)


@SETTINGS
@given(table=list_tables())
def test_explode_of_two_columns_pairs_their_elements(table: pa.Table) -> None:
    stream = sl.from_arrow(table).explode(["l", "m"])
    expected = pl.from_arrow(table).explode(["l", "m"]).to_arrow()
    check(stream, expected, ordered=True)
    assert stream.schema.field("m").type == pa.int64()


@SETTINGS
@given(table=list_tables())
def test_sql_unnest_matches_duckdb(table: pa.Table) -> None:
    for query in (
        "SELECT rn, UNNEST(l) AS v FROM t WHERE g IS NOT NULL OR rn > 3",
        "SELECT rn, UNNEST(m) + rn AS v, g FROM t",
        "SELECT t.rn, u.v FROM t CROSS JOIN UNNEST(t.l) AS u(v) WHERE u.v IS NOT NULL",
        "SELECT rn, v * 2 AS w FROM t, UNNEST(m) AS u(v)",
    ):
        expected = duckdb_table(query, t=table)
        check(sl.sql(query, t=sl.from_arrow(table)), expected)


def test_explode_refuses_lists_of_different_lengths_and_non_lists() -> None:
    s = sl.from_pydict({"a": [[1, 2]], "b": [[1]], "x": [1]})
    with pytest.raises(ComputeError, match="differ in length"):
        s.explode("a", "b").collect()
    with pytest.raises(SchemaError, match="'x' is int64"):
        s.explode("x")


def test_a_filter_on_a_column_not_exploded_may_run_before_explode() -> None:
    s = sl.from_pydict({"k": [1, 2], "l": [[1, 2], [3]]}).explode("l")
    filtered = s.filter(col("k") == 1, col("l") > 1)
    assert filtered.collect().to_pydict() == {"k": [1], "l": [2]}
    assert filtered.collect(optimize=False).to_pydict() == {"k": [1], "l": [2]}


@SETTINGS
@given(table=keyed_tables())
def test_unnest_matches_duckdb_struct_star(table: pa.Table) -> None:
    struct = pa.StructArray.from_arrays(
        [table["x"].combine_chunks(), table["g"].combine_chunks()], names=["a", "b"]
    )
    valid = pa.array([k is not None for k in table["k"].to_pylist()])
    nested = pa.table({"k": table["k"], "s": struct}).append_column("y", table["y"])
    nested = nested.set_column(1, "s", pa.compute.if_else(valid, nested["s"], None))
    stream = sl.from_arrow(nested).unnest("s")
    assert stream.columns == ["k", "a", "b", "y"]
    check(stream, duckdb_table("SELECT k, s.a AS a, s.b AS b, y FROM t", t=nested), ordered=True)


WIDE = "SELECT k, g, x::DOUBLE AS x, y FROM t"


@SETTINGS
@given(table=keyed_tables())
def test_unpivot_matches_duckdb_unpivot(table: pa.Table) -> None:
    stream = sl.from_arrow(table).unpivot(["x", "y"], index=["k", "g"], value_name="v")
    assert stream.schema.field("v").type == pa.float64()  # x (int64) and y share a type
    expected = duckdb_table(
        f"WITH u AS ({WIDE}) UNPIVOT u ON x, y INTO NAME variable VALUE v",
        t=table,
    )
    # DuckDB's UNPIVOT drops null values unless INCLUDE NULLS; Polars keeps them
    with_nulls = duckdb_table(
        f"SELECT * FROM ({WIDE}) UNPIVOT INCLUDE NULLS (v FOR variable IN (x, y))",
        t=table,
    )
    check(stream, with_nulls)
    assert_same_rows(stream.filter(col("v").is_not_null()).collect(), expected)
    polars = pl.from_arrow(table).unpivot(["x", "y"], index=["k", "g"], value_name="v")
    assert_same_rows(stream.collect(), polars.to_arrow())


def test_unpivot_defaults_and_incompatible_types() -> None:
    s = sl.from_pydict({"id": [1], "a": [2], "b": ["x"]})
    assert s.select("id", "a").unpivot(index="id").columns == ["id", "variable", "value"]
    with pytest.raises(SchemaError, match="no common type"):
        s.unpivot(index="id")


AGGREGATES = ["first", "last", "sum", "min", "max", "mean", "len"]
DUCKDB_AGGREGATE = {
    "first": "first(x ORDER BY rn)",
    "last": "last(x ORDER BY rn)",
    "sum": "coalesce(sum(x), 0)",
    "min": "min(x)",
    "max": "max(x)",
    "mean": "avg(x)",
    "len": "count(*)",
}
ZERO_WHEN_EMPTY = {"sum", "len"}  # Polars' pivot gives 0 where no row has the value


@pytest.mark.parametrize("aggregate", AGGREGATES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=keyed_tables())
def test_pivot_matches_duckdb_conditional_aggregates(table: pa.Table, aggregate: str) -> None:
    table = table.append_column("rn", pa.array(range(table.num_rows), pa.int64()))
    stream = sl.from_arrow(table).pivot("g", index="k", values="x", aggregate_function=aggregate)
    found = [v for v in dict.fromkeys(table["g"].to_pylist())]
    assert stream.columns == ["k", *("null" if v is None else v for v in found)]
    per_value = duckdb_table(
        f"SELECT k, g, {DUCKDB_AGGREGATE[aggregate]} AS v FROM t GROUP BY k, g", t=table
    )
    cell = "coalesce({}, 0)" if aggregate in ZERO_WHEN_EMPTY else "{}"
    columns = ", ".join(
        cell.format(
            f"max(v) FILTER (WHERE g IS NOT DISTINCT FROM {'NULL' if v is None else repr(v)})"
        )
        for v in found
    )
    expected = duckdb_table(
        f"SELECT k{', ' if columns else ''}{columns} FROM p GROUP BY k", p=per_value
    )
    if aggregate in ("first", "last"):  # in order: one task, batches in order
        assert_same_rows(stream.collect(), expected)
    else:
        check(stream, expected)


def test_pivot_of_several_values_columns_and_given_columns() -> None:
    s = sl.from_pydict({"k": [1, 1, 2], "on": ["a", "b", "a"], "x": [1, 2, 3], "y": [4, 5, 6]})
    wide = s.pivot("on", on_columns=["b", "zz"], index="k", aggregate_function="sum")
    assert wide.columns == ["k", "x_b", "x_zz", "y_b", "y_zz"]
    assert wide.sort("k").collect().to_pydict() == {
        "k": [1, 2],
        "x_b": [2, 0],
        "x_zz": [0, 0],
        "y_b": [5, 0],
        "y_zz": [0, 0],
    }
    expected = (
        pl.from_arrow(s.collect())
        .pivot("on", index="k", values=["x", "y"], aggregate_function="sum")
        .sort("k")
    )
    got = s.pivot("on", index="k", values=["x", "y"], aggregate_function="sum").sort("k")
    assert got.collect().to_pydict() == expected.to_dict(as_series=False)


def test_pivot_refuses_an_unbounded_stream_without_its_columns() -> None:
    bids = sl.nexmark(events=None).bids
    with pytest.raises(PlanError, match=r"unbounded.*on_columns"):
        bids.pivot("channel", index="auction", values="price")
    with pytest.raises(PlanError, match="aggregate_function='median'"):
        sl.from_pydict({"a": [1], "b": [1]}).pivot("a", values="b", aggregate_function="median")  # type: ignore[arg-type]


def test_sql_unnest_names_what_it_does_not_take() -> None:
    t = sl.from_pydict({"k": [1], "l": [[1]], "m": [[2]]})
    with pytest.raises(sl.SQLError, match="more than one UNNEST"):
        sl.sql("SELECT UNNEST(l), UNNEST(m) FROM t", t=t)
    with pytest.raises(sl.SQLError, match="UNNEST in a grouped query"):
        sl.sql("SELECT k, UNNEST(l) FROM t GROUP BY k", t=t)
    with pytest.raises(sl.SQLError, match="JOIN UNNEST with ON"):
        sl.sql("SELECT * FROM t LEFT JOIN UNNEST(t.l) AS u(v) ON true", t=t)
