"""A job's result rows in the JobManager's work directory: fetched from the agents that ran
its last stage, whole (a job without checkpoints) or one epoch per checkpoint (the rows
before its barrier, committed when it completes), and handed to the job's sink.

May import ``physical``, ``connectors.sink``, the agents' row fetching (``driver``),
``observability``.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pyarrow as pa

from sabot_lab.connectors.sink import CommitSink
from sabot_lab.errors import SabotError
from sabot_lab.location import child_name
from sabot_lab.observability.tracing import span
from sabot_lab.physical import PhysicalPlan, attempt_scope
from sabot_lab.physical.ids import result_exchange
from sabot_lab.runtime.jobmanager.driver import result_batches
from sabot_lab.runtime.transport import Credentials

__all__ = ["COMMIT_WAITS", "ResultFiles", "commit"]

COMMIT_WAITS = (0.5, 1.0, 2.0, 4.0)
"""Seconds between the attempts of a sink commit that failed (a database restarting, a
network cut): a commit made twice is written once, so trying again is safe."""

_log = logging.getLogger("sabot_lab.jobmanager")


def commit(sink: CommitSink, rows: pa.Table, job_id: str, number: int) -> None:
    """Hand ``rows`` to ``sink`` as commit ``number`` of ``job_id``, trying again after each
    of :data:`COMMIT_WAITS` when it fails for a reason outside sabot-lab (a sabot-lab error,
    such as a key column the rows lack, fails at once); the last failure is raised. The
    commit is a ``sink commit`` span of the job's trace.

    >>> import tempfile, pyarrow as pa, sabot_lab as sl
    >>> sink = sl.ParquetSink(tempfile.mkdtemp())
    >>> commit(sink, pa.table({"x": [1, 2]}), "job1", 0)
    >>> sink.commit(pa.table({"x": [1, 2]}), "job1", 0)  # made before: nothing written again
    False
    """
    with span("sink commit", job_id=job_id, commit=number, sink=sink.kind, rows=rows.num_rows):
        _commit(sink, rows, job_id, number)


def _commit(sink: CommitSink, rows: pa.Table, job_id: str, number: int) -> None:
    for wait in (*COMMIT_WAITS, None):
        try:
            sink.commit(rows, job_id, number)
            return
        except SabotError:
            raise
        except Exception as exc:
            if wait is None:
                raise
            _log.warning(
                "commit %d of job %s to its %s sink failed (%s: %s); retrying in %g s",
                number, job_id, sink.kind, type(exc).__name__, exc, wait,
            )  # fmt: skip
            time.sleep(wait)


class ResultFiles:
    """The result rows of jobs under ``workdir/results``, fetched with ``auth``."""

    def __init__(self, workdir: Path, auth: Credentials) -> None:
        self.directory, self.auth = workdir / "results", auth
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, job_id: str) -> Path:
        """Where a finished job's result rows are kept."""
        return self.directory / child_name(f"{job_id}.arrow")

    def epoch_path(self, job_id: str, epoch: int) -> Path:
        """Where the committed rows of one epoch of a job are kept."""
        return self.directory / child_name(job_id) / f"epoch-{epoch}.arrow"

    def keep_epochs(
        self,
        plan: PhysicalPlan,
        placed: Mapping[int, str],
        job_id: str,
        attempt: int,
        epochs: range,
        sink: CommitSink | None,
    ) -> None:
        """Write ``epochs`` of ``attempt`` (from the last stage's tasks, ``placed`` by
        partition) to the work directory, then hand each to ``sink`` as a commit of its own
        (numbered by the epoch): all of them are fetched before the sink gets any, so an
        agent lost meanwhile commits nothing."""
        scope = attempt_scope(job_id, attempt)
        for epoch in epochs:
            rows = result_batches(plan, placed, scope, self.auth, result_exchange(epoch))
            _write_rows(self.epoch_path(job_id, epoch), plan.output_schema, rows)
        if sink is not None:
            for epoch in epochs:
                rows = _read_table(self.epoch_path(job_id, epoch), plan.output_schema)
                commit(sink, rows, job_id, epoch)

    def join_epochs(self, plan: PhysicalPlan, job_id: str, last: int) -> None:
        """Store a job's result as its epochs ``1`` to ``last`` (a job started from a
        savepoint has none up to it), then remove the epochs' files: the result is kept once."""
        paths = [self.epoch_path(job_id, e) for e in range(1, last + 1)]
        epochs = (_read_rows(path) for path in paths if path.exists())
        _write_rows(self.path(job_id), plan.output_schema, itertools.chain.from_iterable(epochs))
        shutil.rmtree(self.directory / job_id, ignore_errors=True)

    def delete(self, job_id: str) -> None:
        """Remove every file of a job's rows: its result, its epochs, a partial write.

        >>> import tempfile
        >>> files = ResultFiles(Path(tempfile.mkdtemp()), Credentials())
        >>> _ = files.path("j1").write_bytes(b"rows")
        >>> files.delete("j1"); files.path("j1").exists()
        False
        """
        for path in (self.path(job_id), self.path(job_id).with_suffix(".partial")):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.directory / job_id, ignore_errors=True)

    def keep_result(
        self,
        plan: PhysicalPlan,
        placed: Mapping[int, str],
        job_id: str,
        attempt: int,
        sink: CommitSink | None,
    ) -> None:
        """Store a job's whole result from ``attempt``'s last stage, and hand it to ``sink``
        as one commit."""
        scope = attempt_scope(job_id, attempt)
        path = self.path(job_id)
        _write_rows(path, plan.output_schema, result_batches(plan, placed, scope, self.auth))
        if sink is not None:
            commit(sink, _read_table(path, plan.output_schema), job_id, 0)


def _write_rows(path: Path, schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> None:
    """Write rows to an Arrow IPC stream file, in full or not at all (through a ``.partial``
    file). The stream format, not the file format: batches of a dictionary-encoded column
    may each bring their own dictionary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    partial.replace(path)


def _read_table(path: Path, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_batches(_read_rows(path), schema)


def _read_rows(path: Path) -> Iterator[pa.RecordBatch]:
    with pa.memory_map(str(path)) as source:
        yield from pa.ipc.open_stream(source)
