"""The snapshots each plan, job and cluster output carries (``application/vnd.sabot.*+json``),
against a real LocalCluster: what they hold is what the widget shows (the JobManager's own
agents and job, the plan's own operators), as plain JSON, and never a token or the status
page's one-time link."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import sabot_lab as sl
from sabot_lab.notebook.cluster_widget import ClusterWidget
from sabot_lab.notebook.job_widget import JobWidget
from sabot_lab.notebook.snapshot import CLUSTER_MIME, JOB_MIME, PLAN_MIME

PIPELINE = sl.from_pydict({"sym": ["a", "b", "a"], "px": [1.0, 5.0, 9.0]}).filter(sl.col("px") > 4)


@pytest.fixture(scope="module")
def cluster() -> Iterator[sl.LocalCluster]:
    with sl.LocalCluster(agents=1, slots=1, heartbeat_interval=0.2) as c:
        yield c


def secrets_of(cluster: sl.LocalCluster) -> list[str]:
    secrets = [cluster.token, cluster.read_token, cluster.cluster_auth.token]
    assert all(s and len(s) >= 22 for s in secrets)
    return [str(s) for s in secrets]


def snapshot_of(bundle: dict, mime: str) -> dict:
    """The snapshot of ``mime`` in a display bundle, through JSON as a notebook file holds it."""
    entry = json.loads(json.dumps(bundle[mime]))
    assert entry["version"] == 1
    return dict(entry["state"])


def test_the_cluster_snapshot_holds_its_agents_and_jobs_and_no_secret(
    cluster: sl.LocalCluster,
) -> None:
    job = PIPELINE.submit(cluster, name="dear")
    assert job.wait(timeout=60) == "FINISHED"
    widget = ClusterWidget(cluster)  # no event loop: read once, now
    assert widget.link  # the widget shows the status page's one-time link
    data, _ = widget._repr_mimebundle_()
    state = snapshot_of(data, CLUSTER_MIME)
    assert [a["uri"] for a in state["agents"]] == [a["uri"] for a in cluster.agents()]
    assert [j["job_id"] for j in state["jobs"]] == [j["job_id"] for j in cluster.jobs()]
    assert "link" not in state and state["scalable"] is False
    text = json.dumps(state)
    for secret in [*secrets_of(cluster), widget.link]:
        assert secret not in text
    assert "text/html" in data and "text/plain" in data


def test_the_job_snapshot_is_what_the_widget_shows(cluster: sl.LocalCluster) -> None:
    job = PIPELINE.submit(cluster, name="dear")
    rows = job.result().num_rows
    widget = JobWidget(job)
    data, _ = widget._repr_mimebundle_()
    state = snapshot_of(data, JOB_MIME)
    assert state["job_id"] == job.id and state["state"] == "FINISHED" and state["rows"] == rows
    assert state == {**json.loads(json.dumps(widget.view())), "notice": ""}
    text = json.dumps(state)
    assert all(secret not in text for secret in secrets_of(cluster))


def test_the_plan_snapshot_holds_the_widgets_views() -> None:
    widget = PIPELINE.show_plan()
    widget.selected = widget.views["optimized"]["nodes"][0]["id"]
    data, _ = widget._repr_mimebundle_()
    state = snapshot_of(data, PLAN_MIME)
    assert state["views"] == json.loads(json.dumps(widget.views))
    assert state["view"] == "optimized" and state["selected"] == "" and state["live"] == {}
    operators = [n.operator_id for n in PIPELINE.optimize().graph.nodes.values()]
    assert [n["id"] for n in state["views"]["optimized"]["nodes"]] == operators
