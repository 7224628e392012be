"""Writing a stream's batches to files: Parquet (one file, or a hive-partitioned directory),
CSV and NDJSON.

Every writer writes under a temporary name next to the target and renames it into place
once whole, so a failed or interrupted run never leaves a half-written file (or directory)
at the target; a target that existed is replaced only then.

May import: ``errors`` and :mod:`~sabot_lab.connectors.csv_partitions`.

>>> import os, tempfile, pyarrow as pa
>>> root = tempfile.mkdtemp()
>>> table = pa.table({"k": ["a", "b", "a"], "v": [1, 2, 3]})
>>> write_parquet(table.to_batches(), table.schema, root + "/out", partition_by=["k"])
3
>>> sorted(os.listdir(root + "/out"))
['k=a', 'k=b']
>>> write_csv(table.to_batches(), table.schema, root + "/out.csv", separator=";")
3
>>> open(root + "/out.csv").read()
'"k";"v"\\n"a";1\\n"b";2\\n"a";3\\n'
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pyarrow as pa

from sabot_lab.connectors.csv_partitions import partition_keys_supported, write_csv_partitions
from sabot_lab.errors import SourceError
from sabot_lab.expr.capabilities import require_writable

__all__ = ["write_csv", "write_json", "write_parquet", "write_partitioned"]

COMPRESSIONS = ("zstd", "snappy", "gzip", "lz4", "brotli", "uncompressed")
ROW_GROUP_ROWS = 512 * 512


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def _atomically(path: str | os.PathLike[str], write: Callable[[str], int]) -> int:
    """``write(staging)`` then rename the staging file or directory to ``path``; on failure
    nothing is left behind and ``path`` keeps what it had."""
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise SourceError(f"cannot write {target!r}: the directory {directory!r} does not exist")
    token = uuid.uuid4().hex[:8]
    staging, old = f"{target}.inprogress-{token}", f"{target}.replaced-{token}"
    try:
        rows = write(staging)
        if os.path.isdir(target) and not os.path.islink(target):
            os.replace(target, old)  # a directory cannot be renamed over a non-empty one
        os.replace(staging, target)
    finally:
        _remove(staging)
        _remove(old)
    return rows


def _counted(batches: Iterable[pa.RecordBatch], count: list[int]) -> Iterable[pa.RecordBatch]:
    for batch in batches:
        count[0] += batch.num_rows
        yield batch


def write_parquet(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    path: str | os.PathLike[str],
    compression: str = "zstd",
    partition_by: str | Sequence[str] | None = None,
) -> int:
    """Stream batches into one Parquet file, or with ``partition_by`` into a directory of
    ``key=value`` subdirectories (hive layout, the keys left out of the files); return the
    number of rows written.
    """
    import pyarrow.parquet as pq

    if compression not in COMPRESSIONS:
        raise SourceError(
            f"unknown Parquet compression {compression!r}; use one of {', '.join(COMPRESSIONS)}"
        )
    require_writable(schema, "parquet")
    keys = [partition_by] if isinstance(partition_by, str) else list(partition_by or [])
    missing = [key for key in keys if key not in schema.names]
    if missing:
        raise SourceError(f"partition_by names {missing}, not columns of {schema.names}")
    codec = "none" if compression == "uncompressed" else compression  # pyarrow's name
    count = [0]

    def write(staging: str) -> int:
        if keys:
            import pyarrow.dataset as ds

            ds.write_dataset(
                _counted(batches, count),
                staging,
                schema=schema,
                format="parquet",
                partitioning=keys,
                partitioning_flavor="hive",
                file_options=ds.ParquetFileFormat().make_write_options(compression=codec),
                basename_template="part-{i}.parquet",
                existing_data_behavior="error",
                # rows gathered per partition, so that many small batches do not make as
                # many tiny row groups (Polars' default row group size)
                min_rows_per_group=ROW_GROUP_ROWS,
                max_rows_per_group=4 * ROW_GROUP_ROWS,
            )
            return count[0]
        with pq.ParquetWriter(staging, schema, compression=codec) as writer:
            for batch in _counted(batches, count):
                writer.write_batch(batch)
        return count[0]

    return _atomically(path, write)


def write_partitioned(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    path: str | os.PathLike[str],
    keys: Sequence[str],
    file_format: str = "parquet",
) -> int:
    """Stream batches into a directory of ``key=value`` subdirectories (hive layout, the keys
    left out of the files, their values URI-escaped), of Parquet files or of CSV files
    without a header line (Flink's ``csv`` format); return the number of rows written.

    >>> import tempfile, pyarrow as pa
    >>> root = tempfile.mkdtemp() + "/out"
    >>> t = pa.table({"k": ["a:1", "b"], "x": [1, 2]})
    >>> write_partitioned(t.to_batches(), t.schema, root, ["k"], "csv")
    2
    >>> sorted(os.listdir(root)), open(root + "/k=b/part-0.csv").read()
    (['k=a%3A1', 'k=b'], '2\\n')
    """
    if file_format == "parquet":
        return write_parquet(batches, schema, path, partition_by=list(keys))
    import pyarrow.dataset as ds

    require_writable(schema, file_format)
    count = [0]

    def write(staging: str) -> int:
        if partition_keys_supported(schema, keys):
            write_csv_partitions(_counted(batches, count), schema, staging, keys)
            return count[0]
        ds.write_dataset(
            _counted(batches, count),
            staging,
            schema=schema,
            format=file_format,
            partitioning=list(keys),
            partitioning_flavor="hive",
            file_options=ds.CsvFileFormat().make_write_options(include_header=False),
            basename_template=f"part-{{i}}.{file_format}",
            existing_data_behavior="error",
        )
        return count[0]

    return _atomically(path, write)


def write_csv(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    path: str | os.PathLike[str],
    separator: str = ",",
    include_header: bool = True,
) -> int:
    """Stream batches into one CSV file; return the number of rows written (nulls are
    empty fields)."""
    import pyarrow.csv as csv

    require_writable(schema, "csv")
    options = csv.WriteOptions(include_header=include_header, delimiter=separator)
    count = [0]

    def write(staging: str) -> int:
        with csv.CSVWriter(staging, schema, write_options=options) as writer:
            for batch in _counted(batches, count):
                writer.write_batch(batch)
        return count[0]

    return _atomically(path, write)


def _json_default(value: Any) -> Any:
    """A JSON value for what ``json`` cannot write: dates and times in ISO 8601, bytes as
    text, anything else (decimals, durations) as its string."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def write_json(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: str | os.PathLike[str]
) -> int:
    """Stream batches into one newline-delimited JSON file (one object a row, dates and
    times in ISO 8601); return the number of rows written.

    >>> import tempfile, pyarrow as pa
    >>> p = tempfile.mkdtemp() + "/t.ndjson"
    >>> write_json(pa.table({"x": [1, None]}).to_batches(), pa.schema([("x", pa.int64())]), p)
    2
    >>> open(p).read()
    '{"x": 1}\\n{"x": null}\\n'
    """
    count = [0]

    def write(staging: str) -> int:
        with open(staging, "w", encoding="utf-8") as out:
            for batch in _counted(batches, count):
                for row in batch.to_pylist():
                    out.write(json.dumps(row, default=_json_default) + "\n")
        return count[0]

    return _atomically(path, write)
