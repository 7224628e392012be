"""User aggregates (``@sl.udaf``) on a two-agent cluster: their functions travel with the plan,
each task compiles them and aggregates its partition into partial states, and the partials
merged after the shuffle give the answer of plain Python per group and of DuckDB."""

from __future__ import annotations

import math

import pyarrow as pa

import sabot_lab as sl
from sabot_lab.physical.planner import split_aggregates
from tests.support.reference import assert_same_rows, duckdb_table
from tests.support.user_aggregates import (
    DUCKDB_SQL,
    REFERENCES,
    SumOfSquares,
    python_reference,
    random_rows,
)
from tests.support.windows import out_of_order_events

NAMES = list(REFERENCES)


def test_partial_states_of_two_tasks_merge_into_plain_pythons_answer(
    two_agents_on_sqlite: sl.LocalCluster,
) -> None:
    rows = random_rows(seed=21, n=6_000, keys=7)
    stream = (
        sl.from_iterable(rows.to_batches(max_chunksize=500), schema=rows.schema)
        .group_by("k", "g")
        .agg(*(REFERENCES[name][1]().alias(name) for name in NAMES))
    )
    phases = [getattr(n.op, "phase", None) for n in split_aggregates(stream.graph).nodes.values()]
    assert {"partial", "final"} <= set(phases)
    result = stream.submit(two_agents_on_sqlite, partitions=2).result(timeout=120)
    assert_same_rows(result, python_reference(rows, ["k", "g"], NAMES), rel=1e-9)
    in_sql = duckdb_table(f"SELECT k, g, {DUCKDB_SQL} FROM r GROUP BY ALL", r=rows)
    assert_same_rows(result.select(["k", "g", "wm", "gm", "ss"]), in_sql, rel=1e-9)


def test_a_user_aggregate_defined_in_the_test_travels_by_value(
    two_agents_on_sqlite: sl.LocalCluster,
) -> None:
    @sl.udaf(return_dtype=pa.float64())
    class RootMeanSquare:
        @staticmethod
        def init() -> tuple[float, int]:
            return (0.0, 0)

        @staticmethod
        def accumulate(state: tuple[float, int], x: float) -> tuple[float, int]:
            return (state[0] + x * x, state[1] + 1)

        @staticmethod
        def merge(state: tuple[float, int], other: tuple[float, int]) -> tuple[float, int]:
            return (state[0] + other[0], state[1] + other[1])

        @staticmethod
        def finalize(state: tuple[float, int]) -> float:
            return math.sqrt(state[0] / state[1])

    rows = random_rows(seed=22, n=3_000)
    stream = (
        sl.from_iterable(rows.to_batches(max_chunksize=400), schema=rows.schema)
        .group_by("k")
        .agg(rms=RootMeanSquare(sl.col("x")), n=sl.col("x").count())
    )
    result = stream.submit(two_agents_on_sqlite, partitions=2).result(timeout=120)
    expected = duckdb_table(
        "SELECT k, sqrt(avg(x * x)) AS rms, count(x) AS n FROM r GROUP BY k", r=rows
    )
    assert_same_rows(result, expected, rel=1e-9)


def test_a_windowed_user_aggregate_on_the_cluster_equals_duckdb(
    two_agents_on_sqlite: sl.LocalCluster,
) -> None:
    events = out_of_order_events(23, 4_000, disorder_ms=2_000)
    stream = (
        sl.from_iterable(events.to_batches(max_chunksize=300), schema=events.schema)
        .with_watermark("t", "3s")
        .window(sl.tumbling("10s", on="t"))
        .group_by("k")
        .agg(ss=SumOfSquares(sl.col("x")))
    )
    result = stream.submit(two_agents_on_sqlite, partitions=2).result(timeout=120)
    expected = duckdb_table(
        "SELECT k, time_bucket(INTERVAL 10 SECONDS, t) AS window_start, sum(x * x) AS ss "
        "FROM e WHERE t IS NOT NULL GROUP BY ALL",
        e=events,
    )
    assert_same_rows(result.select(["k", "window_start", "ss"]), expected, rel=1e-9)
