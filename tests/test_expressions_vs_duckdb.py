"""Every expression, checked against DuckDB computing the same SQL on random tables with nulls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

import sabot_lab as sl
from sabot_lab import col, concat_str, lit, max_horizontal, min_horizontal, when
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
    ("dt_quarter", lambda: col("t").dt.quarter(), "quarter(t)"),
    ("dt_weekday", lambda: col("t").dt.weekday(), "isodow(t)"),
    ("dt_ordinal_day", lambda: col("t").dt.ordinal_day(), "dayofyear(t)"),
    ("dt_week", lambda: col("t").dt.week(), "week(t)"),
    ("dt_truncate_1q", lambda: col("t").dt.truncate("1q"), "date_trunc('quarter', t)"),
    ("round", lambda: col("f").round(), "round(f)"),
    ("round_ties", lambda: (col("i") / 2).round(), "round(i / 2)"),
    ("round_decimals", lambda: col("f").round(2), "round(f, 2)"),
    ("round_one_decimal_ties", lambda: (col("j") / 20).round(1), "round(j / 20, 1)"),
    ("round_negative_decimals", lambda: col("f").round(-2), "round(f, -2)"),
    ("round_far_decimals", lambda: col("f").round(400), "round(f, 400)"),
    ("round_int", lambda: col("j").round(-1), "round(j, -1)"),
    ("round_int_hundreds", lambda: col("j").round(-2), "round(j, -2)"),
    ("round_int_positive_decimals", lambda: col("j").round(2), "round(j, 2)"),
    ("floor", lambda: col("f").floor(), "floor(f)"),
    ("floor_int", lambda: col("j").floor(), "floor(j)"),
    ("ceil", lambda: col("f").ceil(), "ceil(f)"),
    ("sqrt", lambda: col("f").sqrt(), "sqrt(f)"),
    ("sqrt_int", lambda: col("j").sqrt(), "sqrt(j)"),
    ("exp", lambda: (col("f") / 100).exp(), "exp(f / 100)"),
    ("log", lambda: col("f").log(), "ln(f)"),
    ("log_int_zero", lambda: (col("i") * 0).log(), "ln(i * 0)"),
    ("log10", lambda: col("j").log10(), "log10(j)"),
    ("log_base", lambda: col("j").log(2.5), "log(2.5, j)"),
    ("sign", lambda: col("f").sign(), "sign(f)"),
    ("sign_int", lambda: col("i").sign(), "sign(i)"),
    ("pow", lambda: col("f").pow(col("i")), "power(f, i)"),
    ("pow_operator", lambda: col("i") ** 2, "power(i, 2)"),
    ("pow_reflected", lambda: 2 ** col("i"), "power(2, i)"),
    ("mod_float", lambda: col("f") % 7, "f % 7"),
    ("mod_float_divisor", lambda: col("j") % col("f"), "j % f"),
    ("str_slice", lambda: col("s").str.slice(1, 2), "substring(s, 2, 2)"),
    ("str_slice_rest", lambda: col("s").str.slice(2), "substring(s, 3)"),
    ("str_slice_from_end", lambda: col("s").str.slice(-2), "substring(s, -2)"),
    ("str_slice_past_start", lambda: col("s").str.slice(-3, 2), "substring(s, -3, 2)"),
    ("str_slice_empty", lambda: col("s").str.slice(0, 0), "substring(s, 1, 0)"),
    ("str_head", lambda: col("s").str.head(2), "left(s, 2)"),
    ("str_head_negative", lambda: col("s").str.head(-1), "left(s, -1)"),
    ("str_tail", lambda: col("s").str.tail(2), "right(s, 2)"),
    ("str_tail_negative", lambda: col("s").str.tail(-1), "right(s, -1)"),
    ("str_tail_zero", lambda: col("s").str.tail(0), "right(s, 0)"),
    ("str_strip_chars", lambda: col("s").str.strip_chars("aA"), "trim(s, 'aA')"),
    (
        "str_strip_chars_whitespace",
        lambda: concat_str([lit(" \t"), col("s"), lit("\n ")]).str.strip_chars(),
        "trim(' ' || chr(9) || s || chr(10) || ' ', ' ' || chr(9) || chr(10))",
    ),
    ("str_strip_chars_start", lambda: col("s").str.strip_chars_start("xa"), "ltrim(s, 'xa')"),
    ("str_strip_chars_end", lambda: col("s").str.strip_chars_end("bc"), "rtrim(s, 'bc')"),
    ("str_replace_all", lambda: col("s").str.replace_all("a", "xy"), "replace(s, 'a', 'xy')"),
    ("str_replace_all_empty", lambda: col("s").str.replace_all("", "x"), "replace(s, '', 'x')"),
    ("concat_str", lambda: concat_str([col("s"), col("i")], separator="-"), "s || '-' || i"),
    (
        "concat_str_ignore_nulls",
        lambda: concat_str([col("s"), col("i"), col("b")], ignore_nulls=True),
        "concat(s, i, b)",
    ),
    ("max_horizontal", lambda: max_horizontal(col("i"), col("f"), col("j")), "greatest(i, f, j)"),
    ("min_horizontal", lambda: min_horizontal(col("s"), "b"), "least(s, 'b')"),
    (
        "min_horizontal_times",
        lambda: min_horizontal(col("t"), lit(T0)),
        "least(t, TIMESTAMP '2024-06-01 12:00:00')",
    ),
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
    "round",
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
