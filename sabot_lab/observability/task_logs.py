"""The records an agent keeps of its tasks until its JobManager collects them.

A :class:`TaskLogs` is a logging handler: it keeps each record logged while a task of its
agent runs (bound with ``task_id`` and that agent's ``agent_id``, see :mod:`.logs`), as
:func:`~.logs.record_fields` makes it, the last ``capacity`` of each task. The JobManager
takes them (:meth:`TaskLogs.take`) as it follows the task; what it never takes goes with the
task's job (:meth:`TaskLogs.drop`).

May import :mod:`.logs` and structlog.

>>> import logging
>>> logs = TaskLogs("grpc://a:1", capacity=2)
>>> log = logging.getLogger("doctest.task_logs"); log.addHandler(logs)
>>> with structlog.contextvars.bound_contextvars(task_id="j1/0.0/0", agent_id="grpc://a:1"):
...     for n in range(3):
...         log.warning("record %d", n)
>>> [r["event"] for r in logs.take(["j1/0.0/0"])["j1/0.0/0"]]
['record 1', 'record 2']
>>> logs.take(["j1/0.0/0"])
{}
>>> log.removeHandler(logs)
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

import structlog

from sabot_lab.observability.logs import record_fields

__all__ = ["TaskLogs"]


class TaskLogs(logging.Handler):
    """The records of the tasks of agent ``agent_id``, the last ``capacity`` of each task,
    until taken; records below ``level`` are not kept."""

    def __init__(self, agent_id: str, capacity: int, level: int | str = logging.NOTSET) -> None:
        super().__init__(level)
        self.agent_id = agent_id
        self.capacity = capacity
        self._records: dict[str, deque[dict[str, Any]]] = {}
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        bound = structlog.contextvars.get_contextvars()
        task_id = bound.get("task_id")
        if task_id is None or bound.get("agent_id") != self.agent_id:
            return
        try:
            fields = record_fields(record)
        except Exception:
            self.handleError(record)
            return
        with self._guard:
            if task_id not in self._records:
                self._records[task_id] = deque(maxlen=self.capacity)
            self._records[task_id].append(fields)

    def take(self, task_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """The records of ``task_ids`` kept so far, by task (those with none left out); they
        are no longer kept."""
        with self._guard:
            taken = {t: list(self._records.pop(t)) for t in task_ids if t in self._records}
        return {task_id: records for task_id, records in taken.items() if records}

    def drop(self, task_ids: Iterable[str]) -> None:
        """Forget the records of ``task_ids`` (their job was dropped)."""
        with self._guard:
            for task_id in task_ids:
                self._records.pop(task_id, None)
