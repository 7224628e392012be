"""How long a JobManager keeps ended jobs, and deleting them.

Deleting a job removes, together, its result files, what is left of its checkpoints (not
its savepoints), the tables uploaded for it that no other job kept reads (:mod:`.uploads`), its rows (job, tasks, checkpoints) and its DBOS workflow (which holds the
submitted plan; DBOS 3.4 has no retention setting of its own), then forgets what the
JobManager holds of it in memory. A job is deleted by ``Job.delete()`` (``sabot-lab jobs
--delete``), or by the sweep once it ended ``result_ttl`` seconds ago
(:class:`~sabot_lab.config.ClusterConfig`): one query every ``retention_interval`` seconds, on
a thread of its own, off the request path.

May import DBOS, ``runtime.protocol``, the job tables, the result and checkpoint files.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from dbos import DBOS

from sabot_lab.errors import ClusterError
from sabot_lab.runtime.jobmanager.checkpoints import CheckpointFiles
from sabot_lab.runtime.jobmanager.results import ResultFiles
from sabot_lab.runtime.jobmanager.store import JobStore
from sabot_lab.runtime.jobmanager.uploads import Uploads
from sabot_lab.runtime.protocol import ENDED

__all__ = ["STOPPING_TIMEOUT", "Retention"]

STOPPING_TIMEOUT = 30.0
"""Seconds a delete waits for the workflow of a job that just ended to finish its last step."""

_log = logging.getLogger("sabot_lab.jobmanager")


class Retention:
    """Deletes the ended jobs of ``store`` (their ``results``, checkpoint ``files`` and
    ``uploads`` too), on request or ``ttl`` seconds after they ended (None: only on request);
    ``forget`` drops what the JobManager keeps in memory of a job deleted. Uploads no job
    named are deleted when as old as ended jobs that are.

    >>> import tempfile
    >>> from pathlib import Path
    >>> from sabot_lab.location import Location
    >>> from sabot_lab.runtime.transport import Credentials
    >>> workdir, store = Path(tempfile.mkdtemp()), JobStore("sqlite://")
    >>> retention = Retention(store, ResultFiles(workdir, Credentials()),
    ...                       CheckpointFiles(Location.of(workdir), store), ttl=None)
    >>> _ = store.create_job("j1", "q")
    >>> retention.delete("j1")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: job j1 is PENDING: cancel it first (Job.cancel()), then delete it
    """

    def __init__(
        self,
        store: JobStore,
        results: ResultFiles,
        files: CheckpointFiles,
        ttl: float | None,
        forget: Callable[[str], None] = lambda job_id: None,
        uploads: Uploads | None = None,
    ) -> None:
        self.store, self.results, self.files = store, results, files
        self.ttl, self.forget, self.uploads = ttl, forget, uploads

    def delete(self, job_id: str) -> dict[str, Any]:
        """Delete an ended job; a job still running is refused (cancel it first)."""
        state = self.store.job(job_id)["state"]  # an unknown job raises, saying so
        if state not in ENDED:
            raise ClusterError(
                f"job {job_id} is {state}: cancel it first (Job.cancel()), then delete it"
            )
        deadline = time.monotonic() + STOPPING_TIMEOUT
        while not self._settled(job_id):
            if time.monotonic() > deadline:
                raise ClusterError(f"job {job_id} ended but is still stopping: try again")
            time.sleep(0.05)
        self._remove(job_id)
        return {"job_id": job_id, "deleted": True}

    def delete_ended_before(self, cutoff: float) -> list[str]:
        """Delete the jobs that ended before ``cutoff`` (a time) and whose workflow is done
        (one still finishing is left to the next call), and the uploads no job named written
        before ``cutoff``; return the jobs' ids."""
        deleted = []
        for job_id in self.store.ended_before(cutoff):
            if self._settled(job_id):
                self._remove(job_id)
                deleted.append(job_id)
        if self.uploads is not None:
            self.uploads.sweep(cutoff)
        return deleted

    def sweep(self, now: float) -> list[str]:
        """Delete the jobs that ended ``ttl`` seconds before ``now``; return their ids."""
        return [] if self.ttl is None else self.delete_ended_before(now - self.ttl)

    def run(self, stop: threading.Event, interval: float) -> None:
        """Sweep every ``interval`` seconds until ``stop`` is set (a thread's target)."""
        while not stop.wait(interval):
            try:
                if deleted := self.sweep(time.time()):
                    _log.info("deleted %d jobs past their retention period", len(deleted))
            except Exception:  # a database away for a moment: the next sweep tries again
                _log.exception("the sweep for jobs past their retention period failed")

    def _settled(self, job_id: str) -> bool:
        """Whether the job's workflow has nothing left to do (or never was one)."""
        status = DBOS.get_workflow_status(job_id)
        return status is None or status.status not in ("PENDING", "ENQUEUED")

    def _remove(self, job_id: str) -> None:
        self.results.delete(job_id)
        self.files.drop(job_id)
        if self.uploads is not None:
            self.uploads.drop_job(job_id)
        if DBOS.get_workflow_status(job_id) is not None:
            DBOS.delete_workflow(job_id)
        self.store.delete_job(job_id)
        self.forget(job_id)
