"""A real LocalCluster: a DBOS JobManager and agent processes on loopback. Results are checked
against DuckDB; agents and the JobManager are killed with SIGKILL mid-job. Every test runs with
the JobManager on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.errors import ClusterError
from sabot_lab.runtime.jobmanager.placement import assign
from sabot_lab.runtime.transport import call
from tests.support.browser_http import Browser
from tests.support.polling import wait_for
from tests.support.postgres import query
from tests.support.reference import assert_same_rows, duckdb_table
from tests.support.tls import self_signed_certificate


@pytest.fixture(scope="module")
def cluster(two_agents: sl.LocalCluster) -> sl.LocalCluster:
    return two_agents


def fresh_cluster(
    workdir: Path, database_url: str | None, heartbeat_timeout: float
) -> sl.LocalCluster:
    """A 2-agent cluster of its own, for a test that kills or stops its processes."""
    return sl.LocalCluster(
        agents=2,
        workdir=workdir,
        heartbeat_timeout=heartbeat_timeout,
        heartbeat_interval=0.2,
        database_url=database_url,
    )


def slow_rows(n: int, delay: float) -> sl.Stream:
    """``n`` rows through a UDF that sleeps ``delay`` seconds per batch of 1,000."""

    def pause(batch: pa.RecordBatch) -> pa.RecordBatch:
        time.sleep(delay)
        return batch

    table = pa.table({"k": [i % 97 for i in range(n)], "x": list(range(n))})
    return (
        sl.from_iterable(table.to_batches(max_chunksize=1_000), schema=table.schema)
        .map_batches(pause, schema=table.schema)
        .group_by("k")
        .agg(total=col("x").sum(), n=sl.count())
    )


def expected_slow(n: int) -> dict[int, tuple[int, int]]:
    out: dict[int, tuple[int, int]] = {}
    for i in range(n):
        total, count = out.get(i % 97, (0, 0))
        out[i % 97] = (total + i, count + 1)
    return out


def as_dict(table: pa.Table) -> dict[int, tuple[int, int]]:
    d = table.to_pydict()
    return {k: (t, n) for k, t, n in zip(d["k"], d["total"], d["n"], strict=True)}


def unreachable_postgres_sink() -> tuple[sl.PostgresSink, int]:
    """A PostgreSQL sink on a port nobody listens on, and that port."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    return sl.PostgresSink(f"postgresql://postgres@127.0.0.1:{port}/none", "rows"), port


def test_a_step_that_raises_ends_the_job_failed_with_its_error(cluster: sl.LocalCluster) -> None:
    """A sink whose database cannot be reached makes the last step raise: the job ends
    FAILED and says why, rather than staying RUNNING."""
    sink, port = unreachable_postgres_sink()
    job = sl.from_pydict({"x": [1, 2, 3]}).submit(cluster, sink=sink)
    assert job.wait(timeout=120) == "FAILED"
    assert "OperationalError" in job.info()["error"] and str(port) in job.info()["error"]
    with pytest.raises(ClusterError, match="OperationalError"):
        job.result(timeout=10)


def test_a_clusters_files_are_its_users_alone_and_no_secret_is_on_a_command_line(
    cluster: sl.LocalCluster, module_database_url: str | None
) -> None:
    """Its databases, results and logs hold plans, rows and sink URLs: nobody else may read
    them; the database URL (it may hold a password) reaches the JobManager by environment."""
    sl.from_pydict({"x": [1, 2, 3]}).submit(cluster).result(timeout=60)
    shared = [
        (str(p), oct(p.stat().st_mode & 0o777))
        for p in [cluster.workdir, *cluster.workdir.rglob("*")]
        if p.stat().st_mode & 0o077
    ]
    assert shared == []
    assert cluster.jobmanager_process is not None
    processes = [cluster.jobmanager_process, *cluster.agent_processes]
    command_lines = [Path(f"/proc/{p.pid}/cmdline").read_bytes().decode() for p in processes]
    for token in (cluster.token, cluster.read_token, cluster.cluster_auth.token):
        assert token and not any(token in c for c in command_lines)
    if module_database_url is not None:
        assert not any(module_database_url in c for c in command_lines)


def test_a_job_asking_for_more_tasks_than_the_cluster_allows_is_refused_at_submit(
    cluster: sl.LocalCluster,
) -> None:
    stream = sl.from_pydict({"x": [1, 2, 3]})
    with pytest.raises(ClusterError, match=r"129 tasks per operator asked for; .* at most 128"):
        stream.submit(cluster, partitions=129)
    with pytest.raises(ClusterError, match="100000 tasks per operator"):
        stream.with_parallelism(100_000).submit(cluster)
    assert stream.submit(cluster, partitions=128).result(timeout=120).num_rows == 3


