"""What the JupyterLab job tab shows of one job: its state and final or running figures, its
throughput and backpressure over time (:class:`JobSeries`, measured between the tasks'
reports, by the JobManager's clock), its checkpoints, its live physical plan (drawn by the
notebook plug-in's :mod:`~sabot_lab.notebook.job_tab_plan`, for clusters whose submit token
is held here: the plan carries the job's code), the failing task's error and log tail, and
the line that gets the job in a notebook.

:class:`JobDetails` keeps, per job, the series and the drawing across the tab's readings.

May import: the client layer (:class:`~sabot_lab.client.Job`, its
:mod:`~sabot_lab.client.task_failure`), :mod:`sabot_lab.errors`, and (inside the call that draws) the notebook plug-in's
:mod:`~sabot_lab.notebook.job_tab_plan`.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from typing import Any

from sabot_lab.client.cluster import Cluster
from sabot_lab.client.job import Job
from sabot_lab.client.task_failure import task_failure
from sabot_lab.errors import ClusterError
from sabot_lab.lab.overview import output_rows

__all__ = [
    "JobDetails",
    "JobSeries",
    "checkpoint_points",
    "notebook_line",
]

SERIES_POINTS = 600
"""Points a series keeps (the newest)."""
JOBS_KEPT = 64
"""Jobs whose series and drawing are kept (those read last)."""

_ENDED = frozenset({"FINISHED", "FAILED", "CANCELLED"})


def notebook_line(job_id: str) -> str:
    """The line that gets the job in a notebook, given the cluster as ``cluster``.

    >>> print(notebook_line("ab12"))
    job = cluster.job("ab12")
    """
    return f"job = cluster.job({json.dumps(job_id)})"


def checkpoint_points(checkpoints: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The completed checkpoints of a job as the tab charts them: number, seconds from asked
    to complete, size in bytes.

    >>> checkpoint_points([{"checkpoint_id": 1, "state": "COMPLETE", "created_at": 1.0,
    ...                     "completed_at": 1.5, "bytes": 64},
    ...                    {"checkpoint_id": 2, "state": "PENDING", "created_at": 2.0}])
    [{'id': 1, 'duration_s': 0.5, 'bytes': 64}]
    """
    return [
        {
            "id": c["checkpoint_id"],
            "duration_s": round(float(c["completed_at"]) - float(c["created_at"]), 6),
            "bytes": c.get("bytes"),
        }
        for c in checkpoints
        if c["state"] != "PENDING" and c.get("completed_at") is not None
    ]


class JobSeries:
    """A job's throughput (rows out of its last stage per second) and backpressure (the share
    of its running tasks' time spent waiting for consumers) over time, each point measured
    between two readings whose task reports differ, at the newest report's time (the
    JobManager's clock): readings that find no new report add nothing, so a rate never reads
    0 between reports.

    >>> series = JobSeries()
    >>> series.add(at=10.0, rows=0, backpressure_s=0.0, running=2)
    >>> series.add(at=10.0, rows=0, backpressure_s=0.0, running=2)  # no new report
    >>> series.add(at=12.0, rows=1000, backpressure_s=1.0, running=2)
    >>> series.points()
    {'throughput': [[12.0, 500.0]], 'backpressure': [[12.0, 0.25]]}
    """

    def __init__(self) -> None:
        self._last: tuple[float, int, float] | None = None
        self._throughput: deque[list[float]] = deque(maxlen=SERIES_POINTS)
        self._backpressure: deque[list[float]] = deque(maxlen=SERIES_POINTS)

    def add(self, at: float, rows: int, backpressure_s: float, running: int) -> None:
        """Note a reading: the newest report's time ``at``, the rows out so far, the
        backpressure seconds summed over tasks, the tasks running."""
        last = self._last
        if last is not None and at <= last[0]:
            return
        self._last = (at, rows, backpressure_s)
        if last is None:
            return
        seconds = at - last[0]
        self._throughput.append([at, round(max(0, rows - last[1]) / seconds, 1)])
        if running:
            share = max(0.0, backpressure_s - last[2]) / (seconds * running)
            self._backpressure.append([at, round(min(1.0, share), 3)])

    def add_whole_run(self, at: float, rows: int, seconds: float) -> None:
        """A job that ended before any two readings: its average rate over its run."""
        if not self._throughput and seconds > 0:
            self._throughput.append([at, round(rows / seconds, 1)])

    def points(self) -> dict[str, list[list[float]]]:
        """``[time, value]`` points of ``throughput`` and ``backpressure``, oldest first."""
        return {"throughput": list(self._throughput), "backpressure": list(self._backpressure)}


class _Followed:
    """What is kept of one job between readings."""

    def __init__(self) -> None:
        self.series = JobSeries()
        self.drawing: Any = None  # a JobPlanDrawing, once made
        self.plan_note: str | None = None  # why there is no drawing, once known
        self.ended: dict[str, Any] | None = None  # the reply for an ended job (it stays)
        self.lock = threading.Lock()  # one reading at a time (two tabs may show the job)


