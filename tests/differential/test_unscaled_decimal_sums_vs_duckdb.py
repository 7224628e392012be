"""Sums, averages and counts of decimal ``+ - *`` expressions against DuckDB, grouped by a
dictionary-encoded key (numbered groups), an integer key, a decimal key (hashed groups) and
by nothing: the same types and exactly the same values, whether the aggregate's inputs are
computed on unscaled 64-bit integers (no nulls, magnitudes that prove the results fit) or
evaluated as decimals (nulls, values near the type's limit)."""

from __future__ import annotations

import decimal
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col, lit
from sabot_lab.engine.aggregate import HashAggregate
from tests.support.reference import duckdb_table

ROWS = 40
KEYS = ("k", "n", "d", None)


@st.composite
def money_tables(draw: st.DrawFn) -> pa.Table:
    """Decimals ``a`` and ``b`` of random types of at most 18 digits (values up to the type's
    limit, sometimes nulls), keys ``k`` (text, dictionary-encoded), ``n`` (int64) and ``d``
    (a decimal)."""
    columns: dict[str, pa.Array] = {}
    for name in ("a", "b"):
        precision = draw(st.sampled_from([3, 9, 15, 18]))
        scale = draw(st.integers(0, min(precision, 4)))
        limit = 10 ** draw(st.sampled_from([min(precision, 6), precision])) - 1
        units = st.integers(-limit, limit)
        values = st.none() | units if draw(st.booleans()) else units
        drawn = draw(st.lists(values, min_size=ROWS, max_size=ROWS))
        columns[name] = pa.array(
            [None if v is None else decimal.Decimal(v).scaleb(-scale) for v in drawn],
            pa.decimal128(precision, scale),
        )
    keys = draw(st.lists(st.integers(0, 3), min_size=ROWS, max_size=ROWS))
    columns["k"] = pa.array([f"g{v}" for v in keys]).dictionary_encode()
    columns["n"] = pa.array(keys, pa.int64())
    columns["d"] = pa.array([decimal.Decimal(v).scaleb(-2) for v in keys], pa.decimal128(15, 2))
    return pa.table(columns)


@st.composite
def money_expressions(draw: st.DrawFn, depth: int = 2) -> tuple[sl.Expr, str]:
    """``+ - *`` over ``a``, ``b`` and integer or decimal-looking constants, and its SQL."""
    if depth == 0 or draw(st.booleans()):
        name = draw(st.sampled_from(["a", "b"]))
        return col(name), name
    left, left_sql = draw(money_expressions(depth - 1))
    if draw(st.booleans()):
        value = draw(st.sampled_from([1, 2, -3, 0.05, 1.5]))
        right, right_sql = lit(value), f"({value!r})"
    else:
        right, right_sql = draw(money_expressions(depth - 1))
    op = draw(st.sampled_from(["+", "-", "*"]))
    python = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y}[op]
    return python(left, right), f"({left_sql} {op} {right_sql})"


def _ours(table: pa.Table, key: str | None, expr: sl.Expr) -> Any:
    aggs = (expr.sum().alias("s"), expr.mean().alias("m"), expr.count().alias("c"))
    stream = sl.from_arrow(table)
    grouped = stream.group_by(key).agg(*aggs) if key else stream.agg(*aggs)
    try:
        return grouped.collect()
    except sl.ComputeError:
        return "error"


def _duckdb(table: pa.Table, key: str | None, sql: str) -> Any:
    by = f"GROUP BY {key}" if key else ""
    keys = f"{key}, " if key else ""
    try:
        return duckdb_table(
            f"SELECT {keys}sum({sql}) AS s, avg({sql}) AS m, count({sql}) AS c FROM t {by}",
            t=table,
        )
    except Exception:  # an overflow DuckDB reports
        return "error"


def _rows(result: Any, key: str | None) -> Any:
    """The result's sum type and rows by key (averages to 12 digits: DuckDB's may differ in
    the last bit)."""
    if isinstance(result, str):
        return result
    if key == "k":
        result = result.set_column(0, "k", result["k"].cast(pa.string()))
    names = [key, "s", "m", "c"] if key else ["s", "m", "c"]
    rows = result.select(names).to_pylist()
    for row in rows:
        row["m"] = None if row["m"] is None else float(f"{row['m']:.12g}")
    return result.schema.field("s").type, sorted(rows, key=str)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=money_tables(), key=st.sampled_from(KEYS), data=st.data())
def test_decimal_sums_match_duckdb(table: pa.Table, key: str | None, data: st.DataObject) -> None:
    expr, sql = data.draw(money_expressions())
    expected = _rows(_duckdb(table, key, sql), key)
    assert _rows(_ours(table, key, expr), key) == expected, sql


def test_q1_inputs_are_summed_as_integers() -> None:
    """Q1's sums of ``price * (1 - discount) * (1 + tax)`` read unscaled integers, not the
    decimal results of each step; the sums are DuckDB's."""
    money = pa.decimal128(15, 2)
    table = pa.table(
        {
            "k": pa.array(["A", "N", "R", "A"] * 25).dictionary_encode(),
            "p": pa.array([decimal.Decimal(v).scaleb(-2) for v in range(901, 1001)], money),
            "disc": pa.array([decimal.Decimal(v % 11).scaleb(-2) for v in range(100)], money),
            "tax": pa.array([decimal.Decimal(v % 9).scaleb(-2) for v in range(100)], money),
        }
    )
    charge = col("p") * (lit(1) - col("disc")) * (lit(1) + col("tax"))
    aggregate = HashAggregate(["k"], [charge.sum().alias("s")], table.schema)
    assert aggregate._unscaled_inputs(table.to_batches()[0]) is not None
    ours = sl.from_arrow(table).group_by("k").agg(charge.sum().alias("s")).sort("k").collect()
    sql = "SELECT k, sum(p * (1 - disc) * (1 + tax)) AS s FROM t GROUP BY k ORDER BY k"
    expected = duckdb_table(sql, t=table)
    assert ours["s"].type == expected["s"].type
    assert ours["s"].to_pylist() == expected["s"].to_pylist()
