"""Window functions (``Expr.over``, SQL ``OVER`` and ``QUALIFY``) against DuckDB over the same
tables: hand cases (ties, nulls in keys and values, empty partitions and inputs, frames), the
Stream API, and random window expressions over random tables."""

from __future__ import annotations

import datetime
import decimal

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab.errors import PlanError, SchemaError, SQLError
from sabot_lab.expr import Expr
from tests.support.reference import assert_same_rows, collect_all_ways, duckdb_table
from tests.support.strategies import KEYED, keyed_tables

ROWS = pa.table(
    {
        "k": ["a", "a", "a", "b", "b", None, None, "c", "a", "b"],
        "t": [1, 2, 2, 5, None, 3, 3, 9, 4, 5],
        "x": [10, None, 30, 5, 5, 7, None, 1, 30, 8],
        "y": [1.5, 2.5, None, -1.0, 4.0, 0.5, 0.25, None, 2.0, 3.5],
    }
)

HAND_QUERIES = [
    # ranks: ties share ranks, nulls in partition and order keys
    "SELECT k, t, ROW_NUMBER() OVER (PARTITION BY k ORDER BY t, x) AS n FROM r",
    "SELECT k, t, RANK() OVER (PARTITION BY k ORDER BY t) AS r, DENSE_RANK() OVER "
    "(PARTITION BY k ORDER BY t) AS d FROM r",
    "SELECT t, RANK() OVER (ORDER BY t DESC NULLS FIRST) AS r FROM r",
    "SELECT k, PERCENT_RANK() OVER (PARTITION BY k ORDER BY t) AS p, "
    "CUME_DIST() OVER (PARTITION BY k ORDER BY t) AS c FROM r",
    "SELECT k, t, x, NTILE(3) OVER (ORDER BY t, x, k) AS b FROM r",
    "SELECT k, NTILE(4) OVER (PARTITION BY k ORDER BY x, t) AS b, x, t FROM r",
    # lag, lead with offsets and defaults
    "SELECT k, t, x, LAG(x) OVER (PARTITION BY k ORDER BY t, x) AS p, "
    "LEAD(x, 2, -1) OVER (PARTITION BY k ORDER BY t, x) AS q FROM r",
    "SELECT t, x, LAG(y, 1, x) OVER (ORDER BY x, t, y) AS p FROM r",
    # first, last, nth value: default frames include the peers
    "SELECT k, t, FIRST_VALUE(x) OVER (PARTITION BY k ORDER BY t) AS f, "
    "LAST_VALUE(x) OVER (PARTITION BY k ORDER BY t) AS l FROM r WHERE x IS NOT NULL OR t = 2",
    "SELECT k, t, x, NTH_VALUE(x, 2) OVER (PARTITION BY k ORDER BY t, x "
    "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS v FROM r",
    # aggregates: default frames (ties share the running value), whole partitions, frames
    "SELECT k, t, SUM(x) OVER (PARTITION BY k ORDER BY t) AS s, COUNT(*) OVER "
    "(PARTITION BY k ORDER BY t) AS n, COUNT(x) OVER (PARTITION BY k ORDER BY t) AS c FROM r",
    "SELECT k, SUM(x) OVER (PARTITION BY k) AS s, AVG(y) OVER (PARTITION BY k) AS a, "
    "MIN(x) OVER () AS lo, MAX(y) OVER (PARTITION BY k) AS hi FROM r",
    "SELECT k, t, x, SUM(x) OVER (PARTITION BY k ORDER BY t, x ROWS BETWEEN 1 PRECEDING "
    "AND 1 FOLLOWING) AS s, MIN(x) OVER (PARTITION BY k ORDER BY t, x ROWS 2 PRECEDING) AS m "
    "FROM r",
    "SELECT t, x, y, AVG(y) OVER (ORDER BY t, x, y ROWS BETWEEN 3 FOLLOWING AND 5 FOLLOWING) "
    "AS a, MAX(x) OVER (ORDER BY t, x, y ROWS BETWEEN 4 PRECEDING AND 2 PRECEDING) AS m FROM r",
    "SELECT k, t, SUM(y) OVER (PARTITION BY k ORDER BY t RANGE BETWEEN CURRENT ROW AND "
    "UNBOUNDED FOLLOWING) AS s, MAX(x) OVER (ORDER BY t DESC RANGE BETWEEN UNBOUNDED "
    "PRECEDING AND CURRENT ROW) AS m FROM r",
    # range frames with offsets: by values, nulls among themselves, both directions
    "SELECT k, t, SUM(x) OVER (PARTITION BY k ORDER BY t RANGE BETWEEN 1 PRECEDING AND 2 "
    "FOLLOWING) AS s, COUNT(*) OVER (ORDER BY t DESC NULLS FIRST RANGE BETWEEN 2 PRECEDING "
    "AND 1 PRECEDING) AS n FROM r",
    "SELECT y, AVG(x) OVER (ORDER BY y RANGE BETWEEN UNBOUNDED PRECEDING AND 1 FOLLOWING) AS a, "
    "MAX(x) OVER (ORDER BY y DESC RANGE BETWEEN 3 FOLLOWING AND UNBOUNDED FOLLOWING) AS m FROM r",
    # window expressions inside expressions, partition by an expression, an empty input
    "SELECT k, x, x - AVG(x) OVER (PARTITION BY k) AS d, x * 100.0 / SUM(x) OVER () AS share FROM r",
    "SELECT t, ROW_NUMBER() OVER (PARTITION BY t % 2 ORDER BY t DESC, x) AS n FROM r",
    "SELECT k, SUM(x) OVER (PARTITION BY k ORDER BY t) AS s FROM r WHERE x > 1000",
    # QUALIFY, on an alias and on a window expression written there
    "SELECT k, t, x, ROW_NUMBER() OVER (PARTITION BY k ORDER BY x DESC, t) AS n FROM r "
    "QUALIFY n <= 2",
    "SELECT k, x FROM r QUALIFY x = MAX(x) OVER (PARTITION BY k)",
]


