"""Window functions over a whole (bounded) table: the engine side of
:class:`~sabot_lab.logical.operators.WindowFunctions`.

Each window expression (an :class:`~sabot_lab.expr.nodes.Over` node) is computed in the
order of its partition and order keys (one Arrow sort), vectorised over the whole table:
partitions and peer groups (rows with equal order keys) are runs of that order, found from
key changes; ranks come from run starts; each row's frame is a range ``[lo, hi)`` of sorted
positions, so sums, counts and means are differences of prefix sums and minima and maxima
are range-minimum queries over a sparse table. The results go back to the input's row order.

May import: the expressions (:mod:`sabot_lab.expr`), :mod:`sabot_lab.engine.evaluate`,
:mod:`sabot_lab.engine.order` and :mod:`sabot_lab.errors`.

>>> from sabot_lab.expr import col
>>> t = pa.table({"k": ["a", "b", "a", "a"], "x": [1, 5, 2, 2]})
>>> running = col("x").sum().over("k", order_by="x", frame=("range", None, 0)).alias("s")
>>> window_columns(t, [running], pa.schema([("s", pa.int64())])).column("s").to_pylist()
[1, 5, 5, 5]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.evaluate import evaluate
from sabot_lab.engine.order import decoded
from sabot_lab.errors import SchemaError
from sabot_lab.expr import Expr
from sabot_lab.expr.nodes import Aggregate, Alias, Over
from sabot_lab.expr.windows import (
    FRAMED_FUNCTIONS,
    WindowParts,
    is_value_rank,
    shift_default,
    window_parts,
)

__all__ = ["window_columns", "window_node"]


def window_node(expr: Expr) -> Over:
    """The :class:`Over` node of a window column's expression (``Over``, or aliased).

    >>> from sabot_lab.expr import col
    >>> window_node(col("x").sum().over("k").alias("s")).op
    'over'
    """
    node = expr.args[0] if isinstance(expr, Alias) else expr
    if not isinstance(node, Over):
        raise SchemaError(f"a window column is an aliased window expression, got {expr!r}")
    return node


def window_columns(table: pa.Table, exprs: Sequence[Expr], schema: pa.Schema) -> pa.Table:
    """``table`` with one column per window expression of ``exprs`` appended, each of the
    type of the field of ``schema`` with its name, in the table's row order.

    >>> from sabot_lab.expr import col
    >>> from sabot_lab.expr.windows import rank
    >>> t = pa.table({"x": [30, 10, 30]})
    >>> window_columns(t, [rank().over(order_by="x").alias("r")], pa.schema([("r", pa.int64())])).column("r").to_pylist()
    [2, 1, 2]
    """
    batch = table.combine_chunks().to_batches()
    rows = (
        batch[0] if batch else pa.RecordBatch.from_pylist([], schema=table.schema)  # no rows at all
    )
    layouts: dict[tuple[object, ...], _Layout] = {}  # windows of the same keys sort once
    for expr in exprs:
        field = schema.field(expr.output_name())
        values = _column(window_node(expr), rows, field.type, layouts)
        table = table.append_column(field, pa.chunked_array([values], type=field.type))
    return table


@dataclass(frozen=True)
class _Layout:
    """The sorted order of a window's rows and, per sorted position, the bounds of its
    partition and of its peer group (``[start, end)`` in sorted positions)."""

    order: np.ndarray
    part_start: np.ndarray
    part_end: np.ndarray
    peer_start: np.ndarray
    peer_end: np.ndarray
    peer_id: np.ndarray


def _column(
    node: Over,
    rows: pa.RecordBatch,
    dtype: pa.DataType,
    layouts: dict[tuple[object, ...], _Layout],
) -> pa.Array:
    parts = window_parts(node)
    n = rows.num_rows
    if n == 0:
        return pa.array([], type=dtype)
    keys = (
        tuple(a.key() for a in node.args[1:]),
        len(parts.partition_by),
        tuple(parts.descending),
        tuple(parts.nulls_last),
    )
    if keys not in layouts:
        layouts[keys] = _layout(parts, rows)
    layout = layouts[keys]
    fn = parts.function
    if isinstance(fn, Aggregate) or fn.param("fn") in FRAMED_FUNCTIONS:
        lo, hi = _frame(parts, layout, rows)
        values = _argument(fn, rows, layout) if fn.args else None
        result = _framed(fn, values, lo, hi, dtype)
    elif fn.param("fn") == "shift":
        result = _shift(fn, rows, layout, dtype)
    elif is_value_rank(fn):
        ranks = pa.array(_value_rank(str(fn.param("method")), layout))
        result = pc.if_else(_argument(fn, rows, layout).is_valid(), ranks, pa.nulls(n, ranks.type))
    else:
        result = pa.array(_rank(str(fn.param("fn")), fn.param("n"), layout))
    inverse = np.empty(n, dtype=np.int64)
    inverse[layout.order] = np.arange(n)
    return result.take(pa.array(inverse)).cast(dtype)


def _array(expr: Expr, rows: pa.RecordBatch) -> pa.Array:
    value = evaluate(expr, rows)
    if isinstance(value, pa.Scalar):
        return pa.repeat(value, rows.num_rows)
    return value.combine_chunks() if isinstance(value, pa.ChunkedArray) else value


def _argument(fn: Expr, rows: pa.RecordBatch, layout: _Layout) -> pa.Array:
    """The function's (first) argument, in sorted order."""
    return _array(fn.args[0], rows).take(pa.array(layout.order))


