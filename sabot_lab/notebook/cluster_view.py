"""What a cluster's views show, as plain JSON data, and its static renderings.

:func:`cluster_view` turns the JobManager's agent and job rows into one dict; the
:class:`~sabot_lab.notebook.cluster_widget.ClusterWidget` sends it to the browser, where
``static/cluster.js`` draws it, and :func:`cluster_html` / :func:`cluster_text` draw the same
dict for saved notebooks and terminals.

>>> agents = [{"uri": "grpc://127.0.0.1:1", "state": "ACTIVE", "slots": 2, "running": 1,
...            "last_heartbeat": 99.5}]
>>> jobs = [{"job_id": "j1", "name": "q5", "state": "RUNNING", "error": None}]
>>> view = cluster_view("grpc://127.0.0.1:9", agents, jobs, link="http://127.0.0.1:8/", now=100.0)
>>> view["agents"][0]["load"], view["agents"][0]["heartbeat_age_s"]
(0.5, 0.5)
>>> print(cluster_text(view))
Cluster grpc://127.0.0.1:9: 1 of 1 agents active, 1 jobs
  agent grpc://127.0.0.1:1 ACTIVE, 1/2 slots busy, heartbeat 0.5 s ago
  job j1 (q5) RUNNING
>>> html = cluster_html(view)
>>> html.count('class="sabot-agent"'), 'href="http://127.0.0.1:8/"' in html
(1, True)

Agents that stopped or failed leave the live list for ``history`` (a fold in the views); a
closed cluster says so:

>>> gone = {**agents[0], "uri": "grpc://127.0.0.1:2", "state": "FAILED", "running": 1}
>>> view = cluster_view("grpc://127.0.0.1:9", [*agents, gone], [], now=100.0)
>>> [a["uri"] for a in view["agents"]], [a["state"] for a in view["history"]]
(['grpc://127.0.0.1:1'], ['FAILED'])
>>> print(cluster_text(cluster_view("grpc://127.0.0.1:9", [], [], status="closed")))
Cluster grpc://127.0.0.1:9: closed
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sabot_lab.client import LocalCluster
from sabot_lab.errors import ClusterError
from sabot_lab.notebook.frontend import static_style

if TYPE_CHECKING:
    from sabot_lab.client import Cluster

__all__ = [
    "LIVE_AGENTS",
    "STATUS_NOTICES",
    "cluster_html",
    "cluster_text",
    "cluster_view",
    "view_of",
]

LIVE_AGENTS = ("STARTING", "ACTIVE", "BUSY", "DRAINING")
"""Agent states of agents that are up."""
JOBS_SHOWN = 20
"""The newest jobs a cluster view lists."""
STATUS_NOTICES = {
    "closed": "closed",
    "unreachable": "the JobManager does not answer",
}
"""What the views say of a cluster whose status is not ``open``."""


def cluster_view(
    uri: str,
    agents: Iterable[Mapping[str, Any]],
    jobs: Iterable[Mapping[str, Any]],
    link: str | None = None,
    scalable: bool = False,
    status: str = "open",
    now: float | None = None,
) -> dict[str, Any]:
    """The JSON data of a cluster's views: its live agents (state, slots, ``load``: the share
    of slots running tasks, seconds since the last heartbeat), those that stopped or failed
    (``history``: state and last heartbeat), its newest jobs (with the first line of a failed
    job's error), the status page ``link``, whether it can be ``scalable`` (a
    :class:`~sabot_lab.client.LocalCluster`) and its ``status``: ``open``, ``closed`` (its
    processes were stopped) or ``unreachable`` (the JobManager does not answer)."""
    now = time.time() if now is None else now
    rows = [
        {
            "uri": a["uri"],
            "state": a["state"],
            "slots": a["slots"],
            "running": a["running"],
            "load": round(a["running"] / a["slots"], 3) if a["slots"] else 0.0,
            "heartbeat_age_s": round(max(0.0, now - a["last_heartbeat"]), 1),
        }
        for a in agents
    ]
    return {
        "uri": uri,
        "link": link or "",
        "scalable": scalable,
        "status": status,
        "agents": [a for a in rows if a["state"] in LIVE_AGENTS],
        "history": [
            {"uri": a["uri"], "state": a["state"], "heartbeat_age_s": a["heartbeat_age_s"]}
            for a in rows
            if a["state"] not in LIVE_AGENTS
        ],
        "jobs": [
            {
                "job_id": j["job_id"],
                "name": str(j.get("name") or j["job_id"]),
                "state": j["state"],
                "error": next(iter((j.get("error") or "").strip().splitlines()), ""),
            }
            for j in list(jobs)[:JOBS_SHOWN]
        ],
    }


def view_of(cluster: Cluster, link: str | None = None) -> dict[str, Any]:
    """The :func:`cluster_view` of ``cluster`` now (blocking calls to its JobManager), with
    ``link`` to the status page (by default a new one-time
    :attr:`~sabot_lab.client.Cluster.dashboard_link`: never a token); a LocalCluster
    closed is ``closed``, a JobManager that does not answer ``unreachable``."""
    scalable = isinstance(cluster, LocalCluster)
    if isinstance(cluster, LocalCluster) and cluster.closed:
        return cluster_view(cluster.uri, [], [], scalable=scalable, status="closed")
    try:
        agents, jobs = cluster.agents(), cluster.jobs()
        link = cluster.dashboard_link if link is None else link
    except ClusterError:
        return cluster_view(cluster.uri, [], [], scalable=scalable, status="unreachable")
    return cluster_view(cluster.uri, agents, jobs, link, scalable)


def _active(view: Mapping[str, Any]) -> str:
    agents = view["agents"]
    up = sum(a["state"] in ("ACTIVE", "BUSY") for a in agents)
    return f"{up} of {len(agents)} agents active"


def cluster_text(view: Mapping[str, Any]) -> str:
    """A cluster's view as text (see the module docstring)."""
    if view["status"] != "open":
        return f"Cluster {view['uri']}: {STATUS_NOTICES[view['status']]}"
    lines = [f"Cluster {view['uri']}: {_active(view)}, {len(view['jobs'])} jobs"]
    lines += [
        f"  agent {a['uri']} {a['state']}, {a['running']}/{a['slots']} slots busy, "
        f"heartbeat {a['heartbeat_age_s']:g} s ago"
        for a in view["agents"]
    ]
    lines += [
        f"  agent {a['uri']} {a['state']}, last heartbeat {a['heartbeat_age_s']:g} s ago"
        for a in view["history"]
    ]
    lines += [
        f"  job {j['job_id']} ({j['name']}) {j['state']}"
        + (f": {j['error']}" if j["error"] else "")
        for j in view["jobs"]
    ]
    return "\n".join(lines)


