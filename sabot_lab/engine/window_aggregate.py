"""Windowed aggregation over event time, incremental, closed by watermarks.

Tumbling and sliding windows aggregate each batch at once into partial results per (pane,
keys) (the two-phase :class:`~sabot_lab.engine.aggregate.HashAggregate`), kept in a state
backend under keys of their pane; when the watermark passes a window's end, the partials of
that window's panes are merged and its rows emitted, reading no other pane, so their state
may be larger than memory (with the RocksDB backend). Session windows keep partial results
per piece of a session until the watermark passes the session's end, since a late row can
join two sessions; they read their whole state when they fire. A stream's end closes every
window, so a bounded input gives the same rows as an unbounded one. The watermark passed on
is held back to the earliest start a window still open may have. Tumbling and sliding
windows can also give early results: the current rows of the windows still open, every
``early`` seconds.

Output: the keys, ``window_start`` and ``window_end`` (of the time column's type), then the
aggregates. Rows without a time belong to no window and are counted in ``dropped_rows``.

>>> import pyarrow as pa
>>> from sabot_lab.expr import count
>>> from sabot_lab.engine.state import open_state
>>> from sabot_lab.engine.stream_operator import drive
>>> from sabot_lab.window_specs import tumbling
>>> t = pa.table({"t": pa.array([1, 4, 12], pa.timestamp("s")), "k": ["a", "a", "b"]})
>>> op = window_operator(tumbling("10s", on="t"), ["k"], [count().alias("n")], t.schema, open_state())
>>> out = pa.Table.from_batches([b for b in drive(op, iter(t.to_batches())) if isinstance(b, pa.RecordBatch)])
>>> out.column("n").to_pylist(), [str(x) for x in out.column("window_end").to_pylist()]
([2, 1], ['1970-01-01 00:00:10', '1970-01-01 00:00:20'])
"""

from __future__ import annotations

import abc
import bisect
import functools
import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.aggregate import HashAggregate
from sabot_lab.engine.items import Batch, Watermark
from sabot_lab.engine.order import decoded
from sabot_lab.engine.state import StateBackend
from sabot_lab.engine.stateful import StatefulOperator
from sabot_lab.engine.watermarks import times_of
from sabot_lab.expr import Expr, col
from sabot_lab.kernels.window_panes import hop_assign, merge_sessions, tumble_starts
from sabot_lab.window_specs import END_OF_TIME, WindowSpec, unit_to_us, us_to_unit

__all__ = [
    "CascadedWindows",
    "SessionWindows",
    "SlidingWindows",
    "window_operator",
    "window_schema",
]

_START = "__window"
_FIRST, _LAST = "__first", "__last"
_COMPACT_AT = 16  # a pane's partial tables merged into one beyond this many
_SPAN_ROWS = 1 << 16  # partial rows read at most by one span of closing windows
_PANE = "p"  # state keys of a pane's partials: "p<pane start + _OFFSET, 20 digits>/<seq>"
_OFFSET = 2**62  # pane starts may be negative; keys sort by pane start
_EMITTED = "~emitted"  # state key of the start of the last window emitted


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


