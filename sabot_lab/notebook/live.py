"""Follow a cluster job live from the kernel's event loop.

:func:`follow` polls a blocking ``poll`` function on a worker thread (so the event loop never
waits on the network), hands each result to ``on_update`` *on the loop* (where it is safe to set
widget traitlets), waits so that polls are at least ``interval`` seconds apart, and stops after
the first result ``ended`` accepts. It returns the :class:`asyncio.Task`, whose result is the last
snapshot. A reading that fails with a :class:`~sabot_lab.errors.SabotError` (a JobManager
restarting, a leader taking over, a call not answered in time) is tried again, less and less
often, for :data:`FOLLOW_PATIENCE` seconds; ``on_trouble`` hears what went wrong meanwhile and
``""`` once a reading came again. :func:`follow_job` is the same for a
:class:`~sabot_lab.client.Job`, with :class:`JobSnapshot` (state, task rows, summed metrics)
as the snapshot. Agents report their tasks' counts with their heartbeats, seconds apart,
while a view reads the job four times a second: :class:`ReportHistory` measures rates between
a task's own reports.

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
import contextlib
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sabot_lab.client.task_failure import task_failure
from sabot_lab.errors import SabotError
from sabot_lab.notebook.frontend import UPDATE_INTERVAL
from sabot_lab.physical import PhysicalPlan
from sabot_lab.runtime.jobmanager.metrics import job_metrics
from sabot_lab.runtime.protocol import ENDED, TaskState

if TYPE_CHECKING:
    from sabot_lab.client import Job

__all__ = [
    "FOLLOW_PATIENCE",
    "JobSnapshot",
    "ReportHistory",
    "blocked_loop_steps",
    "follow",
    "follow_job",
    "job_snapshot",
    "step_followers",
]


T = TypeVar("T")

FOLLOW_PATIENCE = 300.0
"""Seconds :func:`follow` goes on trying while every reading fails, before it ends with the
error (the view then says so)."""

RETRY_PAUSE_LIMIT = 5.0
"""The longest pause, in seconds, between two readings that failed."""


@dataclass(frozen=True)
class JobSnapshot:
    """A job at one moment: its state and error, its task rows (stage, partition, attempt,
    state, ``rows_in``, ``rows_out``, ``busy_s``, ``backpressure_s``, ...), their summed
    :func:`~sabot_lab.runtime.jobmanager.metrics.job_metrics`, the tasks per stage the JobManager chose
    and, for a bounded job, the tasks of one attempt (None until it has planned the job), the
    stage producing the result (None until planned), when it was taken (``time.monotonic``),
    for a job with a failed task, that task's
    :func:`~sabot_lab.client.task_failure.task_failure` and, when asked for, the physical
    plan the job runs (:meth:`~sabot_lab.client.Job.physical_plan`; None where it cannot be
    read).

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
    final_stage: int | None = None
    at: float = field(default_factory=time.monotonic)
    failure: dict[str, Any] | None = None
    physical: PhysicalPlan | None = None

    @property
    def ended(self) -> bool:
        """Whether the job is FINISHED, FAILED or CANCELLED (it never changes again)."""
        return self.state in ENDED


