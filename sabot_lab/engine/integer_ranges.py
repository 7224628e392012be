"""A filter whose conjuncts compare integer-like columns with constants, evaluated on the
columns' integers through a selection vector.

Integer columns, dates (their day or millisecond numbers) and decimals of at most 18 digits
(their unscaled 64-bit integers, read in place from the decimal128 values) are compared with
each conjunct's constant turned once into an inclusive integer range
(:func:`~sabot_lab.expr.decimals.unscaled_bound`; a column's consecutive conjuncts, such as
``BETWEEN``'s two, are one range, and so is an ``OR`` of ranges of one column that join:
TPC-H Q19's quantities). Conjuncts on dictionary-encoded text are evaluated first, once per
distinct value (:mod:`~sabot_lab.engine.distinct_strings`). The ranges are applied one after
the other by :mod:`~sabot_lab.kernels.row_ranges`: the first over every row, each later one
over the numbers of the rows left only, so a selective first conjunct (TPC-H Q6's year of
ship dates, 15 % of the rows) spares the others most of their work; when the first keeps
most rows (Q1's ship dates), every range is compared on all rows instead. No column is
copied on the way: the filter takes the rows kept once, in the columns it outputs only
(:func:`~sabot_lab.engine.stateless.filter_batch`). Null values are in no range (SQL's
three-valued logic, as a filter reads it).

>>> import datetime
>>> from sabot_lab.expr import col
>>> batch = pa.record_batch({"d": pa.array([datetime.date(2024, 1, n) for n in (1, 2, 3)]),
...                          "n": [5, None, 7]})
>>> day = (col("d") >= datetime.date(2024, 1, 2)) & (col("n") < 10)
>>> integer_selection(batch, range_filter(day, batch.schema).ranges).tolist()
[False, False, True]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from sabot_lab.engine.booleans import as_bools
from sabot_lab.engine.identity_cache import IdentityCache
from sabot_lab.expr import Expr
from sabot_lab.expr.decimals import SHORT_DIGITS, unscaled_bound, unscaled_words
from sabot_lab.expr.literals import literal_scalar
from sabot_lab.expr.nodes import Column, Literal
from sabot_lab.kernels.row_ranges import keep_in_range, rows_in_range
from sabot_lab.predicates import MIRRORED, conjoin, split_conjunction

__all__ = ["IntegerRange", "RangeFilter", "integer_selection", "range_filter"]

_DATES = {pa.date32(): np.int32, pa.date64(): np.int64}
_DAY_MS = 86_400_000

_PLANS: IdentityCache[RangeFilter | None] = IdentityCache(limit=1_024)
"""Each predicate's ranges by its identity and the batches' schema: found once a run."""


_LOWEST, _HIGHEST = -(1 << 63), (1 << 63) - 1


@dataclass(frozen=True)
class IntegerRange:
    """The rows whose ``column``'s integer lies in ``low..high`` (inclusive; empty when
    ``low > high``)."""

    column: str
    low: int
    high: int


@dataclass(frozen=True)
class RangeFilter:
    """A predicate as ``ranges`` of integers and ``coded``, its conjuncts that read only
    dictionary-encoded columns, conjoined (None when there are none): evaluated once per
    distinct value, before the ranges."""

    ranges: tuple[IntegerRange, ...]
    coded: Expr | None = None


def range_filter(predicate: Expr, schema: pa.Schema) -> RangeFilter | None:
    """``predicate`` over batches of ``schema`` as a :class:`RangeFilter`; None unless each
    conjunct either compares an integer, date or short decimal column with a constant of its
    kind (``=``, ``<``, ``<=``, ``>``, ``>=``; or ``OR``s of such comparisons of one column
    whose ranges join into one), or reads only dictionary-encoded columns, and one at least
    is a range. A column's consecutive ranges are one.

    >>> from decimal import Decimal
    >>> from sabot_lab.expr import col, lit
    >>> schema = pa.schema([("q", pa.decimal128(15, 2)), ("s", pa.string())])
    >>> range_filter((col("q") < 24) & (lit(Decimal("0.5")) <= col("q")), schema).ranges
    (IntegerRange(column='q', low=50, high=2399),)
    >>> range_filter(((col("q") >= 1) & (col("q") <= 11)) | (col("q") == 12), schema) is None
    True
    >>> range_filter(((col("q") >= 1) & (col("q") <= 11)) | (col("q") < 9), schema).ranges
    (IntegerRange(column='q', low=-9223372036854775808, high=1100),)
    >>> range_filter((col("q") < 24) & (col("s") == "x"), schema) is None
    True
    """
    return _PLANS.get(predicate, lambda: _range_filter(predicate, schema), schema)


def _range_filter(predicate: Expr, schema: pa.Schema) -> RangeFilter | None:
    encoded = {f.name for f in schema if pa.types.is_dictionary(f.type)}
    coded: list[Expr] = []
    found: list[IntegerRange] = []
    for conjunct in split_conjunction(predicate):
        columns = conjunct.columns()
        if columns and set(columns) <= encoded:
            coded.append(conjunct)
            continue
        bounds = _range(conjunct, schema) if conjunct.op != "or" else _union(conjunct, schema)
        if bounds is None:
            return None
        if found and found[-1].column == bounds.column:
            last = found.pop()
            bounds = IntegerRange(
                last.column, max(last.low, bounds.low), min(last.high, bounds.high)
            )
        found.append(bounds)
    if not found:
        return None
    return RangeFilter(tuple(found), conjoin(coded) if coded else None)


def _union(expr: Expr, schema: pa.Schema) -> IntegerRange | None:
    """The range of an ``OR`` whose every operand is a range of one column (or such an
    ``AND`` of ranges), when those ranges join into one (TPC-H Q19's quantities 1..11,
    10..20 and 20..30: 1..30)."""
    branches: list[IntegerRange] = []
    for branch in _disjuncts(expr):
        bounds = _one_range(branch, schema)
        if bounds is None:
            return None
        branches.append(bounds)
    if len({b.column for b in branches}) != 1:
        return None
    kept = sorted((b for b in branches if b.low <= b.high), key=lambda b: b.low)
    if not kept:
        return branches[0]
    low, high = kept[0].low, kept[0].high
    for bounds in kept[1:]:
        if bounds.low > high + 1:
            return None  # a gap: no one range
        high = max(high, bounds.high)
    return IntegerRange(kept[0].column, low, high)


def _disjuncts(expr: Expr) -> list[Expr]:
    """The operands of ``a | b | c``, however nested."""
    if expr.op == "or":
        return [d for arg in expr.args for d in _disjuncts(arg)]
    return [expr]


def _one_range(expr: Expr, schema: pa.Schema) -> IntegerRange | None:
    """The range of ``expr`` when it is ranges of one column, conjoined."""
    plan = _range_filter(expr, schema)
    if plan is None or plan.coded is not None or len(plan.ranges) != 1:
        return None
    return plan.ranges[0]


def _range(expr: Expr, schema: pa.Schema) -> IntegerRange | None:
    if expr.op not in MIRRORED or len(expr.args) != 2:
        return None
    left, right = expr.args
    op = expr.op
    if isinstance(left, Literal) and isinstance(right, Column):
        left, right, op = right, left, MIRRORED[op]
    if not isinstance(left, Column) or not isinstance(right, Literal):
        return None
    index = schema.get_field_index(left.param("name"))
    if index < 0:
        return None
    dtype = schema.field(index).type
    constant = literal_scalar(right.param("value"), right.param("dtype"))
    if dtype in _DATES:
        if constant.type not in (dtype, pa.date32()) or not constant.is_valid:
            return None
        bound: int | bool | None = constant.value  # days (date32), milliseconds (date64)
        if dtype != constant.type:  # a date32 constant, a date64 column: in milliseconds
            bound = constant.value * _DAY_MS
    elif isinstance(dtype, pa.Decimal128Type) and dtype.precision <= SHORT_DIGITS:
        bound = unscaled_bound(op, constant, dtype.scale)
    elif pa.types.is_integer(dtype) and dtype != pa.uint64():
        bound = unscaled_bound(op, constant, 0)
    else:
        return None
    name = left.param("name")
    if bound is None or op not in _BOUNDS:
        return None
    if isinstance(bound, bool):  # ``x = 0.055`` at scale 2: no row
        return IntegerRange(name, 1, 0)
    low, high = _BOUNDS[op](bound)
    return IntegerRange(name, low, high)


_BOUNDS = {
    "eq": lambda b: (b, b),
    "lt": lambda b: (_LOWEST, b - 1),
    "le": lambda b: (_LOWEST, b),
    "gt": lambda b: (b + 1, _HIGHEST),
    "ge": lambda b: (b, _HIGHEST),
}
"""Each comparison with an integer bound as an inclusive range (``!=`` is none)."""


def integer_selection(
    batch: pa.RecordBatch, ranges: Sequence[IntegerRange], rows: Any = None
) -> Any:
    """The rows of ``batch`` where every one of ``ranges`` holds (a null value is in none),
    among ``rows`` (ascending row numbers, an int64 array that is overwritten; None: all):
    their numbers (a numpy int64 array, ascending), or a numpy boolean mask when the first
    range keeps most of them (then every range is compared on all rows); None when none is.

    >>> from sabot_lab.expr import col
    >>> batch = pa.record_batch({"x": [1, 2, 3, 4, 5], "y": [5, 4, 3, 2, 1]})
    >>> integer_selection(batch, range_filter(col("x") > 1, batch.schema).ranges).tolist()
    [False, True, True, True, True]
    >>> both = range_filter((col("x") > 3) & (col("y") > 1), batch.schema).ranges
    >>> integer_selection(batch, both).tolist()
    [3]
    >>> import numpy as np
    >>> integer_selection(batch, both, np.array([0, 1, 4])) is None
    True
    """
    length = batch.num_rows
    if rows is None:
        first = _in_range(batch, ranges[0])
        if first is None:
            return None
        if np.count_nonzero(first) * 2 >= length:  # most rows: masks over all of them
            for bounds in ranges[1:]:
                found = _in_range(batch, bounds)
                if found is None:
                    return None
                np.logical_and(first, found, out=first)
            return first
        rows, count = np.empty(length, dtype=np.int64), -1  # -1: rows not yet numbered
    else:
        count = len(rows)
    for bounds in ranges:
        low, high = max(bounds.low, _LOWEST), min(bounds.high, _HIGHEST)
        if low > high:
            return None
        column = batch.column(bounds.column)
        values = _integers(column)
        if count < 0:
            count = rows_in_range(values, low, high, rows)
        else:
            count = keep_in_range(values, low, high, rows, count)
        if column.null_count:  # a null's value is any number: its row goes
            count = _valid_only(column, rows, count)
        if not count:
            return None
    if count * 2 < length:
        return rows[:count]
    mask = np.zeros(length, dtype=bool)
    mask[rows[:count]] = True
    return mask


def _in_range(batch: pa.RecordBatch, bounds: IntegerRange) -> Any:
    """Whether each row's value of ``bounds.column`` lies in its range (a null's does not),
    as a numpy mask; None when no row's can."""
    low, high = max(bounds.low, _LOWEST), min(bounds.high, _HIGHEST)
    if low > high:
        return None
    column = batch.column(bounds.column)
    values = _integers(column)
    found = np.ones(len(values), dtype=bool) if low == _LOWEST else values >= low
    if high != _HIGHEST:
        np.logical_and(found, values <= high, out=found)
    if column.null_count:
        np.logical_and(found, as_bools(column.is_valid()), out=found)
    return found


def _valid_only(column: pa.Array, rows: Any, count: int) -> int:
    """Keep, at the start of ``rows``, those of its first ``count`` whose value in ``column``
    is not null; how many there are."""
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    kept = rows[:count][valid[rows[:count]]]
    rows[: len(kept)] = kept
    return len(kept)


def _integers(column: pa.Array) -> Any:
    """The values of an integer, date or short decimal ``column`` as a numpy view."""
    dtype = column.type
    if isinstance(dtype, pa.Decimal128Type):
        return unscaled_words(column)
    width = _DATES.get(dtype) or dtype.to_pandas_dtype()
    values = np.frombuffer(column.buffers()[1], dtype=width)
    return values[column.offset : column.offset + len(column)]
