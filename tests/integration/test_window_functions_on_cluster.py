"""Window functions submitted to a real two-agent cluster with two partitions: the operator is
keyed by its partition columns, so the rows are shuffled by them and each task computes its
partitions; a window without PARTITION BY runs in one task. Results equal DuckDB's."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pyarrow as pa
import pytest

import sabot_lab as sl
from tests.support.reference import assert_same_rows, duckdb_table


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sl.LocalCluster]:
    with sl.LocalCluster(agents=2, slots=2, workdir=tmp_path_factory.mktemp("cluster")) as made:
        yield made


@pytest.fixture(scope="module")
def rows() -> pa.Table:
    rng = random.Random(22)
    n = 3_000
    return pa.table(
        {
            "id": range(n),
            "k": [rng.choice(["a", "b", "c", "d", None]) for _ in range(n)],
            "t": [rng.randint(0, 50) for _ in range(n)],
            "x": [None if rng.random() < 0.1 else rng.randint(-99, 99) for _ in range(n)],
        }
    )


QUERY = (
    "SELECT id, k, SUM(x) OVER (PARTITION BY k ORDER BY t) AS running, "
    "RANK() OVER (PARTITION BY k ORDER BY t DESC) AS r, "
    "LAG(x, 1, 0) OVER (PARTITION BY k ORDER BY t, id) AS before, "
    "AVG(x) OVER (PARTITION BY k ORDER BY t, id ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING) AS a "
    "FROM r"
)


def test_partitioned_window_functions_on_two_partitions_equal_duckdbs(
    cluster: sl.LocalCluster, rows: pa.Table
) -> None:
    stream = sl.sql(QUERY, r=sl.from_arrow(rows))
    graph = stream.graph
    windows = [n for n in graph.nodes.values() if n.operator_type.value == "window_functions"]
    assert [w.key_by for w in windows] == [("k",)]
    result = stream.submit(cluster, name="window functions", partitions=2).result(timeout=120)
    assert_same_rows(result, duckdb_table(QUERY, r=rows))


def test_a_window_over_all_rows_runs_in_one_task(cluster: sl.LocalCluster, rows: pa.Table) -> None:
    query = "SELECT id, ROW_NUMBER() OVER (ORDER BY t, id) AS n, SUM(x) OVER () AS total FROM r"
    stream = sl.sql(query, r=sl.from_arrow(rows))
    result = stream.submit(cluster, name="one window", partitions=2).result(timeout=120)
    assert_same_rows(result, duckdb_table(query, r=rows))
