"""User function benchmark: a branchy scalar function over many rows, compiled with ``@sl.udf``
against the other ways a notebook user runs the same logic.

Contestants, all computing ``tiered(price, qty)`` (four branches):

- sabot-lab ``@sl.udf`` (numba, compiled once) over ``--rows`` rows, and again with 10 % nulls;
- the same logic as a native sabot-lab expression (``sl.when(...)``), over ``--rows`` rows;
- DuckDB's Arrow-vectorised Python UDF (``create_function(..., type="arrow")``, its body in
  ``pyarrow.compute``), over ``--rows`` rows;
- per-row Python: ``@sl.udf(compile=False)``, Polars ``map_elements`` and pandas ``apply``, on
  fewer rows (``--slow-rows``), their rate extrapolated.

A second table does the same for a function of strings (``ticket(symbol, qty)``): compiled,
per row, and as a native expression, over ``--rows / 5`` strings.

Every answer is checked against numpy computing the same thing before anything is timed;
times are medians of ``--runs`` runs after a warm-up. Goals: the compiled UDF ≥ 50x the
per-row Python UDF and ≤ 1.5x the native expression.

    python benchmarks/udf.py [--rows 10000000] [--slow-rows 200000] [--runs 5]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from _harness import median_ms

import sabot_lab as sl
from sabot_lab import col


def tiered(price: float, qty: int) -> float:
    """A fee schedule: nothing for no quantity, then a rate by notional tier."""
    if qty <= 0:
        return 0.0
    notional = price * qty
    if notional > 10_000.0:
        return notional * 0.98
    if notional > 1_000.0:
        return notional * 0.99
    return notional + 1.5


def reference(price: np.ndarray, qty: np.ndarray) -> np.ndarray:
    """``tiered`` in numpy, the answer every contestant must give."""
    notional = price * qty
    return np.select(
        [qty <= 0, notional > 10_000.0, notional > 1_000.0],
        [0.0, notional * 0.98, notional * 0.99],
        notional + 1.5,
    )


def native(price: sl.Expr, qty: sl.Expr) -> sl.Expr:
    """``tiered`` as a sabot-lab expression."""
    notional = price * qty
    return (
        sl.when(qty <= 0)
        .then(0.0)
        .when(notional > 10_000.0)
        .then(notional * 0.98)
        .when(notional > 1_000.0)
        .then(notional * 0.99)
        .otherwise(notional + 1.5)
    )


def duckdb_arrow(price: pa.Array, qty: pa.Array) -> pa.Array:
    """``tiered`` in pyarrow.compute, as DuckDB's Arrow UDF runs it."""
    notional = pc.multiply(price, qty)
    return pc.case_when(
        pc.make_struct(
            pc.less_equal(qty, 0),
            pc.greater(notional, 10_000.0),
            pc.greater(notional, 1_000.0),
        ),
        0.0,
        pc.multiply(notional, 0.98),
        pc.multiply(notional, 0.99),
        pc.add(notional, 1.5),
    )


def ticket(symbol: str, qty: int) -> str:
    """A string function: the symbol in capitals, tagged by size."""
    return symbol.upper() + ("-BIG" if qty > 100 else "-SMALL")


def native_ticket(symbol: sl.Expr, qty: sl.Expr) -> sl.Expr:
    """``ticket`` as a sabot-lab expression."""
    tag = sl.when(qty > 100).then(sl.lit("-BIG")).otherwise(sl.lit("-SMALL"))
    return sl.concat_str([symbol.str.upper(), tag])


def symbols(rows: int, seed: int = 8) -> pa.Table:
    rng = np.random.default_rng(seed)
    names = np.array(["aapl", "msft", "nestlé", "7203.t", "vod.l", "sap"], dtype=object)
    return pa.table(
        {
            "symbol": pa.array(names[rng.integers(0, len(names), rows)]),
            "qty": rng.integers(0, 200, rows),
        }
    )


