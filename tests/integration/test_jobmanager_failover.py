"""JobManager failover on one PostgreSQL database: the leader lease with its fencing epoch, a
standby that refuses calls and takes over (finishing the jobs of a leader killed mid-job,
exactly once), a deposed leader whose writes are refused, agents that refuse a deposed
leader's orders, clients and agents that follow the leader; SQLite keeps one JobManager."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.errors import ClusterError, NotLeaderError
from sabot_lab.runtime.agent import AgentServer
from sabot_lab.runtime.jobmanager.lease import LeaderLease
from sabot_lab.runtime.jobmanager.store import JobStore
from sabot_lab.runtime.jobmanager.tables import leader_lease
from sabot_lab.runtime.transport import ANONYMOUS, call
from tests.support.failover import FailoverCluster
from tests.support.polling import wait_for
from tests.support.postgres import PostgresServer, query
from tests.support.tcp_proxy import TcpProxy

N = 40_000


def slow_sums(table: pa.Table, delay: float) -> sl.Stream:
    """Sums by key of ``table``'s rows through a UDF that sleeps ``delay`` s a batch."""

    def pause(batch: pa.RecordBatch) -> pa.RecordBatch:
        time.sleep(delay)
        return batch

    return (
        sl.from_iterable(table.to_batches(max_chunksize=1_000), schema=table.schema)
        .map_batches(pause, schema=table.schema)
        .group_by("k")
        .agg(total=sl.col("x").sum(), n=sl.count())
    )