class JobDetails:
    """The job tab's readings of jobs: :meth:`read` asks a JobManager for one job (blocking:
    run it on a worker thread) and keeps its series and plan drawing for the next reading."""

    def __init__(self) -> None:
        self._followed: OrderedDict[str, _Followed] = OrderedDict()
        self._lock = threading.Lock()

    def _of(self, ident: str) -> _Followed:
        with self._lock:
            followed = self._followed.pop(ident, None) or _Followed()
            self._followed[ident] = followed
            while len(self._followed) > JOBS_KEPT:
                self._followed.popitem(last=False)
            return followed

    def read(
        self, key: str, reader: Cluster, controller: Cluster | None, job_id: str
    ) -> dict[str, Any]:
        """Job ``job_id`` of cluster ``key`` (read with ``reader``; its plan drawn with
        ``controller``, the submit token's connection, when there is one) as the tab shows
        it; a :class:`~sabot_lab.errors.ClusterError` if the JobManager does not know it."""
        followed = self._of(f"{key}/{job_id}")
        with followed.lock:
            if followed.ended is not None:
                return followed.ended
            reply = self._read(followed, reader, controller, job_id)
            if reply["state"] in _ENDED:
                followed.ended = reply
            return reply

    def _read(
        self, followed: _Followed, reader: Cluster, controller: Cluster | None, job_id: str
    ) -> dict[str, Any]:
        job = Job(reader, job_id)
        info = job.info()
        tasks = job.tasks()
        metrics = job.metrics()
        state = str(info["state"])
        ended = state in _ENDED
        rows = output_rows(metrics)
        reports = [float(t["updated_at"]) for t in tasks if t.get("updated_at") is not None]
        running = sum(t["state"] == "RUNNING" for t in tasks)
        if reports:
            followed.series.add(
                max(reports), rows, float(metrics.get("backpressure_s") or 0), running
            )
        created = float(info.get("created_at") or 0.0)
        finished = info.get("finished_at")
        if ended and finished is not None:
            followed.series.add_whole_run(float(finished), rows, float(finished) - created)
        return {
            "job_id": job_id,
            "name": info.get("name"),
            "state": state,
            "error": info.get("error"),
            "bounded": info.get("bounded"),
            "partitions": info.get("partitions"),
            "tasks": info.get("planned_tasks"),
            "tasks_done": int((metrics.get("tasks") or {}).get("FINISHED", 0)),
            "rows": rows,
            "rows_in": metrics.get("rows_in"),
            "busy_s": metrics.get("busy_s"),
            "backpressure_s": metrics.get("backpressure_s"),
            "attempts": metrics.get("attempts"),
            "created_at": created,
            "finished_at": finished,
            "series": followed.series.points(),
            "checkpoints": checkpoint_points(job.checkpoints()),
            "failure": task_failure(job, tasks),
            "plan": self._plan(followed, controller, job_id, state, tasks, info.get("partitions")),
            "notebook_line": notebook_line(job_id),
        }

    def _plan(
        self,
        followed: _Followed,
        controller: Cluster | None,
        job_id: str,
        state: str,
        tasks: list[dict[str, Any]],
        partitions: int | None,
    ) -> dict[str, Any]:
        """The plan's SVG with the job's numbers, or a ``note`` saying why there is none."""
        if followed.drawing is None and followed.plan_note is None:
            if controller is None:
                followed.plan_note = (
                    "the plan is drawn for clusters whose submit token the Jupyter server "
                    "holds (local ones): a plan carries the job's code"
                )
            elif partitions is None:
                return {"svg": None, "note": "the JobManager has not planned the job yet"}
            else:
                followed.drawing, followed.plan_note = _drawing(controller, job_id, partitions)
        if followed.drawing is None:
            return {"svg": None, "note": followed.plan_note}
        return {"svg": followed.drawing.svg(job_id, state, tasks), "note": None}


def _drawing(controller: Cluster, job_id: str, partitions: int) -> tuple[Any, str | None]:
    """The drawing of the physical plan job ``job_id`` runs (of the plan it was submitted
    with, once it has ended), or why it cannot be made here (e.g. its code's pickles do not
    load in the Jupyter server's Python)."""
    from sabot_lab.notebook.job_tab_plan import JobPlanDrawing

    try:
        job = Job(controller, job_id)
        submitted = job.submitted_plan()  # (one call: the physical plan comes with it)
        return JobPlanDrawing(submitted, partitions, job.physical_plan()), None
    except ClusterError as exc:
        return None, f"the plan cannot be read: {exc}"
    except Exception as exc:  # decoding runs the job's pickled code: anything may fail
        return None, f"the plan cannot be drawn in the Jupyter server's Python: {exc!r}"