def job_snapshot(job: Job, physical: bool = False) -> JobSnapshot:
    """Take a :class:`JobSnapshot` of ``job`` (two blocking calls to the JobManager, a third
    for its ``physical`` plan until read; run it on a worker thread inside a notebook, as
    :func:`follow_job` does).

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
    final = info.get("final_stage")
    metrics, failure = job_metrics(tasks), task_failure(job, tasks)
    plan = _physical_plan(job) if physical and partitions else None
    return JobSnapshot(
        job.job_id,
        state,
        error,
        tasks,
        metrics,
        partitions,
        planned,
        final,
        failure=failure,
        physical=plan,
    )


def _physical_plan(job: Job) -> PhysicalPlan | None:
    """The job's physical plan, or None where the caller may not read it (no submit token)
    or it is gone (the job ended)."""
    try:
        text = job.physical_plan()
    except SabotError:
        return None
    return None if text is None else _decoded(text)


@functools.lru_cache(maxsize=8)
def _decoded(text: str) -> PhysicalPlan:
    """A physical plan read from its JSON once (a view asks for it four times a second)."""
    return PhysicalPlan.from_json(text)


TaskKey = tuple[int, int, int]


def _key(task: Mapping[str, Any]) -> TaskKey:
    return task["stage"], task["partition"], task["attempt"]


class ReportHistory:
    """The report each task sent before its latest one, kept across readings, so that rates
    are measured between a task's own reports (the JobManager's ``updated_at`` of each), never
    between readings: a reading that finds no new report neither reads 0 rows/s nor loses the
    rate.

    >>> def task(at, rows):
    ...     return {"stage": 0, "partition": 0, "attempt": 0, "state": "RUNNING",
    ...             "updated_at": at, "rows_out": rows}
    >>> history = ReportHistory()
    >>> history.add([task(1.0, 100)]), history.add([task(1.0, 100)]), history.add([task(3.0, 600)])
    (True, False, True)
    >>> rows_out = lambda t: t["rows_out"]
    >>> history.rate([task(3.0, 600)], rows_out)
    250.0
    >>> history.add([task(3.0, 600)]), history.rate([task(3.0, 600)], rows_out)  # no new report
    (False, 250.0)
    """

    def __init__(self) -> None:
        self._latest: dict[TaskKey, Mapping[str, Any]] = {}
        self._before: dict[TaskKey, Mapping[str, Any]] = {}

    def add(self, tasks: Iterable[Mapping[str, Any]]) -> bool:
        """Note the tasks' reports; whether any of them is new."""
        new = False
        for task in tasks:
            key, last = _key(task), self._latest.get(_key(task))
            if last is None or task["updated_at"] > last["updated_at"]:
                if last is not None:
                    self._before[key] = last
                self._latest[key] = task
                new = True
        return new

    def rate(
        self, tasks: Iterable[Mapping[str, Any]], count: Callable[[Mapping[str, Any]], int]
    ) -> float | None:
        """Per second, the sum over the running ``tasks`` of how much ``count`` of a task grew
        between its last two reports; None before any running task reported twice."""
        rates = []
        for task in tasks:
            before = self._before.get(_key(task))
            if task["state"] != TaskState.RUNNING.value or before is None:
                continue
            seconds = task["updated_at"] - before["updated_at"]
            if seconds > 0:
                rates.append((count(task) - count(before)) / seconds)
        return round(max(0.0, sum(rates)), 1) if rates else None


@dataclass(eq=False)
class _Follower:
    """One :func:`follow` while it runs: readings are numbered as they are started, and only
    one newer than the last shown is shown (a reading taken by :func:`step_followers` while the
    loop was blocked is never undone by an older one that finished after it)."""

    poll: Callable[[], Any]
    on_update: Callable[[Any], None]
    ended: Callable[[Any], bool]
    interval: float
    started: int = 0
    shown: int = 0
    stepped_at: float = 0.0
    last: Any = None
    done: bool = False

    def start(self) -> int:
        self.started += 1
        return self.started

    def show(self, number: int, reading: Any) -> None:
        if number > self.shown and not self.done:
            self.shown, self.last = number, reading
            self.on_update(reading)
            self.done = self.ended(reading)


_followers: set[_Follower] = set()