def test_a_bounded_job_without_partitions_is_as_wide_as_its_rows_need(
    cluster: sl.LocalCluster,
) -> None:
    """A task per 1,000 estimated rows (``task_rows``), up to the 4 slots: 100 rows run as
    one task, 2,500 as three, 6,000 (an uploaded table) as four; one task merges the seven
    groups' partial sums."""
    sql = "SELECT k, SUM(x) AS total FROM t GROUP BY k"
    for rows, width in ((100, 1), (2_500, 3), (6_000, 4)):
        table = pa.table({"k": [i % 7 for i in range(rows)], "x": list(range(rows))})
        job = sl.from_arrow(table).group_by("k").agg(total=col("x").sum()).submit(cluster)
        assert_same_rows(job.result(timeout=120), duckdb_table(sql, t=table))
        per_stage = Counter(t["stage"] for t in job.tasks() if t["attempt"] == 0)
        assert per_stage == (Counter({0: width, 1: 1}) if width > 1 else {0: 1}), rows


def test_close_removes_the_temporary_work_directory_unless_asked_to_keep_it() -> None:
    with sl.LocalCluster(agents=1, slots=1) as made:
        assert sl.from_pydict({"x": [1]}).submit(made).result(timeout=60).num_rows == 1
        assert (made.workdir / "jobmanager.log").exists()
    assert not made.workdir.exists()
    with sl.LocalCluster(agents=1, slots=1, keep_workdir=True) as kept:
        pass
    assert (kept.workdir / "jobmanager.log").exists()
    shutil.rmtree(kept.workdir)


@pytest.mark.parametrize(
    "body",
    [
        {"uri": "<img src=x onerror=alert(1)>", "state": "ACTIVE", "slots": 2},
        {"uri": "grpc://10.9.9.9:1", "state": "ACTIVE", "slots": 2, "running": "two"},
        {"uri": "grpc://10.9.9.9:1", "state": "ACTIVE", "slots": -4},
        {
            "uri": "grpc://10.9.9.9:1",
            "slots": 2,
            "tasks": [{"task_id": "x/0.0/0", "state": "RUNNING", "rows_out": "lots"}],
        },
        ["not", "an", "object"],
    ],
)
def test_a_malformed_heartbeat_is_refused_and_the_cluster_goes_on(
    cluster: sl.LocalCluster, body: object
) -> None:
    with pytest.raises(ClusterError, match="heartbeat: "):
        call(cluster.uri, "heartbeat", body, cluster.cluster_auth)
    assert "10.9.9.9" not in {a["uri"] for a in cluster.agents()}
    status, page = http_get(cluster.dashboard_link)
    assert status == 200 and "<img" not in page
    link = cluster.dashboard_link.split("/login?")[0]
    assert http_get(f"{link}/metrics", cluster.token)[0] == 200
    assert sl.from_pydict({"x": [1]}).submit(cluster).result(timeout=60).num_rows == 1


@pytest.mark.parametrize("job_id", ["../secret", "../../results/../secret", "a/../../secret"])
def test_a_result_ticket_cannot_reach_a_file_outside_the_results(
    cluster: sl.LocalCluster, job_id: str
) -> None:
    import pyarrow.flight as flight

    secret = pa.table({"password": ["hunter2"]})
    with pa.ipc.new_stream(cluster.workdir / "secret.arrow", secret.schema) as writer:
        writer.write_table(secret)
    client = flight.connect(cluster.uri)
    ticket = flight.Ticket(json.dumps({"job_id": job_id}).encode())
    with pytest.raises(flight.FlightServerError, match="not a result ticket: do_get: job_id"):
        client.do_get(ticket, cluster.auth.options()).read_all()
    with pytest.raises(ClusterError, match=r"cancel: job_id .* must be 1 to 64 letters"):
        call(cluster.uri, "cancel", {"job_id": job_id}, cluster.auth)


