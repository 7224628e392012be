"""Upsert changelogs on a two-agent cluster with checkpoints: a running aggregate's updates
reach a Parquet snapshot (one row per key, replaced whole at each checkpoint) that ends
equal to DuckDB's GROUP BY, also when an agent is killed after a checkpoint, and also for an
aggregate of such updates; SQL's ``INSERT INTO`` a filesystem table with a ``PRIMARY KEY ...
NOT ENFORCED`` writes one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from tests.differential import test_aggregating_changelogs as updates
from tests.support.agent_kills import kill_an_agent_running
from tests.support.polling import wait_for
from tests.support.reference import assert_same_rows, duckdb_table, normalized_rows

CHUNKS, ROWS = 30, 300


def chunk(i: int) -> pa.Table | None:
    """Rows with null keys; the stream ends after CHUNKS, which its plan cannot know."""
    if i >= CHUNKS:
        return None
    rng = np.random.default_rng(i)
    keys = pa.array(rng.integers(0, 40, ROWS), mask=rng.random(ROWS) < 0.05)
    return pa.table({"k": keys, "x": rng.integers(0, 1_000, ROWS)})


def totals() -> sl.Stream:
    rows = sl.from_generator(chunk, max_rows_per_second=CHUNKS * ROWS / 3)
    return rows.group_by("k").agg(n=sl.count(), total=sl.col("x").sum(), hi=sl.col("x").max())


def rows_of(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted(normalized_rows(table), key=repr)  # (a null key among them)


def expected() -> list[tuple[object, ...]]:
    rows = pa.concat_tables([t for i in range(CHUNKS) if (t := chunk(i)) is not None])
    query = "SELECT k, count(*), sum(x), max(x) FROM t GROUP BY k"
    return rows_of(duckdb_table(query, t=rows))


@pytest.fixture(scope="module")
def two_agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sl.LocalCluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    with sl.LocalCluster(agents=2, slots=6, heartbeat_timeout=3, workdir=workdir) as cluster:
        yield cluster


def test_a_running_aggregate_ends_as_a_snapshot_equal_to_duckdbs_group_by(
    two_agents: sl.LocalCluster, tmp_path: Path
) -> None:
    path = tmp_path / "totals.parquet"
    job = totals().submit(
        two_agents, partitions=2, checkpoint_interval=0.2, sink=sl.ParquetSnapshotSink(path)
    )
    snapshots = []

    def snapshot_seen() -> bool:
        if path.exists():
            snapshots.append(pq.read_table(path))
        return job.status() != "RUNNING"

    wait_for(snapshot_seen, timeout=120)
    assert job.wait(timeout=60) == "FINISHED"
    assert len(job.checkpoints()) >= 2
    for seen in snapshots:  # each a whole snapshot: one row per key, counts of a prefix
        assert seen.num_rows == len(set(seen["k"].to_pylist()))
        assert sum(seen["n"].to_pylist()) <= CHUNKS * ROWS
    assert rows_of(pq.read_table(path)) == expected()


def test_an_agent_killed_after_a_checkpoint_leaves_each_update_applied_once(
    two_agents: sl.LocalCluster, tmp_path: Path
) -> None:
    path = tmp_path / "totals.parquet"
    job = totals().submit(
        two_agents, partitions=2, checkpoint_interval=0.2, sink=sl.ParquetSnapshotSink(path)
    )
    wait_for(lambda: any(c["state"] == "COMPLETE" for c in job.checkpoints()), timeout=60)
    assert path.exists() or job.status() == "RUNNING"
    kill_an_agent_running(job, two_agents)
    job.result(timeout=180)
    assert job.metrics()["attempts"] == 2
    two_agents.scale(2)
    assert rows_of(pq.read_table(path)) == expected()


def test_sql_insert_into_a_table_with_a_primary_key_keeps_a_snapshot(
    two_agents: sl.LocalCluster, tmp_path: Path
) -> None:
    ctx = sl.SQLContext(rows=sl.from_generator(chunk, max_rows_per_second=CHUNKS * ROWS / 3))
    ctx.execute(
        "CREATE TABLE totals (k BIGINT, n BIGINT, total BIGINT, PRIMARY KEY (k) NOT ENFORCED) "
        f"WITH ('connector' = 'filesystem', 'path' = '{tmp_path / 'totals'}', "
        "'format' = 'parquet');"
        "CREATE TABLE appended (k BIGINT, n BIGINT, total BIGINT) "
        f"WITH ('connector' = 'filesystem', 'path' = '{tmp_path / 'appended'}', "
        "'format' = 'parquet')"
    )
    query = "SELECT k, COUNT(*), SUM(x) FROM rows GROUP BY k"
    with pytest.raises(sl.PlanError, match=r"PRIMARY KEY \(k\) NOT ENFORCED"):
        ctx.execute(f"INSERT INTO appended {query}", cluster=two_agents)
    job = ctx.execute(f"INSERT INTO totals {query}", cluster=two_agents, checkpoint_interval=0.2)
    assert isinstance(job, sl.Job)
    assert job.wait(timeout=120) == "FINISHED"
    written = pq.read_table(tmp_path / "totals")  # the directory: its one snapshot file
    reference = [row[:3] for row in expected()]
    assert rows_of(written) == reference
    assert rows_of(ctx.execute("SELECT * FROM totals").collect()) == reference


def test_an_aggregate_of_running_totals_survives_an_agent_kill_on_two_agents(
    two_agents: sl.LocalCluster, tmp_path: Path
) -> None:
    """Nexmark q4's shape (an aggregate of a running aggregate's updates) with checkpoints:
    an agent killed after the first one, the restored attempt's snapshot still equals
    DuckDB's."""
    paced = sl.from_generator(updates.chunk, max_rows_per_second=updates.CHUNKS * 300 / 3)
    path = tmp_path / "per_group.parquet"
    job = updates.per_group(paced).submit(
        two_agents, partitions=2, checkpoint_interval=0.2, sink=sl.ParquetSnapshotSink(path)
    )
    wait_for(lambda: any(c["state"] == "COMPLETE" for c in job.checkpoints()), timeout=60)
    kill_an_agent_running(job, two_agents)
    job.result(timeout=180)
    assert job.metrics()["attempts"] == 2
    two_agents.scale(2)
    expected = duckdb_table(updates.PER_GROUP, t=updates.everything())
    assert_same_rows(pq.read_table(path), expected)
