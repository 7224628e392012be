"""Window functions on a stream that never ends: the engine side of
:class:`~sabot_lab.logical.operators.OverWindow` (Flink's ``OVER`` aggregations).

Every window is ordered by the stream's event-time column, so a row's value is final once the
watermark passes its time: rows wait in the state until then, and come out in event-time
order with their window columns (append-only), the watermark after them. Each window column
is computed by :func:`~sabot_lab.engine.window_functions.window_columns` (the vectorised
whole-table code) over the rows released, preceded by the few rows of each partition the
window still needs from earlier releases; the state keeps only those:

- a frame of ``n`` rows before the current one (``ROWS BETWEEN n PRECEDING ...``, ``LAG(x, n)``):
  the last ``n`` rows of each partition;
- a frame of a time before the current row (``RANGE BETWEEN INTERVAL '10' SECOND PRECEDING
  ...``): the rows that recent, as later rows' frames reach back to them;
- a frame from the partition's first row (``UNBOUNDED PRECEDING``) of ``SUM``, ``COUNT``,
  ``AVG``, ``MIN``, ``MAX``, and ``ROW_NUMBER``, ``RANK``, ``DENSE_RANK``: the last row of each
  partition, carrying the running partials (sum, count, extreme, rows numbered) into the next
  release, where it stands for all the rows before.

Rows that arrive behind the watermark already passed (late) are counted in ``late_rows`` and
dropped, as the watermark assigner drops them. The state (rows waiting, rows kept, the time
released to) is checkpointed and restored with the operator's state backend.

May import: :mod:`sabot_lab.engine` (state, evaluation, window functions), the expressions and
:mod:`sabot_lab.window_specs`.

>>> import pyarrow as pa
>>> from sabot_lab.expr import col
>>> from sabot_lab.engine.items import Watermark
>>> from sabot_lab.engine.state import open_state
>>> rows = pa.record_batch({"t": pa.array([3, 1, 2, 9], pa.timestamp("s")), "x": [30, 10, 20, 90]})
>>> running = col("x").sum().over(order_by="t", frame=("rows", None, 0)).alias("s")
>>> schema = pa.schema([*rows.schema, pa.field("s", pa.int64())])
>>> op = StreamWindowFunctions([running], "t", schema, open_state())
>>> op.on_batch(rows)
[]
>>> [x if isinstance(x, Watermark) else x["s"].to_pylist() for x in op.on_watermark(Watermark(5_000_000))]
[[10, 30, 60], Watermark(time=5000000)]
>>> [x["s"].to_pylist() for x in op.on_end()]
[[150]]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.evaluate import evaluate
from sabot_lab.engine.items import Batch, Watermark
from sabot_lab.engine.state import StateBackend
from sabot_lab.engine.stateful import StatefulOperator
from sabot_lab.engine.window_functions import window_columns, window_node
from sabot_lab.expr import Expr, col, lit
from sabot_lab.expr.nodes import Aggregate
from sabot_lab.expr.windows import WindowParts, dense_rank, over, window_parts
from sabot_lab.window_specs import END_OF_TIME, us_to_unit

__all__ = ["StreamWindowFunctions"]

_PENDING = "pending/"
_KEPT = "kept/"
_PASSED = "passed"  # the time (in the column's unit) rows were released up to
_NONE_PASSED = -(2**62)


class StreamWindowFunctions(StatefulOperator):
    """Window columns ``exprs`` (aliased :class:`~sabot_lab.expr.nodes.Over` expressions, each
    ordered by the timestamp column ``time``) of the rows of a stream, each row given once the
    watermark passes its time; ``schema``: the output's (the input's columns, then one per
    expression)."""

    def __init__(
        self, exprs: Sequence[Expr], time: str, schema: pa.Schema, state: StateBackend
    ) -> None:
        self.time, self.schema = time, schema
        self.input_schema = pa.schema(list(schema)[: len(schema) - len(exprs)])
        self.unit = self.input_schema.field(time).type.unit
        self.windows = [
            _window(e, time, self.input_schema, schema.field(e.output_name())) for e in exprs
        ]
        self.late_rows = 0
        super().__init__(state)

    def _load(self) -> None:
        super()._load()
        names = self.state.keys()
        self._pending = sorted(k for k in names if k.startswith(_PENDING))
        passed = self.state.get(_PASSED)
        self._passed = _NONE_PASSED if passed is None else int(passed["time"][0].as_py())

    def on_batch(self, batch: Batch, side: int = 0) -> list[pa.Table]:
        """Keep the rows until the watermark passes their time (late ones are dropped)."""
        times = batch.column(self.time).cast(pa.int64())
        on_time = pc.fill_null(pc.greater_equal(times, self._passed), False)
        kept = batch.filter(on_time)
        self.late_rows += batch.num_rows - kept.num_rows
        if kept.num_rows:
            self._pending.append(self._put_new(pa.Table.from_batches([kept]), _PENDING))
        return []

    def on_watermark(self, watermark: Watermark) -> Iterator[pa.Table | Watermark]:
        """The rows the watermark passed, with their window columns; then the watermark."""
        bound = us_to_unit(watermark.time, self.unit)
        if bound > self._passed:
            yield from self._release(bound)
        yield watermark

    def on_end(self) -> Iterator[pa.Table]:
        """Every row still waiting (the input ended: all are final)."""
        return self._release(END_OF_TIME)

    def _release(self, bound: int) -> Iterator[pa.Table]:
        """The rows waiting with times before ``bound`` (in the column's unit), in time
        order, with their window columns; the state moves on to ``bound``."""
        waiting = [t for t in (self.state.pop(k) for k in self._pending) if t is not None]
        self._pending = []
        self._held(-sum(t.num_rows for t in waiting))
        if self._passed == _NONE_PASSED:
            self._held(1)
        self._passed = bound
        self.state.put(_PASSED, pa.table({"time": pa.array([bound], pa.int64())}))
        if not waiting:
            return
        rows = pa.concat_tables(waiting)
        before = pc.less(rows[self.time].cast(pa.int64()), bound)
        later = rows.filter(pc.invert(before))
        if later.num_rows:
            self._pending.append(self._put_new(later, _PENDING))
        ready = rows.filter(before)
        if not ready.num_rows:
            return
        ready = ready.take(pc.sort_indices(ready, sort_keys=[(self.time, "ascending")]))
        out = ready.combine_chunks()
        for i, window in enumerate(self.windows):
            key = f"{_KEPT}{i:04d}"
            kept = self.state.get(key)
            values, keep = window.release(ready, kept, bound)
            self.state.put(key, keep)
            self._held(keep.num_rows - (0 if kept is None else kept.num_rows))
            out = out.append_column(window.field, pa.chunked_array([values], window.field.type))
        yield out


@dataclass(frozen=True)
class _Window:
    """One window column: the expressions computing it over the rows kept and the rows
    released (``carries``: columns the kept rows carry into the next release, computed for the
    released rows by the paired expressions), the input columns it reads and the field of its
    output."""

    field: pa.Field
    node: Expr
    parts: WindowParts
    columns: list[str]
    time: str
    carries: list[tuple[str, Expr]]
    history: int | None  # rows kept per partition (None: one row carrying running partials)
    span: int | None = None  # or else the rows this much (in the time's unit) before the bound

    def release(
        self, ready: pa.Table, kept: pa.Table | None, bound: int
    ) -> tuple[pa.Array, pa.Table]:
        """The window column of the ``ready`` rows (in time order) after the rows ``kept``
        from earlier releases; the rows to keep for the next."""
        rows = ready.select(self.columns).combine_chunks().to_batches()[0]
        fresh = pa.table(
            {**{c: rows.column(c) for c in self.columns},
             **{name: _array(expr, rows) for name, expr in self.carries}}
        )  # fmt: skip
        if kept is not None:
            fresh = fresh.cast(kept.schema)
        table = fresh if kept is None else pa.concat_tables([kept, fresh])
        first = table.num_rows - ready.num_rows
        tail = lit(1).sum().over(self._keys(), order_by=self.time, frame=("rows", 0, None))
        named = {"__tail": tail, **self._values()}
        exprs = [e.alias(n) for n, e in named.items()]
        schema = pa.schema([e.output_field(table.schema) for e in exprs])
        computed = window_columns(table, exprs, schema)
        result, partials = self._finish(computed)
        if self.span is not None:  # a range frame reaches back this long from later rows
            last = pc.greater_equal(computed[self.time].cast(pa.int64()), bound - self.span)
        else:
            last = pc.less_equal(computed["__tail"], 1 if self.history is None else self.history)
        keep = computed.filter(last).select(self.columns)
        for (name, _), partial in zip(self.carries, partials, strict=True):
            keep = keep.append_column(name, partial.filter(last))  # through the last row
        result = result.cast(self.field.type)
        return result.slice(first).combine_chunks(), keep

    def _keys(self) -> list[Expr]:
        return list(self.parts.partition_by)

    def _over(self, expr: Expr, frame: tuple[str, int | None, int | None] | None) -> Expr:
        return over(expr, self._keys(), col(self.time), False, True, frame)

    def _values(self) -> dict[str, Expr]:
        """The window expressions computed over the kept and released rows (``__r<i>``: the
        running partials, through each row, a kept row carries in ``__c<i>``)."""
        if self.history is not None:
            return {"__value": self.node}
        name = str(self.parts.function.param("fn"))
        running = ("rows", None, 0) if self.parts.frame is None else self.parts.frame
        if name == "rank":  # the rows up to the row's last peer, less its peers, plus one
            peers = over(lit(1).sum(), [*self._keys(), col(self.time)], None, False, True, None)
            return {"__r0": self._over(col("__c0").sum(), ("range", None, 0)), "__peers": peers}
        if name == "dense_rank":  # the times of this release, after the kept row's rank
            ranks = over(dense_rank(), self._keys(), col(self.time), False, True, None)
            return {"__ranks": ranks, "__first": self._over(col("__c0").first(), ("rows", None, 0))}
        if name in ("min", "max"):
            return {"__r0": self._over(getattr(col("__c0"), name)(), running)}
        totals = {"__r0": self._over(col("__c0").sum(), running)}  # sum, count, row_number
        if name == "mean":
            totals["__r1"] = self._over(col("__c1").sum(), running)
        return totals

    def _finish(self, computed: pa.Table) -> tuple[pa.ChunkedArray, list[pa.ChunkedArray]]:
        """The window column from the expressions computed, and the partials a kept row
        carries (one per carry)."""
        if self.history is not None:
            return computed["__value"], []
        name = str(self.parts.function.param("fn"))
        partials = [computed[f"__r{i}"] for i in range(len(self.carries)) if name != "dense_rank"]
        if name == "rank":
            return pc.add(pc.subtract(computed["__r0"], computed["__peers"]), 1), partials
        if name == "dense_rank":  # the kept row had rank 1 here and stands for its own
            before = pc.fill_null(pc.subtract(computed["__first"], 1), 0)
            ranks = pc.add(computed["__ranks"], before)
            return ranks, [ranks]
        if name == "mean":
            count = computed["__r1"].cast(pa.float64())
            total = computed["__r0"].cast(pa.float64())
            return pc.if_else(pc.greater(count, 0), pc.divide(total, count), None), partials
        return computed["__r0"], partials


def _window(expr: Expr, time: str, schema: pa.Schema, field: pa.Field) -> _Window:
    """How the window column ``expr`` of the rows of ``schema`` is computed release by
    release (see :class:`_Window`)."""
    node = window_node(expr)
    parts = window_parts(node)
    fn = parts.function
    name = str(fn.param("fn"))
    columns = sorted({*node.columns(), time} & set(schema.names), key=schema.names.index)
    kind, start, _ = parts.frame or ("rows", 0, 0)
    history: int | None
    if name == "shift":
        history = int(fn.param("n"))
    elif name in ("row_number", "rank", "dense_rank") or start is None:
        history = None  # a counter, or a running aggregate from the partition's first row
    else:  # the rows before the current one a rows frame reaches (a range frame: its peers)
        history = -min(int(start), 0) if kind == "rows" else 0
    span = None
    if kind == "range" and history is not None and start is not None and start < 0:
        span = us_to_unit(-int(start), schema.field(time).type.unit)  # (microseconds)
    carries = _carries(fn, name, field, schema, history)
    return _Window(field, node, parts, columns, time, carries, history, span)


def _carries(
    fn: Expr, name: str, field: pa.Field, schema: pa.Schema, history: int | None
) -> list[tuple[str, Expr]]:
    """The columns a kept row carries (the running partials), each with its expression over a
    released row (its own share of them)."""
    if history is not None:
        return []
    if name in ("row_number", "rank"):
        return [("__c0", lit(1).cast(pa.int64()))]
    if name == "dense_rank":
        return [("__c0", lit(None).cast(pa.int64()))]
    assert isinstance(fn, Aggregate)
    arg = fn.args[0] if fn.args else lit(1)
    counted = arg.is_not_null().cast(pa.int64())
    if name == "count":
        return [("__c0", counted)]
    if name == "mean":
        dtype = arg.output_field(schema).type
        wide = _sum_type(dtype)
        return [("__c0", arg.cast(wide)), ("__c1", counted)]
    return [("__c0", arg.cast(field.type))]  # sum, min, max: of the result's type


def _sum_type(dtype: pa.DataType) -> pa.DataType:
    if pa.types.is_decimal(dtype):
        return pa.decimal128(38, dtype.scale)
    if pa.types.is_floating(dtype):
        return pa.float64()
    return pa.int64()


def _array(expr: Expr, rows: pa.RecordBatch) -> pa.Array:
    value = evaluate(expr, rows)
    if isinstance(value, pa.Scalar):
        return pa.repeat(value, rows.num_rows)
    return value.combine_chunks() if isinstance(value, pa.ChunkedArray) else value