def test_a_failure_reaches_the_user_as_its_message_and_an_error_id_not_a_traceback(
    cluster: sl.LocalCluster, tmp_path: Path
) -> None:
    import pyarrow.flight as flight

    path = tmp_path / "corrupt.parquet"
    rows = 400_000
    table = pa.table({"x": range(rows), "s": [str(i) for i in range(rows)]})
    pq.write_table(table, path, row_group_size=50_000, compression="none")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 400_000] = b"\xff" * 400_000  # page headers of the middle row groups
    path.write_bytes(bytes(data))
    job = sl.from_parquet(str(path)).submit(cluster)
    assert job.wait(timeout=120) == "FAILED"
    error = job.info()["error"]
    assert "Deserializing page header failed" in error
    assert "Traceback" not in error and "sabot_lab/" not in error
    error_id = error.split("(error ")[1].split(":")[0]
    logs = "".join(p.read_text() for p in cluster.workdir.glob("agent-*.log"))
    assert f"[error {error_id}]" in logs and "Traceback" in logs.split(error_id, 1)[1]

    def explode(batch: pa.RecordBatch) -> pa.RecordBatch:
        raise ValueError("price feed is corrupt")

    udf = sl.from_pydict({"x": [1]}).map_batches(explode, schema={"x": "int64"}).submit(cluster)
    assert udf.wait(timeout=60) == "FAILED"
    error = udf.info()["error"]
    assert "in explode" in error and "Traceback" in error  # the user's own traceback
    assert "sabot_lab/" not in error  # ... without the engine's frames

    client = flight.connect(cluster.uri)
    with pytest.raises(flight.FlightServerError) as refused:
        list(client.do_action(flight.Action("status", b"{not json"), cluster.auth.options()))
    assert "status: the body is not JSON" in str(refused.value)
    assert "Traceback" not in str(refused.value)


