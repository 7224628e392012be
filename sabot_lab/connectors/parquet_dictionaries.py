"""Reading dictionary-encoded Parquet text columns through their dictionaries.

A Parquet writer stores a column of few distinct strings (TPC-H's ``l_shipmode``,
``l_returnflag``) as a small dictionary page and integer codes. pyarrow decodes such a
column into one string per row several times slower than it reads the codes and the
dictionary and then expands them (a take on a few values): 6 M rows of ``l_shipmode`` read in
1.3 s against 0.2 s. :func:`with_dictionary_reads` gives a scan's Parquet fragments a format
that reads those columns as dictionaries; the scanner casts them to the dataset's ``string``
type, so the batches are the same. A column whose writer fell back from its dictionary to
plain pages (a large dictionary: ``l_comment``) is read as before: building a dictionary over
it costs more than it saves. May import ``errors``.

>>> import tempfile, pyarrow as pa, pyarrow.parquet as pq, pyarrow.dataset as ds
>>> path = tempfile.mkdtemp() + "/t.parquet"
>>> pq.write_table(pa.table({"mode": ["AIR", "RAIL"] * 5000, "n": range(10_000)}), path)
>>> dataset = ds.dataset(path)
>>> fragments = with_dictionary_reads(list(dataset.get_fragments()), ["mode", "n"], dataset.schema)
>>> fragments[0].format.read_options.dictionary_columns
{'mode'}
>>> ds.FileSystemDataset(fragments, dataset.schema, dataset.format, dataset.filesystem).to_table()["mode"].type
DataType(string)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import pyarrow.dataset as ds

__all__ = ["DICTIONARY_SHARE", "dictionary_columns", "with_dictionary_reads"]

DICTIONARY_SHARE = 0.1
"""A column chunk counts as dictionary-encoded when its dictionary page is at most this share
of the chunk's uncompressed bytes (a writer that fell back to plain pages filled a large one)."""


def _is_text(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    )


def dictionary_columns(metadata: Any, columns: Sequence[str], schema: pa.Schema) -> set[str]:
    """The text ``columns`` that every row group of a Parquet file (its ``metadata``) stores
    dictionary-encoded, with a small dictionary."""
    wanted = {c for c in columns if c in schema.names and _is_text(schema.field(c).type)}
    if not wanted or metadata.num_row_groups == 0:
        return set()
    names = metadata.schema.names
    kept = set()
    for name in wanted:
        if name not in names:
            continue
        index = names.index(name)
        chunks = [metadata.row_group(g).column(index) for g in range(metadata.num_row_groups)]
        if all(_small_dictionary(chunk) for chunk in chunks):
            kept.add(name)
    return kept


def _small_dictionary(chunk: Any) -> bool:
    if not chunk.has_dictionary_page or chunk.dictionary_page_offset is None:
        return False
    size = chunk.data_page_offset - chunk.dictionary_page_offset
    return 0 < size <= DICTIONARY_SHARE * chunk.total_uncompressed_size


def with_dictionary_reads(
    fragments: Sequence[ds.ParquetFileFragment], columns: Sequence[str], schema: pa.Schema
) -> list[ds.ParquetFileFragment]:
    """``fragments`` (whole files or row groups of them), each remade with a format reading
    its dictionary-encoded text ``columns`` as dictionaries (unchanged where it has none)."""
    import pyarrow.dataset as ds

    out = []
    for fragment in fragments:
        found = dictionary_columns(fragment.metadata, columns, schema)
        if not found:
            out.append(fragment)
            continue
        options = ds.ParquetReadOptions(dictionary_columns=sorted(found))
        fmt = ds.ParquetFileFormat(read_options=options)
        out.append(
            fmt.make_fragment(
                fragment.path,
                fragment.filesystem,
                partition_expression=fragment.partition_expression,
                row_groups=[g.id for g in fragment.row_groups],
            )
        )
    return out
