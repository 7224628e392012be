"""Every expression, checked against DuckDB computing the same SQL on random tables with nulls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

import sabot_lab as sl
from sabot_lab import col, lit, when
from tests.reference import assert_same_rows, collect_all_ways, duckdb_table
from tests.strategies_data import tables

T0 = dt.datetime(2024, 6, 1, 12, 0)

# (id, expression, the same computation written in DuckDB SQL over table t)
CASES: list[tuple[str, Callable[[], sl.Expr], str]] = [
    ("col", lambda: col("i"), "i"),
    ("lit_int", lambda: lit(7), "7"),
    ("lit_str", lambda: lit("x"), "'x'"),
    ("add", lambda: col("i") + col("j"), "i + j"),
    ("sub_lit", lambda: col("j") - 5, "j - 5"),
    ("rsub", lambda: 5 - col("j"), "5 - j"),
    ("mul_float", lambda: col("f") * col("i"), "f * i"),
    ("truediv_int", lambda: col("j") / (col("i") * col("i") + 1), "j / (i * i + 1)"),
    ("truediv_float", lambda: col("f") / 4, "f / 4"),
    ("floordiv", lambda: col("j") // 7, "j // 7"),
    ("floordiv_negative", lambda: col("j") // -3, "j // -3"),
    ("mod", lambda: col("j") % 7, "j % 7"),
    ("neg", lambda: -col("f"), "-f"),
    ("gt", lambda: col("i") > col("j"), "i > j"),
    ("ge_lit", lambda: col("i") >= 3, "i >= 3"),
    ("lt_float", lambda: col("i") < col("f"), "i < f"),
    ("le", lambda: col("j") <= col("i"), "j <= i"),
    ("eq_str", lambda: col("s") == "a", "s = 'a'"),
    ("ne", lambda: col("i") != col("j"), "i <> j"),
    ("lt_str", lambda: col("s") < "ab", "s < 'ab'"),
    ("gt_timestamp", lambda: col("t") > lit(T0), "t > TIMESTAMP '2024-06-01 12:00:00'"),
    ("and", lambda: (col("i") > 0) & col("b"), "i > 0 AND b"),
    ("or", lambda: (col("i") > 0) | col("b"), "i > 0 OR b"),
    ("not", lambda: ~col("b"), "NOT b"),
    (
        "and_or_not",
        lambda: ~((col("i") < 0) | col("b")) & (col("s") != ""),
        "NOT (i < 0 OR b) AND s <> ''",
    ),
    ("is_in", lambda: col("i").is_in([1, 2, 3]), "i IN (1, 2, 3)"),
    ("is_in_null", lambda: col("i").is_in([1, None]), "i IN (1, NULL)"),
    ("is_in_str", lambda: col("s").is_in(["a", "xyz"]), "s IN ('a', 'xyz')"),
    ("is_null", lambda: col("f").is_null(), "f IS NULL"),
    ("is_not_null", lambda: col("s").is_not_null(), "s IS NOT NULL"),
    ("fill_null_int", lambda: col("i").fill_null(0), "coalesce(i, 0)"),
    ("fill_null_str", lambda: col("s").fill_null("?"), "coalesce(s, '?')"),
    ("fill_null_expr", lambda: col("i").fill_null(col("j")), "coalesce(i, j)"),
    ("cast_float_int", lambda: (col("f") / 10).cast("int64"), "CAST(f / 10 AS BIGINT)"),
    ("cast_int_float", lambda: col("i").cast("float64"), "CAST(i AS DOUBLE)"),
    ("cast_int_str", lambda: col("i").cast("string"), "CAST(i AS VARCHAR)"),
    ("cast_bool_int", lambda: col("b").cast("int64"), "CAST(b AS BIGINT)"),
    ("alias", lambda: (col("i") + 1).alias("renamed"), "i + 1"),
    (
        "when_then_otherwise",
        lambda: when(col("i") > 0).then("pos").when(col("i") < 0).then("neg").otherwise("zero"),
        "CASE WHEN i > 0 THEN 'pos' WHEN i < 0 THEN 'neg' ELSE 'zero' END",
    ),
    ("when_without_otherwise", lambda: when(col("b")).then(col("j")), "CASE WHEN b THEN j END"),
    ("str_contains", lambda: col("s").str.contains("b"), "contains(s, 'b')"),
    ("str_starts_with", lambda: col("s").str.starts_with("a"), "starts_with(s, 'a')"),
    ("str_ends_with", lambda: col("s").str.ends_with("b"), "suffix(s, 'b')"),
    ("str_lower", lambda: col("s").str.lower(), "lower(s)"),
    ("str_upper", lambda: col("s").str.upper(), "upper(s)"),
    ("str_len", lambda: col("s").str.len(), "length(s)"),
    (
        "dt_truncate_15m",
        lambda: col("t").dt.truncate("15m"),
        "time_bucket(INTERVAL '15 minutes', t)",
    ),
    ("dt_truncate_1h", lambda: col("t").dt.truncate("1h"), "date_trunc('hour', t)"),
    ("dt_truncate_1d", lambda: col("t").dt.truncate("1d"), "date_trunc('day', t)"),
    ("dt_truncate_1mo", lambda: col("t").dt.truncate("1mo"), "date_trunc('month', t)"),
    ("dt_year", lambda: col("t").dt.year(), "year(t)"),
    ("dt_month", lambda: col("t").dt.month(), "month(t)"),
    ("dt_day", lambda: col("t").dt.day(), "day(t)"),
    ("dt_hour", lambda: col("t").dt.hour(), "hour(t)"),
    ("dt_minute", lambda: col("t").dt.minute(), "minute(t)"),
    ("dt_second", lambda: col("t").dt.second(), "second(t)"),
]

# (id, aggregate, the same aggregate in DuckDB SQL; rn orders first/last)
AGGREGATES: list[tuple[str, Callable[[], sl.Expr], str]] = [
    ("count_rows", lambda: sl.count(), "count(*)"),
    ("count_col", lambda: col("f").count(), "count(f)"),
    ("sum_int", lambda: col("j").sum(), "sum(j)"),
    ("sum_float", lambda: col("f").sum(), "sum(f)"),
    ("mean", lambda: col("j").mean(), "avg(j)"),
    ("min_int", lambda: col("j").min(), "min(j)"),
    ("max_float", lambda: col("f").max(), "max(f)"),
    ("min_str", lambda: col("s").min(), "min(s)"),
    ("max_timestamp", lambda: col("t").max(), "max(t)"),
    ("n_unique", lambda: col("s").n_unique(), "count(DISTINCT s)"),
    ("first", lambda: col("j").first(), "list(j ORDER BY rn)[1]"),
    ("last", lambda: col("s").last(), "list(s ORDER BY rn)[-1]"),
    ("sum_expr", lambda: (col("f") * col("i")).sum(), "sum(f * i)"),
]


def with_row_numbers(table: pa.Table) -> pa.Table:
    return table.append_column("rn", pa.array(range(table.num_rows), pa.int64()))


@pytest.mark.parametrize(("make", "sql"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables())
def test_expression_matches_duckdb(make: Callable[[], sl.Expr], sql: str, table: pa.Table) -> None:
    table = with_row_numbers(table)
    expected = duckdb_table(f"SELECT rn, {sql} AS out FROM t ORDER BY rn", t=table)
    stream = sl.from_arrow(table).select("rn", make().alias("out"))
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
    "count",
    "sum",
    "mean",
    "min",
    "max",
    "n_unique",
    "first",
    "last",
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
