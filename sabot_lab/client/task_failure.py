"""The failed task of a job as views show it (the notebook's job views, the JupyterLab job
tab): its id, agent, error and the tail of its log.

May import: :mod:`sabot_lab.client.job`, the observability layer's log records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sabot_lab.observability.log_records import record_line

if TYPE_CHECKING:
    from sabot_lab.client.job import Job

__all__ = ["FAILURE_TAIL", "task_failure"]

FAILURE_TAIL = 20
"""The records of a failed task's log a job's views show (its last ones)."""


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