def running(pid: int) -> bool:
    """Whether process ``pid`` still runs (an exited one nobody has reaped does not)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def test_a_local_clusters_processes_end_with_the_process_that_started_it(tmp_path: Path) -> None:
    """A script makes a LocalCluster and is killed with SIGKILL (no close, no atexit): its
    JobManager and agents see their parent gone and stop, rather than run on as orphans."""
    script = (
        "import sys, time, sabot_lab as sl\n"
        "c = sl.LocalCluster(agents=2, slots=1, workdir=sys.argv[1])\n"
        "print(c.jobmanager_process.pid, *(p.pid for p in c.agent_processes), flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 3 and all(running(p) for p in pids)
    parent.kill()
    parent.wait()
    wait_for(lambda: not any(running(p) for p in pids), timeout=90)


def test_resource_aware_assignment_prefers_free_slots_and_memory() -> None:
    agents = [
        {"uri": "big", "slots": 8, "running": 2, "memory_bytes": 16 << 30},
        {"uri": "small", "slots": 2, "running": 0, "memory_bytes": 4 << 30},
        {"uri": "busy", "slots": 4, "running": 4, "memory_bytes": 64 << 30},
    ]
    placed = assign("resource_aware", agents, 8)
    assert placed.count("big") == 6 and placed.count("small") == 2 and "busy" not in placed
    assert assign("round_robin", agents, 3) == ["big", "small", "busy"]


def test_a_job_is_reattached_from_another_process(cluster: sl.LocalCluster) -> None:
    job = sl.from_pydict({"x": list(range(1000))}).filter(col("x") % 7 == 0).submit(cluster)
    job.wait(timeout=60)
    script = (
        "import sys, sabot_lab as sl\n"
        "c = sl.connect(sys.argv[1], token=sys.argv[2])\n"
        "print(c.job(sys.argv[3]).result().num_rows)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, cluster.uri, cluster.token or "", job.job_id],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "143"
    assert job.job_id in {j["job_id"] for j in cluster.jobs()}
    if cluster.database_url:  # the JobManager keeps its tables in PostgreSQL
        assert query(
            cluster.database_url, f"SELECT status FROM sabot.jobs WHERE job_id = '{job.job_id}'"
        ) == [("FINISHED",)]


def test_cancel_stops_a_running_job(cluster: sl.LocalCluster) -> None:
    job = slow_rows(200_000, delay=0.05).submit(cluster)
    wait_for(lambda: job.status() == "RUNNING")
    assert job.cancel() == "CANCELLED"
    assert job.wait(timeout=30) == "CANCELLED"
    with pytest.raises(ClusterError, match="cancelled"):
        job.result()


def test_a_job_cancelled_as_soon_as_it_is_submitted_ends_cancelled(
    cluster: sl.LocalCluster,
) -> None:
    # the reply to submit comes before the job's workflow has planned and recorded it
    jobs = [slow_rows(200_000, delay=0.05).submit(cluster) for _ in range(3)]
    assert [job.cancel() for job in jobs] == ["CANCELLED"] * 3
    assert {job.wait(timeout=30) for job in jobs} == {"CANCELLED"}


def test_a_cancel_stops_running_and_queued_tasks_at_their_next_batch(
    cluster: sl.LocalCluster, tmp_path: Path
) -> None:
    calls = tmp_path / "calls"

    def noted(batch: pa.RecordBatch) -> pa.RecordBatch:
        with open(calls, "a") as out:  # (in the agent's process: same machine, same clock)
            out.write(f"{time.time()}\n")
        time.sleep(0.2)
        return batch

    table = pa.table({"k": [i % 5 for i in range(32_000)], "x": range(32_000)})
    grouped = (
        sl.from_arrow(table)  # a batch a task, 0.2 s of work each
        .map_batches(noted, schema=table.schema)
        .group_by("k")
        .agg(total=col("x").sum())
    )
    job = grouped.submit(cluster, partitions=32)  # 32 tasks a stage on 4 slots: most queue
    wait_for(lambda: calls.exists(), timeout=60)
    assert job.cancel() == "CANCELLED"
    cancelled = time.time()
    # the agents run tasks in the order they came: once a job after it ran on every slot,
    # every task of the cancelled job has run or been skipped
    after_it = sl.from_pydict({"x": list(range(8))}).submit(cluster, partitions=4)
    assert after_it.result(timeout=120).num_rows == 8
    after = [float(t) for t in calls.read_text().split()]
    late = [t for t in after if t > cancelled + 0.5]  # a batch begun as the cancel came may end
    assert len(late) == 0, f"{len(late)} batches ran after the cancel"


def test_wrong_token_unreachable_jobmanager_and_invalid_plans(cluster: sl.LocalCluster) -> None:
    with pytest.raises(ClusterError, match="rejected"):
        sl.connect(cluster.uri, token="not-the-token")
    with pytest.raises(ClusterError, match="unreachable"):
        sl.connect("grpc://127.0.0.1:9", token="x")
    before = len(cluster.jobs())
    with pytest.raises(ClusterError, match="not valid"):
        cluster._call("submit", {"plan": '{"name": "job", "nodes": [{"operator_id": "a"}]}'})
    assert len(cluster.jobs()) == before  # nothing half-registered
    with pytest.raises(ClusterError, match="no job 'nope'"):
        cluster.job("nope")


def test_killed_agent_job_recovers_and_a_new_agent_joins(
    tmp_path: Path, database_url: str | None
) -> None:
    with fresh_cluster(tmp_path, database_url, heartbeat_timeout=1.5) as c:
        n = 60_000
        job = slow_rows(n, delay=0.02).submit(c)
        victim = c.agent_processes[0]
        wait_for(lambda: bool(job.tasks()))  # tasks placed on the agents
        os.kill(victim.pid, signal.SIGKILL)
        assert as_dict(job.result(timeout=120)) == expected_slow(n)
        assert job.metrics()["attempts"] >= 2
        states = {a["uri"]: a["state"] for a in c.agents()}
        assert "FAILED" in states.values()
        uri = c.start_agent()
        assert {a["uri"]: a["state"] for a in c.agents()}[uri] == "ACTIVE"


def test_a_stopped_agent_drains_and_its_job_still_finishes(
    tmp_path: Path, database_url: str | None
) -> None:
    with fresh_cluster(tmp_path, database_url, heartbeat_timeout=3) as c:
        n = 40_000
        job = slow_rows(n, delay=0.02).submit(c)
        wait_for(lambda: any(t["state"] == "RUNNING" for t in job.tasks()))
        uri = next(t["agent"] for t in job.tasks() if t["state"] == "RUNNING")
        leaving = c.agent_processes[c.agent_uris.index(uri)]
        leaving.send_signal(signal.SIGTERM)  # a graceful stop: drain, then leave
        seen: set[str] = set()

        def stopped() -> bool:
            seen.add({a["uri"]: a["state"] for a in c.agents()}[uri])
            return "STOPPED" in seen

        wait_for(stopped, timeout=60)
        assert {"DRAINING", "STOPPED"} <= seen
        assert as_dict(job.result(timeout=120)) == expected_slow(n)
        after = sl.from_pydict({"x": [1, 2, 3]}).submit(c)
        assert after.result(timeout=60).num_rows == 3
        assert uri not in {t["agent"] for t in after.tasks()}  # nothing for a stopped agent


def test_jobmanager_killed_mid_job_resumes_it_once(
    tmp_path: Path, database_url: str | None
) -> None:
    with fresh_cluster(tmp_path, database_url, heartbeat_timeout=3) as c:
        n = 60_000
        job = slow_rows(n, delay=0.02).submit(c)
        wait_for(lambda: job.status() == "RUNNING")
        assert c.jobmanager_process is not None
        os.kill(c.jobmanager_process.pid, signal.SIGKILL)
        c.jobmanager_process.wait()
        c.start_jobmanager()  # same port and work directory: DBOS resumes the workflow
        assert as_dict(job.result(timeout=120)) == expected_slow(n)
        assert [j["job_id"] for j in c.jobs()] == [job.job_id]
        finished = [(t["stage"], t["partition"]) for t in job.tasks() if t["state"] == "FINISHED"]
        assert len(finished) == len(set(finished))  # no task ran twice


def test_a_step_that_raises_after_a_jobmanager_restart_ends_the_job_failed(
    tmp_path: Path, database_url: str | None
) -> None:
    """DBOS resumes the job's workflow in the restarted JobManager; its last step raises (the
    sink's database cannot be reached): the job ends FAILED and says why."""
    sink, port = unreachable_postgres_sink()
    with fresh_cluster(tmp_path, database_url, heartbeat_timeout=3) as c:
        job = slow_rows(20_000, delay=0.02).submit(c, sink=sink)
        wait_for(lambda: job.status() == "RUNNING")
        assert c.jobmanager_process is not None
        os.kill(c.jobmanager_process.pid, signal.SIGKILL)
        c.jobmanager_process.wait()
        c.start_jobmanager()
        assert job.wait(timeout=120) == "FAILED"
        assert "OperationalError" in job.info()["error"] and str(port) in job.info()["error"]


