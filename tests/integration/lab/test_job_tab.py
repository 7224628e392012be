"""The job tab's and the sidebar's handlers over a real ``jupyter server`` (HTTP, its own token
auth): a running streaming job's tab has its physical plan drawn with live numbers, a
throughput series measured between reports, and Savepoint takes a savepoint a new job starts
from; a finished job's tab shows the figures the client reads; a failed job's tab shows the
failing task's error and log tail; "New local cluster" starts a cluster owned by the server,
which a notebook attaches to, Stop ends and the server's exit ends too. No reply holds a
token."""

from __future__ import annotations

import os
import urllib.error
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.client import stop_process
from sabot_lab.client.local_registry import attach as attach_local
from sabot_lab.client.local_registry import running_clusters
from sabot_lab.lab.job_detail import _drawing
from tests.integration.lab.shared import endless, tokens
from tests.support.jupyter_server import JupyterServer, jupyter_server
from tests.support.polling import wait_for

pytestmark = pytest.mark.slow


def key_of(server: JupyterServer, uri: str) -> str:
    return str(next(c["key"] for c in server.clusters() if c["uri"] == uri))


def tab(server: JupyterServer, key: str, job_id: str) -> dict[str, Any]:
    return dict(server.call("GET", f"clusters/{key}/jobs/{job_id}"))


def test_a_running_jobs_tab_draws_its_plan_live_and_savepoint_keeps_a_savepoint(
    server: JupyterServer, cluster: sl.LocalCluster
) -> None:
    job = endless().submit(cluster, name="endless", checkpoint_interval=0.5)
    key = key_of(server, cluster.uri)
    wait_for(lambda: len(tab(server, key, job.id)["series"]["throughput"]) >= 2, timeout=60)
    shown = tab(server, key, job.id)
    assert (shown["state"], shown["name"], shown["bounded"]) == ("RUNNING", "endless", False)
    assert shown["notebook_line"] == f'job = cluster.job("{job.id}")'
    assert shown["plan"]["note"] is None
    svg = shown["plan"]["svg"]
    assert svg.startswith("<svg") and svg.count('class="sabot-node"') >= 2
    assert "rows/s" in svg and 'class="sabot-node-live"' in svg
    rates = [rate for _, rate in shown["series"]["throughput"]]
    assert all(0 <= rate < 10_000 for rate in rates) and max(rates) > 0  # paced at 2,000 rows/s
    times = [at for at, _ in shown["series"]["throughput"]]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert all(0.0 <= share <= 1.0 for _, share in shown["series"]["backpressure"])

    path = server.call("POST", f"clusters/{key}/jobs/{job.id}/savepoint")["path"]
    assert Path(path).is_dir()
    wait_for(lambda: len(tab(server, key, job.id)["checkpoints"]) >= 1, timeout=60)
    assert all(c["duration_s"] >= 0 for c in tab(server, key, job.id)["checkpoints"])
    job.cancel()
    again = endless().submit(cluster, name="again", checkpoint_interval=0.5, from_savepoint=path)
    assert again.status() in ("PENDING", "SCHEDULED", "RUNNING")  # the JobManager took it
    again.cancel()
    assert not any(t in reply for reply in server.replies for t in tokens(cluster))


def test_a_finished_jobs_tab_shows_the_figures_the_client_reads(
    server: JupyterServer, cluster: sl.LocalCluster
) -> None:
    table = sl.from_pydict({"x": list(range(3000)), "g": [i % 5 for i in range(3000)]})
    job = table.filter(col("x") % 3 == 0).submit(cluster, name="bounded")
    rows = job.result(timeout=120).num_rows
    info, metrics = job.info(), job.metrics()
    shown = tab(server, key_of(server, cluster.uri), job.id)
    assert (shown["state"], shown["rows"], rows) == ("FINISHED", rows, 1000)
    assert shown["tasks"] == shown["tasks_done"] == info["planned_tasks"]
    assert (shown["created_at"], shown["finished_at"]) == (info["created_at"], info["finished_at"])
    assert (shown["rows_in"], shown["busy_s"]) == (metrics["rows_in"], metrics["busy_s"])
    (point,) = shown["series"]["throughput"]  # its whole run, read after it ended
    assert point[1] == pytest.approx(rows / (info["finished_at"] - info["created_at"]), rel=1e-3)
    assert 'class="sabot-node-live"' in shown["plan"]["svg"] and shown["failure"] is None


