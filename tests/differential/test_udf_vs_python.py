"""Compiled user functions (``@sl.udf``) against the same Python function applied row by row, on
random tables with nulls: in expressions, filters, group keys and aggregates, and from SQL."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

import sabot_lab as sl
from sabot_lab import col
from tests.support.reference import assert_same_rows, collect_all_ways, duckdb_table
from tests.support.strategies import BASE, tables
from tests.support.user_functions import (
    SCALAR_CASES,
    UDFS,
    either,
    elapsed,
    maybe,
    per_row,
    price,
    scaled,
)

since = sl.udf(elapsed, return_dtype=pa.duration("us"))  # compiled once for the module
vector = sl.udf(scaled, return_dtype="float64", vectorized=True)
shout = sl.udf(lambda s, i: s.upper() * (i % 3), return_dtype="string", compile=False)
EXAMPLES = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def numbered(table: pa.Table) -> pa.Table:
    return table.append_column("rn", pa.array(range(table.num_rows), pa.int64()))


def rows_of(table: pa.Table, values: list[object]) -> list[tuple[object, ...]]:
    return list(zip(table.column("rn").to_pylist(), values, strict=True))


@pytest.mark.parametrize(
    ("name", "fn", "dtype", "columns"), SCALAR_CASES, ids=[c[0] for c in SCALAR_CASES]
)
@EXAMPLES
@given(table=tables())
def test_a_compiled_udf_equals_its_function_row_by_row(
    name: str, fn: object, dtype: pa.DataType, columns: tuple[str, ...], table: pa.Table
) -> None:
    table = numbered(table)
    call = UDFS[name](*[col(c) for c in columns])
    stream = sl.from_arrow(table).select("rn", call.alias("out"))
    expected = rows_of(table, per_row(fn, table, columns))  # type: ignore[arg-type]
    for result in collect_all_ways(stream):
        assert result.schema.field("out").type == dtype
        assert_same_rows(result.sort_by("rn"), expected, ordered=True, rel=1e-12)


@EXAMPLES
@given(table=tables())
def test_a_udf_filters_groups_and_aggregates_as_its_python_values_do(table: pa.Table) -> None:
    half, both, priced = UDFS["maybe"], UDFS["either"], UDFS["price"]
    stream = (
        sl.from_arrow(table)
        .filter(half(col("f")) > 1)
        .group_by(both(col("b"), col("i")).alias("g"))
        .agg(priced(col("f"), col("i")).sum().alias("total"), sl.count().alias("n"))
    )
    python = pa.table(
        {
            "m": pa.array(per_row(maybe, table, ("f",)), pa.float64()),
            "g": pa.array(per_row(either, table, ("b", "i")), pa.bool_()),
            "p": pa.array(per_row(price, table, ("f", "i")), pa.float64()),
        }
    )
    expected = duckdb_table(
        "SELECT g, SUM(p) AS total, COUNT(*) AS n FROM r WHERE m > 1 GROUP BY g", r=python
    )
    for result in collect_all_ways(stream):
        assert_same_rows(result, expected, rel=1e-9)


@EXAMPLES
@given(table=tables())
def test_timestamps_vectorized_and_plain_python_functions_equal_their_references(
    table: pa.Table,
) -> None:
    table = numbered(table)
    stream = sl.from_arrow(table).select(
        "rn",
        since(col("t"), sl.lit(BASE + dt.timedelta(days=200))).alias("d"),
        vector(col("f"), col("i")).alias("v"),
        shout(col("s"), col("i")).alias("s"),
    )
    start = BASE + dt.timedelta(days=200)
    d = per_row(lambda t: elapsed(t, start), table, ("t",))
    v = per_row(lambda f, i: f * i if f > 0 else -f, table, ("f", "i"))
    s = per_row(lambda s, i: s.upper() * (i % 3), table, ("s", "i"))
    expected = list(zip(table.column("rn").to_pylist(), d, v, s, strict=True))
    for result in collect_all_ways(stream):
        assert result.schema.field("d").type == pa.duration("us")
        assert_same_rows(result.sort_by("rn"), expected, ordered=True, rel=1e-12)


@EXAMPLES
@given(table=tables())
def test_sql_calls_user_functions_given_registered_or_kept_by_a_context(table: pa.Table) -> None:
    table = numbered(table)
    query = "SELECT rn, PRICE(f, i) AS p FROM t WHERE steps(i, j) > 0 ORDER BY rn"
    kept = [
        (r, p)
        for r, p, s in zip(
            table.column("rn").to_pylist(),
            per_row(price, table, ("f", "i")),
            per_row(UDFS["steps"].__wrapped__, table, ("i", "j")),
            strict=True,
        )
        if s is not None and s > 0
    ]
    given_ = sl.sql(query, functions={"price": UDFS["price"], "steps": UDFS["steps"]}, t=table)
    context = sl.SQLContext(t=table)
    context.register_function("price", UDFS["price"]).register_function("steps", UDFS["steps"])
    sl.register_function("price", UDFS["price"])
    sl.register_function("steps", UDFS["steps"])
    try:
        registered = sl.sql(query, t=table)
    finally:
        sl.unregister_function("price")
        sl.unregister_function("steps")
    from_context = context.execute(query)
    assert from_context is not None
    for stream in (given_, registered, from_context):
        for result in collect_all_ways(stream):
            assert_same_rows(result, kept, ordered=True, rel=1e-12)
