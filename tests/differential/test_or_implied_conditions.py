"""Conditions an ``OR`` implies on fewer columns (``simplify_predicates`` adds them beside it;
they then move below joins into scans): random tables with nulls, ``OR`` of branches each
conditioning both sides of a join, give the same rows optimized and as written, and the
implied conditions reach both scans."""

from __future__ import annotations

import functools
import operator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.logical import Source
from tests.support.reference import assert_same_rows
from tests.support.scratch import scratch_directory

WORKDIR = scratch_directory("sabot-or-implied-")


def _scan(rng: np.random.Generator, prefix: str, seed: int) -> sl.Stream:
    """A random table as a Parquet file (its scan takes the conditions moved into it)."""
    path = WORKDIR / f"{prefix}{seed}.parquet"
    pq.write_table(_table(rng, prefix), path)
    return sl.from_parquet(path)


def _table(rng: np.random.Generator, prefix: str) -> pa.Table:
    rows = int(rng.integers(0, 40))
    return pa.table(
        {
            f"{prefix}k": pa.array(rng.integers(0, 6, rows), pa.int64()),
            f"{prefix}n": pa.array(
                [f"n{v}" for v in rng.integers(0, 4, rows)], mask=rng.random(rows) < 0.2
            ),
            f"{prefix}x": pa.array(rng.integers(-10, 10, rows), mask=rng.random(rows) < 0.2),
        }
    )


def _condition(rng: np.random.Generator, prefix: str, kind: int) -> sl.Expr:
    """A condition of ``kind`` (each branch conditions a side's same columns)."""
    value = int(rng.integers(-10, 10))
    options = [
        col(f"{prefix}n") == f"n{value % 4}",
        col(f"{prefix}x") > value,
        col(f"{prefix}n").is_null(),
        (col(f"{prefix}x") >= value) & (col(f"{prefix}n") != "n1"),
    ]
    return options[kind]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**32 - 1),
    branches=st.integers(2, 3),
    kinds=st.tuples(st.integers(0, 3), st.integers(0, 3)),
)
def test_or_implied_conditions_keep_the_rows(
    seed: int, branches: int, kinds: tuple[int, int]
) -> None:
    rng = np.random.default_rng(seed)
    left, right = _scan(rng, "a", seed), _scan(rng, "b", seed)
    predicate = functools.reduce(
        operator.or_,
        [_condition(rng, "a", kinds[0]) & _condition(rng, "b", kinds[1]) for _ in range(branches)],
    )
    stream = left.join(right, left_on="ak", right_on="bk").filter(predicate)
    plan = stream.optimize()
    scanned = [n.op.predicate for n in plan if isinstance(n.op, Source)]
    assert len(scanned) == 2 and all(p is not None for p in scanned), scanned
    assert_same_rows(stream.collect(), stream.collect(optimize=False), ordered=False)
