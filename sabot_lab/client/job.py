"""The handle of a submitted job: its state, result, metrics, log records, cancellation,
savepoints and deletion.

Calls are plain blocking Flight calls (never ``asyncio.run``), so they work in a notebook;
``await job`` (or :meth:`Job.result_async`) waits without blocking the kernel's event loop.

May import: the wire layer (:mod:`sabot_lab.runtime.transport`, :mod:`sabot_lab.runtime.protocol`),
:mod:`sabot_lab.display`, :mod:`sabot_lab.errors`, :mod:`sabot_lab.observability`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.flight as flight

from sabot_lab import display
from sabot_lab.client.code_places import located
from sabot_lab.display import Displayed
from sabot_lab.errors import ClusterError
from sabot_lab.observability.log_records import log_table
from sabot_lab.runtime.protocol import ENDED, LogsRequest, seconds

if TYPE_CHECKING:
    from sabot_lab.client.cluster import Cluster
    from sabot_lab.logical import JobGraph

__all__ = ["STEP_SECONDS", "Job"]

STEP_SECONDS = 0.25
"""The slices of a wait that blocks a notebook's event loop: how often its live views move."""


class Job(Displayed):
    """A submitted job: its state, its result, cancellation.

    Its ``repr`` says what is known here (no network call); :meth:`info` and
    :meth:`metrics` ask the JobManager, and so does its notebook display.
    """

    display_kind = "job"

    def __init__(self, cluster: Cluster, job_id: str) -> None:
        self.cluster = cluster
        self.job_id = job_id
        self.code_files: dict[str, str] = {}
        """The files of the job's user functions, by name (set by ``submit``), to name
        them in its error (see :mod:`~sabot_lab.client.code_places`)."""
        self.plan: JobGraph | None = None
        """The plan submitted (set by ``submit``), to name the operators of its tasks."""
        self._physical: str | None = None

    @property
    def id(self) -> str:
        """The job's id (the same as :attr:`job_id`), as ``cluster.job(id)`` takes it."""
        return self.job_id

    def info(self) -> dict[str, Any]:
        """The job's row: state, error, timestamps, partitions."""
        return dict(self.cluster._call("status", {"job_id": self.job_id}))

    def status(self) -> str:
        """PENDING, SCHEDULED, RUNNING, FINISHED, FAILED or CANCELLED."""
        return str(self.info()["state"])

    def tasks(self) -> list[dict[str, Any]]:
        """The job's tasks: stage, partition, attempt, agent, state, rows out, and
        ``operator_names``: the names of the plan's operators that yielded rows in the task
        and of its stage's last operator (a fused chain's: every member), for a job
        submitted from this process (else empty).
        """
        names = {} if self.plan is None else _operator_names(self.plan)
        return [
            {**task, "operator_names": _ran(_operator_ids(task), names)}
            for task in self.cluster._call("tasks", {"job_id": self.job_id})
        ]

    def checkpoints(self) -> list[dict[str, Any]]:
        """The job's checkpoints: id, state (PENDING, COMPLETE), location, times."""
        return list(self.cluster._call("checkpoints", {"job_id": self.job_id}))

    def submitted_plan(self) -> JobGraph:
        """The logical plan the job was submitted with, from any process (kept by the
        JobManager until the job is deleted). It carries the job's code, so it needs the
        submit token, and decoding it runs that code's pickles here."""
        from sabot_lab.logical import JobGraph

        return JobGraph.from_json(self._plans()["plan"])

    def physical_plan(self) -> str | None:
        """The stages and exchanges the JobManager runs the job as (the JSON that
        :meth:`sabot_lab.physical.PhysicalPlan.from_json` reads), once it has planned it and
        while it runs (None otherwise). Like :meth:`submitted_plan`, it carries the job's code
        and needs the submit token. Kept here once read: it does not change.

        >>> import sabot_lab as sl
        >>> with sl.LocalCluster(agents=1, slots=1) as cluster:  # doctest: +SKIP
        ...     job = cluster.submit(sl.from_pydict({"x": [1]}).sort("x"))
        ...     "stages" in job.physical_plan()
        True
        """
        if self._physical is None:
            self._plans()
        return self._physical

    def _plans(self) -> dict[str, Any]:
        """The JobManager's ``plan`` reply (the submitted plan, and the physical plan while
        the job runs); its physical plan kept: a plan view reads both with one call."""
        reply = dict(self.cluster._call("plan", {"job_id": self.job_id}))
        if self._physical is None:
            self._physical = reply.get("physical")
        return reply

    def metrics(self) -> dict[str, Any]:
        """Tasks by state; rows in and out, batches, bytes, busy and backpressure seconds
        summed over tasks (running tasks report with their agents' heartbeats); attempts so
        far; rows out per stage."""
        return dict(self.cluster._call("metrics", {"job_id": self.job_id}))

    def logs(
        self, level: str | None = None, task: str | None = None, tail: int | None = None
    ) -> pa.Table:
        """The job's log records from every agent, oldest first, as a table: ``time``,
        ``level``, ``event``, ``logger``, the ``job_id``, ``task_id``, ``attempt``,
        ``agent_id`` and ``stage`` each was logged for, and its ``error`` text (a failed
        task's error, with the traceback of a user function).

        ``level``: only records this severe or more (``"warning"``, ``"error"``, ...);
        ``task``: only those of one task (a task id as :meth:`tasks` lists them, or
        ``"stage.partition"`` for all its attempts); ``tail``: only the last ``tail``. The
        JobManager keeps the last ``task_log_records`` of each task
        (:class:`~sabot_lab.config.ClusterConfig`), until the job is deleted."""
        request = LogsRequest(self.job_id, level, task, tail)
        return log_table(self.cluster._call("logs", request.to_dict()))

    async def logs_async(
        self, level: str | None = None, task: str | None = None, tail: int | None = None
    ) -> pa.Table:
        """:meth:`logs` for ``await``: waits on a worker thread."""
        return await asyncio.to_thread(self.logs, level, task, tail)

    def wait(self, timeout: float | None = None) -> str:
        """Block until the job ends; return its final state. ``timeout``: seconds, None for
        no limit (a bad number is refused rather than waited on). In a notebook cell, whose
        wait blocks the kernel's event loop, live views keep moving: the wait, in slices,
        takes their readings (the display ``wait.progress``)."""
        timeout = seconds(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        with display.progress("wait") as step:
            slice_s = 10.0 if step is None else STEP_SECONDS
            while True:
                left = slice_s if deadline is None else min(slice_s, deadline - time.monotonic())
                state = self._wait_once(max(left, 0.0))
                if step is not None:
                    step(state in ENDED)
                if state in ENDED:
                    return state
                if deadline is not None and time.monotonic() >= deadline:
                    waiting = self.info().get("waiting")  # what holds it up, when the JM knows
                    why = f": {waiting}" if waiting else ""
                    raise ClusterError(f"job {self.job_id} still {state} after {timeout:g} s{why}")

    def _wait_once(self, limit: float) -> str:
        """The job's state once it ended, or after ``limit`` seconds (the JobManager answers
        as soon as the job ends)."""
        reply = self.cluster._call(
            "wait", {"job_id": self.job_id, "timeout": limit}, timeout=limit + 30
        )
        return str(reply["state"])

    def result(self, timeout: float | None = None) -> pa.Table:
        """Wait for the job and return its rows (raises if it failed or was cancelled)."""
        self.wait(timeout)
        return self._fetch()

    async def result_async(self) -> pa.Table:
        """:meth:`result` for ``await``: waits on a worker thread (in slices of a second),
        so the event loop stays free."""
        while (await asyncio.to_thread(self._wait_once, 1.0)) not in ENDED:
            pass
        return await asyncio.to_thread(self._fetch)

    def __await__(self) -> Generator[Any, None, pa.Table]:
        return self.result_async().__await__()

    def _fetch(self) -> pa.Table:
        info = self.info()
        if info["state"] != "FINISHED":
            error = located(str(info.get("error")), self.code_files)
            raise ClusterError(f"job {self.job_id} {info['state'].lower()}: {error}")
        auth = self.cluster.auth
        try:
            ticket = flight.Ticket(json.dumps({"job_id": self.job_id}).encode())
            return auth.client(self.cluster.uri).do_get(ticket, auth.options()).read_all()
        except flight.FlightError as exc:
            auth.forget(self.cluster.uri)
            raise ClusterError(f"cannot fetch the result of job {self.job_id}: {exc}") from None

    def cancel(self) -> str:
        """Cancel the job (its tasks stop); return its state."""
        return str(self.cluster._call("cancel", {"job_id": self.job_id})["state"])

    def delete(self) -> None:
        """Delete the ended job: its result, its checkpoints (not its savepoints) and its
        records on the JobManager; a running job is refused (cancel it first). The
        JobManager deletes ended jobs by itself after ``result_ttl`` seconds
        (:class:`~sabot_lab.config.ClusterConfig`). Afterwards the job is unknown."""
        self.cluster._call("delete", {"job_id": self.job_id}, timeout=60)

    async def delete_async(self) -> None:
        """:meth:`delete` for ``await``: waits on a worker thread."""
        await asyncio.to_thread(self.delete)

    def savepoint(self, timeout: float = 60.0) -> str:
        """Take a checkpoint now and keep it as a savepoint (never discarded); return its
        path, for ``submit(..., from_savepoint=path)``. The job must take checkpoints
        (``checkpoint_interval``) and be running."""
        body = {"job_id": self.job_id, "timeout": seconds(timeout)}
        return str(self.cluster._call("savepoint", body, timeout=timeout + 10)["path"])

    def stop(self, timeout: float = 60.0) -> str:
        """Take a savepoint, then cancel the job; return the savepoint's path. A job
        submitted with ``from_savepoint=`` that path goes on where this one stopped: its rows
        are those this job had not committed."""
        path = self.savepoint(timeout)
        self.cancel()
        return path

    async def savepoint_async(self, timeout: float = 60.0) -> str:
        """:meth:`savepoint` for ``await``: waits on a worker thread, so the event loop (a
        notebook's kernel) stays free."""
        return await asyncio.to_thread(self.savepoint, timeout)

    async def stop_async(self, timeout: float = 60.0) -> str:
        """:meth:`stop` for ``await`` (see :meth:`savepoint_async`)."""
        return await asyncio.to_thread(self.stop, timeout)

    def __repr__(self) -> str:
        return f"<Job {self.job_id} on {self.cluster.uri}>"


def _operator_names(plan: JobGraph) -> dict[str, list[str]]:
    """The names of the operators each id of ``plan`` stands for, by id: a fused operator's
    members are counted by the last one's id, so that id stands for all of them."""
    from sabot_lab.logical import fused_members

    names: dict[str, list[str]] = {}
    for node in plan:
        members = fused_members(node)
        names[node.operator_id] = [m.name for m in members]
        names[members[-1].operator_id] = [m.name for m in members]
    return names


def _operator_ids(task: dict[str, Any]) -> list[str]:
    """The operators of a task: those it reported rows of, and its stage's last one (the
    JobManager records it with the task, also before it reported any row)."""
    last = task.get("operator_id")
    return [*(task.get("operators") or {}), *([last] if last else [])]


def _ran(operators: list[str], names: dict[str, list[str]]) -> list[str]:
    """The names of the plan's ``operators`` (ids), each once."""
    ran = (n for i in operators if i in names for n in names[i])
    return list(dict.fromkeys(ran))
