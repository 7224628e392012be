"""JobManager failover across hosts (network namespaces, see ``cluster/netns``): PostgreSQL on
``db`` (SSL only, SCRAM, run by the ``postgres`` user), two JobManagers in ``jm1`` and ``jm2``
on it with ``sslmode=verify-full``, three agents and a client given both addresses, every
process with mutual TLS (:mod:`.ha_cluster`). A leader killed mid-job: the standby finishes
the job once, equal to DuckDB. A leader cut off from the database (only its link to ``db``):
it steps down, ``jm2`` leads, and the lease rows show one writer per epoch, the old epoch's
writes refused."""

from __future__ import annotations

import json
import pwd
import re
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cluster.netns.host_certificates import make_certificates
from cluster.netns.postgres_host import SERVICE_USER
from sabot_lab.errors import NotLeaderError
from sabot_lab.runtime.jobmanager.lease import LeaderLease
from sabot_lab.runtime.jobmanager.store import JobStore
from tests.multihost.conftest import log_records
from tests.multihost.ha_cluster import HaCluster, HaHosts, ha_hosts
from tests.support.reference import assert_same_rows, duckdb_table

SQL = "SELECT name, SUM(x) AS total, COUNT(*) AS n FROM f JOIN d USING (k) GROUP BY name"


@pytest.fixture(scope="module")
def on(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HaHosts]:
    with ha_hosts(tmp_path_factory.mktemp("ha")) as made:
        yield made


@pytest.fixture
def cluster(on: HaHosts) -> Iterator[HaCluster]:
    """Two JobManagers (``jm1`` leads) and three agents on a database of their own."""
    made = on.deploy()
    yield made
    made.stop()
    on.hosts.heal("jm1")


@pytest.fixture(scope="module")
def data(on: HaHosts) -> tuple[Path, Path, pa.Table]:
    """Facts (with nulls) and dims in Parquet files every host reads; the expected sums."""
    n = 40_000
    facts = pa.table(
        {
            "k": [i * 7919 % 1_009 for i in range(n)],
            "x": [None if i % 11 == 0 else i % 997 for i in range(n)],
        }
    )
    dims = pa.table({"k": list(range(1_009)), "name": [f"n{k % 89}" for k in range(1_009)]})
    paths = on.root / "facts.parquet", on.root / "dims.parquet"
    pq.write_table(facts, paths[0], row_group_size=500)  # 80 slow batches (0.2 s each)
    pq.write_table(dims, paths[1])
    return paths[0], paths[1], duckdb_table(SQL, f=facts, d=dims)


def probe(on: HaHosts, host: str, url: str) -> str:
    """Connect from ``host`` to ``url``: ``ssl <user>`` or the error's first line."""
    code = (
        "import sys, psycopg\n"
        "try:\n"
        "    with psycopg.connect(sys.argv[1], connect_timeout=20) as c:\n"
        "        print('ssl' if c.pgconn.ssl_in_use else 'plain', c.execute("
        "'SELECT current_user').fetchone()[0])\n"
        "except psycopg.OperationalError as exc:\n"
        "    print(str(exc).strip().splitlines()[-1])\n"
    )
    done = on.hosts.run(host, [sys.executable, "-c", code, url], timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_postgresql_on_the_db_host_takes_ssl_with_scram_only(on: HaHosts) -> None:
    postgres, pki = on.postgres, on.pki
    url = postgres.url(pki.ca)
    assert url.startswith("postgresql://sabot:") and f"@{on.hosts.addresses['db']}:5432/" in url
    assert "sslmode=verify-full" in url
    assert probe(on, "jm1", url) == "ssl sabot"
    plain = url.split("?")[0] + "?sslmode=disable"
    assert "no pg_hba.conf entry" in probe(on, "jm1", plain)
    assert "no encryption" in probe(on, "jm1", plain)
    wrong = url.replace(postgres.password, "not-the-password")
    assert 'password authentication failed for user "sabot"' in probe(on, "jm1", wrong)
    stranger = make_certificates(on.hosts, on.root / "other-pki", names=[])
    refused = probe(on, "jm1", postgres.url(stranger.ca))
    assert "certificate verify failed" in refused
    server = postgres_server_pid(on)
    assert owner(server) == SERVICE_USER


def postgres_server_pid(on: HaHosts) -> int:
    """The pid of the PostgreSQL server (postmaster) in the ``db`` host."""
    pid_file = on.postgres.root / "data" / "postmaster.pid"
    return int(pid_file.read_text().splitlines()[0])


def owner(pid: int) -> str:
    """The user a process runs as."""
    uid = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("Uid:")
    )
    return pwd.getpwuid(uid).pw_name


def run_slow_job(cluster: HaCluster, data: tuple[Path, Path, pa.Table]) -> Any:
    """Start the slow job from the client host; the client process, once a task runs."""
    facts, dims, _ = data
    out = cluster.workdir.parent / f"{cluster.workdir.name}-result.parquet"
    client = cluster.start_client("slow", str(facts), str(dims), str(out))
    client.wait_for_line("running ", timeout=180)
    return client, out


def check_result(reply: dict[str, Any], out: Path, expected: pa.Table) -> None:
    """The job finished once, each of its tasks once, with the rows DuckDB computes."""
    assert reply["state"] == "FINISHED", reply
    assert [(j["job_id"], j["state"]) for j in reply["jobs"]] == [(reply["job_id"], "FINISHED")]
    finished = [(t["stage"], t["partition"]) for t in reply["tasks"] if t["state"] == "FINISHED"]
    assert finished and len(finished) == len(set(finished)), reply["tasks"]
    result = pq.read_table(out)
    assert result.num_rows == 89
    assert_same_rows(result.select(["name", "total", "n"]), expected)


