"""Placement on a real LocalCluster uses free slots only: a bounded job submitted behind an
unbounded one runs on the slots the unbounded job left free, and a job that finds none says
in its status what it waits for. Results are checked against DuckDB."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.errors import ClusterError
from tests.support.polling import wait_for
from tests.support.reference import assert_same_rows, duckdb_table


@pytest.fixture(scope="module")
def cluster(module_database_url: str | None) -> Iterator[sl.LocalCluster]:
    with sl.LocalCluster(
        agents=2, slots=2, heartbeat_interval=0.3, database_url=module_database_url
    ) as c:
        yield c


def endless(cluster: sl.LocalCluster, partitions: int, grouped: bool = False) -> sl.Job:
    """An unbounded job of a slow feed (its rows stay few): its tasks hold a slot each for as
    long as it runs (grouped, on 2 partitions: 3 of its 4 tasks, one source partition ends at
    once)."""
    feed = sl.from_generator(lambda i: {"k": [i % 5], "x": [i]}, max_rows_per_second=20)
    if grouped:
        stream = feed.group_by("k").agg(sl.col("x").count().alias("n"))
    else:
        stream = feed.filter(sl.col("x") >= 0)
    return stream.submit(cluster, partitions=partitions)


def holding_three_slots(cluster: sl.LocalCluster) -> sl.Job:
    """An unbounded job holding 3 of the cluster's 4 slots: both of one agent's."""
    job = endless(cluster, partitions=2, grouped=True)
    wait_for(lambda: sorted(t["state"] for t in job.tasks()) == ["FINISHED", *["RUNNING"] * 3])
    return job


def running_tasks(job: sl.Job) -> list[dict[str, object]]:
    return [t for t in job.tasks() if t["state"] == "RUNNING"]


def test_a_bounded_job_behind_an_unbounded_one_runs_on_the_free_slots(
    cluster: sl.LocalCluster,
) -> None:
    unbounded = holding_three_slots(cluster)
    try:
        by_agent = [t["agent"] for t in running_tasks(unbounded)]
        full = max(set(by_agent), key=by_agent.count)
        table = pa.table({"k": [i % 7 for i in range(10_000)], "x": range(10_000)})
        counts = sl.from_arrow(table).group_by("k").agg(sl.col("x").sum().alias("total"))
        job = counts.submit(cluster, partitions=2)
        expected = duckdb_table("SELECT k, SUM(x) AS total FROM t GROUP BY k", t=table)
        assert_same_rows(job.result(timeout=120), expected)
        assert full not in {t["agent"] for t in job.tasks()}
    finally:
        unbounded.cancel()
    assert unbounded.wait(timeout=60) == "CANCELLED"


def test_a_job_without_free_slots_says_what_it_waits_for_and_runs_once_they_free(
    cluster: sl.LocalCluster,
) -> None:
    first = holding_three_slots(cluster)
    second = None
    try:
        second = endless(cluster, partitions=2)  # its 2 tasks must run at once: 1 slot is free
        wait_for(lambda: second.info()["waiting"] is not None, timeout=60)
        expected = (
            f"waiting for 2 free task slots: 1 of the agents' 4 is free, "
            f"the others run job {first.job_id} (3 tasks)"
        )
        assert second.info()["waiting"] == expected
        with pytest.raises(ClusterError, match=r"still .* after 0.5 s: waiting for 2 free task"):
            second.wait(timeout=0.5)
        first.cancel()
        # both tasks placed: one runs, the other (its source partition empty) ends at once
        started = ["FINISHED", "RUNNING"]
        wait_for(lambda: sorted(t["state"] for t in second.tasks()) == started, timeout=60)
        assert sorted(t["state"] for t in second.tasks()) == started
        assert second.info()["waiting"] is None and second.status() == "RUNNING"
    finally:
        first.cancel()
        if second is not None:
            second.cancel()
            assert second.wait(timeout=60) == "CANCELLED"


def test_a_task_still_stopping_after_its_job_ended_holds_its_slot(
    cluster: sl.LocalCluster, tmp_path: Path
) -> None:
    """A cancelled job's task in a long call of a user's function stops only once the call
    returns. Until then the JobManager counts its slot taken: a job that needs every slot
    waits, and says for what; then it runs."""
    started, release = tmp_path / "started", tmp_path / "release"

    def hold(batch: pa.RecordBatch) -> pa.RecordBatch:
        started.touch()
        while not release.exists():  # (a function that ignores the cancel)
            time.sleep(0.01)
        return batch

    feed = sl.from_generator(lambda i: {"x": [i]}, max_rows_per_second=20)
    held = feed.map_batches(hold, schema={"x": "int64"}).submit(cluster, partitions=1)
    second = None
    try:
        wait_for(started.exists, timeout=60)
        held.cancel()
        assert held.wait(timeout=60) == "CANCELLED"
        wait_for(lambda: sum(a.get("draining", 0) for a in cluster.agents()) == 1)
        second = endless(cluster, partitions=2, grouped=True)  # 4 tasks at once: every slot
        wait_for(lambda: second.info()["waiting"] is not None, timeout=60)
        assert second.info()["waiting"] == (
            "waiting for 4 free task slots: 3 of the agents' 4 are free, "
            "the others run 1 task of ended jobs, still stopping"
        )
        assert second.tasks() == []
    finally:
        release.touch()
    assert second is not None
    try:
        started_tasks = ["FINISHED", *["RUNNING"] * 3]
        wait_for(lambda: sorted(t["state"] for t in second.tasks()) == started_tasks, timeout=60)
        assert sorted(t["state"] for t in second.tasks()) == started_tasks
    finally:
        second.cancel()
        assert second.wait(timeout=60) == "CANCELLED"