@pytest.mark.parametrize("query", HAND_QUERIES)
def test_sql_window_functions_equal_duckdbs(query: str) -> None:
    expected = duckdb_table(query, r=ROWS)
    for actual in collect_all_ways(sl.sql(query, r=sl.from_arrow(ROWS))):
        assert actual.schema.names == expected.schema.names
        assert_same_rows(actual, expected)


def test_an_order_by_over_window_columns_keeps_the_order() -> None:
    query = "SELECT k, t, RANK() OVER (ORDER BY x DESC NULLS LAST) AS r FROM r ORDER BY r, k, t"
    actual = sl.sql(query, r=sl.from_arrow(ROWS)).collect()
    assert_same_rows(actual, duckdb_table(query, r=ROWS), ordered=True)


def test_decimal_sums_and_averages_keep_duckdbs_types() -> None:
    money = pa.table(
        {
            "k": ["a", "a", "b", "b"],
            "m": pa.array(
                [decimal.Decimal(v) for v in ("1.25", "2.50", "9.99", "0.01")], pa.decimal128(15, 2)
            ),
        }
    )
    query = (
        "SELECT k, SUM(m) OVER (PARTITION BY k ORDER BY m) AS s, AVG(m) OVER () AS a, "
        "MAX(m) OVER (PARTITION BY k) AS hi FROM money"
    )
    actual = sl.sql(query, money=sl.from_arrow(money)).collect()
    expected = duckdb_table(query, money=money)
    assert actual.schema.types == expected.schema.types
    assert_same_rows(actual, expected)


def test_window_values_of_strings_dates_and_decimals_keep_their_types() -> None:
    table = pa.table(
        {
            "k": [1, 1, 2, 1, 2, None],
            "s": ["b", None, "a", "c", "z", "q"],
            "d": pa.array([datetime.date(2020, 1, day) for day in (3, 1, 2, 5, 4, 6)]),
            "i": range(6),
            "m": pa.array(
                [decimal.Decimal(v) for v in ("1.10", "2.20", "0.30", "-1.00", "5.55", "0.01")],
                pa.decimal128(15, 2),
            ),
        }
    )
    query = (
        "SELECT *, MIN(s) OVER (PARTITION BY k ORDER BY i ROWS BETWEEN 1 PRECEDING AND CURRENT "
        "ROW) AS a, MAX(d) OVER (ORDER BY i ROWS 2 PRECEDING) AS b, LAG(s, 1, 'none') OVER "
        "(PARTITION BY k ORDER BY i) AS c, LAST_VALUE(d) OVER (ORDER BY d RANGE BETWEEN "
        "UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS e, SUM(m) OVER (ORDER BY m RANGE "
        "BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS f, LEAD(m) OVER (ORDER BY i) AS g, "
        "FIRST_VALUE(m) OVER (PARTITION BY k ORDER BY i) AS h FROM t"
    )
    actual = sl.sql(query, t=sl.from_arrow(table)).collect()
    expected = duckdb_table(query, t=table)
    assert actual.schema.types == expected.schema.types
    assert_same_rows(actual, expected)