def follow(
    poll: Callable[[], T],
    on_update: Callable[[T], None],
    ended: Callable[[T], bool],
    interval: float = UPDATE_INTERVAL,
    on_trouble: Callable[[str], None] | None = None,
    patience: float = FOLLOW_PATIENCE,
) -> asyncio.Task[T]:
    """Start polling on the running event loop; see the module docstring for an example.

    Raises :class:`~sabot_lab.errors.SabotError` when no event loop is running (a Jupyter
    kernel always has one; in a script, call it from inside an ``async`` function). A
    :class:`~sabot_lab.errors.SabotError` from ``poll`` is tried again after a pause
    (``interval``, doubled after each failure up to :data:`RETRY_PAUSE_LIMIT`) and told to
    ``on_trouble``, until ``patience`` seconds passed without a reading: then, as any other
    exception from ``poll`` at once, it ends the task, and ``on_trouble`` hears that too. An
    exception from ``on_update`` ends the task at once. While a cell blocks the loop
    (``job.result()``), :func:`step_followers` takes the readings instead.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise SabotError(
            "following a job live needs a running asyncio event loop: call it in a Jupyter "
            "cell or from inside an async function"
        ) from None
    follower = _Follower(poll, on_update, ended, interval)
    tell = on_trouble or (lambda text: None)

    async def run() -> T:
        _followers.add(follower)
        failures, failing_since = 0, None
        try:
            while not follower.done:
                started = loop.time()
                number = follower.start()
                try:
                    reading = await asyncio.to_thread(poll)
                except SabotError as exc:
                    failures += 1
                    failing_since = started if failing_since is None else failing_since
                    waited = loop.time() - failing_since
                    if waited >= patience:
                        tell(f"stopped following: no reading for {waited:.0f} s ({exc})")
                        raise
                    pause = min(RETRY_PAUSE_LIMIT, interval * 2 ** (failures - 1))
                    lasting = f" for {waited:.0f} s" if waited >= 1 else ""
                    tell(f"no reading{lasting} ({exc}); trying again")
                    await asyncio.sleep(pause)
                    continue
                except Exception as exc:
                    tell(f"stopped following: {type(exc).__name__}: {exc}")
                    raise
                if failures:
                    failures, failing_since = 0, None
                    tell("")
                follower.show(number, reading)
                if not follower.done:
                    await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
            return cast(T, follower.last)
        finally:
            _followers.discard(follower)

    return loop.create_task(run())


def step_followers(ended: bool = False) -> None:
    """Take a reading for every :func:`follow` due one (each, once the wait has ``ended``),
    here and now: what a wait that blocks the event loop's thread (``job.result()`` in a
    cell) calls between its slices, so live views keep moving while the loop cannot run them
    and show the end before the cell does. A reading that fails is left to the follower's own
    task, which meets the same error once the loop runs again.

    >>> step_followers()  # nothing followed: nothing to do
    """
    now = time.monotonic()
    for follower in list(_followers):
        if follower.done or (now - follower.stepped_at < follower.interval and not ended):
            continue
        follower.stepped_at = now
        number = follower.start()
        with contextlib.suppress(Exception):  # the follower's own task reports it
            follower.show(number, follower.poll())


@contextlib.contextmanager
def blocked_loop_steps() -> Iterator[Callable[[bool], None] | None]:
    """While a blocking wait runs: :func:`step_followers` if this thread runs an event loop
    (a notebook cell, whose waits block the kernel's loop), else None (a script, or a worker
    thread of ``await job``: the loop runs the followers itself).

    >>> with blocked_loop_steps() as step:
    ...     step is None
    True
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        yield None
    else:
        yield step_followers


def follow_job(
    job: Job,
    on_update: Callable[[JobSnapshot], None],
    interval: float = UPDATE_INTERVAL,
    physical: bool = False,
) -> asyncio.Task[JobSnapshot]:
    """:func:`follow` ``job``: ``on_update`` gets a :class:`JobSnapshot` (with the
    ``physical`` plan, if asked for) at most every ``interval`` seconds, the last one once the
    job has ended (the task's result).

    >>> async def watch(job):  # in a notebook cell: ``await watch(job)``
    ...     last = await follow_job(job, lambda s: print(s.state, s.metrics.get("rows_out")))
    ...     return last.state
    """
    return follow(lambda: job_snapshot(job, physical), on_update, lambda s: s.ended, interval)
