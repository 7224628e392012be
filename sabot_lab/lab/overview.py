"""What the Sabot sidebar shows of a cluster: its agents (state, slots, load, heartbeat age)
and its newest jobs (state, progress, rows, rows/s, duration), made from the JobManager's
``agents``, ``jobs`` and ``metrics`` replies by :class:`Overview`, which remembers the
figures a rate needs and the metrics of ended jobs (they no longer change).

May import: the client layer (a :class:`~sabot_lab.client.Cluster` to call),
:mod:`sabot_lab.errors`.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from sabot_lab.client.cluster import Cluster
from sabot_lab.client.job import Job
from sabot_lab.errors import ClusterError

__all__ = ["JOBS_SHOWN", "Overview", "RateMeter", "agent_row", "job_row", "output_rows"]

JOBS_SHOWN = 20
"""The newest jobs of a cluster the sidebar lists."""

_ENDED = frozenset({"FINISHED", "FAILED", "CANCELLED"})


def agent_row(agent: dict[str, Any], now: float) -> dict[str, Any]:
    """An agent as the sidebar shows it: ``load`` is its running tasks over its slots,
    ``heartbeat_age_s`` the seconds since its last heartbeat (at ``now``).

    >>> agent_row({"uri": "grpc://127.0.0.1:5", "state": "BUSY", "slots": 4, "running": 3,
    ...            "last_heartbeat": 100.0}, now=102.5)
    {'uri': 'grpc://127.0.0.1:5', 'state': 'BUSY', 'slots': 4, 'running': 3, 'load': 0.75, 'heartbeat_age_s': 2.5}
    """
    slots = int(agent.get("slots") or 0)
    running = int(agent.get("running") or 0)
    beat = agent.get("last_heartbeat")
    return {
        "uri": agent["uri"],
        "state": agent["state"],
        "slots": slots,
        "running": running,
        "load": running / slots if slots else 0.0,
        "heartbeat_age_s": None if beat is None else max(0.0, now - float(beat)),
    }


def output_rows(metrics: dict[str, Any]) -> int:
    """The rows out of a job's last stage (what it produced so far), from its
    :meth:`~sabot_lab.client.Job.metrics`.

    >>> output_rows({"stages": {"0": {"rows_out": 9}, "1": {"rows_out": 4}}}), output_rows({})
    (4, 0)
    """
    stages = metrics.get("stages") or {}
    if not stages:
        return 0
    last = max(stages, key=int)
    return int(stages[last].get("rows_out") or 0)


def job_row(
    job: dict[str, Any], metrics: dict[str, Any], rows_per_s: float | None, now: float
) -> dict[str, Any]:
    """A job as the sidebar shows it: ``tasks_done`` of ``tasks`` (its planned tasks),
    ``rows`` out of its last stage, ``rows_per_s`` and ``duration_s`` (until ``now`` while
    it runs).

    >>> job_row({"job_id": "ab12", "name": "etl", "state": "FINISHED", "bounded": True,
    ...          "planned_tasks": 2, "created_at": 10.0, "finished_at": 14.0},
    ...         {"tasks": {"FINISHED": 2}, "stages": {"0": {"rows_out": 9}, "1": {"rows_out": 4}}},
    ...         rows_per_s=1.0, now=99.0)
    {'job_id': 'ab12', 'name': 'etl', 'state': 'FINISHED', 'bounded': True, 'error': None, 'tasks': 2, 'tasks_done': 2, 'rows': 4, 'rows_per_s': 1.0, 'duration_s': 4.0}
    """
    created = float(job.get("created_at") or now)
    finished = job.get("finished_at")
    return {
        "job_id": job["job_id"],
        "name": job.get("name"),
        "state": job["state"],
        "bounded": bool(job.get("bounded", True)),
        "error": job.get("error"),
        "tasks": int(job.get("planned_tasks") or 0),
        "tasks_done": int((metrics.get("tasks") or {}).get("FINISHED", 0)),
        "rows": output_rows(metrics),
        "rows_per_s": rows_per_s,
        "duration_s": max(0.0, (float(finished) if finished else now) - created),
    }


class RateMeter:
    """Rows per second of a count read now and then: the rise over the last ``window``
    seconds of readings (at least ``least`` seconds apart), None until there are two.

    >>> meter = RateMeter()
    >>> meter.read("j", 0, at=10.0) is None, meter.read("j", 500, at=11.0)
    (True, 500.0)
    >>> meter.read("j", 2000, at=12.0)  # over the last 2 s
    1000.0
    """

    def __init__(self, window: float = 3.0, least: float = 0.5) -> None:
        self.window = window
        self.least = least
        self._readings: dict[str, deque[tuple[float, int]]] = {}

    def read(self, key: str, count: int, at: float) -> float | None:
        """Note that ``key`` counted ``count`` at time ``at``; its rate then."""
        readings = self._readings.setdefault(key, deque())
        readings.append((at, count))
        while len(readings) > 2 and at - readings[1][0] >= self.window:
            readings.popleft()
        first_at, first = readings[0]
        if at - first_at < self.least:
            return None
        return max(0, count - first) / (at - first_at)

    def forget(self, keep: set[str]) -> None:
        """Drop the readings of every key but those in ``keep``."""
        for key in set(self._readings) - keep:
            del self._readings[key]


class Overview:
    """The sidebar's view of clusters: :meth:`of` asks one JobManager for its agents, its
    newest jobs and their metrics (those of an ended job once), each call blocking (run it on
    a worker thread)."""

    def __init__(self) -> None:
        self._rates = RateMeter()
        self._ended: dict[str, dict[str, Any]] = {}

    def of(self, key: str, cluster: Cluster) -> dict[str, Any]:
        """``agents`` and ``jobs`` of the cluster known here as ``key``, or its ``error``
        (what went wrong, e.g. its JobManager does not answer)."""
        try:
            agents = cluster.agents()
            jobs = cluster.jobs(limit=JOBS_SHOWN)
            now = time.time()
            rows = [self._job(key, cluster, job, now) for job in jobs]
        except ClusterError as exc:
            return {"agents": [], "jobs": [], "error": str(exc)}
        listed = {f"{key}/{job['job_id']}" for job in jobs}
        self._rates.forget(listed)
        for ident in [i for i in self._ended if i.startswith(f"{key}/") and i not in listed]:
            del self._ended[ident]
        return {"agents": [agent_row(a, now) for a in agents], "jobs": rows, "error": None}

    def _job(self, key: str, cluster: Cluster, job: dict[str, Any], now: float) -> dict[str, Any]:
        ident = f"{key}/{job['job_id']}"
        ended = job["state"] in _ENDED
        metrics = self._ended.get(ident) if ended else None
        if metrics is None:
            metrics = Job(cluster, job["job_id"]).metrics()
            if ended:
                self._ended[ident] = metrics
        rows = output_rows(metrics)
        if ended:
            spent = float(job.get("finished_at") or now) - float(job.get("created_at") or now)
            rate = rows / spent if spent > 0 else None
        else:
            rate = self._rates.read(ident, rows, time.monotonic())
        return job_row(job, metrics, rate, now)