def _state(state: str, cls: str) -> str:
    return f'<span class="{cls} sabot-state-{state.lower()}">{html.escape(state)}</span>'


def _rows(rows: str, columns: int, empty: str) -> str:
    """Table rows, or one row saying ``empty`` when there are none."""
    return rows or f'<tr class="sabot-empty"><td colspan="{columns}">{empty}</td></tr>'


def cluster_html(view: Mapping[str, Any]) -> str:
    """A cluster's view as HTML with the widget's classes and stylesheet, without the scale
    buttons."""
    uri = html.escape(view["uri"])
    if view["status"] != "open":
        notice = html.escape(STATUS_NOTICES[view["status"]])
        body = f'<div class="sabot-cluster-notice sabot-status-{view["status"]}">{notice}</div>'
    else:
        agents = "".join(
            f'<tr class="sabot-agent" data-agent="{html.escape(a["uri"])}">'
            f"<td><code>{html.escape(a['uri'])}</code></td>"
            f"<td>{_state(a['state'], 'sabot-agent-state')}</td>"
            f'<td class="sabot-number">{a["running"]}/{a["slots"]}</td>'
            f'<td class="sabot-number">{a["load"]:.0%}</td>'
            f'<td class="sabot-number">{a["heartbeat_age_s"]:g} s</td></tr>'
            for a in view["agents"]
        )
        history = "".join(
            f'<tr class="sabot-agent-past" data-agent="{html.escape(a["uri"])}">'
            f"<td><code>{html.escape(a['uri'])}</code></td>"
            f"<td>{_state(a['state'], 'sabot-agent-state')}</td>"
            f'<td class="sabot-number">{a["heartbeat_age_s"]:g} s ago</td></tr>'
            for a in view["history"]
        )
        jobs = "".join(
            f'<tr class="sabot-cluster-job" data-job-id="{html.escape(j["job_id"])}">'
            f"<td><code>{html.escape(j['job_id'])}</code></td><td>{html.escape(j['name'])}</td>"
            f"<td>{_state(j['state'], 'sabot-cluster-job-state')}</td>"
            f"<td>{html.escape(j['error'])}</td></tr>"
            for j in view["jobs"]
        )
        fold = (
            f'<details class="sabot-agent-history"><summary>{len(view["history"])} stopped or '
            f"failed agents</summary><table><tr><th>agent</th><th>state</th>"
            f"<th>last heartbeat</th></tr>{history}</table></details>"
            if history
            else ""
        )
        body = (
            '<table class="sabot-agents"><tr><th>agent</th><th>state</th><th>tasks/slots</th>'
            f"<th>load</th><th>heartbeat</th></tr>{_rows(agents, 5, 'no agents running')}</table>"
            f"{fold}"
            '<table class="sabot-cluster-jobs"><tr><th>job</th><th>name</th><th>state</th>'
            f"<th>error</th></tr>{_rows(jobs, 4, 'no jobs yet')}</table>"
        )
    link = (
        f'<a class="sabot-cluster-link" href="{html.escape(view["link"])}" target="_blank">'
        "status page</a>"
        if view["link"] and view["status"] == "open"
        else ""
    )
    summary = _active(view) if view["status"] == "open" else ""
    return (
        f"<style>{static_style()}</style>"
        f'<div class="sabot-widget sabot-cluster"><div class="sabot-cluster-header">'
        f'<b>Cluster</b> <code>{uri}</code> <span class="sabot-cluster-agents">'
        f"{summary}</span> {link}</div>{body}</div>"
    )
