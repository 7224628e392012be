"""String kernels that cost more than hashing (``split_part``, ``split_index``,
``replace_all``, ``extract``) run once per distinct string when a batch's strings repeat: the
rows equal DuckDB's, nulls included (also where no distinct string has a value), whether the
batch repeats few strings, many, or the same column feeds several kernels."""

from __future__ import annotations

import random

import pyarrow as pa

from sabot_lab.engine.evaluate import evaluate
from sabot_lab.expr import col
from tests.support.reference import assert_same_rows, duckdb_table


def _urls(distinct: int, rows: int) -> pa.Table:
    rng = random.Random(distinct)
    choices = [f"https://n.com/{i % 7}/x{i}/{'a' * (i % 3)}" for i in range(distinct)]
    return pa.table({"u": [rng.choice([*choices, None]) for _ in range(rows)]})


def test_the_rows_are_duckdbs() -> None:
    for distinct in (4, 900):
        table = _urls(distinct, 5_000)
        batch = table.combine_chunks().to_batches()[0]
        ours = pa.table(
            {
                "p3": evaluate(col("u").str.split_part("/", 4), batch),
                "p5": evaluate(col("u").str.split_part("/", 5), batch),
                "r": evaluate(col("u").str.replace_all("a", "b"), batch),
                "e": evaluate(col("u").str.extract(r"x(\d+)", 1), batch),
                "i4": evaluate(col("u").str.split_index("/", 4), batch),
                "i9": evaluate(col("u").str.split_index("/", 9), batch),  # never a part
            }
        )
        expected = duckdb_table(
            "SELECT split_part(u, '/', 4) AS p3, split_part(u, '/', 5) AS p5, "
            "replace(u, 'a', 'b') AS r, "
            r"CASE WHEN regexp_matches(u, 'x(\d+)') THEN regexp_extract(u, 'x(\d+)', 1) END AS e, "
            "CASE WHEN len(string_split(u, '/')) > 4 THEN split_part(u, '/', 5) END AS i4, "
            "CAST(NULL AS VARCHAR) AS i9 FROM t",
            t=table,
        )
        assert_same_rows(ours, expected)