def rows_of(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(zip(*(table.column(c).to_pylist() for c in ("k", "total", "n")), strict=True))


@pytest.fixture(scope="module")
def data() -> tuple[pa.Table, list[tuple[Any, ...]]]:
    """The rows, and their sums by key as DuckDB computes them."""
    rows = pa.table({"k": [i % 89 for i in range(N)], "x": [i * 7 % 1_000 for i in range(N)]})
    expected = duckdb.sql("SELECT k, sum(x) AS total, count(*) AS n FROM rows GROUP BY k")
    return rows, sorted(expected.fetchall())


class LeaseWatch:
    """Samples the lease row and the JobManagers' roles over a test: each epoch had one
    holder, epochs only grew, and no sample saw two JobManagers say they lead."""

    def __init__(self, url: str, cluster: FailoverCluster) -> None:
        self.url, self.cluster = url, cluster
        self.holders: dict[int, set[str]] = {}
        self.epochs: list[int] = []
        self.most_leaders = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for holder, epoch in query(self.url, "SELECT holder, epoch FROM sabot.leader_lease"):
                self.holders.setdefault(int(epoch), set()).add(str(holder))  # type: ignore[call-overload]
                self.epochs.append(int(epoch))  # type: ignore[call-overload]
            self.most_leaders = max(self.most_leaders, len(self.cluster.leaders()))
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        assert self.epochs == sorted(self.epochs)
        assert all(len(h) == 1 for h in self.holders.values()), self.holders
        assert self.most_leaders <= 1


@pytest.fixture
def database(postgres_server: PostgresServer) -> str:
    return postgres_server.new_database()


@pytest.fixture
def cluster(tmp_path: Path, database: str) -> Iterator[FailoverCluster]:
    with FailoverCluster(tmp_path, database) as c:
        wait_for(lambda: len(c.leaders()) == 1, timeout=60)
        yield c


def health(cluster: FailoverCluster, n: int) -> tuple[int, dict[str, Any]]:
    http = cluster.ping(n)
    assert http is not None
    try:
        with urllib.request.urlopen(http["http"] + "/health") as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.mark.slow
def test_a_standby_refuses_calls_and_takes_over_a_job_from_a_killed_leader(
    cluster: FailoverCluster, database: str, data: tuple[pa.Table, list[tuple[Any, ...]]]
) -> None:
    table, expected = data
    leader = cluster.leaders()[0]
    standby = 1 - leader
    assert health(cluster, leader)[0] == 200 and health(cluster, leader)[1]["role"] == "leader"
    status, said = health(cluster, standby)
    assert (status, said["role"], said["leader"]) == (503, "standby", cluster.uris[leader])
    with pytest.raises(
        NotLeaderError,
        match=re.escape(f"standby, not the leader: the leader is {cluster.uris[leader]}"),
    ):
        sl.connect(cluster.uris[standby], token=cluster.submit_token).jobs()

    watch = LeaseWatch(database, cluster)
    client = cluster.connect()
    job = slow_sums(table, delay=0.05).submit(client, partitions=2)
    wait_for(lambda: job.status() == "RUNNING", timeout=60)
    wait_for(lambda: any(t["state"] == "RUNNING" for t in job.tasks()), timeout=60)
    killed = time.monotonic()
    cluster.signal(f"jm-{leader}", signal.SIGKILL)

    assert rows_of(job.result(timeout=180)) == expected  # the same handle, across the takeover
    assert client.uri == cluster.uris[standby]
    watch.stop()
    assert cluster.leaders() == [standby]
    assert sorted(watch.holders) == [1, 2]
    assert time.monotonic() - killed < 120
    jobs = client.jobs()
    assert [(j["job_id"], j["state"]) for j in jobs] == [(job.job_id, "FINISHED")]
    finished = [(t["stage"], t["partition"]) for t in job.tasks() if t["state"] == "FINISHED"]
    assert len(finished) == len(set(finished))  # each task finished once
    took_over = time.time() - (time.monotonic() - killed)
    wait_for(lambda: all(a["last_heartbeat"] > took_over for a in client.agents()), timeout=60)
    assert {a["state"] for a in client.agents()} == {"ACTIVE"}  # the agents follow the leader
    again = slow_sums(table, delay=0).submit(client)  # the new leader takes submissions
    assert rows_of(again.result(timeout=120)) == expected


@pytest.mark.slow
def test_a_leader_stopped_until_deposed_writes_nothing_once_it_wakes(
    cluster: FailoverCluster, database: str, data: tuple[pa.Table, list[tuple[Any, ...]]]
) -> None:
    table, expected = data
    leader = cluster.leaders()[0]
    standby = 1 - leader
    client = cluster.connect()
    job = slow_sums(table, delay=0.05).submit(client, partitions=2)
    wait_for(lambda: any(t["state"] == "RUNNING" for t in job.tasks()), timeout=60)
    cluster.signal(f"jm-{leader}", signal.SIGSTOP)  # frozen mid-job: its lease runs out
    wait_for(lambda: cluster.leaders() == [standby], timeout=60)
    assert rows_of(job.result(timeout=180)) == expected
    rows = "SELECT * FROM sabot.{} ORDER BY 1"
    before = {t: query(database, rows.format(t)) for t in ("jobs", "tasks", "checkpoints")}

    cluster.signal(f"jm-{leader}", signal.SIGCONT)  # it wakes believing it leads
    process = cluster.processes[f"jm-{leader}"]
    assert process.wait(timeout=60) != 0  # it stepped down and stopped
    assert "stepped down as the cluster's leader" in cluster.stderr(f"jm-{leader}")
    after = {t: query(database, rows.format(t)) for t in ("jobs", "tasks", "checkpoints")}
    assert after == before  # no write of the deposed leader
    assert query(database, "SELECT epoch FROM sabot.leader_lease") == [(2,)]
    assert rows_of(client.job(job.job_id).result(timeout=60)) == expected


@pytest.mark.slow
def test_a_leader_cut_off_from_the_database_steps_down_before_its_lease_expires(
    tmp_path: Path, database: str, data: tuple[pa.Table, list[tuple[Any, ...]]]
) -> None:
    table, expected = data
    address = database.split("@", 1)[1].split("/", 1)[0]
    proxy = TcpProxy(address)
    through = database.replace(address, f"127.0.0.1:{proxy.port}")
    try:
        with FailoverCluster(tmp_path, database, first_url=through) as cluster:
            assert cluster.leaders() == [0]
            client = cluster.connect()
            job = slow_sums(table, delay=0.05).submit(client, partitions=2)
            wait_for(lambda: any(t["state"] == "RUNNING" for t in job.tasks()), timeout=60)
            proxy.cut(600)  # jm-0 loses the database; jm-1 still reaches it
            wait_for(lambda: "stepped down" in cluster.stderr("jm-0"), timeout=60)
            stepped_down = time.time()
            assert "leader lease" in cluster.stderr("jm-0")
            assert rows_of(job.result(timeout=180)) == expected
            assert cluster.leaders() == [1]
            ((epoch, acquired),) = query(
                database, "SELECT epoch, acquired_at FROM sabot.leader_lease"
            )
            assert epoch == 2 and acquired.timestamp() > stepped_down - 0.5  # type: ignore[attr-defined]
            assert cluster.processes["jm-0"].wait(timeout=60) != 0
    finally:
        proxy.close()


def test_the_store_refuses_a_deposed_leaders_deciding_writes(database: str) -> None:
    first = JobStore(database)
    old = LeaderLease(first.engine, "jm-old", "grpc://127.0.0.1:1", ttl=30)
    assert old.acquire() == 1
    first.fence = old.fence
    assert first.create_job("j1", "q", state="SCHEDULED")
    first.set_job_state("j1", "RUNNING")
    first.add_checkpoint("j1", 1, "/c/chk-1")

    second = JobStore(database)
    new = LeaderLease(second.engine, "jm-new", "grpc://127.0.0.1:2", ttl=30)
    assert new.acquire() is None  # the lease has not expired
    with first.engine.begin() as conn:  # as if the old leader stopped renewing long ago
        conn.execute(leader_lease.update().values(expires_at=time.time() - 1))
    assert new.acquire() == 2
    second.fence = new.fence

    for write in (
        lambda: first.set_job_state("j1", "FAILED", "deposed"),
        lambda: first.complete_checkpoint("j1", 1, 10),
        lambda: first.add_tasks("j1", 0, 0, {0: ("j1/0.0/0", "grpc://a:1")}),
        lambda: first.create_job("j2", "q"),
    ):
        with pytest.raises(NotLeaderError, match=re.escape("the leader is grpc://127.0.0.1:2")):
            write()
    assert not old.renew()
    assert first.job("j1")["state"] == "RUNNING"
    assert [c["state"] for c in first.checkpoints("j1")] == ["PENDING"]
    assert first.tasks("j1") == [] and [j["job_id"] for j in first.jobs()] == ["j1"]
    second.set_job_state("j1", "FINISHED")  # the leader's write goes through
    assert first.job("j1")["state"] == "FINISHED"
    assert new.renew() and new.current()["holder"] == "jm-new"


def test_a_leader_cut_off_inside_a_deciding_write_does_not_stop_the_takeover(
    database: str,
) -> None:
    """The network drops the leader's frames just after its write locked the lease row: the
    server keeps its session (nothing tells it the client is gone) until the idle limit ends
    it and frees the row; the standby then takes the lease."""
    old_config = sl.get_config()
    sl.set_config(old_config.replace(lease_ttl=1.0, lease_renew_interval=0.5))
    address = database.split("@", 1)[1].split("/", 1)[0]
    proxy = TcpProxy(address)
    try:
        first = JobStore(database.replace(address, f"127.0.0.1:{proxy.port}"))
        old = LeaderLease(first.engine, "jm-old", "grpc://127.0.0.1:1", ttl=1.0)
        assert old.acquire() == 1
        held = first.engine.connect()
        held.begin()
        old.fence(held)  # the row locked shared, the write not sent yet
        proxy.silence()
        new = LeaderLease(JobStore(database).engine, "jm-new", "grpc://127.0.0.1:2", ttl=1.0)
        wait_for(lambda: not new.current()["valid"], timeout=60)  # the old lease expired
        taken: list[int | None] = []
        taking = threading.Thread(target=lambda: taken.append(new.acquire()), daemon=True)
        taking.start()  # its update waits for the row
        taking.join(timeout=120)
        assert taken == [2], "the cut-off leader's session still holds the lease row"
        assert new.current()["holder"] == "jm-new"
        proxy.close()
        held.invalidate()
    finally:
        sl.set_config(old_config)
        proxy.close()


def test_a_takeover_that_waited_for_the_lease_row_gets_a_whole_lease(database: str) -> None:
    """A standby's update of the lease row waits while a frozen leader's deciding write holds
    the row; once it is freed, the lease taken runs its whole ``ttl`` from then, by the
    database's clock and by the new leader's own count (run from the transaction's start, a
    wait of a ``ttl`` left it a lease expired on arrival, and it stepped down at once)."""
    store = JobStore(database)
    old = LeaderLease(store.engine, "jm-old", "grpc://127.0.0.1:1", ttl=30)
    assert old.acquire() == 1
    with store.engine.begin() as conn:  # as if the old leader stopped renewing long ago
        conn.execute(leader_lease.update().values(expires_at=time.time() - 1))
    held = store.engine.connect()
    held.begin()
    old.fence(held)  # frozen inside a deciding write: the row locked shared
    ttl = 2.0
    new = LeaderLease(JobStore(database).engine, "jm-new", "grpc://127.0.0.1:2", ttl=ttl)
    taken: list[int | None] = []
    taking = threading.Thread(target=lambda: taken.append(new.acquire()), daemon=True)
    taking.start()
    waiting = (
        "SELECT coalesce(max(extract(epoch FROM clock_timestamp() - query_start)), 0) "
        "FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    )
    wait_for(lambda: float(query(database, waiting)[0][0]) > ttl, timeout=60)
    held.rollback()  # the server ended the frozen leader's session
    held.close()
    taking.join(timeout=60)
    assert taken == [2]
    assert new.current()["valid"]
    assert not new.expiring(renew_interval=0.5)


def test_an_agent_refuses_orders_of_an_epoch_older_than_it_saw() -> None:
    agent = AgentServer(insecure=True)
    threading.Thread(target=agent.serve, daemon=True).start()
    try:
        task = {"task_id": "j1/0.0/0"}
        assert call(agent.uri, "cancel", {**task, "epoch": 2}, ANONYMOUS)["known"] is False
        with pytest.raises(
            ClusterError, match="refuses an order of epoch 1: a JobManager leads at epoch 2"
        ):
            call(agent.uri, "cancel", {**task, "epoch": 1}, ANONYMOUS)
        with pytest.raises(ClusterError, match="refuses an order of epoch 1"):
            call(agent.uri, "drop_job", {"job_id": "j1", "epoch": 1}, ANONYMOUS)
        assert call(agent.uri, "cancel", {**task, "epoch": 3}, ANONYMOUS)["known"] is False
        assert agent.epoch == 3
        assert call(agent.uri, "cancel", task, ANONYMOUS)["known"] is False  # SQLite: no epoch
    finally:
        agent.shutdown()


def test_a_second_jobmanager_on_the_same_sqlite_files_is_refused(tmp_path: Path) -> None:
    with sl.LocalCluster(agents=1, workdir=tmp_path) as running:
        second = subprocess.run(
            [sys.executable, "-m", "sabot_lab.cli", "jobmanager", "--workdir", str(tmp_path),
             "--insecure"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert second.returncode != 0
        assert "another JobManager (pid" in second.stderr
        assert "one PostgreSQL database" in second.stderr
        assert sl.from_pydict({"x": [1, 2]}).submit(running).result(timeout=60).num_rows == 2


def test_a_submit_retried_at_the_next_address_after_no_reply_is_one_job() -> None:
    # the first address takes the request to the JobManager and swallows its reply, as a
    # leader that froze after accepting would: the client tries the next address, with the
    # same job id, so the job is not submitted twice
    with sl.LocalCluster(agents=1) as cluster:
        proxy = TcpProxy(cluster.uri.removeprefix("grpc://"))
        try:
            client = sl.connect([f"grpc://127.0.0.1:{proxy.port}", cluster.uri], cluster.token)
            proxy.mute()
            job = sl.from_pydict({"x": list(range(10))}).submit(client, name="once")
            assert job.result().column("x").to_pylist() == list(range(10))
            assert [j["job_id"] for j in cluster.jobs() if j["name"] == "once"] == [job.job_id]
        finally:
            proxy.close()