def http_get(url: str, token: str | None = None, context: ssl.SSLContext | None = None) -> Any:
    """``(status, body)`` of a GET by a fresh browser (a one-time link's cookie followed),
    with the token as a bearer header when given."""
    return Browser(context).get(url, token)


def test_job_metrics_come_from_the_agents(cluster: sl.LocalCluster) -> None:
    n = 50_000
    table = pa.table({"k": [i % 10 for i in range(n)], "x": list(range(n))})
    job = sl.from_arrow(table).group_by("k").agg(n=sl.count()).submit(cluster, partitions=3)
    result = job.result(timeout=60)
    metrics = job.metrics()
    tasks = job.tasks()
    assert metrics["tasks"] == {"FINISHED": len(tasks)}
    assert metrics["rows_out"] == sum(t["rows_out"] for t in tasks)
    last = str(max(t["stage"] for t in tasks))
    assert metrics["stages"][last]["rows_out"] == result.num_rows == 10
    assert metrics["stages"]["0"]["rows_out"] >= 10  # partial aggregates of the first stage
    assert metrics["rows_in"] >= metrics["stages"][last]["rows_out"]
    assert metrics["bytes_out"] > 0 and metrics["batches_out"] >= len(tasks) - 3
    assert metrics["busy_s"] > 0


def test_http_status_page_json_and_prometheus_metrics(cluster: sl.LocalCluster) -> None:
    job = sl.from_pydict({"x": [1, 2, 3]}).submit(cluster, name="for-http")
    job.wait(timeout=60)
    link = cluster.dashboard_link
    status, page = http_get(link)
    assert status == 200 and "for-http" in page
    assert all(a["uri"] in page for a in cluster.agents())
    base = link.split("/login?")[0]
    assert http_get(f"{base}/api/jobs")[0] == 401
    assert http_get(f"{base}/api/jobs", token="not-the-token")[0] == 401
    status, body = http_get(f"{base}/api/jobs", cluster.token)
    assert status == 200
    assert [j["job_id"] for j in json.loads(body)] == [j["job_id"] for j in cluster.jobs()]
    status, body = http_get(f"{base}/api/jobs/{job.job_id}", cluster.token)
    view = json.loads(body)
    assert view["state"] == "FINISHED" and view["metrics"] == job.metrics()
    assert http_get(f"{base}/api/jobs/nope", cluster.token)[0] == 404

    status, text = http_get(f"{base}/metrics", cluster.token)
    assert status == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    jobs = cluster.jobs()
    finished = sum(j["state"] == "FINISHED" for j in jobs)
    assert samples["sabot_jobs", (("state", "FINISHED"),)] == finished
    active = sum(a["state"] in ("ACTIVE", "BUSY") for a in cluster.agents())
    assert active == 2
    assert (
        samples["sabot_agents", (("state", "ACTIVE"),)]
        + samples["sabot_agents", (("state", "BUSY"),)]
        == active
    )
    for agent in cluster.agents():
        assert samples["sabot_agent_slots", (("agent", agent["uri"]),)] == 2


