"""A task's partial aggregates merged before they cross an exchange
(:meth:`~sabot_lab.engine.aggregate.HashAggregate.combined_partials`), early or at the end, or
passed on when groups barely repeat: the final merge of them gives DuckDB's answer for every
kind of aggregate, with null keys and null values, as the partials of every batch do."""

from __future__ import annotations

import decimal
import math
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sabot_lab import col, count
from sabot_lab.engine.aggregate import HashAggregate
from tests.differential.test_grouped_sums_vs_duckdb import VALUES, tables
from tests.support.reference import duckdb_table

AGGREGATES = {  # output name: (ours, DuckDB's)
    "rows": (count(), "count(*)"),
    **{
        f"{v}_{name}": (getattr(col(v), name)(), f"{sql}({v})")
        for v in VALUES
        for name, sql in (("sum", "sum"), ("count", "count"), ("min", "min"), ("max", "max"))
    },
    "i_distinct": (col("i").n_unique(), "count(DISTINCT i)"),
    "f_mean": (col("f").mean(), "avg(f)"),
    "f_std": (col("f").std(), "stddev_samp(f)"),
}


def _rows(table: pa.Table, key: str) -> list[dict[str, Any]]:
    """The rows by key: integers and decimals exact whatever their type (DuckDB sums
    integers as HUGEINT), floats within 1e-9 relative (sums added in other orders)."""
    rows = table.cast(table.schema.set(0, pa.field(key, pa.string()))).to_pylist()
    for row in rows:
        for name, value in row.items():
            if isinstance(value, int | decimal.Decimal) and name != key:
                row[name] = decimal.Decimal(value)
            elif isinstance(value, float):
                row[name] = None if math.isnan(value) else pytest.approx(value, rel=1e-9)
    return sorted(rows, key=lambda r: str(r[key]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), key=st.sampled_from(["k", "n", "h"]), limit=st.integers(1, 80))
def test_merged_partials_give_duckdbs_answer(table: pa.Table, key: str, limit: int) -> None:
    aggregate = HashAggregate(
        [key], [ours.alias(name) for name, (ours, _) in AGGREGATES.items()], table.schema
    )
    partials = [aggregate.partial(b) for b in table.to_batches(max_chunksize=7)]
    merged = list(aggregate.combined_partials(iter(partials), limit))
    assert sum(p.num_rows for p in merged) <= sum(p.num_rows for p in partials)
    if limit > sum(p.num_rows for p in partials):  # merged once, at the end
        groups = len(set(table[key].cast(pa.string()).to_pylist()))
        assert sum(p.num_rows for p in merged) == groups
    sql = ", ".join(f"{theirs} AS {name}" for name, (_, theirs) in AGGREGATES.items())
    expected = duckdb_table(f"SELECT {key}, {sql} FROM t GROUP BY {key}", t=table)
    assert _rows(aggregate.finish(merged), key) == _rows(expected, key)
