"""Optimizer benchmark: time to optimize a 20-operator plan, and queries with the optimizer on/off.

1. ``PlanOptimizer.optimize`` on a 20-operator plan (filters, projections, a join, an
   aggregate, a sort with limit): median over many runs, after the first run has read the
   sources' statistics (which are cached per source). Goal: under 1 ms.
2. The fintech query (``sabot_lab.examples.demo.fintech_pipeline``) and a 4-table star join written
   with its most selective dimension last, run with ``collect()`` and
   ``collect(optimize=False)``; DuckDB on the same data for reference. Every answer is
   checked against DuckDB's before timing.

    python benchmarks/optimizer.py [--rows 2000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import duckdb
import numpy as np
import pyarrow as pa
from _harness import median_ms

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.examples.datasets import quotes, securities
from sabot_lab.examples.demo import fintech_pipeline
from sabot_lab.optimizer import PlanOptimizer


def twenty_operators(q: sl.Stream, s: sl.Stream) -> sl.Stream:
    """A 20-operator plan with something for every rule to do."""
    plan = (
        q.filter(col("price") > 10)
        .filter(col("price") < 400)
        .with_columns(notional=col("price") * col("size"))
        .filter((col("rating") >= 2) & (col("rating") >= 3))
        .select("security_id", "price", "size", "rating", "notional")
        .join(s.filter(col("ticker") != "T000001"), left_on="security_id", right_on="id")
        .filter(col("sector") != "Utilities")
        .with_columns(big=col("notional") > 10_000)
        .filter(col("size") > 5)
        .select("sector", "notional", "big", "rating")
        .filter(sl.lit(True) & (col("notional") > 0))
        .group_by("sector", "big")
        .agg(total=col("notional").sum(), n=sl.count(), best=col("rating").max())
        .filter(col("n") > 0)
        .with_columns(avg=col("total") / col("n"))
        .select("sector", "big", "total", "avg")
        .sort("total", descending=True)
        .limit(5)
    )
    assert len(plan.graph) == 20, len(plan.graph)
    return plan


def star_tables(rows: int) -> dict[str, pa.Table]:
    rng = np.random.default_rng(11)
    dims = {"customers": 100_000, "stores": 1_000, "products": 100_000}
    return {
        "sales": pa.table(
            {
                "customer": rng.integers(0, dims["customers"], rows),
                "store": rng.integers(0, dims["stores"], rows),
                "product": rng.integers(0, dims["products"], rows),
                "amount": rng.random(rows).round(2),
            }
        ),
        "customers": pa.table(
            {"cid": np.arange(dims["customers"]), "segment": rng.integers(0, 5, dims["customers"])}
        ),
        "stores": pa.table(
            {"sid": np.arange(dims["stores"]), "region": rng.integers(0, 12, dims["stores"])}
        ),
        "products": pa.table(
            {
                "pid": np.arange(dims["products"]),
                "brand": pa.array([f"b{i % 5_000}" for i in range(dims["products"])]),
            }
        ),
    }


STAR_SQL = """
SELECT segment, region, SUM(amount) AS total, COUNT(*) AS n
FROM sales JOIN customers ON customer = cid JOIN stores ON store = sid
JOIN products ON product = pid
WHERE brand = 'b42'
GROUP BY segment, region
"""


def star_join(t: dict[str, pa.Table]) -> sl.Stream:
    """The star join as written: the selective brand filter's dimension comes last."""
    s = sl.from_arrow
    return (
        s(t["sales"])
        .join(s(t["customers"]), left_on="customer", right_on="cid")
        .join(s(t["stores"]), left_on="store", right_on="sid")
        .join(s(t["products"]).filter(col("brand") == "b42"), left_on="product", right_on="pid")
        .group_by("segment", "region")
        .agg(total=col("amount").sum(), n=sl.count())
    )


def same_rows(got: pa.Table, want: pa.Table) -> bool:
    def rows(t: pa.Table) -> list[tuple[object, ...]]:
        return sorted(zip(*(t[c].to_pylist() for c in want.column_names), strict=True))

    a, b = rows(got), rows(want)
    return len(a) == len(b) and all(
        x == y or (isinstance(x, float) and math.isclose(x, y, rel_tol=1e-9))  # type: ignore[arg-type]
        for ra, rb in zip(a, b, strict=True)
        for x, y in zip(ra, rb, strict=True)
    )


def optimize_time(q: pa.Table, s: pa.Table, runs: int) -> None:
    plan = twenty_operators(sl.from_arrow(q), sl.from_arrow(s))
    optimizer = PlanOptimizer()
    start = time.perf_counter()
    first = optimizer.optimize(plan.graph)
    cold = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        optimizer.optimize(plan.graph)
        times.append((time.perf_counter() - start) * 1000)
    rules = sorted({a.rule for a in first.trace})
    print(
        f"optimize a 20-operator plan: median {statistics.median(times):.3f} ms over {runs} runs "
        f"(first run, reading source statistics: {cold:.1f} ms); "
        f"{len(first.trace)} rewrites by {', '.join(rules)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    q, s = quotes(args.rows, seed=3), securities(100_000)
    optimize_time(q, s, runs=500)

    con = duckdb.connect()
    star = star_tables(args.rows)
    for name, table in {**star, "q": q, "s": s}.items():
        con.register(name, table)
    fintech = fintech_pipeline(sl.from_arrow(q), sl.from_arrow(s))
    fintech_sql = (
        "SELECT sector, SUM(price * size) AS total, COUNT(*) AS n FROM q "
        "JOIN s ON security_id = id WHERE price > 100 AND rating >= 3 GROUP BY sector"
    )
    queries: dict[str, tuple[sl.Stream, str]] = {
        "fintech": (fintech, fintech_sql),
        "star join": (star_join(star), STAR_SQL),
    }
    print(f"\n{args.rows:,} fact rows, median of {args.runs} runs")
    print(f"{'query':10} {'optimizer on':>13} {'off':>10} {'off / on':>9} {'duckdb':>9}")
    for name, (stream, sql) in queries.items():
        runners: dict[str, Callable[[], pa.Table]] = {
            "on": stream.collect,
            "off": lambda stream=stream: stream.collect(optimize=False),  # type: ignore[misc]
            "duckdb": lambda sql=sql: con.sql(sql).to_arrow_table(),  # type: ignore[misc]
        }
        reference = runners["duckdb"]()
        for label in ("on", "off"):
            if not same_rows(runners[label](), reference):
                raise SystemExit(f"{name} with the optimizer {label} disagrees with DuckDB")
        ms = {label: median_ms(fn, args.runs) for label, fn in runners.items()}
        print(
            f"{name:10} {ms['on']:10.1f} ms {ms['off']:7.1f} ms {ms['off'] / ms['on']:8.1f}x "
            f"{ms['duckdb']:6.1f} ms"
        )


if __name__ == "__main__":
    main()
