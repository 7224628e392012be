"""User aggregate benchmark: ``@sl.udaf`` aggregates against built-in aggregates of the same work.

1. Sum of squares per group: ``SumOfSquares(col("x"))`` (a compiled user aggregate) against
   ``(col("x") * col("x")).sum()``.
2. Weighted mean per group: ``WeightedMean(col("x"), col("w"))`` against
   ``(col("x") * col("w")).sum() / col("w").sum()``.

Each over integer group keys (numbered densely) and string keys (hashed), ``collect()``
in-process with the default settings; DuckDB's answer checks both before timing. Goal: a
user aggregate within 2x of the built-in one.

    python benchmarks/udaf.py [--rows 5000000] [--groups 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from _harness import interleaved_ms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' aggregates
import sabot_lab as sl
from sabot_lab import col
from tests.support.user_aggregates import SumOfSquares, WeightedMean


def data(rows: int, groups: int) -> pa.Table:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, groups, rows)
    names = np.array([f"g{i:05d}" for i in range(groups)], dtype=object)
    return pa.table(
        {
            "id": ids,
            "name": pa.array(names[ids], pa.string()),
            "x": rng.normal(0, 10, rows),
            "w": rng.uniform(0, 2, rows),
        }
    )


CASES = {
    "sum of squares": (
        lambda: SumOfSquares(col("x")),
        lambda: (col("x") * col("x")).sum(),
        "sum(x * x)",
    ),
    "weighted mean": (
        lambda: WeightedMean(col("x"), col("w")),
        lambda: (col("x") * col("w")).sum() / col("w").sum(),
        "sum(x * w) / sum(w)",
    ),
}


def check(result: pa.Table, expected: dict[object, float], key: str) -> None:
    got = dict(zip(result[key].to_pylist(), result["v"].to_pylist(), strict=True))
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert math.isclose(got[k], v, rel_tol=1e-9, abs_tol=1e-9), (k, got[k], v)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    t = data(args.rows, args.groups)  # DuckDB reads it by this name
    source = sl.from_arrow(t)
    print(f"{args.rows:,} rows, {args.groups:,} groups; median of {args.runs} runs")
    print(f"{'aggregate':<16}{'keys':<8}{'udaf ms':>10}{'built-in ms':>13}{'ratio':>8}")
    for name, (user, builtin, sql) in CASES.items():
        for key in ("id", "name"):
            ours = source.group_by(key).agg(user().alias("v"))
            theirs = source.group_by(key).agg(builtin().alias("v"))
            rows = duckdb.sql(f"SELECT {key}, {sql} AS v FROM t GROUP BY {key}").fetchall()
            expected = dict(rows)
            check(ours.collect(), expected, key)
            check(theirs.collect(), expected, key)
            times = interleaved_ms({"udaf": ours.collect, "builtin": theirs.collect}, args.runs)
            ratio = times["udaf"] / times["builtin"]
            print(
                f"{name:<16}{key:<8}{times['udaf']:>10.1f}{times['builtin']:>13.1f}{ratio:>7.2f}x"
            )


if __name__ == "__main__":
    main()
