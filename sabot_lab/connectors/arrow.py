"""In-memory Arrow tables as a source (``from_arrow``, ``from_pandas``, ``from_pydict``).

For checkpoints, a source's (or split's) position is the number of its rows sent; a replay
from it sends the rows after them.

>>> source = ArrowSource(pa.table({"x": range(5)}))
>>> [(b["x"].to_pylist(), p) for b, p in source.replay(2, position=1)]
[([1, 2], 3), ([3, 4], 5)]
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from sabot_lab.expr import Expr
from sabot_lab.logical.sources import (
    ReplayableSource,
    SourceSpec,
    register_empty_source,
    register_source,
)

__all__ = ["ArrowSource", "table_batches", "table_from_b64", "table_to_b64"]


def table_batches(
    table: pa.Table, batch_size: int, columns: list[str] | None = None, position: Any = None
) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Batches of ``columns`` (None: all) of ``table``'s rows after the first ``position``
    (None: all), each with the number of rows sent once it is: a replayable source's
    batches of a table in memory.

    >>> [(b.num_rows, sent) for b, sent in table_batches(pa.table({"x": range(5)}), 2, None, 1)]
    [(2, 3), (2, 5)]
    """
    sent = 0 if position is None else int(position)
    table = table if columns is None else table.select(columns)
    for batch in table.slice(sent).to_batches(max_chunksize=batch_size):
        sent += batch.num_rows
        yield batch, sent


def table_to_b64(table: pa.Table) -> str:
    """Serialize a table as base64 Arrow IPC stream bytes."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return base64.b64encode(sink.getvalue().to_pybytes()).decode()


def table_from_b64(text: str) -> pa.Table:
    """Inverse of :func:`table_to_b64`."""
    return pa.ipc.open_stream(pa.py_buffer(base64.b64decode(text))).read_all()


@register_source
class ArrowSource(ReplayableSource):
    """Rows of an in-memory ``pyarrow.Table`` (zero-copy slices)."""

    kind = "arrow"

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    @property
    def schema(self) -> pa.Schema:
        return self.table.schema

    def replay(
        self,
        batch_size: int,
        columns: list[str] | None = None,
        predicate: Expr | None = None,
        position: Any = None,
    ) -> Iterator[tuple[pa.RecordBatch, int]]:
        """Batches of the rows after the first ``position`` (None: all), each with the
        number of rows sent once it is."""
        yield from table_batches(self.table, batch_size, columns, position)

    def split(self, n: int) -> list[SourceSpec]:
        """Contiguous row ranges (zero-copy slices).

        >>> [s.table.num_rows for s in ArrowSource(pa.table({"x": range(10)})).split(3)]
        [3, 3, 4]
        """
        rows = self.table.num_rows
        parts = max(1, min(n, rows))
        bounds = [rows * i // parts for i in range(parts + 1)]
        return [ArrowSource(self.table.slice(a, b - a)) for a, b in itertools.pairwise(bounds)]

    def describe(self) -> str:
        return f"arrow table ({self.table.num_rows} rows, {self.table.num_columns} columns)"

    def estimated_rows(self) -> int:
        return self.table.num_rows

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "table": table_to_b64(self.table)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArrowSource:
        return cls(table_from_b64(data["table"]))


register_empty_source(lambda schema: ArrowSource(schema.empty_table()))
