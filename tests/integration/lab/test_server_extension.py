"""The JupyterLab server extension over a real ``jupyter server`` (HTTP, its own token auth),
enabled by the same file the wheel installs: it lists the LocalClusters of this user (started
here, in another process than the server) with their agents and jobs as their JobManager
reports them, cancels a job and stops a cluster, watches a remote JobManager added by URL with
a read-only token (and refuses to control it), and no reply ever holds a cluster's token."""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import Any

import pytest

import sabot_lab as sl
from sabot_lab import col
from tests.integration.lab.shared import endless, tokens
from tests.support.jupyter_server import JupyterServer
from tests.support.polling import wait_for


def listed(server: JupyterServer, cluster: sl.LocalCluster) -> dict[str, Any]:
    (entry,) = [c for c in server.clusters() if c["uri"] == cluster.uri]
    return entry


def test_the_sidebar_lists_a_local_cluster_its_agents_and_jobs(
    server: JupyterServer, cluster: sl.LocalCluster
) -> None:
    table = sl.from_pydict({"x": list(range(3000)), "g": [i % 5 for i in range(3000)]})
    finished = table.filter(col("x") % 3 == 0).submit(cluster, name="bounded")
    expected_rows = finished.result(timeout=120).num_rows
    running = endless().submit(cluster, name="endless")
    wait_for(lambda: running.status() == "RUNNING", timeout=60)

    def rows_of_running() -> int:
        (job,) = [j for j in listed(server, cluster)["jobs"] if j["job_id"] == running.id]
        return int(job["rows"])

    wait_for(lambda: rows_of_running() > 0, timeout=60)
    entry = listed(server, cluster)
    assert entry["key"].startswith("local-") and entry["name"] == cluster.name
    assert (entry["local"], entry["controlled"], entry["error"]) == (True, True, None)

    agents = {a["uri"]: a for a in entry["agents"]}
    assert set(agents) == set(cluster.agent_uris)
    truth = {a["uri"]: a for a in cluster.agents()}
    for uri, agent in agents.items():
        assert agent["slots"] == truth[uri]["slots"] == 1
        assert agent["state"] in ("ACTIVE", "BUSY")
        assert agent["load"] == agent["running"] / agent["slots"]
        assert 0 <= agent["heartbeat_age_s"] < 60

    jobs = {j["job_id"]: j for j in entry["jobs"]}
    assert [j["job_id"] for j in entry["jobs"]] == [j["job_id"] for j in cluster.jobs()]
    done = jobs[finished.id]
    assert (done["name"], done["state"], done["bounded"]) == ("bounded", "FINISHED", True)
    assert done["rows"] == expected_rows == 1000
    assert done["tasks_done"] == done["tasks"] == finished.info()["planned_tasks"]
    assert done["duration_s"] > 0 and done["rows_per_s"] > 0
    live = jobs[running.id]
    assert (live["name"], live["state"], live["bounded"]) == ("endless", "RUNNING", False)
    wait_for(lambda: (listed(server, cluster)["jobs"][0]["rows_per_s"] or 0) > 0, timeout=30)
    (live,) = [j for j in listed(server, cluster)["jobs"] if j["job_id"] == running.id]
    assert 0 < live["rows_per_s"] < 10_000  # paced at 2,000 rows/s, half of them kept

    assert server.call("POST", f"clusters/{entry['key']}/jobs/{running.id}/cancel")["state"] in (
        "CANCELLED",
        "RUNNING",
    )
    assert running.wait(timeout=60) == "CANCELLED"
    wait_for(lambda: jobs_state(server, cluster, running.id) == "CANCELLED", timeout=30)
    assert jobs_state(server, cluster, running.id) == "CANCELLED"
    assert not any(t in reply for reply in server.replies for t in tokens(cluster))


def jobs_state(server: JupyterServer, cluster: sl.LocalCluster, job_id: str) -> str:
    return str(next(j["state"] for j in listed(server, cluster)["jobs"] if j["job_id"] == job_id))


def test_requests_without_jupyters_token_are_refused(server: JupyterServer) -> None:
    for method, path in (("GET", "clusters"), ("POST", "clusters/local-00/stop")):
        with pytest.raises(urllib.error.HTTPError) as refused:
            server.call(method, path, body={} if method == "POST" else None, token=False)
        assert refused.value.code == 403


def test_a_remote_cluster_added_with_a_read_only_token_is_only_watched(
    server: JupyterServer, cluster: sl.LocalCluster
) -> None:
    added = server.call(
        "POST", "clusters", {"uri": cluster.uri, "token": cluster.read_token, "name": "watched"}
    )["cluster"]
    assert (added["name"], added["local"], added["controlled"]) == ("watched", False, False)
    entry = next(c for c in server.clusters() if c["key"] == added["key"])
    assert {a["uri"] for a in entry["agents"]} == set(cluster.agent_uris)
    assert [j["job_id"] for j in entry["jobs"]] == [j["job_id"] for j in cluster.jobs()]

    job = endless().submit(cluster, name="watched-job")
    for action in (f"jobs/{job.id}/cancel", "stop"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            server.call("POST", f"clusters/{added['key']}/{action}", body={})
        assert refused.value.code == 400
        assert "can only be watched" in server.replies[-1] or "only local" in server.replies[-1]
    assert job.status() in ("PENDING", "SCHEDULED", "RUNNING")  # not cancelled
    job.cancel()

    with pytest.raises(urllib.error.HTTPError) as wrong:
        server.call("POST", "clusters", {"uri": cluster.uri, "token": "not-the-token"})
    assert wrong.value.code == 400 and "rejected" in server.replies[-1]
    server.call("DELETE", f"clusters/{added['key']}")
    assert all(c["key"] != added["key"] for c in server.clusters())
    assert not any(t in reply for reply in server.replies for t in tokens(cluster))


def test_stop_from_the_server_ends_a_local_cluster(
    server: JupyterServer, registry: Path, tmp_path: Path
) -> None:
    other = sl.LocalCluster(agents=1, slots=1)
    try:
        processes = [other.jobmanager_process, *other.agent_processes]
        key = listed(server, other)["key"]
        assert server.call("POST", f"clusters/{key}/stop") == {"stopped": key}
        wait_for(lambda: all(p is not None and p.poll() is not None for p in processes), 60)
        assert all(p is not None and p.poll() is not None for p in processes)
        assert all(c["uri"] != other.uri for c in server.clusters())
    finally:
        other.close()


def test_a_cluster_no_longer_reached_is_not_found(server: JupyterServer) -> None:
    for method, path in (("POST", "clusters/local-00/stop"), ("DELETE", "clusters/remote-00")):
        with pytest.raises(urllib.error.HTTPError) as missing:
            server.call(method, path, body={} if method == "POST" else None)
        assert missing.value.code == 404
        assert "is reached from here" in server.replies[-1] or "no cluster" in server.replies[-1]
