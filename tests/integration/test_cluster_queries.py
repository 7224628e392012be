"""Query answers on a real LocalCluster of two agents, checked against DuckDB. The JobManager
runs on SQLite: these tests check what the agents compute, not the JobManager's store
(``test_cluster.py`` runs the JobManager's behaviour on SQLite and on PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.examples.datasets import quotes, securities
from sabot_lab.examples.demo import fintech_pipeline
from sabot_lab.examples.nexmark_queries import DUCKDB_SQL, QUERIES
from tests.support.reference import assert_same_rows, duckdb_table, timed_rows

FINTECH_SQL = (
    "SELECT sector, SUM(price * size) AS total, COUNT(*) AS n FROM q JOIN s ON security_id = id "
    "WHERE price > 100 AND rating >= 3 GROUP BY sector ORDER BY total DESC"
)


@pytest.fixture(scope="module")
def cluster(two_agents_on_sqlite: sl.LocalCluster) -> sl.LocalCluster:
    return two_agents_on_sqlite


def fintech_data() -> tuple[pa.Table, pa.Table, pa.Table]:
    q, s = quotes(60_000, n_securities=2_000, seed=9), securities(2_000)
    con = duckdb.connect()
    con.register("q", q)
    con.register("s", s)
    return q, s, con.sql(FINTECH_SQL).to_arrow_table()


def test_fintech_query_on_a_local_cluster_equals_duckdb(cluster: sl.LocalCluster) -> None:
    q, s, expected = fintech_data()
    job = fintech_pipeline(sl.from_arrow(q), sl.from_arrow(s)).submit(cluster, name="fintech")
    result = job.result(timeout=120)
    assert_same_rows(result, expected, ordered=True)
    assert job.status() == "FINISHED"
    tasks = job.tasks()
    assert tasks and {t["state"] for t in tasks} == {"FINISHED"}
    assert {t["agent"] for t in tasks} == {a["uri"] for a in cluster.agents()}  # both agents worked


def test_shuffle_heavy_group_by_with_resource_aware_placement(cluster: sl.LocalCluster) -> None:
    n = 300_000
    table = pa.table({"k": [i * 7919 % 20_011 for i in range(n)], "x": list(range(n))})
    s = sl.from_arrow(table).group_by("k").agg(total=col("x").sum(), n=sl.count())
    result = s.submit(cluster, partitions=6, assignment="resource_aware").result(timeout=120)
    con = duckdb.connect()
    con.register("t", table)
    expected = con.sql(
        "SELECT k, SUM(x) AS total, COUNT(*) AS n FROM t GROUP BY k"
    ).to_arrow_table()
    assert_same_rows(result, expected)


def test_a_group_by_on_a_dictionary_encoded_parquet_column_ends_with_duckdbs_answer(
    cluster: sl.LocalCluster, tmp_path: Path
) -> None:
    """Each result batch brings its own dictionary; the stored result keeps them all (it
    used to fail writing them, and the job stayed RUNNING)."""
    n = 60_000
    table = pa.table(
        {"s": pa.array([f"g{i % 7}" for i in range(n)]).dictionary_encode(), "x": range(n)}
    )
    pq.write_table(table, tmp_path / "d.parquet", row_group_size=5_000)
    source = sl.from_parquet(tmp_path / "d.parquet")
    assert pa.types.is_dictionary(source.schema.field("s").type)
    result = source.group_by("s").agg(total=col("x").sum()).submit(cluster).result(timeout=120)
    expected = duckdb_table("SELECT s, sum(x) AS total FROM t GROUP BY s", t=table)
    assert_same_rows(result.cast(pa.schema([("s", pa.string()), ("total", pa.int64())])), expected)


def test_a_task_sends_one_partial_row_per_group_across_its_exchange(
    cluster: sl.LocalCluster, tmp_path: Path
) -> None:
    """A group-by's partial aggregates of a task's batches are merged before the exchange:
    one row per group and task crosses it, not one per group and batch."""
    n, groups = 60_000, 500
    table = pa.table({"k": [i * 7 % groups for i in range(n)], "x": range(n)})
    pq.write_table(table, tmp_path / "g.parquet", row_group_size=4_000)  # 15 batches
    job = (
        sl.from_parquet(tmp_path / "g.parquet")
        .group_by("k")
        .agg(total=col("x").sum(), n=sl.count())
        .submit(cluster, partitions=2)
    )
    expected = duckdb_table("SELECT k, sum(x) AS total, count(*) AS n FROM t GROUP BY k", t=table)
    assert_same_rows(job.result(timeout=120), expected)
    first = [t for t in job.tasks() if t["stage"] == 0]
    assert len(first) == 2 and all(t["rows_out"] == groups for t in first)


@pytest.mark.parametrize("name", ["q5", "q7", "q8", "q11"])
def test_windowed_nexmark_queries_on_a_local_cluster_equal_duckdb(
    cluster: sl.LocalCluster, name: str
) -> None:
    gen = sl.nexmark(events=200_000, event_rate=10_000, seed=5)
    con = duckdb.connect()
    for kind in ("persons", "auctions", "bids"):
        table = getattr(gen, kind).collect()
        con.register(kind, table.append_column("ms", table["dateTime"].cast(pa.int64())))
    job = QUERIES[name](gen).submit(cluster, name=f"nexmark {name}", partitions=2)
    result = job.result(timeout=120)
    expected = con.sql(DUCKDB_SQL[name]).to_arrow_table()
    assert result.num_rows == expected.num_rows > 0
    assert timed_rows(result) == timed_rows(expected)
