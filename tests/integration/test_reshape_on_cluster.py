"""Reshaping, cross and non-equi joins and row numbers submitted to a real LocalCluster
(JobManager on SQLite, two agent processes) with several partitions a stage, checked against
DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.physical import plan_stages
from tests.support.reference import assert_same_rows, duckdb_table


@pytest.fixture(scope="module")
def cluster() -> Iterator[sl.LocalCluster]:
    with sl.LocalCluster(agents=2, slots=2, heartbeat_timeout=3, heartbeat_interval=0.3) as c:
        yield c


def numbers(n: int) -> pa.Table:
    return pa.table(
        {
            "k": pa.array([None if i % 11 == 0 else i % 7 for i in range(n)], pa.int64()),
            "x": pa.array([None if i % 13 == 0 else (i * 37) % 101 for i in range(n)], pa.int64()),
            "g": pa.array([["a", "b", "c", None][i % 4] for i in range(n)]),
        }
    )


def test_with_row_index_numbers_a_source_read_in_splits_in_order(
    cluster: sl.LocalCluster, tmp_path: Path
) -> None:
    table = numbers(20_000)
    for part in range(4):  # four files: four splits for four tasks, were it not one task
        pq.write_table(table.slice(part * 5_000, 5_000), tmp_path / f"p{part}.parquet")
    stream = sl.from_parquet(tmp_path).with_row_index("n", offset=1).filter(col("x") > 50)
    plan = plan_stages(stream.optimize().graph, partitions=4)
    assert [s.partitions for s in plan.stages] == [1]
    result = stream.submit(cluster, partitions=4).result(timeout=120)
    expected = duckdb_table(
        "SELECT * FROM (SELECT row_number() OVER () AS n, * FROM t) WHERE x > 50", t=table
    )
    assert_same_rows(result, expected, ordered=True)


def test_cross_and_non_equi_joins_on_a_cluster_equal_duckdb(cluster: sl.LocalCluster) -> None:
    left, right = numbers(3_000), numbers(200).rename_columns(["rk", "rx", "rg"])
    ranged = sl.from_arrow(left).join_where(
        sl.from_arrow(right), col("x") < col("rx"), col("k") == col("rk") + 1
    )
    result = ranged.submit(cluster, partitions=3).result(timeout=120)
    expected = duckdb_table(
        "SELECT * FROM l JOIN r ON l.x < r.rx AND l.k = r.rk + 1", l=left, r=right
    )
    assert_same_rows(result, expected)
    crossed = sl.from_arrow(left.slice(0, 300)).join(sl.from_arrow(right), how="cross")
    result = crossed.submit(cluster, partitions=3).result(timeout=120)
    assert_same_rows(
        result, duckdb_table("SELECT * FROM l CROSS JOIN r", l=left.slice(0, 300), r=right)
    )


def test_explode_unpivot_and_pivot_on_a_cluster_equal_duckdb(cluster: sl.LocalCluster) -> None:
    table = numbers(5_000)
    nested = table.append_column(
        "l", pa.array([None if i % 9 == 0 else list(range(i % 4)) for i in range(5_000)])
    )
    exploded = sl.from_arrow(nested).explode("l").submit(cluster, partitions=3).result(timeout=120)
    expected = duckdb_table(
        "SELECT k, x, g, UNNEST(CASE WHEN l IS NULL THEN [NULL] ELSE l END) AS l FROM t", t=nested
    )
    assert_same_rows(exploded, expected)
    long = sl.from_arrow(table).unpivot(["k", "x"], index="g")
    assert_same_rows(
        long.submit(cluster, partitions=3).result(timeout=120),
        duckdb_table(
            "SELECT * FROM t UNPIVOT INCLUDE NULLS (value FOR variable IN (k, x))", t=table
        ),
    )
    wide = sl.from_arrow(table).pivot("g", index="k", values="x", aggregate_function="sum")
    result = wide.submit(cluster, partitions=3).result(timeout=120)
    expected = duckdb_table(
        "SELECT k, coalesce(sum(x) FILTER (WHERE g = 'a'), 0) AS a, "
        "coalesce(sum(x) FILTER (WHERE g = 'b'), 0) AS b, "
        "coalesce(sum(x) FILTER (WHERE g = 'c'), 0) AS c, "
        'coalesce(sum(x) FILTER (WHERE g IS NULL), 0) AS "null" FROM t GROUP BY k',
        t=table,
    )
    assert result.column_names == ["k", "a", "b", "c", "null"]
    assert_same_rows(result, expected)
