"""Windowed aggregation over event time, incremental, closed by watermarks.

Tumbling and sliding windows aggregate each batch at once into partial results per (window,
keys) (the two-phase :class:`~sabot_lab.engine.aggregate.HashAggregate`), kept in a state
backend; when the watermark passes a window's end, that window's partials are merged and its
rows emitted. Session windows keep their rows (only the columns they need) until the
watermark passes a session's end, since a late row can join two sessions. A stream's end
closes every window, so a bounded input gives the same rows as an unbounded one.

Output: the keys, ``window_start`` and ``window_end`` (of the time column's type), then the
aggregates. Rows without a time belong to no window and are counted in ``dropped_rows``.

>>> import pyarrow as pa
>>> from sabot_lab.expr import count
>>> from sabot_lab.state import open_state
>>> from sabot_lab.windows import tumbling
>>> t = pa.table({"t": pa.array([1, 4, 12], pa.timestamp("s")), "k": ["a", "a", "b"]})
>>> op = window_operator(tumbling("10s", on="t"), ["k"], [count().alias("n")], t.schema, open_state())
>>> out = pa.Table.from_batches([b for b in run_windows(op, iter(t.to_batches())) if isinstance(b, pa.RecordBatch)])
>>> out.column("n").to_pylist(), [str(x) for x in out.column("window_end").to_pylist()]
([2, 1], ['1970-01-01 00:00:10', '1970-01-01 00:00:20'])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from time import monotonic
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.aggregate import HashAggregate
from sabot_lab.engine.checkpoints import Barrier
from sabot_lab.engine.stateful import StatefulOperator, table_batches
from sabot_lab.engine.watermarks import Watermark, times_of
from sabot_lab.expr import Expr, col
from sabot_lab.kernels.windows import hop_assign, merge_sessions, tumble_starts
from sabot_lab.state import StateBackend
from sabot_lab.windows import END_OF_TIME, WindowSpec, unit_to_us, us_to_unit

__all__ = ["SessionWindows", "SlidingWindows", "run_windows", "window_operator", "window_schema"]

_START = "__window"
_FIRST, _LAST = "__first", "__last"
_COMPACT_AT = 16  # pending partial tables merged into one beyond this many
_EMITTED = "~emitted"  # state key of the start of the last window emitted
_STEPS_AT_END = 64  # windows left at the end closed one by one, up to this many


def window_schema(
    keys: Sequence[str], aggs: Sequence[Expr], schema: pa.Schema, on: str
) -> pa.Schema:
    """Output schema of a windowed aggregate: keys, ``window_start``, ``window_end``, aggregates.

    >>> window_schema(["k"], [], pa.schema([("k", pa.string()), ("t", pa.timestamp("ms"))]), "t").names
    ['k', 'window_start', 'window_end']
    """
    time = schema.field(on).type
    return pa.schema(
        [
            *(schema.field(k) for k in keys),
            pa.field("window_start", time),
            pa.field("window_end", time),
            *(a.output_field(schema) for a in aggs),
        ]
    )


class _Windows(StatefulOperator):
    """What both window kinds share: the output shape and the rows without a time."""

    def __init__(
        self, spec: WindowSpec, keys: Sequence[str], aggs: Sequence[Expr], schema: pa.Schema,
        state: StateBackend,
    ) -> None:  # fmt: skip
        super().__init__(state)
        self.spec, self.keys = spec, list(keys)
        self.time_type = schema.field(spec.on).type
        self.size, self.slide = spec.in_unit(self.time_type.unit)
        self.schema = window_schema(keys, aggs, schema, spec.on)
        self.dropped_rows = 0

    def _timed(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, np.ndarray]:
        """The rows with a time, and their times as numbers of the column's unit."""
        times = batch.column(self.spec.on)
        if times.null_count:
            self.dropped_rows += times.null_count
            batch = batch.filter(pc.is_valid(times))
            times = batch.column(self.spec.on)
        return batch, times_of(times)

    def output_watermark(self, watermark: int) -> int:
        """The watermark to pass on after firing at ``watermark``: no later output row has a
        ``window_start`` before it (a window still open may have started ``size`` earlier)."""
        if watermark == END_OF_TIME:
            return watermark
        return watermark - unit_to_us(self.size, self.time_type.unit)

    def _emit(self, table: pa.Table, starts: pa.ChunkedArray, ends: Any) -> pa.Table:
        """The output rows: keys, the window bounds (as the time type), aggregates."""
        columns = [table[k] for k in self.keys]
        columns += [starts.cast(self.time_type), ends.cast(self.time_type)]
        columns += [table[f.name] for f in list(self.schema)[len(self.keys) + 2 :]]
        return pa.Table.from_arrays(columns, schema=self.schema)