def explode(batch: pa.RecordBatch) -> pa.RecordBatch:
    raise ValueError("no good value in this batch")


def test_a_failed_jobs_tab_shows_the_failing_tasks_error_and_log(
    server: JupyterServer, cluster: sl.LocalCluster
) -> None:
    stream = sl.from_pydict({"n": [1, 2, 3]}).map_batches(explode, schema={"n": "int64"})
    job = stream.submit(cluster, name="doomed")
    assert job.wait(timeout=120) == "FAILED"
    shown = tab(server, key_of(server, cluster.uri), job.id)
    failure = shown["failure"]
    assert shown["state"] == "FAILED" and "no good value" in failure["error"]
    assert failure["task_id"].startswith(f"{job.id}/") and failure["agent"] in cluster.agent_uris
    assert failure["log"] and any("ERROR" in line for line in failure["log"])


def test_a_job_of_a_watched_cluster_has_no_plan_and_no_savepoint(
    server: JupyterServer, cluster: sl.LocalCluster
) -> None:
    added = server.call("POST", "clusters", {"uri": cluster.uri, "token": cluster.read_token})
    key = added["cluster"]["key"]
    job = sl.from_pydict({"x": [1, 2]}).submit(cluster)
    job.wait(timeout=120)
    shown = tab(server, key, job.id)
    assert shown["state"] == "FINISHED" and shown["plan"]["svg"] is None
    assert "submit token" in shown["plan"]["note"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        server.call("POST", f"clusters/{key}/jobs/{job.id}/savepoint")
    assert refused.value.code == 400 and "can only be watched" in server.replies[-1]
    with pytest.raises(urllib.error.HTTPError) as missing:
        tab(server, key, "no-such-job")
    assert missing.value.code == 400 and "no-such-job" in server.replies[-1]
    server.call("DELETE", f"clusters/{key}")


def test_a_new_local_cluster_runs_jobs_stops_and_ends_with_the_server(
    tmp_path: Path, registry: Path, server: JupyterServer
) -> None:
    added = server.call("POST", "local-clusters", {"agents": 1})["cluster"]
    assert added["local"] and added["controlled"] and added["name"].startswith("jupyter-")
    assert added["key"] in [c["key"] for c in server.clusters()]
    attached = attach_local(added["name"])  # as a notebook does
    job = sl.from_pydict({"x": [1, 2, 3]}).filter(col("x") > 1).submit(attached)
    assert job.result(timeout=120).to_pydict() == {"x": [2, 3]}
    (listed,) = [c for c in server.clusters() if c["key"] == added["key"]]
    assert [j["job_id"] for j in listed["jobs"]] == [job.id]
    processes = attached.record.processes
    assert not any(t in reply for reply in server.replies for t in attached.record.tokens.values())
    assert server.call("POST", f"clusters/{added['key']}/stop") == {"stopped": added["key"]}
    assert not any(p.running() for p in processes)
    assert added["key"] not in [c["key"] for c in server.clusters()]
    with pytest.raises(urllib.error.HTTPError) as refused:
        server.call("POST", "local-clusters", {"agents": 0})
    assert refused.value.code == 400 and "1 to 8 agents" in server.replies[-1]

    with jupyter_server(tmp_path / "another") as (other, process):
        started = other.call("POST", "local-clusters", {"agents": 1})["cluster"]
        (record,) = [r for r in running_clusters() if f"local-{r.key}" == started["key"]]
        assert all(p.running() for p in record.processes)
        stop_process(process, timeout=60)
    wait_for(lambda: not any(p.running() for p in record.processes), timeout=60)
    assert not any(p.running() for p in record.processes)
    assert os.environ["XDG_RUNTIME_DIR"] == str(registry)


def test_a_running_jobs_plan_is_drawn_from_one_plan_call(
    cluster: sl.LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = endless().submit(cluster, name="drawn once", checkpoint_interval=0.5)
    wait_for(lambda: job.status() == "RUNNING", timeout=60)
    calls: list[str] = []
    real = cluster._call

    def counted(name: str, payload: Any = None, timeout: float = 30.0) -> Any:
        calls.append(name)
        return real(name, payload, timeout)

    monkeypatch.setattr(cluster, "_call", counted)
    drawing, note = _drawing(cluster, job.id, 2)
    job.cancel()
    assert note is None and drawing is not None
    assert calls.count("plan") == 1  # the submitted plan and the stages in one reply
