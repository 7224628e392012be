"""CASE, IF and COALESCE evaluate a branch only on the rows that take it, as DuckDB does: a
division guarded against zero and a cast guarded against text that is not a number give
DuckDB's results on random tables with nulls and zeros, where evaluating every branch on every
row would fail."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col, lit, when
from sabot_lab.engine.evaluate import evaluate
from tests.support.reference import assert_same_rows, collect_all_ways, duckdb_table

NUMBER_TEXT = ("12", "-3", "0")
TEXT = (*NUMBER_TEXT, "x", "")
IS_NUMBER = "s IN ('12', '-3', '0')"

# (id, SQL over t (columns rn, i, j, s) whose branches fail on the rows they are not taken for)
GUARDED = [
    ("division", "CASE WHEN i <> 0 THEN 100 // i ELSE 0 END"),
    ("division_without_else", "CASE WHEN i <> 0 THEN j % i END"),
    ("guarded_condition", "CASE WHEN i = 0 THEN NULL WHEN 100 // i > 3 THEN j // i ELSE -1 END"),
    ("cast", f"CASE WHEN {IS_NUMBER} THEN CAST(s AS BIGINT) ELSE i END"),
    ("mixed_types", f"CASE WHEN i <> 0 THEN j / i WHEN {IS_NUMBER} THEN CAST(s AS BIGINT) END"),
    (
        "nested",
        "CASE WHEN j > 0 THEN CASE WHEN i <> 0 THEN j // i ELSE j END "
        f"ELSE CASE WHEN {IS_NUMBER} THEN CAST(s AS BIGINT) + j WHEN i <> 0 THEN 7 % i END END",
    ),
    ("repeated_in_branches", "CASE WHEN i <> 0 THEN (100 // i) * (100 // i) - 100 // i END"),
    ("if", "IF(i <> 0, 100 // i, NULL)"),
    ("coalesce", "COALESCE(CASE WHEN i = 0 THEN 7 END, 100 // i)"),
    ("coalesce_cast", f"COALESCE(CASE WHEN NOT {IS_NUMBER} THEN -1 END, CAST(s AS BIGINT))"),
]


@st.composite
def guarded_tables(draw: st.DrawFn) -> pa.Table:
    """Tables of ints ``i`` (zero often), ``j`` and text ``s`` (a number or not), with nulls."""
    n = draw(st.integers(0, 30))
    small = st.one_of(st.none(), st.just(0), st.integers(-9, 9))
    text = st.one_of(st.none(), st.sampled_from(TEXT))
    return pa.table(
        {
            "rn": pa.array(range(n), pa.int64()),
            "i": pa.array([draw(small) for _ in range(n)], pa.int64()),
            "j": pa.array([draw(small) for _ in range(n)], pa.int64()),
            "s": pa.array([draw(text) for _ in range(n)], pa.string()),
        }
    )


@pytest.mark.parametrize("sql", [c[1] for c in GUARDED], ids=[c[0] for c in GUARDED])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=guarded_tables())
def test_guarded_branches_match_duckdb(sql: str, table: pa.Table) -> None:
    query = f"SELECT rn, {sql} AS out FROM t ORDER BY rn"
    expected = duckdb_table(query, t=table)
    for result in collect_all_ways(sl.sql(query, t=table)):
        assert_same_rows(result, expected, ordered=True)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=guarded_tables())
def test_repeated_guarded_parts_of_an_aggregate_match_duckdb(table: pa.Table) -> None:
    query = (
        "SELECT j, SUM(CASE WHEN i <> 0 THEN 100 // i END) AS a, "
        "MAX(CASE WHEN i <> 0 THEN 100 // i ELSE j END) AS b FROM t GROUP BY j"
    )
    expected = duckdb_table(query, t=table)
    for result in collect_all_ways(sl.sql(query, t=table)):
        assert_same_rows(result, expected)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=guarded_tables())
def test_repeated_guarded_parts_of_a_struct_filter_match_duckdb(table: pa.Table) -> None:
    fields = [table[name].combine_chunks() for name in ("i", "j")]
    nested = pa.table({"rn": table["rn"], "r": pa.StructArray.from_arrays(fields, ["a", "b"])})
    a, b = col("r").struct.field("a"), col("r").struct.field("b")
    guarded = when(a != 0).then(lit(100) // a > 10) & when(a != 0).then(lit(100) // a < b)
    expected = duckdb_table(
        "SELECT r.b AS b FROM n WHERE CASE WHEN r.a <> 0 THEN 100 // r.a > 10 END "
        "AND CASE WHEN r.a <> 0 THEN 100 // r.a < r.b END",
        n=nested,
    )
    stream = sl.from_arrow(nested).filter(guarded).select(b.alias("b"))
    for result in collect_all_ways(stream):
        assert_same_rows(result, expected)


def test_when_then_guards_a_division_on_a_large_batch() -> None:
    rng = np.random.default_rng(7)
    i = rng.integers(-5, 6, 20_000)
    text = np.array(TEXT, dtype=object)[rng.integers(0, len(TEXT), 20_000)]
    table = pa.table({"rn": np.arange(20_000), "i": i, "s": pa.array(text, pa.string())})
    guarded = (
        when(col("i") == 0)
        .then(None)
        .when(col("s").is_in(list(NUMBER_TEXT)))
        .then(col("s").cast("int64") // col("i"))
        .otherwise(lit(1000) // col("i"))
    )
    expected = duckdb_table(
        f"SELECT rn, CASE WHEN i = 0 THEN NULL WHEN {IS_NUMBER} THEN CAST(s AS BIGINT) // i "
        "ELSE 1000 // i END AS out FROM t ORDER BY rn",
        t=table,
    )
    out = sl.from_arrow(table).select("rn", guarded.alias("out")).sort("rn").collect()
    assert_same_rows(out, expected, ordered=True)


def test_a_failing_row_that_takes_the_branch_is_still_an_error() -> None:
    batch = pa.record_batch({"i": [1, 0, None], "s": ["x", "12", "0"]})
    with pytest.raises(sl.errors.ComputeError, match="divide by zero"):
        evaluate(when(col("i").is_not_null()).then(lit(100) // col("i")).otherwise(0), batch)
    with pytest.raises(sl.errors.ComputeError, match="'x'"):
        evaluate(when(col("i") > 0).then(col("s").cast("int64")).otherwise(0), batch)
    with pytest.raises(sl.errors.SchemaError, match="not a boolean"):
        evaluate(when(col("s")).then(lit(100) // col("i")).otherwise(0), batch)
