"""Unbounded jobs on agents: every stage runs at once, exchanges stream rows and watermarks
between agent processes, windows close as the watermark passes, and the rows equal DuckDB's
over the same events."""

from __future__ import annotations

import json
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.examples.nexmark_queries import DUCKDB_SQL, QUERIES
from sabot_lab.physical import plan_stages
from tests.support.polling import wait_for
from tests.support.postgres import PostgresServer, query
from tests.support.reference import timed_rows

RATE = 10_000  # events per second of event time
PREFIX = 1_500_000  # events the reference covers: 150 s of event time


@pytest.fixture(scope="module")
def cluster(module_database_url: str | None) -> Iterator[sl.LocalCluster]:
    with sl.LocalCluster(
        agents=2,
        slots=6,
        heartbeat_timeout=5,
        heartbeat_interval=0.3,
        database_url=module_database_url,
    ) as c:
        yield c


@pytest.fixture(scope="module")
def reference() -> duckdb.DuckDBPyConnection:
    """The first :data:`PREFIX` events, for DuckDB's answers."""
    gen = sl.nexmark(events=PREFIX, event_rate=RATE, seed=9)
    con = duckdb.connect()
    for kind in ("persons", "auctions", "bids"):
        table = getattr(gen, kind).collect()
        con.register(kind, table.append_column("ms", table["dateTime"].cast(pa.int64())))
    return con


@pytest.mark.parametrize(("name", "rows"), [("q5", 30), ("q11", 300)])
def test_unbounded_windowed_queries_on_agents_emit_the_rows_duckdb_computes(
    cluster: sl.LocalCluster, reference: duckdb.DuckDBPyConnection, name: str, rows: int
) -> None:
    stream = QUERIES[name](sl.nexmark(events=None, event_rate=RATE, seed=9)).head(rows)
    assert not plan_stages(stream.optimize().graph, 2).bounded
    job = stream.submit(cluster, name=f"unbounded {name}", partitions=2)
    result = job.result(timeout=120)
    assert result.num_rows == rows
    # every window emitted had closed: its rows are DuckDB's over a prefix holding it whole
    ends = result["window_end"].cast(pa.int64()).to_pylist()
    first = reference.execute("SELECT min(ms) FROM bids").fetchall()[0][0]
    assert max(ends) <= first + PREFIX // RATE * 1000 - 10_000
    expected = set(timed_rows(reference.sql(DUCKDB_SQL[name]).to_arrow_table()))
    assert set(timed_rows(result)) <= expected
    tasks = job.tasks()
    assert {t["stage"] for t in tasks} == set(range(len({t["stage"] for t in tasks})))
    assert len({t["agent"] for t in tasks}) == 2  # the stages ran on both agents at once
    assert {t["state"] for t in tasks} <= {"FINISHED", "CANCELLED"}


def test_an_endless_job_runs_until_cancelled_and_all_its_tasks_stop(
    cluster: sl.LocalCluster,
) -> None:
    counts = QUERIES["q5"](sl.nexmark(events=None, event_rate=RATE, seed=3))
    job = counts.submit(cluster, name="endless q5", partitions=2)
    wait_for(lambda: job.metrics()["rows_in"] > 500_000, timeout=60)
    assert job.status() == "RUNNING"
    assert job.metrics()["rows_in"] > 500_000  # rows stream between the stages
    assert job.cancel() == "CANCELLED"
    assert job.wait(timeout=30) == "CANCELLED"

    def idle() -> bool:
        return all(a["running"] == 0 for a in cluster.agents())

    wait_for(idle, timeout=30)
    assert idle()


def test_an_unbounded_job_wider_than_the_slots_is_refused_with_the_reason(
    cluster: sl.LocalCluster,
) -> None:
    stream = QUERIES["q11"](sl.nexmark(events=None, seed=3)).head(5)
    job = stream.submit(cluster, partitions=8)
    assert job.wait(timeout=60) == "FAILED"
    assert "runs all its 17 tasks at once, and the agents have 12 slots" in job.info()["error"]
    # without partitions the JobManager takes the widest plan that fits
    assert stream.submit(cluster).result(timeout=120).num_rows == 5


