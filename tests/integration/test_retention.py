"""What a cluster keeps of ended jobs, on a real LocalCluster (SQLite, DBOS, agent processes):
a deleted job leaves no file, row or workflow behind and is then unknown; ended jobs go by
themselves after ``result_ttl``; agents drop a job's rows at every end; spill files live under
the agents' work directory, capped, and those of a dead agent go when the next one starts;
listings are pages."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.cli import EXIT_CODES, main
from sabot_lab.errors import ClusterError, JobNotFoundError
from sabot_lab.examples.nexmark_queries import QUERIES
from sabot_lab.runtime.agent.store import ShuffleStore
from sabot_lab.runtime.transport import call
from tests.support.polling import wait_for

TABLE = pa.table({"s": [f"g{i % 5}" for i in range(20_000)], "x": list(range(20_000))})
TOTALS = {f"g{k}": sum(range(k, 20_000, 5)) for k in range(5)}


def grouped() -> sl.Stream:
    """A job with a shuffle (its rows spill on agents without shuffle memory)."""
    return sl.from_arrow(TABLE).group_by("s").agg(total=col("x").sum())


def totals(result: pa.Table) -> dict[str, int]:
    return dict(zip(result["s"].to_pylist(), result["total"].to_pylist(), strict=True))


@pytest.fixture(scope="module")
def cluster() -> Iterator[sl.LocalCluster]:
    """Agents keep no shuffle rows in memory: every shuffle spills."""
    with sl.LocalCluster(
        agents=2, slots=2, heartbeat_interval=0.3, agent_args=["--shuffle-memory", "0"]
    ) as c:
        yield c


def rows(cluster: sl.LocalCluster, job_id: str) -> dict[str, int]:
    """The rows of a job in the JobManager's tables and in DBOS's."""
    counts = {}
    with sqlite3.connect(cluster.workdir / "jobs.sqlite") as db:
        for table in ("jobs", "tasks", "checkpoints"):
            query = f"SELECT count(*) FROM {table} WHERE job_id = ?"
            counts[table] = db.execute(query, (job_id,)).fetchone()[0]
    with sqlite3.connect(cluster.workdir / "dbos.sqlite") as db:
        query = "SELECT count(*) FROM workflow_status WHERE workflow_uuid = ?"
        counts["workflows"] = db.execute(query, (job_id,)).fetchone()[0]
    return counts


def files_of(cluster: sl.LocalCluster, job_id: str) -> list[Path]:
    return [p for p in cluster.workdir.rglob("*") if job_id in str(p.relative_to(cluster.workdir))]


def agent_status(cluster: sl.LocalCluster) -> list[dict[str, Any]]:
    return [call(uri, "status", None, cluster.cluster_auth) for uri in cluster.agent_uris]


def agents_hold(cluster: sl.LocalCluster, job_id: str) -> bool:
    """Whether an agent still has a task record or spill bytes of the job."""
    statuses = agent_status(cluster)
    tasks = any(t["task_id"].startswith(f"{job_id}/") for s in statuses for t in s["tasks"])
    return tasks or any(s["spill_bytes"] for s in statuses)


def test_a_deleted_job_leaves_nothing_behind_and_is_then_unknown(
    cluster: sl.LocalCluster,
) -> None:
    job = grouped().submit(cluster, partitions=2)
    assert totals(job.result(timeout=120)) == TOTALS
    assert (cluster.workdir / "results" / f"{job.job_id}.arrow").exists()
    # two tasks read and group, one merges the five groups
    assert rows(cluster, job.job_id) == {"jobs": 1, "tasks": 3, "checkpoints": 0, "workflows": 1}
    with sqlite3.connect(cluster.workdir / "jobs.sqlite") as db:
        db.row_factory = sqlite3.Row
        row = dict(db.execute("SELECT * FROM jobs WHERE job_id = ?", (job.job_id,)).fetchone())
    assert "plan" not in row and row["physical"] is None  # the plan is the workflow's input
    assert row["planned_tasks"] == 3 and row["bounded"] == 1
    assert job.info()["planned_tasks"] == 3 and job.info()["bounded"] is True
    job.delete()
    assert files_of(cluster, job.job_id) == []
    assert rows(cluster, job.job_id) == {"jobs": 0, "tasks": 0, "checkpoints": 0, "workflows": 0}
    with pytest.raises(ClusterError, match="deleted"):
        job.info()
    with pytest.raises(ClusterError, match="deleted"):
        cluster.job(job.job_id)
    with pytest.raises(ClusterError, match="deleted"):
        job.delete()
    assert job.job_id not in [j["job_id"] for j in cluster.jobs()]


def test_a_running_job_is_deleted_only_once_cancelled_and_its_agents_drop_it(
    cluster: sl.LocalCluster,
) -> None:
    endless = QUERIES["q5"](sl.nexmark(events=None, event_rate=10_000, seed=3))
    job = endless.submit(cluster, partitions=1)
    wait_for(lambda: job.status() == "RUNNING", timeout=60)
    with pytest.raises(ClusterError, match="cancel it first"):
        job.delete()
    assert job.cancel() == "CANCELLED"
    wait_for(lambda: not agents_hold(cluster, job.job_id), timeout=60)
    assert not agents_hold(cluster, job.job_id)
    asyncio.run(job.delete_async())
    assert rows(cluster, job.job_id)["jobs"] == 0


def test_a_failed_job_leaves_no_task_record_or_spill_file_on_its_agents(
    cluster: sl.LocalCluster,
) -> None:
    def explode(batch: pa.RecordBatch) -> pa.RecordBatch:
        raise ValueError("bad total")

    failing = grouped().map_batches(explode, schema={"s": "string", "total": "int64"})
    job = failing.submit(cluster, partitions=2)
    assert job.wait(timeout=120) == "FAILED"
    assert "bad total" in job.info()["error"]
    wait_for(lambda: not agents_hold(cluster, job.job_id), timeout=60)
    assert not agents_hold(cluster, job.job_id)
    spills = [p for p in (cluster.workdir / "agents" / "spill").rglob("*.arrows")]
    assert spills == []


def test_a_checkpointed_job_keeps_its_result_once_and_no_checkpoint_when_finished(
    cluster: sl.LocalCluster,
) -> None:
    def slow(batch: pa.RecordBatch) -> pa.RecordBatch:
        time.sleep(0.02)
        return batch

    stream = sl.from_iterable(TABLE.to_batches(max_chunksize=200), schema=TABLE.schema)
    job = stream.map_batches(slow, schema=TABLE.schema).submit(
        cluster, partitions=1, checkpoint_interval=0.1
    )
    result = job.result(timeout=120)
    assert result.num_rows == TABLE.num_rows
    assert sorted(result["x"].to_pylist()) == TABLE["x"].to_pylist()
    assert any(c["state"] == "COMPLETE" for c in job.checkpoints())  # it took some
    assert not (cluster.workdir / "checkpoints" / job.job_id).exists()
    assert not (cluster.workdir / "results" / job.job_id).exists()  # no second copy
    assert (cluster.workdir / "results" / f"{job.job_id}.arrow").exists()


def test_job_listings_are_pages_newest_first(cluster: sl.LocalCluster) -> None:
    for _ in range(3):
        sl.from_pydict({"x": [1]}).submit(cluster).wait(timeout=60)
    every = [j["job_id"] for j in cluster.jobs(limit=1000)]
    first = [j["job_id"] for j in cluster.jobs(limit=2)]
    second = [j["job_id"] for j in cluster.jobs(limit=2, before=first[-1])]
    assert first + second == every[:4]
    created = [j["created_at"] for j in cluster.jobs()]
    assert created == sorted(created, reverse=True)
    with pytest.raises(ClusterError, match="limit must be 1 to 1000"):
        call(cluster.uri, "jobs", {"limit": -1}, cluster.auth)


def test_the_jobs_command_deletes_jobs(
    cluster: sl.LocalCluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SABOT_TOKEN", cluster.token or "")
    first, second = (sl.from_pydict({"x": [n]}).submit(cluster) for n in (1, 2))
    first.wait(timeout=60), second.wait(timeout=60)
    main(["jobs", "--jobmanager", cluster.uri, "--delete", first.job_id])
    out = capsys.readouterr().out
    assert f"{first.job_id}: deleted" in out and f"{second.job_id} " in out
    assert first.job_id not in out.split("deleted", 1)[1]
    main(["jobs", "--jobmanager", cluster.uri, "--delete-ended-before", "0s", "--limit", "5"])
    out = capsys.readouterr().out
    assert second.job_id not in out.split("deleted", 1)[1]
    assert rows(cluster, second.job_id)["jobs"] == 0
    code = main(["jobs", "--jobmanager", cluster.uri, "--delete", first.job_id])
    assert code == EXIT_CODES[JobNotFoundError]
    assert "deleted" in capsys.readouterr().err


def test_ended_jobs_are_deleted_after_the_result_ttl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SABOT_RESULT_TTL", "2")
    monkeypatch.setenv("SABOT_RETENTION_INTERVAL", "0.1")
    with sl.LocalCluster(agents=1, slots=2, workdir=tmp_path, heartbeat_interval=0.3) as cluster:
        job = grouped().submit(cluster, partitions=2)
        assert totals(job.result(timeout=120)) == TOTALS  # kept meanwhile
        ended = time.time()

        def gone() -> bool:
            return job.job_id not in [j["job_id"] for j in cluster.jobs()]

        wait_for(gone, timeout=60)
        assert gone() and time.time() - ended > 1
        assert files_of(cluster, job.job_id) == []
        assert rows(cluster, job.job_id) == {
            "jobs": 0, "tasks": 0, "checkpoints": 0, "workflows": 0
        }  # fmt: skip
        with pytest.raises(ClusterError, match="deleted"):
            job.info()


def test_spill_files_are_capped_and_those_of_a_dead_agent_go_when_one_starts(
    tmp_path: Path,
) -> None:
    left = tmp_path / "agents" / "spill" / "999-left"  # an agent killed with SIGKILL
    left.mkdir(parents=True)
    (left / "0.arrows").write_bytes(b"rows" * 1000)
    left.with_suffix(".lock").write_text("")
    with sl.LocalCluster(
        agents=1,
        slots=2,
        workdir=tmp_path,
        agent_args=["--shuffle-memory", "0", "--spill-limit", "4KB"],
    ) as cluster:
        assert not left.exists() and not left.with_suffix(".lock").exists()
        by_row = sl.from_arrow(TABLE).group_by("x").agg(n=col("s").count())  # 20 K keys
        job = by_row.submit(cluster, partitions=2)
        assert job.wait(timeout=120) == "FAILED"
        error = job.info()["error"]
        assert "spill limit of 4,096 bytes" in error and "SABOT_SPILL_LIMIT" in error
        wait_for(lambda: not agents_hold(cluster, job.job_id), timeout=60)
        assert not agents_hold(cluster, job.job_id)
        assert list((tmp_path / "agents" / "spill").rglob("*.arrows")) == []


def test_a_store_starting_removes_the_spill_files_of_a_killed_one(tmp_path: Path) -> None:
    script = (
        "import sys, pyarrow as pa\n"
        "from sabot_lab.runtime.agent.store import ShuffleStore\n"
        "store = ShuffleStore(memory_limit=0, spill_root=sys.argv[1])\n"
        "store.put('j1', 'x1', 0, 'p0', pa.record_batch({'k': list(range(1000))}))\n"
        "print(store.spill_dir, flush=True)\n"
        "sys.stdin.read()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    killed = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert killed.stdout is not None
    spill_dir = Path(killed.stdout.readline().strip())
    live = ShuffleStore(memory_limit=0, spill_root=tmp_path)  # the killed one's is in use
    assert list(spill_dir.glob("*.arrows"))
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    live.close()
    assert spill_dir.exists()  # SIGKILL left it
    fresh = ShuffleStore(memory_limit=0, spill_root=tmp_path)
    mine = fresh.spill_dir.name
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine, f"{mine}.lock"]
    fresh.close()
    assert list(tmp_path.iterdir()) == []


def test_stores_starting_together_never_take_each_other_for_abandoned(tmp_path: Path) -> None:
    """Agents of one cluster start at the same time and share a spill root: none removes
    another's directory or fails to take its lock."""

    def start_and_spill(_: int) -> bool:
        store = ShuffleStore(memory_limit=0, spill_root=tmp_path)
        try:
            store.put("j1", "x1", 0, "p0", pa.record_batch({"k": [1, 2, 3]}))
            return list(store.spill_dir.glob("*.arrows")) != []
        finally:
            store.close()

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(start_and_spill, range(400)))
    assert list(tmp_path.iterdir()) == []
