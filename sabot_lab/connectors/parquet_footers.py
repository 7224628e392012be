"""Parquet footers read once per process: each file's fragment, its footer parsed, is kept
while the file keeps its size and modification time.

A Parquet read needs every file's footer (row groups, their statistics and dictionaries) to
plan and then to scan; a glob of 100 small files spends as long opening footers as decoding
rows. :func:`file_fragment` parses a file's footer once and hands the same fragment to every
later source over that file (the next query, a split, the scan after the planning) until the
file changes on disk, when it is read again; a file modified less than
:data:`~sabot_lab.connectors.settled_files.SETTLED` before is read again each time
(:mod:`~sabot_lab.connectors.settled_files`). Fragments are immutable, so sharing them between
threads and sources is safe. May import ``errors`` and ``connectors.settled_files``.

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
>>> os.utime(path, (0, 0))
>>> file_fragment(path, fs.LocalFileSystem(use_mmap=True)).filesystem.equals(_mapped())
True
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sabot_lab.connectors.settled_files import SETTLED, KeptReads, is_settled

if TYPE_CHECKING:
    import os

    import pyarrow.dataset as ds
    import pyarrow.fs

__all__ = ["FOOTERS_KEPT", "SETTLED", "file_fragment"]

FOOTERS_KEPT = 4096
"""Parsed footers kept (the least recently used go first): a few MB for as many files."""

_kept: KeptReads[tuple[str, tuple[str, ...], bool], ds.ParquetFileFragment] = KeptReads(
    FOOTERS_KEPT
)


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

    columns = tuple(sorted(set(dictionaries)))

    def read(stat: os.stat_result) -> ds.ParquetFileFragment:
        options = ds.ParquetReadOptions(dictionary_columns=list(columns))
        file_format = ds.ParquetFileFormat(read_options=options)
        if not is_settled(stat):
            # possibly written again within the clock's tick: not kept, its footer read (as
            # pyarrow does) when first needed, from the file as it is then
            return file_format.make_fragment(path, filesystem, partition_expression)
        fragment = file_format.make_fragment(
            path, filesystem, partition_expression=partition_expression, file_size=stat.st_size
        )
        fragment.ensure_complete_metadata()
        return fragment

    mapped = filesystem.equals(_mapped())  # a fragment reads through its own file system
    key = ("" if partition_expression is None else str(partition_expression), columns, mapped)
    return _kept.get(path, key, read)


@functools.cache
def _mapped() -> pyarrow.fs.LocalFileSystem:
    """The local file system reading through memory maps."""
    import pyarrow.fs

    return pyarrow.fs.LocalFileSystem(use_mmap=True)
