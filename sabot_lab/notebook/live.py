"""Follow a cluster job live from the kernel's event loop.

:func:`follow` polls a blocking ``poll`` function on a worker thread (so the event loop never
waits on the network), hands each result to ``on_update`` *on the loop* (where it is safe to set
widget traitlets), waits so that polls are at least ``interval`` seconds apart, and stops after
the first result ``ended`` accepts. It returns the :class:`asyncio.Task`, whose result is the last
snapshot. :func:`follow_job` is the same for a :class:`~sabot_lab.client.Job`, with
:class:`JobSnapshot` (state, task rows, summed metrics) as the snapshot.

>>> import asyncio
>>> numbers = iter(range(10))
>>> seen = []
>>> async def main():
...     task = follow(lambda: next(numbers), seen.append, lambda n: n == 3, interval=0.01)
...     return await task
>>> asyncio.run(main()), seen
(3, [0, 1, 2, 3])
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sabot_lab.errors import SabotError
from sabot_lab.notebook.frontend import UPDATE_INTERVAL
from sabot_lab.observability.log_records import record_line
from sabot_lab.runtime.jobmanager.metrics import job_metrics
from sabot_lab.runtime.protocol import ENDED

if TYPE_CHECKING:
    from sabot_lab.client import Job

__all__ = ["FAILURE_TAIL", "JobSnapshot", "follow", "follow_job", "job_snapshot", "task_failure"]

FAILURE_TAIL = 20
"""The records of a failed task's log a job's views show (its last ones)."""

T = TypeVar("T")


@dataclass(frozen=True)
class JobSnapshot:
    """A job at one moment: its state and error, its task rows (stage, partition, attempt,
    state, ``rows_in``, ``rows_out``, ``busy_s``, ``backpressure_s``, ...), their summed
    :func:`~sabot_lab.runtime.jobmanager.metrics.job_metrics`, the tasks per stage the JobManager chose
    and, for a bounded job, the tasks of one attempt (None until it has planned the job),
    when it was taken (``time.monotonic``) and, for a job with a failed task, that task's
    :func:`task_failure`.

    >>> snap = JobSnapshot("j1", "FINISHED", None, [], {})
    >>> snap.ended
    True
    """

    job_id: str
    state: str
    error: str | None
    tasks: list[dict[str, Any]]
    metrics: dict[str, Any]
    partitions: int | None = None
    planned_tasks: int | None = None
    at: float = field(default_factory=time.monotonic)
    failure: dict[str, Any] | None = None

    @property
    def ended(self) -> bool:
        """Whether the job is FINISHED, FAILED or CANCELLED (it never changes again)."""
        return self.state in ENDED


def job_snapshot(job: Job) -> JobSnapshot:
    """Take a :class:`JobSnapshot` of ``job`` (two blocking calls to the JobManager; run it on
    a worker thread inside a notebook, as :func:`follow_job` does).

    >>> import sabot_lab as sl
    >>> with sl.LocalCluster(agents=1, slots=1) as cluster:  # doctest: +SKIP
    ...     job = cluster.submit(sl.from_pydict({"x": [1, 2]}))
    ...     job.wait()
    ...     job_snapshot(job).state
    'FINISHED'
    """
    info = job.info()
    tasks = job.tasks()
    state, error, partitions = str(info["state"]), info.get("error"), info.get("partitions")
    planned = info.get("planned_tasks") if info.get("bounded") else None
    metrics, failure = job_metrics(tasks), task_failure(job, tasks)
    return JobSnapshot(
        job.job_id, state, error, tasks, metrics, partitions, planned, failure=failure
    )


def task_failure(job: Job, tasks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first of ``tasks`` (``job``'s) that failed: its ``task_id``, ``agent``, ``error``
    and the last :data:`FAILURE_TAIL` records of its ``log`` (lines, see
    :func:`~sabot_lab.observability.log_records.record_line`); None if none failed (a call
    to the JobManager when one did).

    >>> task_failure(None, [{"task_id": "j1/0.0/0", "state": "FINISHED"}]) is None
    True
    """
    failed = [t for t in tasks if t["state"] == "FAILED"]
    if not failed:
        return None
    task = min(failed, key=lambda t: t.get("updated_at", 0.0))
    records = job.logs(task=task["task_id"], tail=FAILURE_TAIL).to_pylist()
    return {
        "task_id": task["task_id"],
        "agent": task.get("agent") or "",
        "error": task.get("error") or "",
        "log": [record_line(record) for record in records],
    }


def follow(
    poll: Callable[[], T],
    on_update: Callable[[T], None],
    ended: Callable[[T], bool],
    interval: float = UPDATE_INTERVAL,
) -> asyncio.Task[T]:
    """Start polling on the running event loop; see the module docstring for an example.

    Raises :class:`~sabot_lab.errors.SabotError` when no event loop is running (a Jupyter
    kernel always has one; in a script, call it from inside an ``async`` function). An
    exception from ``poll`` or ``on_update`` ends the task with that exception.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise SabotError(
            "following a job live needs a running asyncio event loop: call it in a Jupyter "
            "cell or from inside an async function"
        ) from None

    async def run() -> T:
        while True:
            started = loop.time()
            snapshot = await asyncio.to_thread(poll)
            on_update(snapshot)
            if ended(snapshot):
                return snapshot
            await asyncio.sleep(max(0.0, interval - (loop.time() - started)))

    return loop.create_task(run())


def follow_job(
    job: Job, on_update: Callable[[JobSnapshot], None], interval: float = UPDATE_INTERVAL
) -> asyncio.Task[JobSnapshot]:
    """:func:`follow` ``job``: ``on_update`` gets a :class:`JobSnapshot` at most every
    ``interval`` seconds, the last one once the job has ended (the task's result).

    >>> async def watch(job):  # in a notebook cell: ``await watch(job)``
    ...     last = await follow_job(job, lambda s: print(s.state, s.metrics.get("rows_out")))
    ...     return last.state
    """
    return follow(lambda: job_snapshot(job), on_update, lambda s: s.ended, interval)
