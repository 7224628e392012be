"""The JobManager's uploaded tables: received (``do_put``), bound to the plans naming them,
and deleted with the last job that read them.

An upload is ``<root>/<id>.arrow`` (see :mod:`sabot_lab.connectors.uploaded_tables`); each job
whose plan names it leaves a mark ``<root>/<id>.jobs/<job_id>``, so that the upload lives as
long as one of those jobs is kept (a client reuses an upload for later jobs). Deleting a job
(``Job.delete()`` or past ``result_ttl``) removes its marks, and each upload left without
one; the sweep also removes uploads no job ever named once they are older than
``result_ttl``.

May import ``connectors.uploaded_tables``, ``location``, ``logical``, ``runtime.protocol``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import pyarrow as pa

from sabot_lab.connectors.uploaded_tables import (
    bind_uploads,
    check_upload_id,
    upload_location,
    uploads_in,
    write_upload,
)
from sabot_lab.location import Location
from sabot_lab.logical import JobGraph

__all__ = ["Uploads"]

_MARKS = ".jobs"


class Uploads:
    """The uploaded tables under ``root``.

    >>> import tempfile
    >>> uploads = Uploads(Location.of(tempfile.mkdtemp()))
    >>> table = pa.table({"x": [1, 2]})
    >>> uploads.receive("a" * 32, table.schema, table.to_batches())
    >>> uploads.ids(), uploads.sweep(time.time() + 1)
    (['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'], ['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'])
    """

    def __init__(self, root: Location) -> None:
        self.root = root

    def receive(self, upload: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        """Store a client's upload (the id checked; an existing upload is never replaced)."""
        write_upload(upload_location(self.root, upload), schema, batches)

    def bind(self, graph: JobGraph, job_id: str | None = None) -> JobGraph:
        """``graph`` with its uploads bound to their files (see
        :func:`~sabot_lab.connectors.uploaded_tables.bind_uploads`); with ``job_id``, each
        upload is marked as read by that job."""
        bound = bind_uploads(graph, self.root)
        if job_id is not None:
            for upload in {t.upload for t in uploads_in(bound)}:
                (self._marks(upload) / job_id).write_bytes(b"")
        return bound

    def ids(self) -> list[str]:
        """The ids of the uploads kept."""
        return [
            c.name.removesuffix(".arrow") for c in self.root.children() if c.name.endswith(".arrow")
        ]

    def drop_job(self, job_id: str) -> list[str]:
        """Remove the marks of job ``job_id`` (deleted); delete each upload it leaves without
        a mark; return the ids of those deleted."""
        deleted = []
        for upload in self.ids():
            marks = self._marks(upload)
            if (marks / job_id).exists():
                (marks / job_id).delete()
                if not marks.children():
                    self._delete(upload)
                    deleted.append(upload)
        return deleted

    def sweep(self, cutoff: float) -> list[str]:
        """Delete the uploads no job named, written before ``cutoff`` (a time); return
        their ids."""
        deleted = []
        for upload in self.ids():
            location = upload_location(self.root, upload)
            info = location.filesystem.get_file_info(location.path)
            written = info.mtime.timestamp() if info.mtime is not None else time.time()
            if not self._marks(upload).exists() and written < cutoff:
                self._delete(upload)
                deleted.append(upload)
        return deleted

    def _marks(self, upload: str) -> Location:
        return self.root / f"{check_upload_id(upload)}{_MARKS}"

    def _delete(self, upload: str) -> None:
        upload_location(self.root, upload).delete()
        self._marks(upload).delete()
