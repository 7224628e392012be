"""Hive-partitioned CSV or Parquet files as the sink of a job, written exactly once per
checkpoint (Flink's filesystem table ``PARTITIONED BY``).

:class:`PartitionedFileSink` splits each commit's rows (see :mod:`sabot_lab.connectors.sink`)
by the values of its partition ``keys`` and writes one file per partition,
``<key>=<value>/.../<job>-<commit>.<format>`` under ``location``: the keys are left out of the
files (they are in the path), values are URI-escaped as pyarrow's hive partitioning escapes
them (a ``/`` is ``%2F``, so every file stays inside ``location``), and CSV files have no
header line (Flink's ``csv`` format, as :class:`~sabot_lab.connectors.csv_rows.CsvRows` writes
it). Each file is written under ``_staging/`` and moved into
place once whole, so a reader of the directories (which skips names starting with ``_``)
never sees a partial file, nor the rows of an epoch whose checkpoint did not complete (the
JobManager hands an epoch over only then). A commit handed over again after a crash writes
only the files it had not moved into place yet: every row lands once.

May import: :mod:`sabot_lab.connectors.sink`, :mod:`sabot_lab.connectors.parquet_sink`,
:mod:`sabot_lab.connectors.csv_rows`, :mod:`sabot_lab.errors`.

>>> import os, tempfile, pyarrow as pa
>>> root = tempfile.mkdtemp()
>>> sink = PartitionedFileSink(root, ["dt"], "csv")
>>> rows = pa.table({"dt": ["d1", "d2", "d1"], "x": [1, 2, 3]})
>>> sink.commit(rows, "job", 1), sink.commit(rows, "job", 1)
(True, False)
>>> sorted(os.listdir(root)), open(os.path.join(root, "dt=d1", "job-000001.csv")).read()
(['_staging', 'dt=d1', 'dt=d2'], '1\\n3\\n')
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from sabot_lab.connectors.csv_rows import CsvRows
from sabot_lab.connectors.parquet_sink import filesystem_of
from sabot_lab.connectors.sink import CommitSink, register_sink
from sabot_lab.errors import PlanError, SourceError

__all__ = ["PARTITIONED_FORMATS", "PartitionedFileSink", "partitions"]

PARTITIONED_FORMATS = ("csv", "parquet")
"""The file formats a :class:`PartitionedFileSink` writes."""


def partitions(rows: pa.Table, keys: Sequence[str]) -> Iterator[tuple[str, pa.Table]]:
    """``rows`` split by the values of ``keys``: each partition's hive directory
    (``k=v/...``, values URI-escaped, nulls ``__HIVE_DEFAULT_PARTITION__``) and its rows
    without the key columns (in their order), partitions in the order their keys first
    appear. Rows are grouped on integer codes of the keys' values, not on the values.

    >>> t = pa.table({"k": [None, "a/b", "a/b", "0"], "x": [1, 2, 3, 4]})
    >>> [(d, p["x"].to_pylist()) for d, p in partitions(t, ["k"])]
    [('k=__HIVE_DEFAULT_PARTITION__', [1]), ('k=a%2Fb', [2, 3]), ('k=0', [4])]
    """
    import pyarrow.dataset as ds  # (loaded on first use: ``import sabot_lab`` stays light)

    keys = list(keys)
    if rows.num_rows == 0:
        return
    codes = pa.repeat(pa.scalar(0, pa.int64()), rows.num_rows)  # one per keys' combination
    for key in keys:
        encoded = pc.dictionary_encode(rows[key], null_encoding="encode").combine_chunks()
        code = encoded.indices.cast(pa.int64())
        codes = pc.add(pc.multiply(codes, len(encoded.dictionary)), code)
    order = pc.sort_indices(codes)  # stable: each partition's rows keep their order
    ends = pc.run_end_encode(codes.take(order), run_end_type=pa.int64()).run_ends.to_pylist()
    ordered = rows.take(order)
    firsts = ordered.select(keys).take([0, *ends[:-1]]).to_pylist()
    layout = ds.partitioning(rows.select(keys).schema, flavor="hive")
    values, start = ordered.drop_columns(keys), 0
    for end, first in zip(ends, firsts, strict=True):
        directory, _ = layout.format(_equal_to(first))
        yield directory, values.slice(start, end - start)
        start = end


def _equal_to(values: dict[str, Any]) -> pc.Expression:
    """The expression ``key = value`` (``key IS NULL`` for a null) of every key."""
    terms = [pc.field(k).is_null() if v is None else pc.field(k) == v for k, v in values.items()]
    expression = terms[0]
    for term in terms[1:]:
        expression = expression & term
    return expression


@register_sink
class PartitionedFileSink(CommitSink):
    """A job's committed rows as hive-partitioned ``file_format`` files under ``location`` (a
    local directory or a ``pyarrow.fs`` URI), partitioned by ``keys`` (see the module)."""

    kind = "partitioned_files"

    def __init__(
        self, location: str | os.PathLike[str], keys: Sequence[str], file_format: str = "csv"
    ) -> None:
        if file_format not in PARTITIONED_FORMATS:
            raise PlanError(
                f"a partitioned file sink writes {' or '.join(PARTITIONED_FORMATS)} files, not "
                f"{file_format!r}; pick one of them"
            )
        if not keys:
            raise PlanError(
                f"the partitioned file sink at {location} needs partition keys; use ParquetSink "
                "for files without partitions"
            )
        location = str(location)
        self.location = location if "://" in location else os.path.abspath(location)
        self.keys, self.file_format = list(keys), file_format

    def commit(self, rows: pa.Table, job_id: str, commit: int) -> bool:
        """Write ``rows`` as ``<job_id>-<commit>`` files, one per partition, each staged then
        moved into place; False when every one of them was in place (nothing is written
        again)."""
        missing = [key for key in self.keys if key not in rows.column_names]
        if missing:
            raise SourceError(
                f"the partitioned file sink at {self.location} partitions by {missing}, which "
                f"the job's rows lack (they have {', '.join(rows.column_names)}); select them"
            )
        fs, root = filesystem_of(self.location)
        name = f"{job_id}-{commit:06d}.{self.file_format}"
        wrote = rows.num_rows == 0
        for number, (directory, part) in enumerate(partitions(rows, self.keys)):
            final = f"{root}/{directory}/{name}"
            if fs.get_file_info(final).type != pafs.FileType.NotFound:
                continue
            fs.create_dir(f"{root}/_staging", recursive=True)
            staged = f"{root}/_staging/{number}-{name}"
            self._write(part, staged, fs)
            fs.create_dir(f"{root}/{directory}", recursive=True)
            fs.move(staged, final)
            wrote = True
        return wrote

    def _write(self, rows: pa.Table, path: str, fs: pafs.FileSystem) -> None:
        import pyarrow.parquet as pq

        if self.file_format == "parquet":
            pq.write_table(rows, path, filesystem=fs)
            return
        with fs.open_output_stream(path) as out:
            for batch in rows.to_batches():
                out.write(CsvRows(batch).rows(0, batch.num_rows))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "location": self.location,
            "keys": self.keys,
            "file_format": self.file_format,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartitionedFileSink:
        return cls(data["location"], data["keys"], data["file_format"])
