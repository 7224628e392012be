"""A soak: 500 jobs through one LocalCluster (finished, failed and cancelled; some with
shuffles that spill, some with checkpoints). Once they are deleted, the work directory, the
tables and the agents hold what they held before, and the processes' memory grew a bounded
amount. The figures are printed (``pytest -s``); it takes about 30 s."""

from __future__ import annotations

import itertools
import sqlite3
import time
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.examples.nexmark_queries import QUERIES
from sabot_lab.runtime.transport import call
from tests.support.polling import wait_for

JOBS = 500
AT_ONCE = 8  # jobs in flight at a time
TABLE = pa.table({"s": [f"g{i % 50}" for i in range(5_000)], "x": list(range(5_000))})


def explode(batch: pa.RecordBatch) -> pa.RecordBatch:
    raise ValueError("a bad row")


def job_of(cluster: sl.LocalCluster, n: int) -> tuple[sl.Job, str]:
    """Job ``n`` of the mix, and the state it ends in."""
    grouped = sl.from_arrow(TABLE).group_by("s").agg(total=col("x").sum())
    kind = n % 10
    if kind < 6:  # a shuffle, spilled beyond the agents' small shuffle memory
        return grouped.submit(cluster, partitions=2), "FINISHED"
    if kind < 7:  # checkpoints and epochs of result rows
        stream = sl.from_iterable(TABLE.to_batches(max_chunksize=1_000), schema=TABLE.schema)
        return stream.submit(cluster, partitions=1, checkpoint_interval=0.05), "FINISHED"
    if kind < 9:  # its second stage fails, after the first one's shuffle
        failing = grouped.map_batches(explode, schema={"s": "string", "total": "int64"})
        return failing.submit(cluster, partitions=2), "FAILED"
    endless = QUERIES["q1"](sl.nexmark(events=None, event_rate=1_000, seed=n))
    job = endless.submit(cluster, partitions=1)
    wait_for(lambda: job.status() != "PENDING", timeout=60)  # recorded: it can be cancelled
    job.cancel()
    return job, "CANCELLED"


def measure(cluster: sl.LocalCluster) -> dict[str, Any]:
    """Disk (bytes and files of the work directory, logs apart), rows per table, and the
    processes' resident memory; what the agents hold."""
    files = [p for p in cluster.workdir.rglob("*") if p.is_file()]
    data = [p for p in files if p.suffix != ".log"]
    figures: dict[str, Any] = {
        "files": len(data),
        "bytes": sum(p.stat().st_size for p in data),
        "log_bytes": sum(p.stat().st_size for p in files if p.suffix == ".log"),
        "result_files": len(list((cluster.workdir / "results").rglob("*"))),
        "checkpoint_dirs": len(list((cluster.workdir / "checkpoints").glob("*"))),
        "spill_files": len(list((cluster.workdir / "agents").rglob("*.arrows"))),
    }
    with sqlite3.connect(cluster.workdir / "jobs.sqlite") as db:
        for table in ("jobs", "tasks", "checkpoints"):
            figures[f"rows.{table}"] = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    with sqlite3.connect(cluster.workdir / "dbos.sqlite") as db:
        for table in ("workflow_status", "operation_outputs"):
            figures[f"rows.dbos.{table}"] = db.execute(f"SELECT count(*) FROM {table}").fetchone()[
                0
            ]
    assert cluster.jobmanager_process is not None
    figures["rss.jobmanager"] = psutil.Process(cluster.jobmanager_process.pid).memory_info().rss
    for i, process in enumerate(cluster.agent_processes):
        figures[f"rss.agent{i}"] = psutil.Process(process.pid).memory_info().rss
    statuses = [call(uri, "status", None, cluster.cluster_auth) for uri in cluster.agent_uris]
    figures["agent_tasks"] = sum(len(s["tasks"]) for s in statuses)
    figures["agent_spill_bytes"] = sum(s["spill_bytes"] for s in statuses)
    figures["agent_shuffle_bytes"] = sum(s["shuffle_bytes"] for s in statuses)
    figures["agent_spilled_bytes"] = sum(s["spilled_bytes"] for s in statuses)  # ever
    return figures


def run_jobs(cluster: sl.LocalCluster, numbers: range) -> dict[str, int]:
    """Run the jobs ``numbers`` of the mix, :data:`AT_ONCE` at a time; how many ended in
    each state (each in the state its kind ends in)."""
    ended: dict[str, int] = {}
    batches = iter(numbers)
    while chunk := list(itertools.islice(batches, AT_ONCE)):
        submitted = [job_of(cluster, n) for n in chunk]
        for job, expected in submitted:
            state = job.wait(timeout=120)
            assert state == expected, (job.job_id, state, job.info()["error"])
            ended[state] = ended.get(state, 0) + 1
    return ended


def test_500_jobs_leave_the_cluster_as_the_retention_policy_says(tmp_path: Path) -> None:
    """Two rounds of 250 jobs, each deleted after it: the second round leaves the cluster as
    the first did."""
    half = JOBS // 2
    with sl.LocalCluster(
        agents=2,
        slots=3,
        workdir=tmp_path,
        heartbeat_interval=0.3,
        agent_args=["--shuffle-memory", "16KB"],
    ) as cluster:
        run_jobs(cluster, range(20))  # warm: every kind of job once, modules loaded
        cluster.delete_ended(0)
        figures, ended, deleted = {"before": measure(cluster)}, {}, []
        started = time.monotonic()
        for round in (1, 2):
            for state, n in run_jobs(
                cluster, range(20 + (round - 1) * half, 20 + round * half)
            ).items():
                ended[state] = ended.get(state, 0) + n
            figures[f"{round * half} ended"] = measure(cluster)
            deleted += cluster.delete_ended(0)
            figures[f"deleted ({round})"] = measure(cluster)
        took = time.monotonic() - started
    print(f"\nsoak: {JOBS} jobs, {ended}, run and deleted in {took:.0f} s")
    print(f"{'figure':<28}" + "".join(f"{column:>15}" for column in figures))
    for name in figures["before"]:
        print(f"{name:<28}" + "".join(f"{f[name]:>15,}" for f in figures.values()))
    before, first, after = figures["before"], figures["deleted (1)"], figures["deleted (2)"]
    assert ended == {"FINISHED": 350, "FAILED": 100, "CANCELLED": 50}
    assert len(deleted) == JOBS
    kept = figures[f"{half} ended"]
    assert kept["rows.jobs"] == half and kept["result_files"] >= 175  # kept until deleted
    assert kept["agent_spilled_bytes"] > before["agent_spilled_bytes"]  # shuffles spilled
    for name in (
        "result_files", "checkpoint_dirs", "spill_files", "rows.jobs", "rows.tasks",
        "rows.checkpoints", "rows.dbos.workflow_status", "rows.dbos.operation_outputs",
        "agent_tasks", "agent_spill_bytes", "agent_shuffle_bytes",
    ):  # fmt: skip
        assert after[name] == first[name] == before[name] == 0, name
    assert after["files"] <= before["files"] + 2  # (SQLite's write-ahead logs)
    assert after["bytes"] <= before["bytes"] + (16 << 20)  # (the databases give space back)
    for name in [n for n in before if n.startswith("rss.")]:
        assert after[name] <= before[name] * 1.5 + (100 << 20), name
        assert after[name] <= first[name] * 1.25 + (50 << 20), name  # no growth per round
