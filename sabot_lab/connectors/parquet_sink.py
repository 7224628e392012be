"""Parquet files as the sink of a job, written exactly once per checkpoint.

:class:`ParquetSink` writes each commit (see :mod:`sabot_lab.connectors.sink`) as one file,
``<job>-<commit>.parquet``, under ``location``: a local directory or any ``pyarrow.fs`` URI
(``s3://``, ``gs://``, ``hdfs://``, ``file://``). The file is written under ``_staging/`` and
moved into place once whole, so a reader of the directory (which skips names starting with
``_``) sees whole commits only; a commit whose file exists is not written again.

>>> import sabot_lab as sl, pyarrow as pa, pyarrow.parquet as pq, tempfile
>>> sink = sl.ParquetSink(tempfile.mkdtemp())
>>> sink.commit(pa.table({"x": [1, 2]}), "job", 1), sink.commit(pa.table({"x": [1, 2]}), "job", 1)
(True, False)
>>> pq.read_table(sink.location).num_rows
2
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from sabot_lab.connectors.sink import CommitSink, register_sink
from sabot_lab.errors import SourceError

__all__ = ["ParquetSink", "filesystem_of"]


def filesystem_of(location: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem of ``location`` (a local path or a ``pyarrow.fs`` URI) and the path in it.

    >>> filesystem_of("/tmp/out")
    (<pyarrow._fs.LocalFileSystem object at ...>, '/tmp/out')
    """
    try:
        if "://" in location:
            return pafs.FileSystem.from_uri(location)
        return pafs.LocalFileSystem(), location
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"cannot write Parquet files to {location}: {exc}") from None


@register_sink
class ParquetSink(CommitSink):
    """A job's committed rows as Parquet files under ``location`` (see the module)."""

    kind = "parquet"

    def __init__(self, location: str | os.PathLike[str]) -> None:
        location = str(location)
        self.location = location if "://" in location else os.path.abspath(location)

    def commit(self, rows: pa.Table, job_id: str, commit: int) -> bool:
        """Write ``rows`` as ``<job_id>-<commit>.parquet``, staged then moved into place;
        False when that file exists (nothing is written again)."""
        fs, root = filesystem_of(self.location)
        name = f"{job_id}-{commit:06d}.parquet"
        final = f"{root}/{name}"
        if fs.get_file_info(final).type != pafs.FileType.NotFound:
            return False
        fs.create_dir(f"{root}/_staging", recursive=True)
        staged = f"{root}/_staging/{name}"
        pq.write_table(rows, staged, filesystem=fs)
        fs.move(staged, final)
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "location": self.location}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParquetSink:
        return cls(data["location"])
