"""A filter whose every conjunct compares an integer, date or short decimal column with a
constant is evaluated on the columns' integers as ranges through a selection vector
(``engine/integer_ranges.py``): against Python's own comparisons of the rows' values, on
random columns of every such type with nulls and offsets, constants of any scale or beyond
the column's range, several conjuncts on one column or on several, keeping no row, few or
most; and a Parquet scan with such a filter against DuckDB."""

from __future__ import annotations

import datetime as dt
import decimal
import operator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col, lit
from sabot_lab.engine.integer_ranges import range_filter
from sabot_lab.engine.stateless import filter_batch
from sabot_lab.expr import Expr
from tests.support.reference import assert_same_rows, duckdb_table

ROWS = 40
COMPARISONS = {name: getattr(operator, name) for name in ("eq", "lt", "le", "gt", "ge")}
EPOCH = dt.date(1970, 1, 1)
TYPES = {
    "i8": pa.int8(),
    "i32": pa.int32(),
    "u32": pa.uint32(),
    "i64": pa.int64(),
    "day": pa.date32(),
    "ms": pa.date64(),
    "dec": pa.decimal128(15, 2),
    "dec18": pa.decimal128(18, 4),
}


def _column(rng: np.random.Generator, dtype: pa.DataType) -> pa.Array:
    """``ROWS + 1`` values of ``dtype`` near zero (or near 1994), a tenth null."""
    nulls = rng.random(ROWS + 1) < 0.1
    units = rng.integers(-20, 21, ROWS + 1)
    if pa.types.is_unsigned_integer(dtype):
        units = np.abs(units)
    if pa.types.is_decimal(dtype):
        values: list[Any] = [decimal.Decimal(int(u)).scaleb(-1) for u in units]
    elif pa.types.is_date(dtype):
        values = [dt.date(1994, 1, 1) + dt.timedelta(days=int(u)) for u in units]
    else:
        values = [int(u) for u in units]
    return pa.array(values, dtype, mask=nulls)


@st.composite
def constants(draw: st.DrawFn, dtype: pa.DataType) -> tuple[Expr, Any]:
    """A literal of ``dtype``'s kind and its Python value: decimals of any scale (beyond 64
    bits too), integers (beyond the column's width too), dates."""
    if pa.types.is_date(dtype):
        day = dt.date(1994, 1, 1) + dt.timedelta(days=draw(st.integers(-25, 25)))
        return lit(day), day
    if draw(st.booleans()):
        value = draw(st.integers(-25, 25) | st.integers(-(2**63), 2**63 - 1))
        return lit(value), value
    scale = draw(st.integers(0, 6))
    units = draw(st.integers(-3_000, 3_000) | st.integers(-(10**30), 10**30))
    value = decimal.Decimal(units).scaleb(-scale)
    precision = 38 if abs(units) >= 10**17 else max(len(str(abs(units))), scale, 1)
    return lit(value, f"decimal128({precision}, {scale})"), value


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**16), offset=st.booleans())
def test_integer_ranges_match_python(data: st.DataObject, seed: int, offset: bool) -> None:
    rng = np.random.default_rng(seed)
    arrays = {name: _column(rng, dtype) for name, dtype in TYPES.items()}
    batch = pa.record_batch(
        {n: a.slice(1) if offset else a.slice(0, ROWS) for n, a in arrays.items()}
    )
    conjuncts = []
    for _ in range(data.draw(st.integers(1, 4))):
        name = data.draw(st.sampled_from(sorted(TYPES)))
        op = data.draw(st.sampled_from(sorted(COMPARISONS)))
        constant, value = data.draw(constants(TYPES[name]))
        flipped = data.draw(st.booleans())
        expr = getattr(operator, op)(col(name), constant)
        if flipped:
            expr = getattr(operator, {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}.get(op, op))(
                constant, col(name)
            )
        conjuncts.append((name, op, value, expr))
    predicate = conjuncts[0][3]
    for *_, expr in conjuncts[1:]:
        predicate = predicate & expr
    assert range_filter(predicate, batch.schema) is not None  # evaluated as ranges
    rows = batch.to_pylist()
    expected = [
        row["i64"]
        for row in rows
        if all(
            row[name] is not None and COMPARISONS[op](row[name], value)
            for name, op, value, _ in conjuncts
        )
    ]
    kept = filter_batch(batch, predicate, ["i64", "dec"])
    assert (kept["i64"].to_pylist() if kept is not None else []) == expected