def test_tls_on_flight_and_http(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    with sl.LocalCluster(
        agents=2, workdir=tmp_path / "cluster", tls_cert=cert, tls_key=key, heartbeat_interval=0.3
    ) as c:
        assert c.uri.startswith("grpc+tls://")
        assert {a["uri"].split("://")[0] for a in c.agents()} == {"grpc+tls"}
        table = pa.table({"k": [i % 5 for i in range(10_000)], "x": list(range(10_000))})
        job = sl.from_arrow(table).group_by("k").agg(total=col("x").sum()).submit(c)
        expected = duckdb_table("SELECT k, SUM(x) AS total FROM t GROUP BY k", t=table)
        assert_same_rows(job.result(timeout=60), expected)

        remote = sl.connect(c.uri, token=c.token, tls_ca=str(cert))
        assert remote.job(job.job_id).status() == "FINISHED"
        with pytest.raises(ClusterError):  # the system's roots do not trust this certificate
            sl.connect(c.uri, token=c.token, tls_ca=None)
        with pytest.raises(ClusterError):  # plaintext to a TLS port
            sl.connect(c.uri.replace("grpc+tls://", "grpc://"), token=c.token)

        link = c.dashboard_link
        assert link.startswith("https://")
        trusted = ssl.create_default_context(cafile=str(cert))
        status, page = http_get(link, context=trusted)
        assert status == 200 and job.job_id in page
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            http_get(link, context=ssl.create_default_context())


def test_the_local_and_jobs_commands(tmp_path: Path) -> None:
    local = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sabot_lab.cli",
            "local",
            "--agents",
            "1",
            "--workdir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert local.stdout is not None
        lines = [local.stdout.readline() for _ in range(6)]
        assert lines[0].startswith("sabot-lab local ready grpc://"), lines
        uri = lines[0].split()[-1]
        token = next(line.split()[-1] for line in lines if line.strip().startswith("token:"))
        job = sl.from_pydict({"x": [1, 2, 3]}).submit(sl.connect(uri, token=token), name="cli")
        assert job.result(timeout=60).num_rows == 3
        env = {**os.environ, "SABOT_TOKEN": token}
        listed = subprocess.run(
            [sys.executable, "-m", "sabot_lab.cli", "jobs", "--jobmanager", uri],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
        assert job.job_id in listed and "FINISHED" in listed and "cli" in listed
    finally:
        local.send_signal(signal.SIGINT)
        assert local.wait(timeout=60) == 0


def test_resource_aware_placement_on_heterogeneous_agents(tmp_path: Path) -> None:
    with sl.LocalCluster(agents=0, workdir=tmp_path, heartbeat_interval=0.3) as c:
        big, small = c.start_agent(slots=6), c.start_agent(slots=1)
        table = pa.table({"k": [i % 11 for i in range(20_000)], "x": list(range(20_000))})
        stream = sl.from_arrow(table).group_by("k").agg(total=col("x").sum())
        job = stream.submit(c, partitions=6, assignment="resource_aware")
        expected = duckdb_table("SELECT k, SUM(x) AS total FROM t GROUP BY k", t=table)
        assert_same_rows(job.result(timeout=60), expected)
        first_stage = [t["agent"] for t in job.tasks() if t["stage"] == 0]
        assert first_stage.count(big) >= 5  # the sixth task goes to either (1 free slot each)
        assert set(first_stage) <= {big, small}


def test_a_bounded_job_writes_its_rows_to_postgres_in_one_commit(
    cluster: sl.LocalCluster, postgres_server: Any
) -> None:
    url = postgres_server.new_database()
    table = pa.table({"k": [i % 7 for i in range(1_000)], "x": list(range(1_000))})
    stream = sl.from_arrow(table).group_by("k").agg(total=col("x").sum())
    job = stream.submit(cluster, sink=sl.PostgresSink(url, "totals", key=["k"]))
    result = job.result(timeout=60)
    assert sorted(query(url, "SELECT k, total FROM totals")) == sorted(
        (r["k"], r["total"]) for r in result.to_pylist()
    )
    assert query(url, "SELECT commit_id, rows FROM sabot_commits") == [(0, 7)]