def test_an_unbounded_job_takes_checkpoints_every_task_has_a_part_of(
    cluster: sl.LocalCluster,
) -> None:
    job = QUERIES["q5"](sl.nexmark(events=None, event_rate=RATE, seed=3)).submit(
        cluster, name="checkpointed q5", partitions=2, checkpoint_interval=0.3
    )

    def complete() -> list[dict[str, object]]:
        return [c for c in job.checkpoints() if c["state"] in ("COMPLETE", "DISCARDED")]

    wait_for(lambda: len(complete()) >= 5, timeout=60)
    assert job.status() == "RUNNING"
    assert job.cancel() == "CANCELLED"  # its checkpoints stay
    done = complete()
    assert [c["checkpoint_id"] for c in done] == list(range(1, len(done) + 1))
    # the last three are kept; older ones are removed
    discarded = [c for c in done if c["state"] == "DISCARDED"]
    assert len(discarded) >= 2 and not any(Path(str(c["location"])).exists() for c in discarded)
    done = [c for c in done if c["state"] == "COMPLETE"]
    assert len(done) == 3  # (the trigger discards as it completes one)
    assert all(Path(str(c["location"])).exists() for c in done)
    figures = job.metrics()["checkpoints"]
    assert figures["completed"] >= 5 and figures["last"] == done[-1]["checkpoint_id"]
    assert figures["last_bytes"] > 0 and 0 < figures["last_duration_s"] < 30
    base = cluster.dashboard_link.split("/login?")[0]
    request = urllib.request.Request(
        f"{base}/metrics", headers={"Authorization": f"Bearer {cluster.token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        text = reply.read().decode()
    assert f'sabot_checkpoint_last_bytes{{job="{job.job_id}"}} {figures["last_bytes"]}' in text
    location = Path(str(done[-1]["location"]))
    parts = {p.name for p in location.iterdir()}
    tasks = job.tasks()
    windows = [t for t in tasks if t["stage"] == 1]  # the counts per auction, 2 tasks
    assert len(windows) == 2
    for t in windows:  # each window task snapshot its state under its own name
        assert any(p.endswith(f"@1.{t['partition']}") and "window" in p for p in parts)
    # the source's position is the next Nexmark event number: further on each checkpoint
    positions = [
        json.loads(next(Path(str(c["location"])).glob("*source@0.0/value.json")).read_text())
        for c in done
    ]
    assert positions == sorted(positions) and positions[0] < positions[-1]


def test_an_agent_killed_mid_job_resumes_from_the_last_checkpoint_each_row_once(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    def hot_items(rows: int) -> sl.Stream:  # 400 K events per 2 s slide: a few seconds' work
        return QUERIES["q5"](sl.nexmark(events=None, event_rate=200_000, seed=9)).head(rows)

    with sl.LocalCluster(
        agents=2, slots=8, workdir=tmp_path, heartbeat_timeout=2, heartbeat_interval=0.2
    ) as c:
        url = postgres_server.new_database()
        sink = sl.PostgresSink(url, "hot_items", key=["auction", "window_start"])
        job = hot_items(40).submit(
            c, name="q5, crashed", partitions=2, checkpoint_interval=0.2, sink=sink
        )
        wait_for(lambda: any(x["state"] == "COMPLETE" for x in job.checkpoints()), timeout=60)
        c.agent_processes[1].send_signal(signal.SIGKILL)  # with the rows since the checkpoint
        result = job.result(timeout=180)
        assert job.metrics()["attempts"] == 2
        restored = [t for t in job.tasks() if t["attempt"] == 1]
        assert restored and all(t["agent"] != c.agent_uris[1] for t in restored)
    # the windows before the last one the job emitted are whole: they equal an uninterrupted
    # in-process run's, each row once
    assert result.num_rows == 40
    last = max(result["window_end"].to_pylist())
    expected = hot_items(200).filter(sl.col("window_end") < last).collect()
    mine = result.filter(
        pa.compute.less(result["window_end"], pa.scalar(last, result["window_end"].type))
    )
    assert timed_rows(mine) == timed_rows(expected)
    assert mine.num_rows > 20
    # the PostgreSQL sink got the same rows, in one transaction per checkpoint
    stored = query(url, "SELECT auction, num, window_start, window_end FROM hot_items")
    assert sorted(stored) == sorted(tuple(r.values()) for r in result.to_pylist())
    commits = query(url, "SELECT commit_id, rows FROM sabot_commits ORDER BY commit_id")
    assert len(commits) >= 2 and sum(n for _, n in commits) == 40  # type: ignore[misc]
