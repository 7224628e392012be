"""Reading dictionary-encoded Parquet text columns through their dictionaries.

A Parquet writer stores a column of few distinct strings (TPC-H's ``l_shipmode``,
``l_returnflag``) as a small dictionary page and integer codes. pyarrow decodes such a
column into one string per row several times slower than it reads the codes and the
dictionary and then expands them (a take on a few values): 6 M rows of ``l_shipmode`` read in
1.3 s against 0.2 s. :func:`with_dictionary_reads` gives a scan's Parquet fragments a format
that reads those columns as dictionaries; the scanner casts them to the dataset's ``string``
type, so the batches are the same. A column whose writer fell back from its dictionary to
plain pages (a large dictionary: ``l_comment``; data pages larger than indices can be:
``o_comment``) is read as before: building a dictionary over it costs more than it saves
(TPC-H Q13 at scale 1: a quarter of its time). The remade fragments come from
:mod:`~sabot_lab.connectors.parquet_footers`, their footers read once, and which columns a
file stores so is found once per file (:mod:`~sabot_lab.connectors.settled_files`). May import
``errors``, ``connectors.parquet_footers`` and ``connectors.settled_files``.

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

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from sabot_lab.connectors.parquet_footers import FOOTERS_KEPT, file_fragment
from sabot_lab.connectors.settled_files import KeptReads

if TYPE_CHECKING:
    import os

    import pyarrow.dataset as ds

__all__ = ["DICTIONARY_SHARE", "INDEX_BYTES", "dictionary_columns", "with_dictionary_reads"]

DICTIONARY_SHARE = 0.1
"""A column counts as dictionary-encoded in a file when its dictionary pages are at most this
share of its uncompressed bytes, over all row groups (a writer that fell back to plain pages
filled large ones; a small last row group's dictionary may be a larger share of it alone)."""

INDEX_BYTES = 4
"""At most this many bytes per value in a column's data pages (compressed) if they all hold
dictionary indices (32 bits at most, each): more, and the writer fell back to plain pages
for most values once its dictionary filled (TPC-H's ``o_comment``, 16 bytes per value),
where reading through a dictionary hashes each text into one."""


_kept: KeptReads[tuple[str, ...], tuple[frozenset[str], frozenset[str]]] = KeptReads(FOOTERS_KEPT)


def _is_text(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    )


def _text_columns(metadata: Any, columns: Iterable[str], schema: pa.Schema) -> list[str]:
    """The text ``columns`` of ``schema`` that the Parquet file (its ``metadata``) stores."""
    names = set(metadata.schema.names)
    return [
        c for c in columns if c in schema.names and c in names and _is_text(schema.field(c).type)
    ]


def dictionary_columns(metadata: Any, columns: Sequence[str], schema: pa.Schema) -> set[str]:
    """The text ``columns`` that every row group of a Parquet file (its ``metadata``) stores
    dictionary-encoded, with small dictionaries."""
    if metadata.num_row_groups == 0:
        return set()
    names = metadata.schema.names
    kept = set()
    for name in _text_columns(metadata, columns, schema):
        index = names.index(name)
        chunks = [metadata.row_group(g).column(index) for g in range(metadata.num_row_groups)]
        if _small_dictionaries(chunks):
            kept.add(name)
    return kept


def _small_dictionaries(chunks: Sequence[Any]) -> bool:
    dictionaries = indices = 0
    for chunk in chunks:
        if not chunk.has_dictionary_page or chunk.dictionary_page_offset is None:
            return False
        size = chunk.data_page_offset - chunk.dictionary_page_offset
        if size <= 0:
            return False
        dictionaries += size
        indices += chunk.total_compressed_size - size
    values = sum(c.num_values for c in chunks)
    return (
        dictionaries <= DICTIONARY_SHARE * sum(c.total_uncompressed_size for c in chunks)
        and indices <= INDEX_BYTES * values
    )


def _stored(
    fragment: ds.ParquetFileFragment, text: tuple[str, ...], schema: pa.Schema
) -> tuple[frozenset[str], frozenset[str]]:
    """The ``text`` columns that the fragment's file stores, and those of them it stores
    dictionary-encoded (:func:`dictionary_columns`): found once per file while it is
    unchanged (its footer's row groups are many Python objects to go through)."""

    def find(stat: os.stat_result) -> tuple[frozenset[str], frozenset[str]]:
        metadata = fragment.metadata
        return (
            frozenset(_text_columns(metadata, text, schema)),
            frozenset(dictionary_columns(metadata, text, schema)),
        )

    return _kept.get(fragment.path, text, find)


def with_dictionary_reads(
    fragments: Sequence[ds.ParquetFileFragment],
    columns: Sequence[str],
    schema: pa.Schema,
    encoded: Sequence[str] = (),
) -> list[ds.ParquetFileFragment]:
    """``fragments`` (whole files or row groups of them), each remade with a format reading
    its dictionary-encoded text ``columns`` as dictionaries (unchanged where it has none),
    and its text columns ``encoded`` as dictionaries however they are stored (their reader
    wants them so: Parquet's reader builds the dictionary cheaper than an encoding after)."""
    text = tuple(f.name for f in schema if _is_text(f.type))
    wanted, forced = set(columns), set(encoded)
    out = []
    for fragment in fragments:
        present, dictionaries = _stored(fragment, text, schema)
        found = (dictionaries & wanted) | (present & forced)
        if not found:
            out.append(fragment)
            continue
        whole = file_fragment(
            fragment.path, fragment.filesystem, fragment.partition_expression, found
        )
        if fragment.num_row_groups == whole.num_row_groups:
            out.append(whole)
        else:
            out.append(whole.subset(row_group_ids=[g.id for g in fragment.row_groups]))
    return out