STREAM_CASES: list[Expr] = [
    sl.col("x").sum().over("k"),
    sl.col("x").sum().over("k", order_by="t", frame=("range", None, 0)),
    sl.col("y").mean().over("k", order_by=["t", "x"], frame=("rows", -1, 1)),
    sl.col("x").shift(1).over("k", order_by=["t", "x"]),
    sl.col("x").shift(-2, fill_value=0).over(order_by=["t", "x", "k"], descending=True),
    sl.row_number().over("k", order_by=["t", "x"], nulls_last=False),
    sl.rank().over(order_by="t", descending=True),
    sl.dense_rank().over("k", order_by="x"),
    sl.ntile(3).over(order_by=["x", "t", "k"]),
    sl.col("x").first().over("k", order_by=["t", "x"]),
    sl.col("x").last().over("k", order_by=["t", "x"]),
    sl.col("x").max().over("k") - sl.col("x"),
    sl.col("y").min().over(["k", "t"]),
    sl.col("x").rank().over("k"),
    sl.col("y").rank("dense", descending=True).over("k"),
]


@pytest.mark.parametrize("expr", STREAM_CASES, ids=repr)
def test_stream_window_expressions_equal_duckdbs(expr: Expr) -> None:
    stream = sl.from_arrow(ROWS).with_columns(expr.alias("w"))
    expected = duckdb_table(f"SELECT *, {expr.to_sql()} AS w FROM r", r=ROWS)
    for actual in collect_all_ways(stream):
        assert actual.schema.names == ["k", "t", "x", "y", "w"]
        assert_same_rows(actual, expected)


@pytest.mark.parametrize("method", ["average", "min", "max", "dense", "ordinal"])
@pytest.mark.parametrize("descending", [False, True])
def test_rank_equals_polars(method: str, descending: bool) -> None:
    ranked = sl.from_arrow(ROWS).with_columns(
        r=sl.col("x").rank(method, descending=descending).over("k"),
        everywhere=sl.col("t").rank(method, descending=descending),
    )
    expected = pl.from_arrow(ROWS).with_columns(
        r=pl.col("x").rank(method, descending=descending).over("k"),
        everywhere=pl.col("t").rank(method, descending=descending),
    )
    for actual in collect_all_ways(ranked):
        assert actual.column("r").to_pylist() == expected["r"].to_list()
        assert actual.column("everywhere").to_pylist() == expected["everywhere"].to_list()


def test_window_functions_outside_over_run_over_all_rows() -> None:
    stream = sl.from_arrow(ROWS).select("t", sl.row_number(), p=sl.col("t").shift(1))
    assert stream.collect().to_pydict() == {
        "t": ROWS.column("t").to_pylist(),
        "row_number": list(range(1, ROWS.num_rows + 1)),
        "p": [None, *ROWS.column("t").to_pylist()[:-1]],
    }


def test_a_filter_on_a_window_expression_keeps_the_input_columns() -> None:
    top = sl.from_arrow(ROWS).filter(sl.row_number().over("k", order_by=["x", "t"]) == 1)
    expected = duckdb_table(
        "SELECT * FROM r QUALIFY ROW_NUMBER() OVER (PARTITION BY k ORDER BY x, t) = 1", r=ROWS
    )
    assert_same_rows(top.collect(), expected)


def test_a_filter_on_the_partition_key_runs_before_the_window() -> None:
    stream = (
        sl.from_arrow(ROWS)
        .with_columns(
            s=sl.col("x").sum().over("k"), n=sl.row_number().over(order_by=["t", "x", "k"])
        )
        .filter(sl.col("k") == "a")
    )
    expected = duckdb_table(
        "SELECT * FROM (SELECT *, SUM(x) OVER (PARTITION BY k) AS s, ROW_NUMBER() OVER "
        "(ORDER BY t, x, k) AS n FROM r) WHERE k = 'a'",
        r=ROWS,
    )
    assert_same_rows(stream.collect(), expected)
    assert_same_rows(stream.collect(optimize=False), expected)


def test_window_functions_refuse_an_unbounded_stream() -> None:
    bids = sl.nexmark(events=None).bids.with_columns(r=sl.rank().over(order_by="price"))
    with pytest.raises(PlanError, match=r"computes window functions once its input has ended"):
        bids.collect()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT SUM(x) OVER (ORDER BY t, x RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM r",
         "a range frame with offsets needs one order_by key"),
        ("SELECT SUM(x) OVER (ORDER BY k RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM r",
         "a range frame with offsets orders by numbers"),
        ("SELECT k, SUM(x), RANK() OVER (ORDER BY k) FROM r GROUP BY k",
         "a window function in a grouped query"),
        ("SELECT MEDIAN(x) OVER () FROM r", r"the window function MEDIAN\(x\) is not supported"),
    ],
)  # fmt: skip
def test_unsupported_windows_are_refused_clearly(query: str, message: str) -> None:
    with pytest.raises((SQLError, SchemaError), match=message):
        sl.sql(query, r=sl.from_arrow(ROWS)).collect()


