"""Top-N per partition of an unbounded stream (SQL's ``ROW_NUMBER() OVER (PARTITION BY ...
ORDER BY ...)`` filtered by ``rn <= N``): the state holds each partition's current N best
rows, in the order they came (a tie goes to the row that came first). After each batch it
emits the rows now at the rank positions the batch changed: an upsert changelog keyed by the
partition columns and the row number. Over event-time windows (``window_end``: a partition
column holding the end of a window) it emits nothing until the watermark passes a window's
end, then that window's rows once, and forgets them. Keeping each partition's first row by
event time (``first_at``) it emits that row once the watermark passes its time (no earlier
row can come then), and keeps it to drop the partition's later rows. With ``ends_at`` (a
column holding, per row, the time after which no row of its partition comes: an auction's
``expires`` for the bids joined to it) it emits each partition's rows once the watermark
passes that time, and forgets them; its watermark waits for the rows it still holds (their
``time`` column), so they are on time downstream.

May import: the engine's state, window functions and items, the expressions.

>>> import pyarrow as pa
>>> from sabot_lab.engine.state import open_state
>>> from sabot_lab.expr.windows import row_number
>>> rank = row_number().over("k", order_by="x", descending=True).alias("rn")
>>> rows = pa.schema([("k", pa.string()), ("x", pa.int64())])
>>> top = TopN(rank, 2, rows, pa.schema([*rows, pa.field("rn", pa.int64())]), open_state())
>>> [t.to_pylist() for t in top.on_batch(pa.record_batch({"k": ["a", "a"], "x": [1, 5]}))]
[[{'k': 'a', 'x': 5, 'rn': 1}, {'k': 'a', 'x': 1, 'rn': 2}]]
>>> [t.to_pylist() for t in top.on_batch(pa.record_batch({"k": ["a", "b"], "x": [3, 2]}))]
[[{'k': 'a', 'x': 3, 'rn': 2}, {'k': 'b', 'x': 2, 'rn': 1}]]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.items import Batch, Watermark
from sabot_lab.engine.state import StateBackend
from sabot_lab.engine.stateful import StatefulOperator
from sabot_lab.engine.window_functions import window_columns
from sabot_lab.expr import Expr, col
from sabot_lab.expr.windows import row_number
from sabot_lab.window_specs import END_OF_TIME, unit_to_us, us_to_unit

__all__ = ["TopN"]

_ROWS = "rows"
_SEQ = "__arrival"  # the order rows came in: ties go to the earlier row
_EMITTED = "__emitted"  # keeping first rows: the row came out (no other of its partition will)


class TopN(StatefulOperator):
    """The ``n`` first rows per partition by ``rank`` (an aliased ``row_number().over(...)``)
    of rows of ``input_schema``, output as ``schema`` (the input's columns, then the row
    number); ``window_end``: emit each window's rows once the watermark passes it;
    ``first_at``: the time column ``rank`` orders by, emit each partition's first row once
    the watermark passes its time, and no other row of that partition; ``ends_at``: the
    columns (end, time) of the time after which no row of a row's partition comes and of the
    event time its output carries: emit each partition's rows once the watermark passes
    their end, holding the watermark back to the earliest time of the rows still held."""

    def __init__(
        self,
        rank: Expr,
        n: int,
        input_schema: pa.Schema,
        schema: pa.Schema,
        state: StateBackend,
        window_end: str | None = None,
        first_at: str | None = None,
        ends_at: tuple[str, str] | None = None,
    ) -> None:
        self._rank, self._n = rank, n
        self._window_end, self._first_at, self._ends_at = window_end, first_at, ends_at
        self._input = input_schema
        self._schema = schema
        self._name = rank.output_name()
        if first_at is not None:  # a row out already stays first, whatever comes
            over = rank.args[0]
            keys = over.args[1 : 1 + int(over.param("partitions"))]
            order = [col(_EMITTED), col(first_at)]
            rank = row_number().over(*keys, order_by=order, descending=[True, False])
            self._rank = rank.alias(self._name)
        super().__init__(state)

    def on_batch(self, batch: Batch, side: int = 0) -> list[pa.Table]:
        """Rank the batch's rows with the kept ones; the rows whose rank position changed
        (none over windows or keeping first rows: they come out as the watermark passes)."""
        if not batch.num_rows:
            return []
        current = self.state.get(_ROWS)
        start = 0 if current is None or not current.num_rows else pc.max(current[_SEQ]).as_py() + 1
        arrived = pa.Table.from_batches([batch]).select(self._input.names)
        arrived = arrived.append_column(_SEQ, pa.array(np.arange(start, start + batch.num_rows)))
        if self._first_at is not None:
            arrived = arrived.append_column(_EMITTED, pa.array(np.zeros(batch.num_rows, bool)))
        parts = [arrived] if current is None else [current.drop_columns([self._name]), arrived]
        rows = pa.concat_tables(parts)
        wide = pa.schema([*rows.schema, self._schema.field(self._name)])
        ranked = window_columns(rows, [self._rank], wide)
        kept = ranked.filter(pc.less_equal(ranked[self._name], self._n)).sort_by(_SEQ)
        self.state.put(_ROWS, kept)
        self._held(kept.num_rows - (0 if current is None else current.num_rows))
        if not self._updates():
            return []
        if current is not None:
            kept = kept.filter(_new_places(kept, current, self._name, self._n + 1))
        return [self._output(kept)]

    def on_watermark(self, watermark: Watermark) -> Iterator[pa.Table | Watermark]:
        """The rows the watermark makes final (over windows, keeping first rows, or as
        partitions end); then the watermark (with ``ends_at``, no later than the earliest
        time held)."""
        if not self._updates():
            yield from self._final(watermark.time)
        yield self._held_back(watermark)

    def on_end(self) -> Iterable[pa.Table]:
        """The rows still held back (over windows, keeping first rows, or until partitions
        end)."""
        if not self._updates():
            yield from self._final(END_OF_TIME)

    def _updates(self) -> bool:
        return self._window_end is None and self._first_at is None and self._ends_at is None

    def _held_back(self, watermark: Watermark) -> Watermark:
        """``watermark``, or with ``ends_at`` the earliest time of the rows held if earlier."""
        current = self.state.get(_ROWS)
        if self._ends_at is None or current is None or not current.num_rows:
            return watermark
        times = current[self._ends_at[1]]
        earliest = pc.min(times.cast(pa.int64())).as_py()
        if earliest is None:
            return watermark
        return Watermark(min(watermark.time, unit_to_us(earliest, times.type.unit)))

    def _final(self, watermark: int) -> Iterator[pa.Table]:
        """The rows final at ``watermark``: those of the windows it closes or of the
        partitions whose end it passed (forgotten), or the first rows whose time it passed
        (kept, marked as out)."""
        current = self.state.get(_ROWS)
        if current is None or not current.num_rows:
            return
        column = self._window_end or self._first_at or (self._ends_at and self._ends_at[0])
        assert column is not None
        times = current[column]
        if watermark == END_OF_TIME:
            final = pa.array(np.ones(current.num_rows, dtype=bool))
        else:  # a row at the end itself may still come: an end is passed once below
            now = pa.scalar(us_to_unit(watermark, times.type.unit), times.type)
            passed = pc.less if self._ends_at is not None else pc.less_equal
            final = pc.fill_null(passed(times, now), False)
        if self._first_at is not None:
            final = pc.and_(final, pc.invert(current[_EMITTED]))
        count = pc.sum(final).as_py() or 0
        if not count:
            return
        if self._first_at is None:
            self.state.put(_ROWS, current.filter(pc.invert(final)))
            self._held(-count)
        else:
            emitted = pc.or_(current[_EMITTED], final)
            index = current.schema.get_field_index(_EMITTED)
            self.state.put(_ROWS, current.set_column(index, _EMITTED, emitted))
        yield self._output(current.filter(final))

    def _partition_names(self) -> list[str]:
        over = self._rank.args[0]
        keys = over.args[1 : 1 + int(over.param("partitions"))]
        return [k.param("name") for k in keys]

    def _output(self, rows: pa.Table) -> pa.Table:
        """``rows`` as output: by partition and row number."""
        names = [*self._partition_names(), self._name]
        keys = pa.table([_plain(rows[k]) for k in names], names=names)
        order = pc.sort_indices(keys, sort_keys=[(k, "ascending") for k in names])
        return rows.take(order).select(self._schema.names).cast(self._schema)


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column`` with dictionary values decoded (Arrow sorts only plain values)."""
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


def _new_places(kept: pa.Table, before: pa.Table, rank: str, width: int) -> pa.Array:
    """Which rows of ``kept`` were not at the same rank position ``before`` (ranks are
    below ``width``)."""

    def places(rows: pa.Table) -> pa.Array:
        seq = rows[_SEQ].to_numpy().astype(np.int64)
        return pa.array(seq * width + rows[rank].to_numpy().astype(np.int64))

    return pc.invert(pc.is_in(places(kept), value_set=places(before)))
