"""In-memory tables uploaded to a cluster once, named in plans by id rather than carried in them.

A notebook's ``from_arrow`` table (or ``from_pandas``, ``from_pydict``) that a job reads is
written once as an Arrow IPC file under the cluster's uploads directory (:func:`uploads_root`:
``uploads/`` beside the checkpoints), and the plan holds an :class:`UploadedTable`: the
upload's id, the schema and the row count, a few hundred bytes whatever the rows. The
JobManager binds each id to its file (:func:`bind_uploads`: the id checked, the file checked
against the schema and rows, the path built by the JobManager under its own root); agents
memory-map the file (when local) and each task reads its own zero-copy slice.

>>> import tempfile
>>> root = Location.of(tempfile.mkdtemp())
>>> table = pa.table({"x": range(10)})
>>> upload = new_upload_id()
>>> write_upload(upload_location(root, upload), table.schema, table.to_batches())
>>> source = UploadedTable(upload, table.schema, 10, root=str(root))
>>> [s.read().column("x").to_pylist() for s in source.split(3)]
[[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from sabot_lab.connectors.arrow import table_batches
from sabot_lab.errors import LocationError, PlanError
from sabot_lab.expr import Expr
from sabot_lab.location import Location
from sabot_lab.logical import JobGraph
from sabot_lab.logical.codec import schema_from_b64, schema_to_b64
from sabot_lab.logical.sources import ReplayableSource, SourceSpec, register_source

__all__ = [
    "UploadedTable",
    "bind_uploads",
    "check_upload_id",
    "new_upload_id",
    "open_upload",
    "read_upload",
    "upload_location",
    "uploads_in",
    "uploads_root",
    "write_upload",
]

_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


def new_upload_id() -> str:
    """A fresh upload id: 32 random hex digits (ids name files, so nothing else is one).

    >>> len(new_upload_id())
    32
    """
    return uuid.uuid4().hex


def check_upload_id(value: Any) -> str:
    """``value`` checked to be an upload id (see :func:`new_upload_id`).

    >>> check_upload_id("../../etc/passwd")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.PlanError: upload id '../../etc/passwd' is not 32 hex digits: ids come from new_upload_id(), never paths
    """
    if not isinstance(value, str) or not _UPLOAD_ID.fullmatch(value):
        raise PlanError(
            f"upload id {value!r} is not 32 hex digits: ids come from new_upload_id(), never paths"
        )
    return value


def uploads_root(workdir: str | os.PathLike[str], checkpoint_location: str | None) -> Location:
    """Where a cluster keeps uploaded tables: ``uploads/`` in its checkpoint location (shared
    by its hosts), else in the JobManager's work directory.

    >>> str(uploads_root("/w", None)), str(uploads_root("/w", "s3://b/c"))
    ('/w/uploads', 's3://b/c/uploads')
    """
    return Location.of(checkpoint_location or workdir) / "uploads"


def upload_location(root: Location, upload: str) -> Location:
    """The file of upload ``upload`` under ``root`` (the id checked: it stays inside).

    >>> str(upload_location(Location.of("/u"), "0" * 32))
    '/u/00000000000000000000000000000000.arrow'
    """
    return root / f"{check_upload_id(upload)}.arrow"


def write_upload(location: Location, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
    """Write ``batches`` as the Arrow IPC file at ``location``, whole (it appears once
    written); an upload never replaces another."""
    if location.exists():
        raise LocationError(f"{location} exists already: an upload never replaces another")
    with location.open_output() as out, pa.ipc.new_file(out, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)


def read_upload(location: Location) -> pa.Table:
    """The table uploaded at ``location``: memory-mapped when the file is local (reading it
    copies nothing; pages load as slices are read)."""
    return open_upload(location).read_all()


def open_upload(location: Location) -> pa.ipc.RecordBatchFileReader:
    """A reader of the upload at ``location`` (its schema and row count come from the
    file's footer and batch headers, without its rows)."""
    try:
        if location.is_local:
            source: pa.NativeFile = pa.memory_map(str(location))
        else:
            source = location.filesystem.open_input_file(location.path)
        return pa.ipc.open_file(source)
    except (OSError, pa.ArrowException) as exc:
        raise LocationError(
            f"cannot read the uploaded table {location.name}: {exc} (an upload is deleted "
            "with the last job that read it; submit the stream again to upload it anew)"
        ) from None


@register_source
class UploadedTable(ReplayableSource):
    """Rows ``start`` to ``start + length`` of upload ``upload`` (``schema``, ``rows`` in
    all). ``root`` is the uploads directory, set by the JobManager when it plans the job
    (:func:`bind_uploads`); a plan from a client names the upload only."""

    kind = "uploaded_table"

    def __init__(
        self,
        upload: str,
        schema: pa.Schema,
        rows: int,
        start: int = 0,
        length: int | None = None,
        root: str | None = None,
    ) -> None:
        self.upload = check_upload_id(upload)
        self._schema, self.rows, self.start = schema, rows, start
        self.length = rows - start if length is None else length
        self.root = root
        if not 0 <= start <= start + self.length <= rows:
            raise PlanError(
                f"uploaded table {upload}: rows {start} to {start + self.length} are not "
                f"within its {rows} rows"
            )

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    def read(self) -> pa.Table:
        """Its rows: a zero-copy slice of the (memory-mapped) upload."""
        if self.root is None:
            raise PlanError(
                f"uploaded table {self.upload} is not bound to a cluster's uploads: only a "
                "job on the cluster it was uploaded to reads it"
            )
        table = read_upload(upload_location(Location.of(self.root), self.upload))
        return table.slice(self.start, self.length)

    def replay(
        self,
        batch_size: int,
        columns: list[str] | None = None,
        predicate: Expr | None = None,
        position: Any = None,
    ) -> Iterator[tuple[pa.RecordBatch, int]]:
        """Batches of the rows after the first ``position`` (None: all), each with the
        number of rows sent once it is."""
        yield from table_batches(self.read(), batch_size, columns, position)

    def split(self, n: int) -> list[SourceSpec]:
        """Contiguous row ranges, each read as a zero-copy slice.

        >>> source = UploadedTable("0" * 32, pa.schema([("x", pa.int64())]), 10)
        >>> [(s.start, s.length) for s in source.split(3)]
        [(0, 3), (3, 3), (6, 4)]
        """
        parts = max(1, min(n, self.length))
        bounds = [self.start + self.length * i // parts for i in range(parts + 1)]
        return [
            UploadedTable(self.upload, self.schema, self.rows, a, b - a, self.root)
            for a, b in itertools.pairwise(bounds)
        ]

    def describe(self) -> str:
        return f"uploaded table {self.upload} ({self.length} rows, {len(self.schema)} columns)"

    def estimated_rows(self) -> int:
        return self.length

    def fingerprint(self) -> tuple[str, str, int, int]:
        return (self.kind, self.upload, self.start, self.length)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "kind": self.kind,
            "upload": self.upload,
            "schema": schema_to_b64(self.schema),
            "rows": self.rows,
            "start": self.start,
            "length": self.length,
        }
        return data if self.root is None else {**data, "root": self.root}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UploadedTable:
        counts = [data.get(k) for k in ("rows", "start", "length")]
        ints = [c for c in counts if type(c) is int]  # (not bools, not None)
        root = data.get("root")
        if len(ints) != 3 or (root is not None and not isinstance(root, str)):
            raise PlanError(f"uploaded table {data.get('upload')!r}: rows, start and length "
                            f"must be integers and root a string, got {counts}, {root!r}")  # fmt: skip
        rows, start, length = ints
        return cls(data["upload"], schema_from_b64(data["schema"]), rows, start, length, root)


def uploads_in(graph: JobGraph) -> list[UploadedTable]:
    """The uploaded tables ``graph`` reads.

    >>> import sabot_lab as sl
    >>> uploads_in(sl.from_pydict({"x": [1]}).graph)
    []
    """
    return [
        node.parameters["source"]
        for node in graph.sources()
        if isinstance(node.parameters["source"], UploadedTable)
    ]


def bind_uploads(graph: JobGraph, root: Location) -> JobGraph:
    """``graph`` with each uploaded table it reads bound to its file under ``root`` (the
    JobManager's uploads directory), each checked: a plan names uploads by id and never by
    path, and the file must hold the schema and rows the plan says. ``graph`` itself is
    left as it is.

    >>> import tempfile
    >>> from sabot_lab.logical import Source
    >>> op = Source(source=UploadedTable("f" * 32, pa.schema([("x", pa.int64())]), 3))
    >>> plan = JobGraph("j")
    >>> _ = plan.add_new_operator(op, "source", [], op.schema([]))
    >>> bind_uploads(plan, Location.of(tempfile.mkdtemp()))
    Traceback (most recent call last):
    ...
    sabot_lab.errors.PlanError: uploaded table fff...fff is not on this cluster (never uploaded, or deleted with the last job that read it): submit the stream again
    """
    bound = graph.copy()
    for node in graph.sources():
        spec = node.parameters["source"]
        if not isinstance(spec, UploadedTable):
            continue
        if spec.root is not None:
            raise PlanError(
                f"uploaded table {spec.upload} names a directory ({spec.root!r}): a plan names "
                "uploads by id only, the cluster knows where they are"
            )
        location = upload_location(root, spec.upload)
        if not location.exists():
            raise PlanError(
                f"uploaded table {spec.upload} is not on this cluster (never uploaded, or "
                "deleted with the last job that read it): submit the stream again"
            )
        kept = open_upload(location)
        rows = kept.count_rows()
        if rows != spec.rows or not kept.schema.equals(spec.schema):
            raise PlanError(
                f"uploaded table {spec.upload} holds {rows} rows of {kept.schema.names}, not "
                f"the {spec.rows} rows of {spec.schema.names} the plan says: submit the "
                "stream again"
            )
        table = UploadedTable(spec.upload, spec.schema, spec.rows, spec.start, spec.length,
                              str(root))  # fmt: skip
        bound.replace_operator(node.replace(op=node.op.replace(source=table)))
    return bound
