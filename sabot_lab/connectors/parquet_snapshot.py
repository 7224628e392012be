"""A Parquet file holding the current row of every key of an upsert changelog, replaced whole
at each commit: the sink of a job whose results change (a running aggregate).

:class:`ParquetSnapshotSink` merges each commit's rows (see :mod:`sabot_lab.connectors.sink`)
into the rows of the file at ``location``, keeping the last row of each ``key``, writes the
result under ``_staging/`` beside it and renames it over the file: a reader always sees one
whole snapshot, the one after some complete checkpoint (Flink's upsert tables: a key
declared ``PRIMARY KEY ... NOT ENFORCED``). The file records the job and commit it holds
(Parquet key-value metadata), so a commit handed over again after a restore is skipped.

May import: :mod:`sabot_lab.connectors.sink`, :mod:`sabot_lab.connectors.parquet_sink`,
the engine's :func:`~sabot_lab.engine.retracting.latest_of`, :mod:`sabot_lab.errors`.

>>> import pyarrow as pa, pyarrow.parquet as pq, tempfile, os
>>> sink = ParquetSnapshotSink(os.path.join(tempfile.mkdtemp(), "totals.parquet"), key=["k"])
>>> sink.commit(pa.table({"k": ["a", "b"], "n": [1, 1]}), "job", 1)
True
>>> sink.commit(pa.table({"k": ["a", "a"], "n": [2, 3]}), "job", 2), sink.commit(pa.table({"k": ["b"], "n": [9]}), "job", 2)
(True, False)
>>> pq.read_table(sink.location).sort_by("k").to_pydict()
{'k': ['a', 'b'], 'n': [3, 1]}
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from sabot_lab.connectors.parquet_sink import filesystem_of
from sabot_lab.connectors.sink import CommitSink, register_sink
from sabot_lab.engine.retracting import latest_of
from sabot_lab.errors import PlanError, SourceError

__all__ = ["ParquetSnapshotSink", "replace_file", "write_snapshot"]

_JOB, _COMMIT = b"sabot.job", b"sabot.commit"
"""The Parquet metadata keys naming the job and commit a snapshot holds."""


@register_sink
class ParquetSnapshotSink(CommitSink):
    """The current rows of an upsert changelog as one Parquet file at ``location`` (a local
    path or a ``pyarrow.fs`` URI), one row per value of ``key`` (see the module). ``key``
    None: the key of the changelog the job outputs, filled in when it is submitted."""

    kind = "parquet_snapshot"
    takes_updates = True

    def __init__(self, location: str | os.PathLike[str], key: Sequence[str] | None = None) -> None:
        location = str(location)
        self.location = location if "://" in location else os.path.abspath(location)
        self.key = None if key is None else list(key)

    def keyed(self, key: tuple[str, ...]) -> ParquetSnapshotSink:
        """This sink with the changelog's ``key``; :class:`PlanError` when it was given
        another one.

        >>> ParquetSnapshotSink("/tmp/t.parquet").keyed(("k",)).key
        ['k']
        """
        if self.key is not None and set(self.key) != set(key):
            raise PlanError(
                f"ParquetSnapshotSink(key={self.key}) is given an upsert changelog keyed by "
                f"{list(key)}: leave key out (it is the changelog's) or give key={list(key)}"
            )
        return ParquetSnapshotSink(self.location, key)

    def commit(self, rows: pa.Table, job_id: str, commit: int) -> bool:
        """Merge ``rows`` into the snapshot as commit ``commit`` of ``job_id`` and replace
        the file; False when the file holds that commit or a later one of the job."""
        if self.key is None:
            raise SourceError(
                f"the snapshot sink at {self.location} has no key: give key=[...] or submit "
                "the upsert changelog it takes (its key is filled in then)"
            )
        fs, path = filesystem_of(self.location)
        current = None
        if fs.get_file_info(path).type != pafs.FileType.NotFound:
            current = pq.read_table(path, filesystem=fs)
            meta = current.schema.metadata or {}
            if meta.get(_JOB) == job_id.encode() and int(meta.get(_COMMIT, -1)) >= commit:
                return False
            rows = pa.concat_tables(
                [current.replace_schema_metadata(None), rows], promote_options="permissive"
            )
        missing = [k for k in self.key if k not in rows.column_names]
        if missing:
            raise SourceError(
                f"the sink's key {missing} is not among the columns {rows.column_names}"
            )
        snapshot = latest_of(rows, self.key)
        snapshot = snapshot.replace_schema_metadata({_JOB: job_id, _COMMIT: str(commit)})
        replace_file(fs, path, snapshot)
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "location": self.location, "key": self.key}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParquetSnapshotSink:
        return cls(data["location"], data.get("key"))


def replace_file(
    fs: pafs.FileSystem, path: str, table: pa.Table, compression: str = "zstd"
) -> None:
    """Write ``table`` as the Parquet file ``path``: staged under ``_staging/`` beside it,
    then renamed over it (on a local disk at once, so a reader sees the old file or the new).

    >>> import tempfile
    >>> path = tempfile.mkdtemp() + "/t.parquet"
    >>> replace_file(pafs.LocalFileSystem(), path, pa.table({"x": [1]}))
    >>> replace_file(pafs.LocalFileSystem(), path, pa.table({"x": [2]}))
    >>> pq.read_table(path).to_pydict()
    {'x': [2]}
    """
    parent, name = os.path.split(path)
    staging = f"{parent}/_staging"
    fs.create_dir(staging, recursive=True)
    staged = f"{staging}/{name}"
    pq.write_table(table, staged, filesystem=fs, compression=compression)
    fs.move(staged, path)


def write_snapshot(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    location: str | os.PathLike[str],
    key: Sequence[str],
    compression: str = "zstd",
) -> int:
    """Write the last row of each ``key`` of ``batches`` (an upsert changelog) as the Parquet
    file ``location``, replacing it whole once every batch is read; the number of rows.

    >>> import tempfile, os
    >>> rows = pa.table({"k": ["a", "b", "a"], "n": [1, 1, 2]})
    >>> path = os.path.join(tempfile.mkdtemp(), "totals.parquet")
    >>> write_snapshot(rows.to_batches(max_chunksize=1), rows.schema, path, ["k"])
    2
    >>> pq.read_table(path).to_pydict()
    {'k': ['b', 'a'], 'n': [1, 2]}
    """
    rows = latest_of(pa.Table.from_batches(list(batches), schema=schema), key)
    where = str(location)
    fs, path = filesystem_of(where if "://" in where else os.path.abspath(where))
    replace_file(fs, path, rows, compression)
    return rows.num_rows
