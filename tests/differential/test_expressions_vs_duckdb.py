"""Every expression, checked against DuckDB computing the same SQL on random tables with nulls."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

import sabot_lab as sl
from sabot_lab import col, concat_str, max_horizontal, min_horizontal
from tests.support.expression_cases import AGGREGATES, CASES
from tests.support.reference import assert_same_rows, collect_all_ways, duckdb_table
from tests.support.strategies import tables

# (id, expression, the same computation written in DuckDB SQL over table t)

# (id, aggregate, the same aggregate in DuckDB SQL; rn orders first/last)


def with_row_numbers(table: pa.Table) -> pa.Table:
    return table.append_column("rn", pa.array(range(table.num_rows), pa.int64()))


@pytest.mark.parametrize(("make", "sql"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables())
def test_expression_matches_duckdb(make: Callable[[], sl.Expr], sql: str, table: pa.Table) -> None:
    table = with_row_numbers(table)
    expected = duckdb_table(f"SELECT rn, {sql} AS out FROM t ORDER BY rn", t=table)
    stream = sl.from_arrow(table).select("rn", make().alias("out"))
    expr = make()
    rendered = (expr.args[0] if expr.op == "alias" else expr).to_sql()  # Expr.to_sql() too
    reference = duckdb_table(f"SELECT rn, {rendered} AS out FROM t ORDER BY rn", t=table)
    assert_same_rows(reference, expected, ordered=True)
    for result in collect_all_ways(stream):
        assert result.schema.field("out").type == stream.schema.field("out").type
        assert_same_rows(result, expected, ordered=True)


@pytest.mark.parametrize(
    ("make", "sql"), [c[1:] for c in AGGREGATES], ids=[c[0] for c in AGGREGATES]
)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables())
def test_aggregate_matches_duckdb(make: Callable[[], sl.Expr], sql: str, table: pa.Table) -> None:
    table = with_row_numbers(table)
    grouped = sl.from_arrow(table).group_by("i").agg(make().alias("out"))
    expected = duckdb_table(f"SELECT i, {sql} AS out FROM t GROUP BY i", t=table)
    for result in collect_all_ways(grouped):
        assert_same_rows(result, expected, rel=1e-6)
    total = sl.from_arrow(table).agg(make().alias("out"))
    expected = duckdb_table(f"SELECT {sql} AS out FROM t", t=table)
    for result in collect_all_ways(total):
        assert_same_rows(result, expected, rel=1e-6)


LISTED = [
    "col",
    "lit",
    "add",
    "sub",
    "mul",
    "truediv",
    "floordiv",
    "mod",
    "neg",
    "gt",
    "ge",
    "lt",
    "le",
    "eq",
    "ne",
    "and",
    "or",
    "not",
    "is_in",
    "is_null",
    "is_not_null",
    "fill_null",
    "cast",
    "cast_lenient",
    "alias",
    "when",
    "str_contains",
    "str_starts_with",
    "str_ends_with",
    "str_lower",
    "str_upper",
    "str_len",
    "dt_truncate",
    "dt_year",
    "dt_quarter",
    "dt_weekday",
    "dt_ordinal_day",
    "dt_week",
    "dt_epoch",
    "dt_offset_by",
    "round",
    "abs",
    "floor",
    "ceil",
    "sqrt",
    "exp",
    "log",
    "log10",
    "sign",
    "pow",
    "str_slice",
    "str_head",
    "str_tail",
    "str_strip_chars",
    "str_strip_chars_start",
    "str_strip_chars_end",
    "str_replace_all",
    "str_strptime",
    "str_to_date",
    "dt_strftime",
    "concat_str",
    "max_horizontal",
    "min_horizontal",
    "count",
    "sum",
    "mean",
    "min",
    "max",
    "n_unique",
    "first",
    "last",
    "std",
    "var",
    "median",
    "quantile",
]


@pytest.mark.parametrize("name", LISTED)
def test_every_listed_expression_has_a_duckdb_case(name: str) -> None:
    ids = [c[0] for c in CASES + AGGREGATES]
    assert any(i == name or i.startswith(name + "_") for i in ids), f"no DuckDB case for {name}"


def test_float_to_integer_casts_round_ties_as_duckdb() -> None:
    t = pa.table({"f": [0.5, 1.5, 2.5, -0.5, -2.5, 2.4999, None]})
    expected = duckdb_table("SELECT CAST(f AS BIGINT) AS n, CAST(f AS INTEGER) AS m FROM t", t=t)
    out = sl.from_arrow(t).select(n=col("f").cast("int64"), m=col("f").cast("int32")).collect()
    assert_same_rows(out, expected, ordered=True)


def test_math_on_edge_values_matches_duckdb() -> None:
    inf, nan = float("inf"), float("nan")
    values = [nan, inf, -inf, 0.0, -0.0, 2.5, -2.5, 0.125, 1.005, 1e308, -1e308, 5e-324, None]
    t = pa.table({"rn": range(len(values)), "x": pa.array(values, pa.float64())})
    cases = {
        "round(x)": col("x").round(),
        "round(x, 2)": col("x").round(2),
        "round(x, -1)": col("x").round(-1),
        "round(x, 400)": col("x").round(400),
        "floor(x)": col("x").floor(),
        "ceil(x)": col("x").ceil(),
        "sqrt(x)": col("x").sqrt(),
        "exp(x)": col("x").exp(),
        "ln(x)": col("x").log(),
        "log10(x)": col("x").log10(),
        "sign(x)": col("x").sign(),
        "power(x, 2)": col("x") ** 2,
        "power(2, x)": 2 ** col("x"),
        "x % 2": col("x") % 2,
        "7 % x": 7 % col("x"),
        "greatest(x, 1.0)": max_horizontal(col("x"), 1.0),
        "least(x, 1.0)": min_horizontal(col("x"), 1.0),
    }
    sql = ", ".join(f"{text} AS c{k}" for k, text in enumerate(cases))
    expected = duckdb_table(f"SELECT rn, {sql} FROM t ORDER BY rn", t=t)
    stream = sl.from_arrow(t).select(
        "rn", *(e.alias(f"c{k}") for k, e in enumerate(cases.values()))
    )
    assert_same_rows(stream.collect(), expected, ordered=True)


def test_integer_rounding_overflow_is_an_error_as_in_duckdb() -> None:
    t = pa.table({"n": pa.array([2**63 - 1], pa.int64())})
    with pytest.raises(duckdb.OutOfRangeException):
        duckdb_table("SELECT round(n, -1) FROM t", t=t)
    with pytest.raises(sl.ComputeError, match="overflow"):
        sl.from_arrow(t).select(col("n").round(-1)).collect()
    with pytest.raises(sl.SchemaError, match="does not fit in 64 bits"):
        sl.from_arrow(t).select(col("n").round(-19))


def test_new_expressions_reject_bad_arguments() -> None:
    with pytest.raises(TypeError, match="whole number of decimals"):
        col("x").round(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive base other than 1"):
        col("x").log(1)
    with pytest.raises(ValueError, match="length of 0 or more"):
        col("s").str.slice(0, -1)
    with pytest.raises(TypeError, match="whole numbers"):
        col("s").str.head("2")  # type: ignore[arg-type]
    schema = pa.schema([("s", pa.string()), ("f", pa.float64()), ("t", pa.timestamp("us"))])
    with pytest.raises(sl.SchemaError, match="sqrt takes numbers, got string"):
        col("s").sqrt().output_field(schema)
    with pytest.raises(sl.SchemaError, match=r"concat_str takes strings.*got double"):
        concat_str([col("s"), col("f")]).output_field(schema)
    with pytest.raises(sl.SchemaError, match=r"str\.slice takes strings"):
        col("f").str.slice(1).output_field(schema)
