"""Writing batches into hive-partitioned CSV files, one open file per partition: each batch is
cut into its partitions' rows by one sort of a numeric key code (none when the rows come in
key order, as rows partitioned by their time do), and each partition's rows are appended to
its file, as the text :class:`~sabot_lab.connectors.csv_rows.CsvRows` wrote for the whole
batch at once. Directory names are as Arrow's dataset writer gives them (``key=value``, the value
URI-escaped, null as ``__HIVE_DEFAULT_PARTITION__``).

May import: :mod:`sabot_lab.connectors.csv_rows`, :mod:`sabot_lab.kernels`.

>>> import os, tempfile, pyarrow as pa
>>> root = tempfile.mkdtemp()
>>> t = pa.table({"k": ["b", "a:1", "b"], "x": [1, 2, 3]})
>>> write_csv_partitions(t.to_batches(), t.schema, root, ["k"])
>>> sorted(os.listdir(root)), open(root + "/k=b/part-0.csv").read()
(['k=a%3A1', 'k=b'], '1\\n3\\n')
"""

from __future__ import annotations

import contextlib
import os
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.connectors.csv_rows import CsvRows, TextRoom
from sabot_lab.kernels.text_changes import text_changes

__all__ = ["partition_keys_supported", "write_csv_partitions"]

NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
Partition: TypeAlias = tuple[tuple[str, ...], int, int]
"""A partition's escaped key values and its first and past-the-last row in a batch."""
_NO_BYTES = np.empty(0, np.uint8)
MAX_OPEN_FILES = 512
"""Files kept open at once; past this all are closed and later rows go to new files."""


def partition_keys_supported(schema: pa.Schema, keys: Sequence[str]) -> bool:
    """Whether every key column is text or an integer (whose directory names this module
    writes as Arrow's writer does).

    >>> partition_keys_supported(pa.schema({"k": pa.string(), "d": pa.float64()}), ["k"])
    True
    """
    return all(
        pa.types.is_string(schema.field(k).type) or pa.types.is_integer(schema.field(k).type)
        for k in keys
    )


def write_csv_partitions(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, directory: str, keys: Sequence[str]
) -> None:
    """Write ``batches`` under ``directory`` as ``k1=v1/k2=v2/part-N.csv`` files without a
    header line, the key columns left out of the files (see the module's example)."""
    columns = [name for name in schema.names if name not in keys]
    os.makedirs(directory, exist_ok=True)
    opened: dict[tuple[str, ...], pa.NativeFile] = {}
    files: dict[tuple[str, ...], int] = {}
    group = contextlib.ExitStack()  # the files open now
    room = TextRoom()  # each batch's text is written out before the next one's is made
    try:
        for batch in batches:
            ordered, parts = _partitions(batch, keys)
            text = CsvRows(ordered.select(columns), room)
            for values, start, stop in parts:
                out = opened.get(values)
                if out is None:
                    if len(opened) >= MAX_OPEN_FILES:
                        group.close()
                        opened.clear()
                    folder = os.path.join(directory, *map("=".join, zip(keys, values, strict=True)))
                    os.makedirs(folder, exist_ok=True)
                    number = files[values] = files.get(values, -1) + 1
                    path = os.path.join(folder, f"part-{number}.csv")
                    out = opened[values] = group.enter_context(pa.OSFile(path, "wb"))
                out.write(text.rows(start, stop))
    finally:
        group.close()


def _partitions(
    batch: pa.RecordBatch, keys: Sequence[str]
) -> tuple[pa.RecordBatch, list[Partition]]:
    """``batch``'s rows in partition order (as they are when they come in key order) and each
    partition among them: its escaped key values and its first and past-the-last row."""
    if not batch.num_rows:
        return batch, []
    runs = _runs(batch, keys)
    if runs is not None:
        return batch, runs
    code = np.zeros(batch.num_rows, np.int64)
    names: list[list[str]] = []
    for key in keys:
        encoded = pc.dictionary_encode(batch.column(key).cast(pa.string()))
        labels = encoded.dictionary.to_pylist()
        names.append([urllib.parse.quote(v, safe="") for v in labels] + [NULL_PARTITION])
        index = encoded.indices.fill_null(len(labels)).to_numpy(zero_copy_only=False)
        code = code * (len(labels) + 1) + index
    if np.any(code[1:] < code[:-1]):
        order = np.argsort(code, kind="stable")
        batch, code = batch.take(pa.array(order)), code[order]
    starts = [0, *(np.flatnonzero(np.diff(code)) + 1).tolist()]
    parts: list[Partition] = []
    for start, stop in zip(starts, [*starts[1:], len(code)], strict=True):
        rest, values = int(code[start]), []
        for labels in reversed(names):
            rest, index = divmod(rest, len(labels))
            values.append(labels[index])
        parts.append((tuple(reversed(values)), start, stop))
    return batch, parts


def _runs(batch: pa.RecordBatch, keys: Sequence[str]) -> list[Partition] | None:
    """The partitions of ``batch`` when each is one run of rows (as when rows come in key
    order), found by comparing each row's keys with the previous row's: no hashing; None when
    a partition's rows are not together or a key has nulls."""
    rows = batch.num_rows
    changes = []
    for key in keys:
        column = batch.column(key)
        if column.null_count:
            return None
        changes.append(_changes(column))
    starts = np.union1d(np.zeros(1, np.int64), np.concatenate(changes))
    firsts = pa.array(starts)
    labels = [batch.column(key).take(firsts).cast(pa.string()).to_pylist() for key in keys]
    values = [
        tuple(urllib.parse.quote(v, safe="") for v in row) for row in zip(*labels, strict=True)
    ]
    if len(set(values)) < len(values):
        return None
    bounds = starts.tolist()
    return list(zip(values, bounds, [*bounds[1:], rows], strict=True))


def _changes(column: pa.Array) -> np.ndarray:
    """The rows (from 1) where ``column`` (text or integers, no nulls) differs from the row
    before: text compared in place by a kernel, integers as numbers."""
    if pa.types.is_integer(column.type):
        values = column.to_numpy()
        return np.flatnonzero(values[1:] != values[:-1]) + 1
    _, offsets, data = column.buffers()
    kind = np.int64 if pa.types.is_large_string(column.type) else np.int32
    at = np.frombuffer(offsets, kind)[column.offset : column.offset + len(column) + 1]
    return text_changes(at, np.frombuffer(data, np.uint8) if data else _NO_BYTES)