def job_states(cluster: HaCluster) -> list[str]:
    """The states of the jobs in the cluster's tables (read through the db host's socket)."""
    with psycopg.connect(cluster.on.postgres.local_url(cluster.workdir.name)) as conn:
        return [state for (state,) in conn.execute("SELECT status FROM sabot.jobs").fetchall()]


class LeaseWatch:
    """Samples the lease row through the db host's socket (no network link crossed) over a
    test: each epoch had one holder and epochs only grew."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.holders: dict[int, set[tuple[str, str]]] = {}
        self.epochs: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.is_set():
                rows = conn.execute("SELECT holder, address, epoch FROM sabot.leader_lease")
                for holder, address, epoch in rows.fetchall():
                    self.holders.setdefault(int(epoch), set()).add((holder, address))
                    self.epochs.append(int(epoch))
                self._stop.wait(0.05)

    def stop(self) -> dict[int, set[tuple[str, str]]]:
        """Stop sampling; check; each epoch's holder."""
        self._stop.set()
        self._thread.join()
        assert self.epochs == sorted(self.epochs)
        assert all(len(h) == 1 for h in self.holders.values()), self.holders
        return self.holders


@pytest.mark.slow
def test_a_leader_killed_mid_job_is_replaced_and_the_job_finishes_once(
    cluster: HaCluster, data: tuple[Path, Path, pa.Table]
) -> None:
    watch = LeaseWatch(cluster.on.postgres.local_url(cluster.workdir.name))
    client, out = run_slow_job(cluster, data)
    killed = time.monotonic()
    cluster.jobmanagers["jm1"].popen.kill()  # SIGKILL, mid-job
    assert job_states(cluster) == ["RUNNING"]  # (as jm1 left it: nobody leads for a while)
    reply = json.loads(client.wait_for_line("{", timeout=300))
    took = time.monotonic() - killed
    holders = watch.stop()
    check_result(reply, out, data[2])
    assert reply["leader"] == cluster.uri("jm2")  # the client followed the leader
    assert sorted(holders) == [1, 2]
    assert [a for _, a in holders[1]] == [cluster.uri("jm1")]
    assert [a for _, a in holders[2]] == [cluster.uri("jm2")]
    roles = cluster.roles()
    assert "error" in roles["jm1"]
    assert (roles["jm2"]["role"], roles["jm2"]["epoch"], roles["jm2"]["health"]["status"]) == (
        "leader", 2, 200,
    )  # fmt: skip
    print(f"leader killed -> job finished in {took:.1f} s", file=sys.stderr)


@pytest.mark.slow
def test_a_leader_cut_off_from_the_database_steps_down_and_never_writes_again(
    cluster: HaCluster, data: tuple[Path, Path, pa.Table]
) -> None:
    database = cluster.workdir.name
    local = cluster.on.postgres.local_url(database)
    watch = LeaseWatch(local)
    client, out = run_slow_job(cluster, data)
    cluster.hosts.cut("jm1", peers=["db"])  # only jm1 <-> db: jm1 still reaches everyone else
    cut = time.monotonic()
    jm1 = cluster.jobmanagers["jm1"]
    jm1.popen.wait(timeout=120)  # it stepped down (and ended: its service manager restarts it)
    stepped_down = time.monotonic() - cut
    assert jm1.popen.returncode != 0
    said = jm1.log.read_text()
    assert "stepped down as the cluster's leader: " in said, jm1.log_tail()
    reply = json.loads(client.wait_for_line("{", timeout=300))
    holders = watch.stop()
    check_result(reply, out, data[2])
    assert reply["leader"] == cluster.uri("jm2")
    assert sorted(holders) == [1, 2]
    ((old_holder, old_address),) = holders[1]
    assert old_address == cluster.uri("jm1")
    assert [a for _, a in holders[2]] == [cluster.uri("jm2")]

    # no second writer: jm1 stopped deciding before jm2 took the lease (one clock: one machine)
    stopped = [r for r in log_records(jm1) if r.get("event", "").startswith("stepping down: ")]
    assert stopped, jm1.log_tail()
    with psycopg.connect(local) as conn:
        (acquired,) = conn.execute("SELECT acquired_at FROM sabot.leader_lease").fetchone() or ()
    assert acquired > datetime.fromisoformat(stopped[0]["time"].replace("Z", "+00:00"))
    # and a write at jm1's epoch is refused by the tables themselves
    store = JobStore(local)
    deposed = LeaderLease(store.engine, old_holder, old_address, ttl=30)
    deposed.epoch = 1
    store.fence = deposed.fence
    with pytest.raises(NotLeaderError, match=re.escape(f"the leader is {cluster.uri('jm2')};")):
        store.set_job_state(reply["job_id"], "FAILED", "a deposed leader's decision")
    assert store.job(reply["job_id"])["state"] == "FINISHED"
    assert not deposed.renew()

    # healed and restarted (as its service manager would), jm1 serves as a standby
    cluster.hosts.heal("jm1")
    cluster.start_jobmanager("jm1")
    roles = cluster.roles()
    assert (roles["jm1"]["role"], roles["jm1"]["health"]["status"]) == ("standby", 503)
    assert roles["jm1"]["health"]["leader"] == cluster.uri("jm2")
    assert (roles["jm2"]["role"], roles["jm2"]["epoch"]) == ("leader", 2)
    print(f"cut off from the database -> stepped down in {stepped_down:.1f} s", file=sys.stderr)
