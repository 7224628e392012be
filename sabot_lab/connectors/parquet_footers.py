"""Parquet footers read once per process: each file's fragment, its footer parsed, is kept
while the file keeps its size and modification time.

A Parquet read needs every file's footer (row groups, their statistics and dictionaries) to
plan and then to scan; a glob of 100 small files spends as long opening footers as decoding
rows. :func:`file_fragment` parses a file's footer once and hands the same fragment to every
later source over that file (the next query, a split, the scan after the planning) until the
file changes on disk, when it is read again. A file modified less than :data:`SETTLED`
before is read again each time: the file system's clock ticks coarsely,
so a second write of the same size within one tick leaves no trace in the file's time (git's
"racily clean" files). Fragments are immutable, so sharing them between threads and sources is
safe. May import ``errors`` only.

>>> import os, tempfile, pyarrow as pa, pyarrow.parquet as pq, pyarrow.fs as fs
>>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
>>> pq.write_table(pa.table({"x": [1, 2]}), path)
>>> os.utime(path, (0, 0))  # written long ago
>>> first = file_fragment(path, fs.LocalFileSystem())
>>> first is file_fragment(path, fs.LocalFileSystem()), first.metadata.num_rows
(True, 2)
>>> pq.write_table(pa.table({"x": [1, 2, 3]}), path)
>>> file_fragment(path, fs.LocalFileSystem()).metadata.num_rows
3
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow.dataset as ds
    import pyarrow.fs

__all__ = ["FOOTERS_KEPT", "SETTLED", "file_fragment"]

FOOTERS_KEPT = 4096
"""Parsed footers kept (the least recently used go first): a few MB for as many files."""

SETTLED = 2_000_000_000
"""Nanoseconds since a file's modification time for its footer to be kept: coarser than any
local file system's clock tick."""

_lock = threading.Lock()
_kept: OrderedDict[tuple[str, str, tuple[str, ...]], tuple[int, int, Any]] = OrderedDict()


def file_fragment(
    path: str,
    filesystem: pyarrow.fs.FileSystem,
    partition_expression: ds.Expression | None = None,
    dictionaries: Iterable[str] = (),
) -> ds.ParquetFileFragment:
    """The fragment of the whole Parquet file at ``path`` (a local path), with
    ``partition_expression`` and a format reading the text columns ``dictionaries`` as
    dictionaries: its footer read, and the same object as the last call's while the file's
    size and modification time are unchanged, once the file is :data:`SETTLED` (before, a
    new fragment each time, its footer read when first needed).

    >>> import os, tempfile, pyarrow as pa, pyarrow.parquet as pq, pyarrow.fs as fs
    >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> pq.write_table(pa.table({"s": ["a", "b", "a"]}), path)
    >>> file_fragment(path, fs.LocalFileSystem(), dictionaries=["s"]).to_table()["s"].type
    DictionaryType(dictionary<values=string, indices=int32, ordered=0>)
    """
    import pyarrow.dataset as ds

    stat = os.stat(path)
    columns = tuple(sorted(set(dictionaries)))
    key = (path, "" if partition_expression is None else str(partition_expression), columns)
    with _lock:
        kept = _kept.get(key)
        if kept is not None and kept[:2] == (stat.st_size, stat.st_mtime_ns):
            _kept.move_to_end(key)
            fragment: ds.ParquetFileFragment = kept[2]
            return fragment
    options = ds.ParquetReadOptions(dictionary_columns=list(columns))
    file_format = ds.ParquetFileFormat(read_options=options)
    if stat.st_mtime_ns > time.time_ns() - SETTLED:
        # possibly written again within the clock's tick: not kept, its footer read (as
        # pyarrow does) when first needed, from the file as it is then
        return file_format.make_fragment(path, filesystem, partition_expression)
    fragment = file_format.make_fragment(
        path, filesystem, partition_expression=partition_expression, file_size=stat.st_size
    )
    fragment.ensure_complete_metadata()
    with _lock:
        _kept[key] = (stat.st_size, stat.st_mtime_ns, fragment)
        _kept.move_to_end(key)
        while len(_kept) > FOOTERS_KEPT:
            _kept.popitem(last=False)
    return fragment