def test_window_plans_round_trip_through_json() -> None:
    stream = sl.from_arrow(ROWS).with_columns(
        w=sl.col("x").sum().over("k", order_by="t", frame=("rows", -2, 0)) + sl.rank().over()
    )
    back = sl.JobGraph.from_json(stream.graph.to_json())
    assert back.to_json() == stream.graph.to_json()


# ----------------------------------------------------------------------------- random


def _functions() -> st.SearchStrategy[Expr]:
    value = st.sampled_from(["x", "y"]).map(sl.col)
    return st.one_of(
        st.sampled_from([sl.row_number(), sl.rank(), sl.dense_rank(), sl.percent_rank(),
                         sl.cume_dist()]),
        st.integers(1, 5).map(sl.ntile),
        st.tuples(value, st.integers(-3, 3), st.booleans()).map(
            lambda a: a[0].shift(a[1], fill_value=0 if a[2] else None)
        ),
        st.tuples(value, st.integers(1, 3)).map(lambda a: sl.nth_value(a[0], a[1])),
        st.tuples(value, st.sampled_from(["sum", "mean", "min", "max", "count", "first", "last"]))
        .map(lambda a: getattr(a[0], a[1])()),
        st.just(sl.count()),
        st.tuples(value, st.sampled_from(["average", "min", "max", "dense"]), st.booleans())
        .map(lambda a: a[0].rank(a[1], descending=a[2])),
    )  # fmt: skip


_ORDER_DEPENDENT = ("row_number", "ntile", "shift", "nth_value", "first", "last")
_BOUND = st.one_of(st.none(), st.integers(-4, 4))


@st.composite
def _windows(draw: st.DrawFn) -> Expr:
    function = draw(_functions())
    partition = draw(st.lists(st.sampled_from(["k", "g"]), unique=True, max_size=2))
    order = draw(st.lists(st.sampled_from(["x", "y", "g"]), unique=True, max_size=3))
    frame = draw(
        st.one_of(
            st.none(),
            st.tuples(st.just("rows"), _BOUND, _BOUND).filter(
                lambda f: f[1] is None or f[2] is None or f[1] <= f[2]
            ),
            st.tuples(st.just("range"), st.sampled_from([None, 0]), st.sampled_from([None, 0]))
            .filter(lambda f: f[1] is None or f[2] is None or f[1] <= f[2]),
        )
    )  # fmt: skip
    # a total order where the result depends on which of several peers comes first
    rows_frame = frame is not None and frame[0] == "rows"
    if function.param("method") is not None:  # Expr.rank orders by its own values
        order = []
    elif function.param("fn") in _ORDER_DEPENDENT or rows_frame:
        order += [c for c in ("x", "y", "g", "k") if c not in order]
        order.append("i")
    return function.over(
        partition,
        order_by=order,
        descending=draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order))),
        nulls_last=draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order))),
        frame=frame,
    )


@st.composite
def _value_frames(draw: st.DrawFn) -> Expr:
    """Aggregates over range frames with offsets (by one numeric order value)."""
    value = sl.col(draw(st.sampled_from(["x", "y"])))
    fn = draw(st.sampled_from(["sum", "mean", "min", "max", "count"]))
    function = sl.count() if draw(st.booleans()) else getattr(value, fn)()
    frame = draw(
        st.tuples(st.just("range"), _BOUND, _BOUND).filter(
            lambda f: f[1] is None or f[2] is None or f[1] <= f[2]
        )
    )
    return function.over(
        draw(st.lists(st.sampled_from(["k", "g"]), unique=True, max_size=2)),
        order_by=draw(st.sampled_from(["x", "y"])),
        descending=draw(st.booleans()),
        nulls_last=draw(st.booleans()),
        frame=frame,
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keyed_tables(max_rows=25),
    st.lists(st.one_of(_windows(), _value_frames()), min_size=1, max_size=3),
)
def test_random_window_expressions_equal_duckdbs(table: pa.Table, exprs: list[Expr]) -> None:
    table = table.append_column("i", pa.array(range(table.num_rows), pa.int64()))
    named = [e.alias(f"w{n}") for n, e in enumerate(exprs)]
    actual = sl.from_arrow(table).with_columns(*named).collect()
    columns = ", ".join(e.to_sql() for e in named)
    expected = duckdb_table(f"SELECT *, {columns} FROM t", t=table)
    assert actual.schema.names == [*KEYED.names, "i", *(f"w{n}" for n in range(len(exprs)))]
    assert_same_rows(actual, expected, rel=1e-6)
