"""The ClusterWidget against a real LocalCluster: it lists the agents and jobs the JobManager
knows, its scale message starts an agent process without blocking the loop, and the static
HTML shows the same rows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

import sabot_lab as sl
from sabot_lab.errors import ClusterError
from sabot_lab.notebook.cluster_view import LIVE_AGENTS
from sabot_lab.notebook.cluster_widget import ClusterWidget


@pytest.fixture(scope="module")
def cluster() -> Iterator[sl.LocalCluster]:
    with sl.LocalCluster(agents=1, slots=1, heartbeat_timeout=5, heartbeat_interval=0.2) as c:
        yield c


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def active(widget: ClusterWidget) -> set[str]:
    return {a["uri"] for a in widget.agents if a["state"] in ("ACTIVE", "BUSY")}


def test_the_widget_lists_the_agents_and_jobs_and_scales_up(cluster: sl.LocalCluster) -> None:
    job = sl.from_pydict({"x": [1, 2, 3]}).submit(cluster, name="three rows")
    assert job.wait(timeout=60) == "FINISHED"

    async def main() -> ClusterWidget:
        widget = ClusterWidget(cluster)
        assert widget.updater is not None
        assert widget.updater.get_loop() is asyncio.get_running_loop()
        await until(lambda: bool(widget.agents))
        assert active(widget) == set(cluster.agent_uris)
        (agent,) = widget.agents
        assert (agent["slots"], agent["running"], agent["load"]) == (1, 0, 0.0)
        assert agent["heartbeat_age_s"] < 5
        listed = {j["job_id"]: (j["name"], j["state"]) for j in widget.jobs}
        assert listed[job.job_id] == ("three rows", "FINISHED")
        assert [j["job_id"] for j in widget.jobs] == [j["job_id"] for j in cluster.jobs()]
        assert widget.scalable and widget.status == "open"
        link = cluster.dashboard_link  # each a one-time link of its own, with no token
        assert widget.link.split("=")[0] == link.split("=")[0] == link.split("?")[0] + "?code"
        assert widget.link != link and cluster.token and cluster.token not in widget.link

        # the message a click on "+ agent" sends, through ipywidgets' dispatch
        started = time.monotonic()
        widget._handle_custom_msg({"type": "scale", "by": 1}, [])
        assert time.monotonic() - started < 0.5  # the agent starts on a worker thread
        assert widget.notice == "scaling to 2 agents"
        await until(lambda: len(active(widget)) == 2 and widget.notice == "")
        assert widget.updater is not None and not widget.updater.done()
        widget.close()
        await asyncio.sleep(0)
        assert widget.updater.cancelled() or widget.updater.done()
        return widget

    widget = asyncio.run(main())
    assert len(cluster.agent_uris) == 2
    assert active(widget) == set(cluster.agent_uris)
    assert widget.notice == ""
    html = cluster._repr_html_()
    assert html.count('<tr class="sabot-agent"') == len(cluster.agents())
    for uri in cluster.agent_uris:
        assert f'data-agent="{uri}"' in html
    assert f'data-job-id="{job.job_id}"' in html
    cluster.scale(1)


def test_a_connected_cluster_has_no_scale_buttons(cluster: sl.LocalCluster) -> None:
    connected = sl.connect(cluster.uri, token=cluster.token)
    widget = ClusterWidget(connected)  # no running loop: one reading, now
    assert widget.updater is None
    assert not widget.scalable
    live = {a["uri"] for a in cluster.agents() if a["state"] in LIVE_AGENTS}
    assert {a["uri"] for a in widget.agents} == live
    with pytest.raises(ClusterError, match="not a LocalCluster"):
        widget.scale_by(1)
    widget._handle_custom_msg({"type": "scale", "by": 1}, [])  # a click shows why not
    assert "is not a LocalCluster: start or stop its agents where they run" in widget.notice
    assert "Cluster grpc://127.0.0.1" in widget.static_text()
    link = widget.link
    widget.refresh()  # a reading within LINK_RENEWAL shows the same one-time link
    assert widget.link == link and "/login?code=" in link


def test_stopped_agents_fold_away_empty_tables_say_so_and_a_closed_cluster_says_closed() -> None:
    with sl.LocalCluster(agents=2, slots=1, heartbeat_timeout=5, heartbeat_interval=0.2) as c:

        async def main() -> ClusterWidget:
            widget = ClusterWidget(c, interval=0.1)
            await until(lambda: len(active(widget)) == 2)
            assert widget.jobs == [] and "no jobs yet" in widget.static_html()
            stopped = c.agent_uris[-1]
            await asyncio.to_thread(c.scale, 1)
            await until(lambda: [a["uri"] for a in widget.history] == [stopped])
            assert [a["uri"] for a in widget.history] == [stopped]
            assert stopped not in {a["uri"] for a in widget.agents}
            assert set(widget.history[0]) == {"uri", "state", "heartbeat_age_s"}  # no load
            html = widget.static_html()
            assert '<details class="sabot-agent-history">' in html
            assert f'<tr class="sabot-agent-past" data-agent="{stopped}">' in html
            assert "1 of 1 agents active" in widget.static_text()

            await asyncio.to_thread(c.close)
            assert widget.updater is not None
            await asyncio.wait_for(widget.updater, 30)  # a closed cluster is not followed
            return widget

        widget = asyncio.run(main())
    assert widget.status == "closed" and widget.agents == [] and widget.link == ""
    assert "closed" in widget.static_html() and "does not answer" not in widget.static_html()
    assert widget.static_text() == f"Cluster {c.uri}: closed"
