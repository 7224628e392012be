"""Sort and limit over batch streams.

>>> import pyarrow as pa
>>> t = pa.table({"x": [3, None, 1, 2]})
>>> sort_table(t, ["x"], [False]).column("x").to_pylist()
[1, 2, 3, None]
>>> [b.num_rows for b in limit_batches(iter(t.to_batches(max_chunksize=3)), 4, offset=1)]
[2, 1]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["limit_batches", "sort_table"]


def sort_table(table: pa.Table, by: Sequence[str], descending: Sequence[bool]) -> pa.Table:
    """Sort by columns; nulls last in both directions (DuckDB's default); stable."""
    keys = [
        (name, "descending" if desc else "ascending", "at_end")
        for name, desc in zip(by, descending, strict=True)
    ]
    indices = pc.sort_indices(table, sort_keys=keys)
    return table.take(indices)


def limit_batches(
    batches: Iterator[pa.RecordBatch], n: int, offset: int = 0
) -> Iterator[pa.RecordBatch]:
    """The rows ``offset .. offset+n`` of a stream; stops pulling input once they are out."""
    skip, remaining = offset, n
    if remaining <= 0:
        return
    for batch in batches:
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