class _Windows(StatefulOperator, abc.ABC):
    """What both window kinds share: the output shape and the rows without a time."""

    def __init__(
        self, spec: WindowSpec, keys: Sequence[str], aggs: Sequence[Expr], schema: pa.Schema,
        state: StateBackend,
    ) -> None:  # fmt: skip
        self.spec, self.keys = spec, list(keys)
        self.time_type = schema.field(spec.on).type
        self.size, self.slide = spec.in_unit(self.time_type.unit)
        self.schema = window_schema(keys, aggs, schema, spec.on)
        self.dropped_rows = 0
        super().__init__(state)

    @abc.abstractmethod
    def fire(self, watermark: int) -> Iterator[pa.Table]:
        """The windows ending at or before ``watermark`` (microseconds), leaving the state."""

    def on_watermark(self, watermark: Watermark) -> Iterator[pa.Table | Watermark]:
        """The windows the watermark closes, then the watermark held back (see
        :meth:`output_watermark`)."""
        yield from self.fire(watermark.time)
        yield Watermark(self.output_watermark(watermark.time))

    def on_end(self) -> Iterator[pa.Table]:
        """Every window still open."""
        return self.fire(END_OF_TIME)

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
    """Tumbling (``slide == size``) and sliding windows, sliced into panes (``gcd(size,
    slide)`` long, so every window is a whole number of panes): each batch is aggregated into
    partials per (keys, pane), so a row is aggregated once however many windows hold it, and
    each pane's partials are kept under keys of their own (``p<pane start + 2**62>/<seq>``,
    sorting by pane), merged when a pane has more than ``_COMPACT_AT``. A closing window reads
    only its panes; a pane leaves the state when the last window holding it closes. Windows
    close in spans of consecutive windows reading at most ``_SPAN_ROWS`` partial rows (or one
    window), so neither adding, firing nor early results hold more than that in memory: with
    the RocksDB backend the state may be larger than memory."""

    def __init__(
        self, spec: WindowSpec, keys: Sequence[str], aggs: Sequence[Expr], schema: pa.Schema,
        state: StateBackend, early: float | None = None,
    ) -> None:  # fmt: skip
        wide = schema.append(pa.field(_START, pa.int64()))
        self._agg = HashAggregate([*keys, _START], aggs, wide)
        self.timer = early
        super().__init__(spec, keys, aggs, schema, state)

    @functools.cached_property
    def pane(self) -> int:
        """The length of a pane, in the time column's unit."""
        return math.gcd(self.size, self.slide)

    def _load(self) -> None:
        super()._load()
        self._panes: dict[int, list[tuple[str, int]]] = {}  # pane start -> (state key, rows)
        self._order: list[int] = []  # the pane starts held, ascending
        self._emitted: int | None = None  # the start of the last window emitted
        unsplit = []
        for key, table in self.state.items():
            if key == _EMITTED:
                self._emitted = table.column(0)[0].as_py()
                self._held(-table.num_rows)  # a mark, not rows of windows
            elif key.startswith(_PANE):
                self._index(int(key[1:21]) - _OFFSET, key, table.num_rows)
            else:  # a state from before partials were kept by pane
                unsplit.append(key)
        for key in unsplit:
            table = self.state.pop(key)
            assert table is not None
            self._held(-table.num_rows)
            if table.num_rows:
                self._keep(table)

    def on_batch(self, batch: Batch, side: int = 0) -> tuple[()]:
        """Aggregate one batch into the state."""
        batch, times = self._timed(batch)
        if batch.num_rows:
            panes = pa.array(tumble_starts(times, self.pane))
            self._keep(self._agg.partial(batch.append_column(_START, panes)))
        return ()

    def _keep(self, partial: pa.Table) -> None:
        """Keep partial rows (their panes' starts in ``_START``) under their panes' keys."""
        starts = np.asarray(partial[_START].to_numpy())
        if starts.min() != starts.max():
            order = np.argsort(starts, kind="stable")
            partial, starts = partial.take(pa.array(order)), starts[order]
        cuts = [0, *(np.flatnonzero(np.diff(starts)) + 1).tolist(), len(starts)]
        for low, high in itertools.pairwise(cuts):
            pane, piece = int(starts[low]), partial.slice(low, high - low)
            self._index(pane, self._put_new(piece, _pane_prefix(pane)), piece.num_rows)
            if len(self._panes[pane]) > _COMPACT_AT:
                self._compact(pane)

    def _index(self, pane: int, key: str, rows: int) -> None:
        if pane not in self._panes:
            bisect.insort(self._order, pane)
            self._panes[pane] = []
        self._panes[pane].append((key, rows))

    def _compact(self, pane: int) -> None:
        """Merge the partials of ``pane`` into one table."""
        merged = self._agg.combine(self._read([pane]))
        for key, rows in self._panes.pop(pane):
            self.state.delete(key)
            self._held(-rows)
        self._panes[pane] = [(self._put_new(merged, _pane_prefix(pane)), merged.num_rows)]

    def _read(self, panes: Sequence[int]) -> list[pa.Table]:
        tables = [self.state.get(key) for pane in panes for key, _ in self._panes[pane]]
        return [t for t in tables if t is not None]

    def _drop_before(self, start: int) -> None:
        """Remove the panes starting before ``start`` from the state."""
        n = bisect.bisect_left(self._order, start)
        for pane in self._order[:n]:
            for key, rows in self._panes.pop(pane):
                self.state.delete(key)
                self._held(-rows)
        del self._order[:n]

    def _first_window(self, pane: int) -> int:
        """The start of the first window holding ``pane``."""
        return -((self.size - self.pane - pane) // self.slide) * self.slide

    def _spans(self, last_start: int) -> Iterator[tuple[int, int, list[int]]]:
        """Runs of the windows not yet emitted that start at or before ``last_start`` and
        hold rows, in order: ``(first window start, last window start, the panes they
        hold)``, each reading at most ``_SPAN_ROWS`` partial rows unless one window holds
        more. Panes may leave the state between two runs (those before the next run)."""
        order, low = self._order, None if self._emitted is None else self._emitted + self.slide
        while order:
            i = 0 if low is None else bisect.bisect_left(order, low)
            if i == len(order):
                return
            first = self._first_window(order[i])
            low = first if low is None else max(low, first)
            if low > last_start:
                return
            high, j = low, bisect.bisect_left(order, low + self.size)
            rows = self._rows(order[i:j])
            while True:
                after = high + self.slide
                if order[j - 1] < after:  # the windows from ``after`` on hold no pane read
                    if j == len(order):
                        break
                    after = max(after, self._first_window(order[j]))
                if after > last_start:
                    break
                k = bisect.bisect_left(order, after + self.size)
                more = self._rows(order[j:k])
                if rows + more > _SPAN_ROWS:
                    break
                high, j, rows = after, k, rows + more
            yield low, high, order[i:j]
            low = high + self.slide

    def _rows(self, panes: Sequence[int]) -> int:
        return sum(rows for pane in panes for _, rows in self._panes[pane])

    def on_timer(self) -> Iterator[pa.Table]:
        """The rows the windows not yet emitted would have if they closed now (the state is
        left as it is), a span of windows at a time: early results."""
        for low, high, panes in self._spans(END_OF_TIME):
            rows = self._windows(panes, low, high)
            if rows is not None:
                yield rows

    def fire(self, watermark: int) -> Iterator[pa.Table]:
        """The windows ending at or before ``watermark`` (microseconds), a span of windows at
        a time; panes no open window holds leave the state."""
        time = us_to_unit(watermark, self.time_type.unit)
        last_start = END_OF_TIME if time == END_OF_TIME else time - self.size
        if self._emitted is not None:  # rows of windows already emitted (late ones)
            self._drop_before(self._emitted + self.slide)
        for low, high, panes in self._spans(last_start):
            rows = self._windows(panes, low, high)
            self._emitted = high
            self.state.put(_EMITTED, pa.table({"start": [high]}))
            self._drop_before(high + self.slide)
            if rows is not None:
                yield rows

    def _windows(self, panes: Sequence[int], low: int, high: int) -> pa.Table | None:
        """The rows of the windows starting from ``low`` to ``high`` that hold ``panes``."""
        held = pa.concat_tables(self._read(panes))
        rows, starts = hop_assign(np.asarray(held[_START].to_numpy()), self.size, self.slide)
        keep = (starts >= low) & (starts <= high)
        if not keep.any():
            return None
        if self.slide != self.size or not keep.all():  # tumbling: the panes are the windows
            held = held.take(pa.array(rows[keep])).set_column(
                held.schema.get_field_index(_START), _START, pa.array(starts[keep])
            )
        result = self._agg.finish([held])
        return self._emit(result, result[_START], pc.add(result[_START], self.size))


class CascadedWindows(SlidingWindows):
    """Groups of rows of windows already aggregated, keyed by a window bound (the tumbling
    ``spec``'s ``on``, one unit of its time long, is a group key): each pane holds the
    groups of one time, and comes once, when the watermark passes it (a
    :class:`~sabot_lab.logical.operators.CascadedWindow`). The same state and checkpoints as
    :class:`SlidingWindows`; the output is the keys, then the aggregates.

    >>> from sabot_lab.engine.state import open_state
    >>> from sabot_lab.engine.stream_operator import drive
    >>> from sabot_lab.window_specs import tumbling
    >>> t = pa.table({"ends": pa.array([10, 10, 20], pa.timestamp("s")), "n": [3, 5, 4]})
    >>> op = CascadedWindows(tumbling("1s", on="ends"), ["ends"], [col("n").max()], t.schema, open_state())
    >>> out = [b for b in drive(op, iter(t.to_batches())) if isinstance(b, pa.RecordBatch)]
    >>> out[0].schema.names, out[0].column("n").to_pylist()
    (['ends', 'n'], [5, 4])
    """

    def __init__(
        self, spec: WindowSpec, keys: Sequence[str], aggs: Sequence[Expr], schema: pa.Schema,
        state: StateBackend,
    ) -> None:  # fmt: skip
        super().__init__(spec, keys, aggs, schema, state)
        self.schema = pa.schema([*map(schema.field, keys), *(a.output_field(schema) for a in aggs)])

    def _emit(self, table: pa.Table, starts: pa.ChunkedArray, ends: Any) -> pa.Table:
        """The output rows: keys, aggregates (the panes' bounds are a key's times)."""
        return pa.Table.from_arrays([table[n] for n in self.schema.names], schema=self.schema)


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
        first, last = col(spec.on).min(), col(spec.on).max()
        self._agg = HashAggregate(
            [*keys, _START],
            [*aggs, first.alias(_FIRST), last.alias(_LAST)],
            schema.append(pa.field(_START, pa.int64())),
        )
        self._first, self._last = self._agg.partial_column(first), self._agg.partial_column(last)
        super().__init__(spec, keys, aggs, schema, state)

    def _load(self) -> None:
        super()._load()
        self._earliest: int | None = None  # the earliest time held, in the column's unit
        for _, table in self.state.items():
            self._note(table)

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

    def on_batch(self, batch: Batch, side: int = 0) -> tuple[()]:
        """Aggregate one batch into pieces of sessions, kept in the state."""
        batch, times = self._timed(batch)
        if batch.num_rows:
            buckets = pa.array(tumble_starts(times, self.size))
            pieces = self._agg.partial(batch.append_column(_START, buckets))
            self._put_new(pieces)
            self._note(pieces)
        return ()

    def fire(self, watermark: int) -> Iterator[pa.Table]:
        """The sessions ending at or before ``watermark`` (microseconds), removed from the
        state: one table, or none. Sessions read the whole state when they fire."""
        time = us_to_unit(watermark, self.time_type.unit)
        if self._earliest is None or (time != END_OF_TIME and self._earliest + self.size > time):
            return
        keys = self.state.keys()
        pieces = pa.concat_tables([t for t in (self.state.pop(k) for k in keys) if t is not None])
        keys = decoded(pieces.select([*self.keys, self._first]))
        order = pc.sort_indices(keys, [(k, "ascending") for k in keys.column_names])
        pieces, keys = pieces.take(order), keys.take(order)
        sessions = merge_sessions(
            times_of(pieces[self._first]), times_of(pieces[self._last]),
            _key_starts(keys, self.keys), self.size,
        )  # fmt: skip
        pieces = pieces.set_column(
            pieces.schema.get_field_index(_START), _START, pa.array(sessions)
        )
        merged = self._agg.combine([pieces])
        ends = pc.add(merged[self._last].cast(pa.int64()), self.size)
        ended = pc.less_equal(ends, time) if time != END_OF_TIME else None
        rest = merged.filter(pc.invert(ended)) if ended is not None else merged.slice(0, 0)
        self._held(-self.state_rows)  # every piece was taken out above
        self._earliest = None
        if rest.num_rows:
            self._put_new(rest)
            self._note(rest)
        closed = merged if ended is None else merged.filter(ended)
        if closed.num_rows:
            result = self._agg.finish([closed])
            last_times = pc.add(result[_LAST].cast(pa.int64()), self.size)
            yield self._emit(result, result[_FIRST].cast(pa.int64()), last_times)


def _pane_prefix(pane: int) -> str:
    return f"{_PANE}{pane + _OFFSET:020d}/"


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
    state: StateBackend, early: float | None = None,
) -> SlidingWindows | SessionWindows:  # fmt: skip
    """The window operator for ``spec``, keeping its state in ``state``; ``early``: seconds
    between early results (tumbling and sliding windows; refused for sessions at plan time)."""
    if spec.kind == "session":
        assert early is None, "early results are refused for session windows"
        return SessionWindows(spec, keys, aggs, schema, state)
    return SlidingWindows(spec, keys, aggs, schema, state, early)