class SlidingWindows(_Windows):
    """Tumbling (``slide == size``) and sliding windows, sliced into panes of ``slide``: each
    batch is aggregated into partials per (keys, pane), so a row is aggregated once however
    many windows hold it; a closing window merges the partials of its ``size / slide`` panes.
    A pane leaves the state when the last window holding it closes."""

    def __init__(
        self, spec: WindowSpec, keys: Sequence[str], aggs: Sequence[Expr], schema: pa.Schema,
        state: StateBackend,
    ) -> None:  # fmt: skip
        super().__init__(spec, keys, aggs, schema, state)
        wide = schema.append(pa.field(_START, pa.int64()))
        self._agg = HashAggregate([*self.keys, _START], aggs, wide)
        self._pending: list[tuple[str, int]] = []  # (state key, earliest pane start)
        self._emitted: int | None = None  # the start of the last window emitted
        for key, table in state.items():  # a restored state
            if key == _EMITTED:
                self._emitted = table.column(0)[0].as_py()
            elif table.num_rows:
                self._pending.append((key, pc.min(table[_START]).as_py()))

    def add(self, batch: pa.RecordBatch) -> None:
        """Aggregate one batch into the state."""
        batch, times = self._timed(batch)
        if not batch.num_rows:
            return
        panes = tumble_starts(times, self.slide)
        partial = self._agg.partial(batch.append_column(_START, pa.array(panes)))
        self._store(partial, int(panes.min()))
        if len(self._pending) > _COMPACT_AT:
            self._compact()

    def closing_steps(self) -> list[int]:
        """Watermarks closing the windows left at the end of the input: one window at a time
        when the watermark has been closing them (a few are left), so the last ones come out
        in window-sized pieces; all at once otherwise (a bounded input without watermarks)."""
        if self._emitted is None or not self._pending:
            return [END_OF_TIME]
        first = self._emitted + self.slide
        last = max(start for _, start in self._pending)
        if (last - first) // self.slide > _STEPS_AT_END:
            return [END_OF_TIME]
        unit = self.time_type.unit
        steps = range(first + self.size, last + self.size + 1, self.slide)
        return [unit_to_us(end, unit) for end in steps] + [END_OF_TIME]

    def _store(self, table: pa.Table, earliest: int) -> None:
        self._pending.append((self._put_new(table), earliest))

    def _take_pending(self) -> list[pa.Table]:
        tables = [self.state.pop(key) for key, _ in self._pending]
        self._pending = []
        present = [t for t in tables if t is not None]
        self._held(-sum(t.num_rows for t in present))
        return present

    def _compact(self) -> None:
        earliest = min(start for _, start in self._pending)
        tables = self._take_pending()
        merged = self._agg.combine(tables)
        for table in [merged] if merged is not None else tables:  # n_unique cannot merge
            self._store(table, earliest)

    def current(self) -> pa.Table | None:
        """The rows the windows not yet emitted would have if they closed now (the state is
        left as it is): early results."""
        if not self._pending:
            return None
        held = [t for t in (self.state.get(key) for key, _ in self._pending) if t is not None]
        return self._windows(pa.concat_tables(held), END_OF_TIME)

    def fire(self, watermark: int) -> pa.Table | None:
        """The windows ending at or before ``watermark`` (microseconds); panes no open
        window holds leave the state."""
        time = us_to_unit(watermark, self.time_type.unit)
        last_start = END_OF_TIME if time == END_OF_TIME else time - self.size
        if not self._pending:
            return None
        earliest = min(start for _, start in self._pending)
        first = earliest - self.size + self.slide  # the first window holding the earliest pane
        if self._emitted is not None:
            first = max(first, self._emitted + self.slide)
        if first > last_start:  # no window closes: leave the state alone
            return None
        tables = self._take_pending()
        panes = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        if last_start != END_OF_TIME:
            rest = panes.filter(pc.greater(panes[_START], last_start))
            if rest.num_rows:
                self._store(rest, pc.min(rest[_START]).as_py())
        closed = self._windows(panes, last_start)
        if closed is not None:
            latest = pc.max(closed["window_start"]).cast(pa.int64()).as_py()
            self._emitted = latest if self._emitted is None else max(self._emitted, latest)
            self.state.put(_EMITTED, pa.table({"start": [self._emitted]}))
        return closed

    def _windows(self, panes: pa.Table, last_start: int) -> pa.Table | None:
        """The rows of the windows holding ``panes`` that start after the last window emitted
        and at or before ``last_start``."""
        rows, starts = hop_assign(np.asarray(panes[_START].to_numpy()), self.size, self.slide)
        keep = starts <= last_start
        if self._emitted is not None:
            keep &= starts > self._emitted
        if not keep.any():
            return None
        windows = panes.take(pa.array(rows[keep])).set_column(
            panes.schema.get_field_index(_START), _START, pa.array(starts[keep])
        )
        result = self._agg.finish([windows])
        return self._emit(result, result[_START], pc.add(result[_START], self.size))


