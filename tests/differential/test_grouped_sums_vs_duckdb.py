"""Grouped sums, averages and counts of integers, floats and decimals against DuckDB, with
keys whose groups are numbered densely (dictionary-encoded text, a small integer range: summed
by the grouped-sum kernels) and keys that are hashed (integers with nulls), inputs with and
without nulls, in one or several batches: the same values (floats are multiples of 1/8 of
moderate size, so every order of addition gives the same sums; averages within 12 digits)."""

from __future__ import annotations

import decimal
import itertools
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col, count
from sabot_lab.engine.aggregate import HashAggregate
from sabot_lab.expr import Expr
from tests.support.reference import duckdb_table

VALUES = ("i", "f", "d")


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    """Keys ``k`` (text, dictionary-encoded), ``n`` (int64 in a small range) and ``h``
    (int64 with nulls); values ``i`` (int64), ``f`` (float64) and ``d`` (decimal(15, 2)),
    each sometimes with nulls; split into one to three batches."""
    rows = draw(st.integers(1, 60))
    keys = draw(st.lists(st.integers(0, 5), min_size=rows, max_size=rows))
    columns: dict[str, pa.Array] = {
        "k": pa.array([f"g{v}" for v in keys]).dictionary_encode(),
        "n": pa.array([v * 3 + 100 for v in keys], pa.int64()),
        "h": pa.array([None if v == 0 else v for v in keys], pa.int64()),
    }
    units = st.integers(-(10**12), 10**12)
    for name in VALUES:
        values = draw(
            st.lists(
                st.none() | units if draw(st.booleans()) else units, min_size=rows, max_size=rows
            )
        )
        if name == "i":
            columns[name] = pa.array(values, pa.int64())
        elif name == "f":
            columns[name] = pa.array([None if v is None else v / 8 for v in values], pa.float64())
        else:
            columns[name] = pa.array(
                [None if v is None else decimal.Decimal(v).scaleb(-2) for v in values],
                pa.decimal128(15, 2),
            )
    table = pa.table(columns)
    cuts = sorted(draw(st.lists(st.integers(0, rows), max_size=2)))
    bounds = [0, *cuts, rows]
    return pa.Table.from_batches(
        [b for lo, hi in itertools.pairwise(bounds) for b in table.slice(lo, hi - lo).to_batches()],
        schema=table.schema,
    )


def _rows(result: pa.Table, key: str, *, approx: bool = False) -> list[dict[str, Any]]:
    """The result's rows by key, each average a float, matched within 12 digits if ``approx``
    (a mean that ends in a 5 at the 13th digit may be rounded either way by either engine)."""
    if key == "k":
        result = result.set_column(0, "k", result["k"].cast(pa.string()))
    rows = result.to_pylist()
    for row in rows:
        for name in VALUES:
            mean = row[f"{name}_mean"]
            if mean is not None:
                row[f"{name}_mean"] = (
                    pytest.approx(float(mean), rel=1e-12) if approx else float(mean)
                )
    return sorted(rows, key=lambda row: str(row[key]))


def sums_counts_and_means() -> tuple[list[Expr], str]:
    """The rows counted, and each value's sum, mean and count: ours, and DuckDB's select list."""
    aggs = [count().alias("rows")]
    sql = ["count(*) AS rows"]
    for name in VALUES:
        aggs += [
            col(name).sum().alias(f"{name}_sum"),
            col(name).mean().alias(f"{name}_mean"),
            col(name).count().alias(f"{name}_count"),
        ]
        sql += [
            f"sum({name}) AS {name}_sum",
            f"avg({name}) AS {name}_mean",
            f"count({name}) AS {name}_count",
        ]
    return aggs, ", ".join(sql)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), key=st.sampled_from(["k", "n", "h"]))
def test_grouped_sums_match_duckdb(table: pa.Table, key: str) -> None:
    aggs, sql = sums_counts_and_means()
    ours = sl.from_arrow(table).group_by(key).agg(*aggs).collect()
    expected = duckdb_table(f"SELECT {key}, {sql} FROM t GROUP BY {key}", t=table)
    assert _rows(ours, key) == _rows(expected, key, approx=True)


def test_numbered_groups_without_nulls_take_the_kernels() -> None:
    """The test above reaches the grouped-sum kernels: a partial by numbered groups."""
    table = pa.table(
        {
            "k": pa.array(["a", "b", "a"]).dictionary_encode(),
            "i": pa.array([1, 2, 3], pa.int64()),
            "f": [0.5, 0.25, 1.0],
            "d": pa.array([decimal.Decimal("1.25")] * 3, pa.decimal128(15, 2)),
        }
    )
    aggregate = HashAggregate(["k"], [col(n).sum() for n in VALUES], table.schema)
    batch = table.to_batches()[0]
    dense = aggregate._dense_partial(aggregate._project_inputs(batch), {})
    assert dense is not None
    final = aggregate.finish([aggregate.partial(batch)])
    assert [list(row.values()) for row in dense.to_pylist()] == [
        list(row.values()) for row in final.to_pylist()
    ]


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(-3, 3), st.integers(0, 4), st.integers(-(10**6), 10**6)),
        min_size=1,
        max_size=80,
    ),
    steps=st.tuples(st.sampled_from([1, 5, 60]), st.sampled_from([1, 7])),
)
def test_several_integer_keys_numbered_densely_match_duckdb(
    rows: list[tuple[int, int, int]], steps: tuple[int, int]
) -> None:
    """Keys of small ranges, multiples of a step (window starts), negative ones too: each
    group numbered from its keys' offsets (:meth:`HashAggregate._dense_codes`)."""
    a, b, x = zip(*rows, strict=True)
    table = pa.table(
        {
            "a": pa.array([v * steps[0] - 1_000 for v in a], pa.int64()),
            "b": pa.array([v * steps[1] for v in b], pa.int32()),
            "x": pa.array(x, pa.int64()),
        }
    )
    ours = sl.from_arrow(table).group_by("a", "b").agg(s=col("x").sum(), n=count()).collect()
    expected = duckdb_table("SELECT a, b, sum(x) AS s, count(*) AS n FROM t GROUP BY a, b", t=table)
    assert sorted(ours.to_pylist(), key=str) == sorted(expected.to_pylist(), key=str)