def test_parquet_scan_with_integer_ranges_matches_duckdb(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    rows = 20_000
    table = pa.table(
        {
            "day": pa.array(rng.integers(8_000, 10_000, rows).astype("int32")).cast(pa.date32()),
            "price": pa.array(
                [decimal.Decimal(int(c)).scaleb(-2) for c in rng.integers(0, 10_000, rows)],
                pa.decimal128(15, 2),
            ),
            "n": pa.array(rng.integers(0, 50, rows), mask=rng.random(rows) < 0.05),
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=3_000)
    actual = (
        sl.from_parquet(path)
        .filter(
            (col("day") >= dt.date(1994, 1, 1))
            & (col("day") < dt.date(1995, 1, 1))
            & (col("price") >= lit(decimal.Decimal("50.5"), "decimal128(3, 1)"))
            & (col("n") < 24)
        )
        .select("price", "n")
        .collect()
    )
    expected = duckdb_table(
        "SELECT price, n FROM t WHERE day >= DATE '1994-01-01' AND day < DATE '1995-01-01'"
        " AND price >= 50.5 AND n < 24",
        t=table,
    )
    assert 0 < actual.num_rows < rows
    assert_same_rows(actual, expected)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    bounds=st.lists(st.tuples(st.integers(-25, 25), st.integers(0, 12)), min_size=2, max_size=3),
    modes=st.sets(st.sampled_from(["AIR", "MAIL", "SHIP"]), min_size=1),
)
def test_coded_conjuncts_and_ors_of_ranges_match_python(
    seed: int, bounds: list[tuple[int, int]], modes: set[str]
) -> None:
    """TPC-H Q19's shape: a condition on dictionary-encoded text, then an ``OR`` of quantity
    ranges (one range when they join, the general path when there is a gap)."""
    rng = np.random.default_rng(seed)
    mode = pa.array(rng.choice(["AIR", "MAIL", "SHIP", "RAIL"], ROWS), mask=rng.random(ROWS) < 0.1)
    batch = pa.record_batch(
        {"mode": mode.dictionary_encode(), "q": _column(rng, TYPES["dec"]).slice(1)}
    )
    quantity = None
    for low, width in bounds:
        tenths = [
            lit(decimal.Decimal(v).scaleb(-1), "decimal128(3, 1)") for v in (low, low + width)
        ]
        branch = (col("q") >= tenths[0]) & (col("q") <= tenths[1])
        quantity = branch if quantity is None else quantity | branch
    predicate = col("mode").is_in(sorted(modes)) & quantity
    joined = sorted((low, low + width) for low, width in bounds)
    reach = list(np.maximum.accumulate([high for _, high in joined]))
    if all(low <= before for (low, _), before in zip(joined[1:], reach, strict=False)):
        assert range_filter(predicate, batch.schema) is not None  # no gap: one range
    expected = [
        row["q"]
        for row in batch.to_pylist()
        if row["mode"] in modes
        and row["q"] is not None
        and any(low <= row["q"] * 10 <= low + width for low, width in bounds)
    ]
    kept = filter_batch(batch, predicate, ["q"])
    assert (kept["q"].to_pylist() if kept is not None else []) == expected


def test_columns_in_read_only_memory_are_filtered() -> None:
    """Arrow buffers that numpy may not write (bytes, DuckDB's results) are read in place."""
    data = pa.py_buffer(np.arange(10, dtype=np.int32).tobytes())  # read-only
    numbers = pa.Array.from_buffers(pa.int32(), 10, [None, data])
    batch = pa.record_batch({"x": numbers, "y": numbers})
    kept = filter_batch(batch, (col("x") >= 6) & (col("y") < 8), ["x"])
    assert kept is not None and kept["x"].to_pylist() == [6, 7]