class SessionWindows(_Windows):
    """Session windows kept as partial aggregates of their pieces: a batch's rows are
    aggregated per key and ``gap``-long time bucket (rows of a bucket are less than ``gap``
    apart, so in one session), with each piece's first and last time. When the watermark
    moves, pieces whose times come within ``gap`` of each other merge into sessions, and
    sessions ending at or before the watermark are emitted. The state holds one row per open
    session and piece, not the rows."""

    def __init__(
        self, spec: WindowSpec, keys: Sequence[str], aggs: Sequence[Expr], schema: pa.Schema,
        state: StateBackend,
    ) -> None:  # fmt: skip
        super().__init__(spec, keys, aggs, schema, state)
        first, last = col(spec.on).min(), col(spec.on).max()
        self._agg = HashAggregate(
            [*self.keys, _START],
            [*aggs, first.alias(_FIRST), last.alias(_LAST)],
            schema.append(pa.field(_START, pa.int64())),
        )
        self._first, self._last = self._agg.partial_column(first), self._agg.partial_column(last)
        self._earliest: int | None = None  # the earliest time held, in the column's unit
        for _, table in state.items():
            self._note(table)

    def closing_steps(self) -> list[int]:
        """Sessions left at the end of the input close at once."""
        return [END_OF_TIME]

    def output_watermark(self, watermark: int) -> int:
        """Open sessions start at their earliest time held, new ones at ``watermark`` or
        later."""
        if watermark == END_OF_TIME or self._earliest is None:
            return watermark
        return min(watermark, unit_to_us(self._earliest, self.time_type.unit))

    def _note(self, table: pa.Table) -> None:
        if table.num_rows:
            low = pc.min(table[self._first]).value
            self._earliest = low if self._earliest is None else min(self._earliest, low)

    def add(self, batch: pa.RecordBatch) -> None:
        """Aggregate one batch into pieces of sessions, kept in the state."""
        batch, times = self._timed(batch)
        if batch.num_rows:
            buckets = pa.array(tumble_starts(times, self.size))
            pieces = self._agg.partial(batch.append_column(_START, buckets))
            self._put_new(pieces)
            self._note(pieces)

    def fire(self, watermark: int) -> pa.Table | None:
        """The sessions ending at or before ``watermark`` (microseconds), removed from the state."""
        time = us_to_unit(watermark, self.time_type.unit)
        if self._earliest is None or (time != END_OF_TIME and self._earliest + self.size > time):
            return None
        keys = self.state.keys()
        pieces = pa.concat_tables([t for t in (self.state.pop(k) for k in keys) if t is not None])
        pieces = pieces.sort_by([(k, "ascending") for k in [*self.keys, self._first]])
        sessions = merge_sessions(
            times_of(pieces[self._first]), times_of(pieces[self._last]),
            _key_starts(pieces, self.keys), self.size,
        )  # fmt: skip
        pieces = pieces.set_column(
            pieces.schema.get_field_index(_START), _START, pa.array(sessions)
        )
        merged = self._agg.combine([pieces])
        if merged is None:  # n_unique: the pieces of a session merge when it is emitted
            merged = pieces
        ends = pc.add(merged[self._last].cast(pa.int64()), self.size)
        ended = pc.less_equal(ends, time) if time != END_OF_TIME else None
        rest = merged.filter(pc.invert(ended)) if ended is not None else merged.slice(0, 0)
        self._held(-self.state_rows)  # every piece was taken out above
        self._earliest = None
        if rest.num_rows:
            self._put_new(rest)
            self._note(rest)
        closed = merged if ended is None else merged.filter(ended)
        if not closed.num_rows:
            return None
        result = self._agg.finish([closed])
        last_times = pc.add(result[_LAST].cast(pa.int64()), self.size)
        return self._emit(result, result[_FIRST].cast(pa.int64()), last_times)


