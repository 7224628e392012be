"""Local clusters kept alive (``LocalCluster(keep_alive=True)``): a script makes one and exits,
another process lists it with ``sl.local_clusters()``, re-attaches, runs a job (checked against
DuckDB) and closes it. Real JobManager and agent processes; the registry lives in a private
``XDG_RUNTIME_DIR`` per test."""

from __future__ import annotations

import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.client.local_registry import (
    ClusterRecord,
    RecordedProcess,
    clusters_dir,
    running_clusters,
)
from sabot_lab.errors import ClusterError
from sabot_lab.runtime.protocol import Role
from tests.support.polling import wait_for
from tests.support.reference import assert_same_rows, duckdb_table

MAKE_KEPT_CLUSTER = (
    "import sys, sabot_lab as sl\n"
    "c = sl.LocalCluster(agents=2, slots=1, keep_alive=True, name=sys.argv[1])\n"
    "print(c.jobmanager_process.pid, *(p.pid for p in c.agent_processes), flush=True)\n"
)


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private registry (the scripts this test runs inherit it); the clusters a failed
    test leaves in it are stopped."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    yield clusters_dir()
    for info in sl.local_clusters():
        info.attach().close()


def running(pid: int) -> bool:
    """Whether process ``pid`` still runs (an exited one nobody has reaped does not)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def make_kept_cluster(name: str) -> list[int]:
    """Run a script that makes a cluster kept alive named ``name`` and exits normally; return
    the pids of its JobManager and agents."""
    done = subprocess.run(
        [sys.executable, "-c", MAKE_KEPT_CLUSTER, name],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [int(p) for p in done.stdout.split()]


def test_a_kept_cluster_outlives_its_script_and_is_attached_and_closed_from_another(
    registry: Path,
) -> None:
    name = f"t-{secrets.token_hex(4)}"
    pids = make_kept_cluster(name)
    assert len(pids) == 3 and all(running(p) for p in pids)  # the script has exited

    (info,) = sl.local_clusters()
    assert (info.name, info.pids, info.alive) == (name, tuple(pids), True)
    record = next(registry.glob("*.json"))
    assert stat.S_IMODE(registry.stat().st_mode) == 0o700
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    tokens = ClusterRecord.load(record).tokens.values()
    assert all(t not in repr(info) + info._repr_html_() for t in tokens)
    assert name in info._repr_html_() and info.uri in repr(info)

    assert info.attach().uri == info.uri  # by its URI
    cluster = sl.LocalCluster.attach(name)
    assert cluster.uri == info.uri and cluster.token in tokens
    assert all(t not in repr(cluster) for t in tokens)
    assert {a["state"] for a in cluster.agents()} == {"ACTIVE"}
    table = sl.from_pydict({"x": list(range(5000)), "g": [i % 7 for i in range(5000)]})
    job = table.filter(col("x") % 3 == 0).group_by("g").agg(col("x").sum().alias("s"))
    result = job.submit(cluster).result(timeout=120)
    expected = duckdb_table(
        "SELECT g, SUM(x) AS s FROM t WHERE x % 3 = 0 GROUP BY g", t=table.collect()
    )
    assert_same_rows(result, expected)
    assert cluster.dashboard_link.startswith("http://127.0.0.1:")

    cluster.close()
    wait_for(lambda: not any(running(p) for p in pids), timeout=60)
    assert not any(running(p) for p in pids)
    assert sl.local_clusters() == [] and not list(registry.glob("*.json"))
    assert not info.workdir.exists()  # it was a temporary work directory


def test_a_kept_cluster_is_not_closed_by_its_with_block_and_its_name_is_unique(
    registry: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "kept"
    with sl.LocalCluster(agents=1, slots=1, workdir=workdir, keep_alive=True, name="w") as c:
        pass
    assert c.jobmanager_process is not None and c.jobmanager_process.poll() is None
    with pytest.raises(ClusterError, match="a local cluster named 'w' is running"):
        sl.LocalCluster(agents=0, keep_alive=True, name="w")
    (info,) = sl.local_clusters()
    assert info.workdir == workdir
    c.close()
    assert c.jobmanager_process.poll() is not None and sl.local_clusters() == []
    assert (workdir / "jobmanager.log").exists()  # given, not temporary: kept


def test_a_default_cluster_is_recorded_while_it_runs_but_not_listed_as_kept(
    registry: Path,
) -> None:
    with sl.LocalCluster(agents=1, slots=1) as cluster:
        assert sl.local_clusters() == []
        (record,) = running_clusters()
        assert (record.uri, record.kept_alive) == (cluster.uri, False)
        assert record.tokens[Role.READ.variable] == cluster.read_token
        assert record.tokens[Role.SUBMIT.variable] == cluster.token
        assert len(record.processes) == 2 and record.alive
        with pytest.raises(ClusterError, match="no running local cluster kept alive"):
            sl.LocalCluster.attach(cluster.name)
    assert not list(registry.glob("*.json"))


def test_stale_records_are_dropped_and_a_reused_pid_is_never_stopped(registry: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        # a record whose JobManager pid now belongs to another process, one whose is gone
        for key, pid in (("reused", stranger.pid), ("gone", 2**22 + 1)):
            ClusterRecord(
                key=key,
                name=key,
                uri="grpc://127.0.0.1:1",
                http="http://127.0.0.1:2",
                workdir=str(registry),
                temporary=False,
                processes=(RecordedProcess(pid, (sys.executable, "-m", "sabot_lab.cli")),),
                created=0.0,
                tokens={},
            ).save()
        assert len(list(registry.glob("*.json"))) == 2
        assert sl.local_clusters() == []
        assert not list(registry.glob("*.json"))
        RecordedProcess(stranger.pid, ("sabot-lab", "jobmanager")).stop(timeout=1)
        assert stranger.poll() is None  # not ours: left alone
        with pytest.raises(ClusterError, match="no running local cluster"):
            sl.LocalCluster.attach("reused")
    finally:
        stranger.kill()
        stranger.wait()


MAKE_CLUSTER_AND_WAIT = (
    "import sys, time, sabot_lab as sl\n"
    "c = sl.LocalCluster(agents=1, slots=1)\n"
    "print(c.workdir, c.jobmanager_process.pid, c.agent_processes[0].pid, flush=True)\n"
    "time.sleep(600)\n"
)


def test_a_killed_kernels_cluster_leaves_nothing_once_the_next_one_starts(
    registry: Path,
) -> None:
    """The process that made a cluster is killed before its ``close`` (a kernel restarted
    with SIGKILL): the cluster's processes end with it, and the next ``LocalCluster`` removes
    its record and the temporary work directory made for it."""
    maker = subprocess.Popen(
        [sys.executable, "-c", MAKE_CLUSTER_AND_WAIT], stdout=subprocess.PIPE, text=True
    )
    try:
        assert maker.stdout is not None
        workdir, *pids = maker.stdout.readline().split()
    finally:
        maker.kill()
        maker.wait()
    assert Path(workdir).is_dir() and len(list(registry.glob("*.json"))) == 1
    wait_for(lambda: not any(running(int(p)) for p in pids), timeout=60)
    with sl.LocalCluster(agents=1, slots=1) as cluster:
        assert not Path(workdir).exists()
        (record,) = running_clusters()
        assert record.uri == cluster.uri  # the ended cluster's record is gone
    assert not list(registry.glob("*.json"))
