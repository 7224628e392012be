"""Functions that start expressions: :func:`col`, :func:`lit`, :func:`duration`, :func:`when`, :func:`count`,
:func:`concat_str`, :func:`max_horizontal`, :func:`min_horizontal`.

Imports :mod:`sabot_lab.expr.nodes` only.

>>> when(col("x") > 0).then(lit("pos")).otherwise(count())
when((col("x") > 0)).then("pos").otherwise(count())
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from sabot_lab.expr.nodes import (
    Aggregate,
    Column,
    ConcatStr,
    Expr,
    Horizontal,
    Literal,
    When,
    to_expr,
)

__all__ = [
    "col",
    "concat_str",
    "count",
    "duration",
    "lit",
    "max_horizontal",
    "min_horizontal",
    "when",
]


def col(name: str) -> Expr:
    """Refer to the input column ``name``.

    >>> col("price") > 100
    (col("price") > 100)
    """
    if not isinstance(name, str):
        raise TypeError(f"col() takes a column name (str), got {type(name).__name__}")
    return Column("col", name=name)


def lit(value: Any, dtype: pa.DataType | str | None = None) -> Expr:
    """A constant; ``dtype`` fixes its type (else it is inferred: int64, float64, string…).

    >>> lit(0.908), lit(None), lit(3, "int32")
    (0.908, None, lit(3, "int32"))
    """
    if isinstance(value, Expr):
        return value
    return Literal.of(value, dtype)


def duration(
    *,
    weeks: float = 0,
    days: float = 0,
    hours: float = 0,
    minutes: float = 0,
    seconds: float = 0,
    milliseconds: float = 0,
    microseconds: float = 0,
) -> Expr:
    """A constant span of time (a ``duration[us]``), as Polars' ``pl.duration``: added to a
    timestamp it moves it by that much, added to a date it gives a timestamp. Calendar
    months and years are not a fixed span: use ``.dt.offset_by("3mo")`` for them.

    >>> duration(days=3, hours=12)
    datetime.timedelta(days=3, seconds=43200)
    """
    span = dt.timedelta(
        weeks=weeks,
        days=days,
        hours=hours,
        minutes=minutes,
        seconds=seconds,
        milliseconds=milliseconds,
        microseconds=microseconds,
    )
    return Literal.of(span)


def count() -> Expr:
    """Number of rows (SQL ``COUNT(*)``).

    >>> count().alias("n")
    count().alias("n")
    """
    return Aggregate("agg", fn="count")


def concat_str(exprs: Iterable[Any], *, separator: str = "", ignore_nulls: bool = False) -> Expr:
    """Join strings row by row with ``separator``. Nulls make the result null, or with
    ``ignore_nulls`` are left out (SQL ``CONCAT``, ``CONCAT_WS``; ``||`` propagates nulls).
    Integers and booleans are turned into text; other types need a ``cast("string")`` first.

    >>> b = pa.record_batch({"a": ["x", None], "n": [1, 2]})
    >>> evaluate(concat_str([col("a"), col("n")], separator="-"), b).to_pylist()
    ['x-1', None]
    >>> evaluate(concat_str([col("a"), col("n")], ignore_nulls=True), b).to_pylist()
    ['x1', '2']
    """
    args = [to_expr(e) for e in exprs]
    if not args:
        raise ValueError("concat_str() needs at least one expression")
    if not isinstance(separator, str):
        raise TypeError(f"concat_str() takes a string separator, got {separator!r}")
    return ConcatStr("concat_str", args, separator=separator, ignore_nulls=bool(ignore_nulls))


def _horizontal(fn: str, exprs: Sequence[Any]) -> Expr:
    if not exprs:
        raise ValueError(f"{fn}_horizontal() needs at least one expression")
    return Horizontal("horizontal", [to_expr(e) for e in exprs], fn=fn)


def max_horizontal(*exprs: Any) -> Expr:
    """The largest of several values in each row, ignoring nulls (null if all are); NaN is
    larger than any number, as in DuckDB's ``GREATEST``. Values take their common type.

    >>> b = pa.record_batch({"x": [1, None, None], "y": [2.5, 3.0, None]})
    >>> evaluate(max_horizontal(col("x"), col("y")), b).to_pylist()
    [2.5, 3.0, None]
    """
    return _horizontal("max", exprs)


def min_horizontal(*exprs: Any) -> Expr:
    """The smallest of several values in each row, ignoring nulls (null if all are), as SQL's
    ``LEAST``.

    >>> evaluate(min_horizontal(col("x"), 0), pa.record_batch({"x": [-1, 5, None]})).to_pylist()
    [-1, 0, 0]
    """
    return _horizontal("min", exprs)


def when(condition: Expr) -> When:
    """Start a CASE expression: ``when(cond).then(v).when(...).then(...).otherwise(v)``.

    A null condition counts as false, as in SQL.

    >>> b = pa.record_batch({"x": [5, -1, None]})
    >>> evaluate(when(col("x") > 0).then(lit("pos")).otherwise(lit("other")), b).to_pylist()
    ['pos', 'other', 'other']
    """
    return When((), condition)