def strings_section(rows: int, slow_rows: int, runs: int) -> None:
    """Time ``ticket`` compiled, per row and native; check each against plain Python first."""
    big, small = symbols(rows), symbols(slow_rows)
    compiled = sl.udf(ticket, return_dtype="string")
    per_row = sl.udf(ticket, return_dtype="string", compile=False)
    timed = {}
    for name, fn, table in [
        ("@sl.udf (numba)", compiled, big),
        ("native expression", native_ticket, big),
        ("@sl.udf(compile=False), per row", per_row, small),
    ]:
        stream = sl.from_arrow(table).select(fn(col("symbol"), col("qty")).alias("t"))
        got = stream.collect().column("t").to_pylist()
        sample = table.slice(0, 1000).to_pylist()
        if got[:1000] != [ticket(r["symbol"], r["qty"]) for r in sample]:
            raise AssertionError(f"{name} gives other strings than plain Python")
        ms = median_ms(stream.collect, runs if table is big else max(1, runs // 2))
        timed[name] = table.num_rows / ms * 1000
    fast = timed["@sl.udf (numba)"]
    print(f"\nticket(symbol, qty), strings in and out, over {rows:,} rows; median of {runs} runs\n")
    print("| contestant | M rows/s | @sl.udf is x faster |")
    print("|---|---:|---:|")
    for name, rate in timed.items():
        print(f"| {name} | {rate / 1e6:,.2f} | {fast / rate:,.2f} |")


def data(rows: int, null_share: float = 0.0, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    price = rng.uniform(0.5, 500.0, rows)
    qty = rng.integers(-5, 200, rows)
    mask = rng.random(rows) < null_share if null_share else None
    return pa.table({"price": price, "qty": pa.array(qty, mask=mask)})


def check(name: str, got: pa.Array | np.ndarray, table: pa.Table) -> None:
    qty = table.column("qty")
    price = table.column("price").to_numpy()
    want = reference(price, qty.fill_null(0).to_numpy())
    values = np.asarray(pa.chunked_array([got]).to_numpy() if isinstance(got, pa.Array) else got)
    valid = qty.is_valid().to_numpy(zero_copy_only=False)
    if not np.allclose(values[valid], want[valid], rtol=1e-12):
        raise AssertionError(f"{name} gives other answers than numpy")
    if isinstance(got, pa.Array) and got.null_count != qty.null_count:
        raise AssertionError(f"{name}: {got.null_count} nulls, expected {qty.null_count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--slow-rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    big, with_nulls, small = data(args.rows), data(args.rows, 0.1), data(args.slow_rows)
    compiled = sl.udf(tiered, return_dtype="float64")
    per_row = sl.udf(tiered, return_dtype="float64", compile=False)

    def sabot(udf: Callable[..., sl.Expr], table: pa.Table) -> Callable[[], pa.Array]:
        stream = sl.from_arrow(table).select(udf(col("price"), col("qty")).alias("fee"))
        return lambda: stream.collect().column("fee").combine_chunks()

    con = duckdb.connect()
    con.create_function("tiered", duckdb_arrow, ["DOUBLE", "BIGINT"], "DOUBLE", type="arrow")
    con.register("big", big)
    frame = small.to_pandas()
    polars_frame = pl.from_arrow(small)
    assert isinstance(polars_frame, pl.DataFrame)

    contestants: list[tuple[str, Callable[[], object], pa.Table]] = [
        ("sabot-lab @sl.udf (numba)", sabot(compiled, big), big),
        ("sabot-lab @sl.udf, 10 % nulls", sabot(compiled, with_nulls), with_nulls),
        ("sabot-lab native expression (sl.when)", sabot(native, big), big),
        (
            "DuckDB Arrow UDF (pyarrow.compute)",
            lambda: (
                con.sql("SELECT tiered(price, qty) AS fee FROM big").to_arrow_table().column("fee")
            ),
            big,
        ),
        ("sabot-lab @sl.udf(compile=False), per row", sabot(per_row, small), small),
        (
            "Polars map_elements",
            lambda: (
                polars_frame.select(
                    pl.struct("price", "qty").map_elements(
                        lambda r: tiered(r["price"], r["qty"]), return_dtype=pl.Float64
                    )
                )
                .to_series()
                .to_numpy()
            ),
            small,
        ),
        (
            "pandas apply",
            lambda: frame.apply(lambda r: tiered(r["price"], r["qty"]), axis=1).to_numpy(),
            small,
        ),
    ]
    rates = {}
    for name, run, table in contestants:
        got = run()
        check(name, got.combine_chunks() if isinstance(got, pa.ChunkedArray) else got, table)
        ms = median_ms(run, args.runs if table.num_rows == args.rows else max(1, args.runs // 2))
        rates[name] = (table.num_rows, ms, table.num_rows / ms * 1000)

    fast = rates["sabot-lab @sl.udf (numba)"][2]
    print(f"tiered(price, qty) over {args.rows:,} rows (per-row contestants on {args.slow_rows:,}, "
          f"extrapolated); median of {args.runs} runs\n")  # fmt: skip
    print("| contestant | rows | median ms | M rows/s | @sl.udf is x faster |")
    print("|---|---:|---:|---:|---:|")
    for name, (rows, ms, rate) in rates.items():
        print(f"| {name} | {rows:,} | {ms:,.1f} | {rate / 1e6:,.2f} | {fast / rate:,.2f} |")
    python = rates["sabot-lab @sl.udf(compile=False), per row"][2]
    expression = rates["sabot-lab native expression (sl.when)"][2]
    print(
        f"\nGoals: ≥ 50x the per-row Python UDF: {fast / python:,.0f}x; "
        f"≤ 1.5x the native expression's time: {expression / fast:,.2f}x"
    )
    strings_section(args.rows // 5, args.slow_rows, args.runs)


if __name__ == "__main__":
    main()
