"""Fintech enrichment benchmark: sabot-lab vs DuckDB vs Polars on the same query and data.

Query: quotes filtered on price and rating, joined to securities, notional summed by sector.
Data: ``sabot_lab.examples.datasets`` (seeded), 10 M quotes x 100 K securities by default. Each engine's
answer is checked against DuckDB's before timing. Prints the median of ``--runs`` runs, from
in-memory Arrow and from Parquet, and each engine's time as a ratio to DuckDB's.

    python benchmarks/fintech.py [--rows 10000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from collections.abc import Callable

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from _harness import median_ms

import sabot_lab as sl
from sabot_lab.examples.datasets import quotes, securities
from sabot_lab.examples.demo import fintech_pipeline

SQL = """
SELECT sector, SUM(price * size) AS total, COUNT(*) AS n
FROM {quotes} q JOIN {securities} s ON q.security_id = s.id
WHERE price > 100 AND rating >= 3
GROUP BY sector
"""


def polars_query(q: pl.LazyFrame, s: pl.LazyFrame) -> pl.DataFrame:
    return (
        q.filter((pl.col("price") > 100) & (pl.col("rating") >= 3))
        .join(s, left_on="security_id", right_on="id")
        .with_columns((pl.col("price") * pl.col("size")).alias("notional"))
        .group_by("sector")
        .agg(pl.col("notional").sum().alias("total"), pl.len().alias("n"))
        .collect()
    )


def rows_of(table: pa.Table) -> dict[str, tuple[float, int]]:
    d = table.to_pydict()
    return {k: (float(t), int(n)) for k, t, n in zip(d["sector"], d["total"], d["n"], strict=True)}


def check(name: str, got: pa.Table, want: pa.Table) -> None:
    a, b = rows_of(got), rows_of(want)
    if a.keys() != b.keys() or any(
        a[k][1] != b[k][1] or not math.isclose(a[k][0], b[k][0], rel_tol=1e-9) for k in a
    ):
        raise SystemExit(f"{name} disagrees with DuckDB:\n{a}\n{b}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--securities", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sabot-bench-") as workdir:
        run(args, workdir)


def run(args: argparse.Namespace, workdir: str) -> None:
    """Time the query on Arrow and on a Parquet file written in ``workdir``, removed after."""
    q, s = quotes(args.rows, n_securities=args.securities, seed=42), securities(args.securities)
    qpath = os.path.join(workdir, "quotes.parquet")
    pq.write_table(q, qpath, row_group_size=1 << 20)
    con = duckdb.connect()
    con.register("q_mem", q)
    con.register("s_mem", s)

    engines: dict[str, dict[str, Callable[[], pa.Table]]] = {
        "arrow": {
            "sabot-lab": lambda: fintech_pipeline(sl.from_arrow(q), sl.from_arrow(s)).collect(),
            "duckdb": lambda: con.sql(
                SQL.format(quotes="q_mem", securities="s_mem")
            ).to_arrow_table(),
            "polars": lambda: polars_query(
                pl.from_arrow(q).lazy(), pl.from_arrow(s).lazy()
            ).to_arrow(),
        },
        "parquet": {
            "sabot-lab": lambda: fintech_pipeline(
                sl.from_parquet(qpath), sl.from_arrow(s)
            ).collect(),
            "duckdb": lambda: con.sql(
                SQL.format(quotes=f"read_parquet('{qpath}')", securities="s_mem")
            ).to_arrow_table(),
            "polars": lambda: polars_query(
                pl.scan_parquet(qpath), pl.from_arrow(s).lazy()
            ).to_arrow(),
        },
    }
    print(
        f"fintech: {args.rows:,} quotes x {args.securities:,} securities, median of {args.runs} runs"
    )
    print(f"{'input':8} {'engine':10} {'ms':>9} {'M rows/s':>9} {'vs duckdb':>10}")
    for source, runners in engines.items():
        reference = runners["duckdb"]()
        for name, fn in runners.items():
            check(f"{name} ({source})", fn(), reference)
        timings = {name: median_ms(fn, args.runs) for name, fn in runners.items()}
        for name, ms in timings.items():
            rate = args.rows / ms / 1e3
            print(f"{source:8} {name:10} {ms:9.1f} {rate:9.1f} {ms / timings['duckdb']:9.2f}x")


if __name__ == "__main__":
    main()
