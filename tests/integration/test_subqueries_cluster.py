"""Decorrelated subqueries on a local cluster: the numbered rows of an EXISTS with a
non-equality correlation, the counts of NOT IN and the one-row check of a scalar subquery run
in real agent processes, against DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import sabot_lab as sl
from tests.support.reference import assert_same_rows, duckdb_table


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sl.LocalCluster]:
    with sl.LocalCluster(agents=2, slots=2, workdir=tmp_path_factory.mktemp("subq")) as c:
        yield c


def keyed(seed: int, n: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        "k": pa.array(rng.integers(0, 300, n), mask=rng.random(n) < 0.05),
        "x": pa.array(rng.integers(-50, 50, n), mask=rng.random(n) < 0.05),
    })  # fmt: skip


QUERY = (
    "SELECT t.k, t.x, (SELECT COUNT(*) FROM u WHERE u.k = t.k) AS n FROM t "
    "WHERE EXISTS (SELECT * FROM u WHERE u.k = t.k AND u.x <> t.x) "
    "AND NOT EXISTS (SELECT * FROM u WHERE u.k = t.k AND u.x > t.x + 40) "
    "AND t.x NOT IN (SELECT x FROM u WHERE x > 45) "
    "AND t.x > (SELECT MIN(x) FROM u)"
)


def test_subqueries_on_a_cluster_equal_duckdb(cluster: sl.LocalCluster, tmp_path: Path) -> None:
    t, u = keyed(1, 4_000), keyed(2, 3_000)
    job = sl.sql(QUERY, t=t, u=u).submit(cluster, name="subqueries", partitions=2)
    result = job.result(timeout=120)
    expected = duckdb_table(QUERY, t=t, u=u)
    assert expected.num_rows > 100
    assert_same_rows(result, expected)


def test_more_than_one_row_for_a_value_fails_the_job(cluster: sl.LocalCluster) -> None:
    t, u = keyed(3, 50), keyed(4, 50)
    job = sl.sql("SELECT k, (SELECT x FROM u) AS v FROM t", t=t, u=u).submit(cluster)
    with pytest.raises(sl.SabotError, match="More than one row returned by a subquery"):
        job.result(timeout=120)
