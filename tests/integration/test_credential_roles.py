"""What each credential may do, against a real ``LocalCluster``: the submit token (clients
that submit and cancel), the read-only token (listings, status, results) and the cluster
credential (the JobManager and agents between themselves). Every JobManager call is checked
against the table below, written out here independently of the one in
``sabot_lab.runtime.protocol``; agents accept the cluster credential alone."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.errors import AuthenticationError, ClusterError
from sabot_lab.runtime.transport import Credentials, call
from tests.support.reference import assert_same_rows, duckdb_table

READ, SUBMIT, CLUSTER = "read", "submit", "cluster"
ALL = {READ, SUBMIT, CLUSTER}
MAY_CALL = {
    "ping": ALL,
    "status": ALL,
    "wait": ALL,
    "tasks": ALL,
    "checkpoints": ALL,
    "metrics": ALL,
    "jobs": ALL,
    "agents": ALL,
    "dashboard_code": ALL,
    "submit": {SUBMIT},
    "cancel": {SUBMIT},
    "savepoint": {SUBMIT},
    "delete": {SUBMIT},
    "delete_ended": {SUBMIT},
    "heartbeat": {CLUSTER},
}
"""The roles that may make each Flight action of the JobManager."""

ONLY_READS = "this credential may only read; submitting needs the submit token (SABOT_TOKEN)"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sl.LocalCluster]:
    with sl.LocalCluster(agents=1, slots=2, workdir=tmp_path_factory.mktemp("roles")) as c:
        yield c


def credentials(cluster: sl.LocalCluster, role: str) -> Credentials:
    return {
        READ: Credentials(cluster.read_token),
        SUBMIT: cluster.auth,
        CLUSTER: cluster.cluster_auth,
    }[role]


@pytest.mark.parametrize("action", sorted(MAY_CALL))
@pytest.mark.parametrize("role", sorted(ALL))
def test_each_role_may_make_exactly_the_calls_of_its_row(
    cluster: sl.LocalCluster, role: str, action: str
) -> None:
    """A call the role may make reaches its handler (which answers, or refuses the body of
    a job that does not exist); any other is refused for its credential."""
    body = {"job_id": "no-such-job", "timeout": 0}  # no job, no agent, nothing submitted
    try:
        call(cluster.uri, action, body, credentials(cluster, role), timeout=30)
        refusal = None
    except AuthenticationError as exc:
        refusal = str(exc)
    except ClusterError as exc:
        assert "unknown action" not in str(exc)  # the JobManager serves every listed call
        refusal = None
    assert (refusal is None) == (role in MAY_CALL[action]), refusal
    if refusal is not None:
        assert refusal.startswith(f"{cluster.uri}: rejected: ")
        variable = "SABOT_CLUSTER_TOKEN" if action == "heartbeat" else "SABOT_TOKEN"
        assert f"({variable})" in refusal


@pytest.mark.parametrize("role", sorted(ALL))
def test_an_unknown_action_is_refused_whatever_the_credential(
    cluster: sl.LocalCluster, role: str
) -> None:
    with pytest.raises(ClusterError, match="unknown action 'shell'"):
        call(cluster.uri, "shell", {}, credentials(cluster, role))


def grouped(table: pa.Table) -> sl.Stream:
    return sl.from_arrow(table).group_by("k").agg(total=col("x").sum())


def test_a_read_token_follows_jobs_and_fetches_results_but_cannot_submit_or_cancel(
    cluster: sl.LocalCluster,
) -> None:
    table = pa.table({"k": [i % 7 for i in range(5_000)], "x": list(range(5_000))})
    job = grouped(table).submit(cluster, name="by-submitter")
    reader = sl.connect(cluster.uri, token=cluster.read_token)
    expected = duckdb_table("SELECT k, SUM(x) AS total FROM t GROUP BY k", t=table)
    assert_same_rows(reader.job(job.job_id).result(timeout=60), expected)
    assert job.job_id in {j["job_id"] for j in reader.jobs()}
    assert reader.job(job.job_id).status() == "FINISHED"
    assert [a["uri"] for a in reader.agents()] == cluster.agent_uris
    jobs_before = len(cluster.jobs())
    with pytest.raises(AuthenticationError) as refused:
        grouped(table).submit(reader)
    assert str(refused.value) == f"{cluster.uri}: rejected: {ONLY_READS}"
    with pytest.raises(AuthenticationError, match="may only read; 'cancel' needs the submit"):
        reader.job(job.job_id).cancel()
    assert len(cluster.jobs()) == jobs_before  # nothing was submitted
    assert cluster.job(job.job_id).status() == "FINISHED"


def test_the_cluster_credential_cannot_submit(cluster: sl.LocalCluster) -> None:
    agent_side = sl.connect(cluster.uri, token=cluster.cluster_auth.token)
    with pytest.raises(AuthenticationError, match=r"needs the submit token \(SABOT_TOKEN\)"):
        sl.from_pydict({"x": [1]}).submit(agent_side)
    assert agent_side.jobs() == cluster.jobs()  # it reads


@pytest.mark.parametrize("role", [READ, SUBMIT])
@pytest.mark.parametrize("action", ["ping", "status", "deploy", "drop_job"])
def test_an_agent_accepts_only_the_cluster_credential(
    cluster: sl.LocalCluster, role: str, action: str
) -> None:
    """A client holding the submit token cannot deploy a task on an agent directly."""
    agent = cluster.agent_uris[0]
    with pytest.raises(AuthenticationError, match="invalid or missing bearer token"):
        call(agent, action, {"job_id": "no-such-job"}, credentials(cluster, role))
    assert call(agent, "ping", None, cluster.cluster_auth)["state"] in ("ACTIVE", "BUSY")


def http_status(url: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30):
            return 200
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_http_endpoint_accepts_the_read_and_submit_tokens_only(
    cluster: sl.LocalCluster,
) -> None:
    base = str(call(cluster.uri, "ping", None, cluster.auth)["http"])
    for path in ("/api/jobs", "/api/agents", "/metrics"):
        statuses = [
            http_status(base + path, t)
            for t in (cluster.read_token, cluster.token, cluster.cluster_auth.token, None)
        ]
        assert statuses == [200, 200, 401, 401], path


def test_a_local_cluster_shows_none_of_its_tokens(cluster: sl.LocalCluster) -> None:
    tokens = (cluster.token, cluster.read_token, cluster.cluster_auth.token)
    assert len(set(tokens)) == 3 and all(t and len(t) >= 43 for t in tokens)  # 32 bytes each
    shown = " ".join(map(repr, (cluster, cluster.auth, cluster.cluster_auth)))
    assert not any(t in shown for t in tokens if t)


def test_its_agents_have_the_cluster_token_alone(cluster: sl.LocalCluster) -> None:
    """An agent's environment holds no client token: it needs none."""
    for process in cluster.agent_processes:
        environ = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
        names = {line.split(b"=", 1)[0].decode() for line in environ if b"=" in line}
        assert "SABOT_CLUSTER_TOKEN" in names
        assert not names & {"SABOT_TOKEN", "SABOT_READ_TOKEN"}