def _key_starts(rows: pa.Table, keys: Sequence[str]) -> np.ndarray:
    """1 where a new key begins in rows sorted by the keys (nulls equal to nulls), else 0."""
    starts = np.zeros(rows.num_rows, dtype=np.uint8)
    if rows.num_rows:
        starts[0] = 1
    for key in keys:
        values = rows[key].combine_chunks()
        before, after = values.slice(0, len(values) - 1), values.slice(1)
        differs = pc.fill_null(pc.not_equal(after, before), False)
        one_null = pc.xor(pc.is_null(after), pc.is_null(before))
        starts[1:] |= np.asarray(
            pc.or_(differs, one_null).to_numpy(zero_copy_only=False), dtype=np.uint8
        )
    return starts


def window_operator(
    spec: WindowSpec, keys: Sequence[str], aggs: Sequence[Expr], schema: pa.Schema,
    state: StateBackend,
) -> SlidingWindows | SessionWindows:  # fmt: skip
    """The window operator for ``spec``, keeping its state in ``state``."""
    kind = SessionWindows if spec.kind == "session" else SlidingWindows
    return kind(spec, keys, aggs, schema, state)


def run_windows(
    op: SlidingWindows | SessionWindows,
    items: Iterator[Any],
    batch_size: int = 131_072,
    final: bool = True,
    early: float | None = None,
) -> Iterator[Any]:
    """Feed a stream of batches and watermarks through a window operator: closed windows come
    out after each watermark (passed on held back to the earliest start a later window may
    have), and all remaining ones at the end (unless not ``final``: the input stops without
    ending, as before a snapshot). ``early``: every this many seconds, also the current rows
    of the windows still open (tumbling and sliding windows)."""
    last_early = monotonic()
    for item in items:
        if early is not None and monotonic() - last_early >= early:
            assert isinstance(op, SlidingWindows)  # early results are refused for sessions
            last_early = monotonic()
            yield from table_batches(op.current(), batch_size)
        if isinstance(item, Watermark):
            yield from table_batches(op.fire(item.time), batch_size)
            yield Watermark(op.output_watermark(item.time))
        elif isinstance(item, Barrier):
            yield item
        else:
            op.add(item)
    if final:
        for closing in op.closing_steps():
            yield from table_batches(op.fire(closing), batch_size)
