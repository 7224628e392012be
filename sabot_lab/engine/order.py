"""Sort, limit and row numbering over batch streams.

>>> import pyarrow as pa
>>> t = pa.table({"x": [3, None, 1, 2]})
>>> sort_table(t, ["x"], [False]).column("x").to_pylist()
[1, 2, 3, None]
>>> [b.num_rows for b in limit_batches(iter(t.to_batches(max_chunksize=3)), 4, offset=1)]
[2, 1]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.items import Marker, RuntimeItem

__all__ = ["decoded", "limit_batches", "number_rows", "sort_table", "sorted_order", "top_rows"]


def sort_table(table: pa.Table, by: Sequence[str], descending: Sequence[bool]) -> pa.Table:
    """Sort by columns; nulls last in both directions (DuckDB's default); stable; a
    dictionary-encoded column sorts by its values.

    >>> t = pa.table({"k": pa.array(["b", None, "a"]).dictionary_encode()})
    >>> sort_table(t, ["k"], [False]).column("k").to_pylist()
    ['a', 'b', None]
    """
    return table.take(sorted_order(table, by, descending))


def sorted_order(table: pa.Table, by: Sequence[str], descending: Sequence[bool]) -> pa.Array:
    """The row numbers of ``table`` in the order :func:`sort_table` puts its rows.

    >>> sorted_order(pa.table({"x": [3, None, 1]}), ["x"], [True]).to_pylist()
    [0, 2, 1]
    """
    keys = [
        (name, "descending" if desc else "ascending", "at_end")
        for name, desc in zip(by, descending, strict=True)
    ]
    return pc.sort_indices(decoded(table.select(list(dict.fromkeys(by)))), sort_keys=keys)


def decoded(table: pa.Table) -> pa.Table:
    """``table`` with its dictionary-encoded columns decoded, so it can be sorted and compared
    (Arrow sorts no dictionary columns).

    >>> decoded(pa.table({"k": pa.array(["b", "a"]).dictionary_encode()})).schema.types
    [DataType(string)]
    """
    return pa.table(
        [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns],
        names=table.column_names,
    )


def top_rows(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    by: Sequence[str],
    descending: Sequence[bool],
    n: int,
) -> pa.Table:
    """The first ``n`` rows of the stable sort of ``batches``, keeping at most ``n`` rows plus
    one batch in memory (ties keep arrival order, as in the full sort).

    >>> b = pa.record_batch({"x": [5, 1, 4, 2]})
    >>> top_rows([b, b], b.schema, ["x"], [False], 3).column("x").to_pylist()
    [1, 1, 2]
    """
    best = schema.empty_table()
    for batch in batches:
        merged = pa.concat_tables([best, pa.Table.from_batches([batch], schema=schema)])
        best = merged.take(sorted_order(merged, by, descending)[:n])
    return best


def limit_batches(batches: Iterator[RuntimeItem], n: int, offset: int = 0) -> Iterator[RuntimeItem]:
    """The rows ``offset .. offset+n`` of a stream (watermarks and barriers pass); stops
    pulling input once they are out."""
    skip, remaining = offset, n
    if remaining <= 0:
        return
    for batch in batches:
        if isinstance(batch, Marker):
            yield batch
            continue
        if skip >= batch.num_rows:
            skip -= batch.num_rows
            continue
        batch = batch.slice(skip)
        skip = 0
        out = batch.slice(0, remaining)
        remaining -= out.num_rows
        if out.num_rows:
            yield out
        if remaining <= 0:
            return


def number_rows(batch: pa.RecordBatch, name: str, first: int) -> pa.RecordBatch:
    """``batch`` after a first column ``name`` numbering its rows from ``first``.

    >>> number_rows(pa.record_batch({"x": ["a", "b"]}), "index", 7).to_pydict()
    {'index': [7, 8], 'x': ['a', 'b']}
    """
    numbers = pa.array(np.arange(first, first + batch.num_rows, dtype=np.int64))
    return pa.RecordBatch.from_arrays([numbers, *batch.columns], names=[name, *batch.schema.names])