def _layout(parts: WindowParts, rows: pa.RecordBatch) -> _Layout:
    n = rows.num_rows
    keys = [*parts.partition_by, *parts.order_by]
    if keys:
        names = [f"k{i}" for i in range(len(keys))]
        table = decoded(pa.table([_array(k, rows) for k in keys], names=names))
        directions = [False] * len(parts.partition_by) + parts.descending
        nulls = [True] * len(parts.partition_by) + parts.nulls_last
        sort_keys = [
            (name, "descending" if d else "ascending", "at_end" if last else "at_start")
            for name, d, last in zip(names, directions, nulls, strict=True)
        ]
        order = pc.sort_indices(table, sort_keys=sort_keys).to_numpy()
        sorted_keys = table.take(pa.array(order))
        changes = [_changes(sorted_keys.column(i).combine_chunks()) for i in range(len(keys))]
    else:
        order, changes = np.arange(n, dtype=np.int64), []
    first = np.zeros(n, dtype=bool)
    first[0] = True
    new_part = first.copy()
    for change in changes[: len(parts.partition_by)]:
        new_part[1:] |= change
    new_peer = new_part.copy()
    for change in changes[len(parts.partition_by) :]:
        new_peer[1:] |= change
    part_start, part_end = _runs(new_part)
    peer_start, peer_end = _runs(new_peer)
    return _Layout(
        order=order.astype(np.int64),
        part_start=part_start,
        part_end=part_end,
        peer_start=peer_start,
        peer_end=peer_end,
        peer_id=np.cumsum(new_peer) - 1,
    )


def _changes(values: pa.Array) -> np.ndarray:
    """Per sorted position after the first: whether the key differs from the one before
    (nulls equal each other; so do NaNs)."""
    before, after = values.slice(0, len(values) - 1), values.slice(1)
    differ = pc.fill_null(pc.not_equal(before, after), True)
    same = pc.and_(pc.is_null(before), pc.is_null(after))
    if pa.types.is_floating(values.type):
        nan = pc.and_(pc.fill_null(pc.is_nan(before), False), pc.fill_null(pc.is_nan(after), False))
        same = pc.or_(same, nan)
    return np.asarray(pc.and_(differ, pc.invert(same)).to_numpy(zero_copy_only=False), dtype=bool)


