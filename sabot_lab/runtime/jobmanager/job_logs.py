"""The log records of a JobManager's jobs: what agents hand over of their tasks' records,
kept in the ``task_logs`` table (the last ``per_task`` of each task) until the job is
deleted with its other rows (:meth:`~.store.JobStore.delete_job`), and read back for
``Job.logs()``.

Records arrive with each poll of a job's tasks (:func:`~.driver.poll_tasks`): an agent
hands over what its tasks logged since the last poll (see
:class:`~sabot_lab.observability.task_logs.TaskLogs`). A record's ids (job, task, attempt,
stage, agent) are the JobManager's own, never what the agent says; its text is cut to
:data:`MAX_TEXT` characters. They are written together (one transaction, not one per poll),
before they are read, when their job ends (:meth:`JobLogs.flush`), once
:data:`FLUSH_RECORDS` wait, or with the first that arrive :data:`FLUSH_SECONDS` after the
oldest waiting; those of a job deleted meanwhile are dropped.

May import the job tables, ``runtime.protocol``, ``physical.ids``, ``observability``.

>>> store = JobStore("sqlite://")
>>> _ = store.create_job("j1", "q")
>>> logs = JobLogs(store, per_task=2)
>>> records = [{"time": t, "level": "info", "event": f"e{t:g}"} for t in (1.0, 2.0, 3.0)]
>>> logs.add("grpc://a:1", {"j1/0.1/0": records})
>>> [(r["event"], r["stage"], r["agent_id"]) for r in logs.records(LogsRequest("j1"))]
[('e2', 0, 'grpc://a:1'), ('e3', 0, 'grpc://a:1')]
>>> logs.records(LogsRequest("j1", level="error"))
[]
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from sabot_lab.config import LOG_LEVELS
from sabot_lab.errors import ClusterError
from sabot_lab.observability.log_records import levels_from
from sabot_lab.physical.ids import TaskId
from sabot_lab.runtime.jobmanager.store import JobStore
from sabot_lab.runtime.jobmanager.tables import jobs, task_logs
from sabot_lab.runtime.protocol import LogsRequest

__all__ = ["FLUSH_RECORDS", "FLUSH_SECONDS", "MAX_TEXT", "JobLogs"]

FLUSH_RECORDS = 1000
"""Records that wait in memory at most before they are written."""
FLUSH_SECONDS = 1.0
"""Seconds the oldest record waiting is kept in memory before arriving ones are written too."""
MAX_TEXT = 64 << 10
"""Characters of a record's event or error text a JobManager keeps (the rest is cut)."""

_LEVELS = {name.lower() for name in LOG_LEVELS} | {"exception"}
_log = logging.getLogger("sabot_lab.jobmanager")


class JobLogs:
    """The log records of the jobs of ``store``, the last ``per_task`` of each task."""

    def __init__(self, store: JobStore, per_task: int) -> None:
        self.store, self.per_task = store, per_task
        self._waiting: list[dict[str, Any]] = []
        self._since = 0.0  # when the oldest record waiting arrived (time.monotonic)
        self._lock = threading.Lock()  # held while records are taken and written

    def add(self, agent: str, logs: Mapping[str, Any]) -> None:
        """Keep the records ``agent`` handed over (task id -> records); records that are not
        such are left out, and logged."""
        rows = []
        for task_id, records in logs.items():
            try:
                task = TaskId.parse(task_id)
                rows += [_row(task, agent, record) for record in _listed(records)]
            except (ClusterError, TypeError, ValueError, KeyError) as exc:
                _log.warning("left out log records of %s from %s: %s", task_id, agent, exc)
        if not rows:
            return
        with self._lock:
            if not self._waiting:
                self._since = time.monotonic()
            self._waiting += rows
            due = len(self._waiting) >= FLUSH_RECORDS
            due = due or time.monotonic() - self._since >= FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the records waiting (but those of jobs deleted meanwhile)."""
        with self._lock:
            rows, self._waiting = self._waiting, []
            if not rows:
                return
            with self.store.engine.begin() as conn:
                asked = {row["job_id"] for row in rows}
                known = set(conn.scalars(sa.select(jobs.c.job_id).where(jobs.c.job_id.in_(asked))))
                rows = [row for row in rows if row["job_id"] in known]
                if rows:
                    conn.execute(task_logs.insert(), rows)
                for task_id in sorted({row["task_id"] for row in rows}):
                    _keep_last(conn, task_id, self.per_task)

    def records(self, request: LogsRequest) -> list[dict[str, Any]]:
        """The records ``request`` asks for, oldest first (see
        :class:`~sabot_lab.runtime.protocol.LogsRequest`)."""
        self.flush()
        where = [task_logs.c.job_id == request.job_id]
        levels = levels_from(request.level)
        if levels is not None:
            where.append(task_logs.c.level.in_(levels))
        if request.task is not None:
            where.append(
                task_logs.c.task_id == request.task
                if "/" in request.task
                else task_logs.c.task_id.like(f"{request.job_id}/{request.task}/%")
            )
        columns = [c for c in task_logs.c if c.name != "id"]
        query = sa.select(*columns).where(*where)
        newest = query.order_by(task_logs.c.time.desc(), task_logs.c.id.desc())
        if request.tail is not None:
            newest = newest.limit(request.tail)
        with self.store.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(newest).mappings()]
        return rows[::-1]


def _listed(records: Any) -> list[Mapping[str, Any]]:
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise TypeError("not a list of records")
    return records


def _row(task: TaskId, agent: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """The table row of one ``record`` of ``task`` from ``agent``, checked."""
    time, level = record["time"], record["level"]
    if isinstance(time, bool) or not isinstance(time, (int, float)) or not math.isfinite(time):
        raise ValueError(f"time {time!r} is not a number of seconds")
    if level not in _LEVELS:
        raise ValueError(f"unknown level {level!r}")
    return {
        "job_id": task.job_id,
        "task_id": str(task),
        "stage": task.producer.stage,
        "attempt": task.attempt,
        "agent_id": agent,
        "time": float(time),
        "level": "error" if level == "exception" else level,
        "logger": _text(record.get("logger"), 200),
        "event": _text(record["event"], MAX_TEXT) or "",
        "error": _text(record.get("error"), MAX_TEXT),
    }


def _text(value: Any, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


def _keep_last(conn: sa.Connection, task_id: str, count: int) -> None:
    """Delete the records of ``task_id`` but its last ``count``."""
    kept = (
        sa.select(task_logs.c.id)
        .where(task_logs.c.task_id == task_id)
        .order_by(task_logs.c.id.desc())
        .limit(count)
        .scalar_subquery()
    )
    conn.execute(
        task_logs.delete().where(task_logs.c.task_id == task_id, task_logs.c.id.not_in(kept))
    )