def _runs(starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per position, the start and end of the run it belongs to (runs begin where
    ``starts`` is true)."""
    begin = np.flatnonzero(starts)
    run = np.cumsum(starts) - 1
    end = np.append(begin[1:], len(starts))
    return begin[run], end[run]


def _frame(
    parts: WindowParts, layout: _Layout, rows: pa.RecordBatch
) -> tuple[np.ndarray, np.ndarray]:
    """Each sorted row's frame as ``[lo, hi)`` in sorted positions (empty: ``lo == hi``)."""
    if parts.frame is None:
        return layout.part_start, layout.part_end
    kind, start, end = parts.frame
    if kind == "range":
        if start not in (None, 0) or end not in (None, 0):
            return _value_frame(parts, layout, rows)
        lo = layout.part_start if start is None else layout.peer_start
        hi = layout.part_end if end is None else layout.peer_end
        return lo, hi
    here = np.arange(len(layout.order))
    lo = layout.part_start if start is None else here + start
    hi = layout.part_end if end is None else here + end + 1
    lo = np.clip(lo, layout.part_start, layout.part_end)
    hi = np.clip(hi, layout.part_start, layout.part_end)
    return lo, np.maximum(lo, hi)


def _value_frame(
    parts: WindowParts, layout: _Layout, rows: pa.RecordBatch
) -> tuple[np.ndarray, np.ndarray]:
    """A ``range`` frame with offsets: the rows of the partition whose (one, numeric) order
    value lies within the offsets of the row's own (for a null value: the null rows)."""
    key = _array(parts.order_by[0], rows).take(pa.array(layout.order))
    per_unit = None  # a timestamp's offsets are microseconds: counted in its unit below
    if pa.types.is_decimal(key.type):  # exact: unscaled integers
        scale = 10**key.type.scale
        key = pc.multiply(key, pa.scalar(scale, pa.int64())).cast(pa.int64())
    else:
        scale = 1
        if pa.types.is_timestamp(key.type):
            per_unit = _US_PER_UNIT[key.type.unit]
            key = key.cast(pa.int64())
    valid = np.asarray(key.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    numbers = key.cast(pa.float64() if pa.types.is_floating(key.type) else pa.int64())
    value = np.asarray(pc.fill_null(numbers, 0).to_numpy(), dtype=numbers.type.to_pandas_dtype())
    if parts.descending[0]:
        value = -value
    _, start, end = parts.frame or ("range", None, None)
    valid_before = np.concatenate([[0], np.cumsum(valid)])
    in_part = valid_before[layout.part_end] - valid_before[layout.part_start]
    first_valid = np.where(parts.nulls_last[0], layout.part_start, layout.part_end - in_part)

    def bound(offset: int, upper: bool) -> np.ndarray:
        """Per row, the position of the first value at or above (past the last value at or
        below, when ``upper``) the row's value plus ``offset``."""
        data = np.flatnonzero(valid)
        n_data = len(data)
        if per_unit is not None:  # the offset in the key's unit, within the frame's bound
            offset = (
                -((-offset * per_unit[1]) // per_unit[0])
                if not upper
                else ((offset * per_unit[1]) // per_unit[0])
            )
        target = value + offset * scale
        pids = np.concatenate([layout.part_start[data], layout.part_start])
        values = np.concatenate([value[data], target])
        is_data = np.concatenate([np.ones(n_data, dtype=bool), np.zeros(len(value), dtype=bool)])
        ties = is_data if not upper else ~is_data  # lower: queries before equal values
        combined = np.lexsort((ties, values, pids))
        before = np.cumsum(is_data[combined]) - is_data[combined]
        at = np.empty(len(combined), dtype=np.int64)
        at[combined] = before
        counted = at[n_data:] - valid_before[layout.part_start]
        return first_valid + counted

    lo = layout.part_start if start is None else bound(start, upper=False)
    hi = layout.part_end if end is None else bound(end, upper=True)
    lo = np.where(valid | (start is None), lo, layout.peer_start)
    hi = np.where(valid | (end is None), hi, layout.peer_end)
    return lo, np.maximum(lo, hi)


_US_PER_UNIT = {"s": (1_000_000, 1), "ms": (1_000, 1), "us": (1, 1), "ns": (1, 1_000)}
"""Microseconds per timestamp unit, as a fraction ``(numerator, denominator)``."""


def _rank(fn: str, n: int | None, layout: _Layout) -> np.ndarray:
    here = np.arange(len(layout.order))
    size = layout.part_end - layout.part_start
    rank = layout.peer_start - layout.part_start + 1
    if fn == "row_number":
        return here - layout.part_start + 1
    if fn == "rank":
        return rank
    if fn == "dense_rank":
        return layout.peer_id - layout.peer_id[layout.part_start] + 1
    if fn == "percent_rank":
        return np.where(size > 1, (rank - 1) / np.maximum(size - 1, 1), 0.0)
    if fn == "cume_dist":
        return (layout.peer_end - layout.part_start) / size
    if fn == "ntile":  # DuckDB's buckets: the first (size % n) have one row more
        buckets = np.minimum(int(n or 1), size)
        small = size // buckets
        large = size - buckets * small
        row = here - layout.part_start
        in_large = large * (small + 1)
        return np.where(
            row < in_large,
            1 + row // (small + 1),
            1 + large + (row - in_large) // np.maximum(small, 1),
        )
    raise SchemaError(f"unknown window function {fn!r}")


def _value_rank(method: str, layout: _Layout) -> np.ndarray:
    """``Expr.rank`` of the values the window is ordered by, by ``method`` (Polars')."""
    if method == "ordinal":
        return _rank("row_number", None, layout)
    if method == "dense":
        return _rank("dense_rank", None, layout)
    low = _rank("rank", None, layout)
    high = layout.peer_end - layout.part_start
    return {"min": low, "max": high}.get(method, (low + high) / 2)


def _shift(fn: Expr, rows: pa.RecordBatch, layout: _Layout, dtype: pa.DataType) -> pa.Array:
    values = _argument(fn, rows, layout)
    source = np.arange(len(layout.order)) - int(fn.param("n"))
    inside = (source >= layout.part_start) & (source < layout.part_end)
    taken = values.take(pa.array(np.where(inside, source, 0))).cast(dtype)
    default = shift_default(fn)
    if default is None:
        fill = pa.nulls(len(taken), type=dtype)
    else:
        fill = _array(default, rows).take(pa.array(layout.order)).cast(dtype)
    return pc.if_else(pa.array(inside), taken, fill)


# ----------------------------------------------------------------------------- frames


def _framed(
    fn: Expr, values: pa.Array | None, lo: np.ndarray, hi: np.ndarray, dtype: pa.DataType
) -> pa.Array:
    """The aggregate (or ``nth_value``) of each frame ``[lo, hi)`` of sorted ``values``."""
    name = str(fn.param("fn"))
    if values is None:  # count(*)
        return pa.array(hi - lo)
    if name in FRAMED_FUNCTIONS:
        nth = lo + int(fn.param("n") or 1) - 1
        at = {"first_value": lo, "last_value": hi - 1, "nth_value": nth}[name]
        inside = (at >= lo) & (at < hi)
        return values.take(pa.array(np.where(inside, at, 0), mask=~inside))
    valid = np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    count = _ranged(np.cumsum(valid), lo, hi)
    if name == "count":
        return pa.array(count)
    if name in ("min", "max"):
        return _extreme(values, valid, lo, hi, count, name == "max")
    total = _sum(values, valid, lo, hi)
    empty = pa.array(count == 0)
    if name == "sum":
        return pc.if_else(empty, pa.nulls(len(total), total.type), total)
    means = pc.divide(total.cast(pa.float64()), pa.array(np.maximum(count, 1), pa.float64()))
    return pc.if_else(empty, pa.nulls(len(means), pa.float64()), means)


def _ranged(prefix: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sums over ``[lo, hi)`` from ``prefix``, the inclusive running sum."""
    padded = np.concatenate([np.zeros(1, dtype=prefix.dtype), prefix])
    return padded[hi] - padded[lo]


def _sum(values: pa.Array, valid: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> pa.Array:
    """Frame sums of the non-null values: exact for integers (int64 differences, right
    whenever the frame's sum fits) and decimals, prefix sums for floats with infinities
    and NaN counted apart."""
    dtype = values.type
    if pa.types.is_decimal(dtype):
        raw = values.to_numpy(zero_copy_only=False)
        exact = np.array(raw, dtype=object)
        exact[~valid] = Decimal(0)
        sums = _ranged(np.cumsum(exact), lo, hi)
        return pa.array(list(sums), type=pa.decimal128(38, dtype.scale))
    if pa.types.is_boolean(dtype) or pa.types.is_integer(dtype):
        ints = np.asarray(pc.fill_null(values.cast(pa.int64()), 0).to_numpy(), dtype=np.int64)
        return pa.array(_ranged(np.cumsum(ints), lo, hi))
    floats = np.asarray(pc.fill_null(values.cast(pa.float64()), 0.0).to_numpy(), dtype=np.float64)
    nan = _ranged(np.cumsum(np.isnan(floats)), lo, hi)
    up = _ranged(np.cumsum(floats == np.inf), lo, hi)
    down = _ranged(np.cumsum(floats == -np.inf), lo, hi)
    finite = np.where(np.isfinite(floats), floats, 0.0)
    sums = _ranged(np.cumsum(finite), lo, hi)
    sums = np.where(up > 0, np.inf, sums)
    sums = np.where(down > 0, -np.inf, sums)
    return pa.array(np.where((nan > 0) | ((up > 0) & (down > 0)), np.nan, sums))


def _extreme(
    values: pa.Array,
    valid: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    count: np.ndarray,
    maximum: bool,
) -> pa.Array:
    """Frame minima (maxima) of the non-null values: a range-minimum query over each
    value's place in the sorted values (nulls placed so they never win)."""
    n = len(values)
    order = pc.sort_indices(
        pa.table({"v": decoded(pa.table({"v": values})).column("v")}),
        sort_keys=[("v", "ascending", "at_end")],
    ).to_numpy()
    place = np.empty(n, dtype=np.int64)
    place[order] = np.arange(n)
    key = np.where(valid, -place if maximum else place, n + 1)
    levels = [key]
    while 2 ** len(levels) <= n:
        step, last = 2 ** (len(levels) - 1), levels[-1]
        levels.append(np.minimum(last[:-step], last[step:]))
    length = np.maximum(hi - lo, 1)
    level = np.floor(np.log2(length)).astype(np.int64)
    best = np.full(n, n + 1, dtype=np.int64)
    for k in np.unique(level):
        rows = np.flatnonzero(level == k)
        table = levels[k]
        left = table[np.minimum(lo[rows], len(table) - 1)]
        right = table[np.clip(hi[rows] - 2**k, 0, len(table) - 1)]
        best[rows] = np.minimum(left, right)
    empty = count == 0
    position = np.where(empty, 0, np.abs(best))
    return values.take(pa.array(order[np.minimum(position, n - 1)], mask=empty))
