"""Short-decimal arithmetic of a whole expression on unscaled 64-bit integers.

Evaluated node by node (:func:`~sabot_lab.engine.evaluate.evaluate`), an expression such as
TPC-H Q1's ``price * (1 - discount) * (1 + tax)`` writes each intermediate result as a
``decimal128`` array (16 bytes a row) that the next operation reads back as 64-bit integers.
An aggregate that sums it wants the 64-bit integers too. :func:`unscaled_decimal` computes
the whole expression on the unscaled integers of its columns, with the exact result type of
DuckDB's rules (:func:`~sabot_lab.expr.decimals.decimal_result_type`) at every node, and
writes nothing else: every result provably fits its type of at most 18 digits, or there is no
result (None) and the caller evaluates the expression as usual, which raises on a real
overflow. Columns with nulls are left to the usual evaluation too.

>>> from decimal import Decimal
>>> from sabot_lab.expr import col, lit
>>> batch = pa.record_batch({"p": pa.array([Decimal("10.50"), Decimal("2.00")], pa.decimal128(15, 2)),
...                          "d": pa.array([Decimal("0.10"), Decimal("0.00")], pa.decimal128(15, 2))})
>>> found = unscaled_decimal(col("p") * (lit(1) - col("d")), batch)
>>> found.values.tolist(), found.dtype, found.bound
([94500, 20000], Decimal128Type(decimal128(18, 4)), 115500)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from sabot_lab.expr import Expr
from sabot_lab.expr.decimals import (
    SHORT_DIGITS,
    decimal_result_type,
    short_decimal_arithmetic,
    unscaled_operand,
    unscaled_words,
    uses_decimal_rules,
)
from sabot_lab.expr.literals import literal_scalar
from sabot_lab.expr.nodes import Alias, Binary, Column, Literal
from sabot_lab.expr.types import with_decimal_literals
from sabot_lab.kernels.magnitudes import largest_magnitude

__all__ = ["UnscaledDecimal", "unscaled_decimal"]

_OPS = ("add", "sub", "mul")


@dataclass(frozen=True)
class UnscaledDecimal:
    """A decimal array of at most 18 digits as its unscaled integers: ``values`` (int64,
    no nulls), its ``dtype`` and ``bound``, at least the largest magnitude among them."""

    values: np.ndarray
    dtype: pa.Decimal128Type
    bound: int


def unscaled_decimal(
    expr: Expr, batch: pa.RecordBatch, memo: dict[Any, Any] | None = None
) -> UnscaledDecimal | None:
    """``expr`` over ``batch`` as unscaled integers, when it is ``+ - *`` of decimal columns
    of at most 18 digits without nulls, integer or decimal constants (and aliases), and its
    result provably fits its decimal type of at most 18 digits; None otherwise. Calls for
    one batch may share a ``memo``: each subexpression is computed once among them.

    >>> from decimal import Decimal
    >>> from sabot_lab.expr import col
    >>> batch = pa.record_batch({"x": pa.array([Decimal("1"), Decimal("-2")], pa.decimal128(5, 1))})
    >>> unscaled_decimal((col("x") + col("x")).alias("y"), batch).values.tolist()
    [20, -40]
    >>> with_null = pa.record_batch({"x": pa.array([Decimal("1"), None], pa.decimal128(5, 1))})
    >>> unscaled_decimal(col("x") * 2, with_null) is None  # left to the usual evaluation
    True
    """
    found = _operand(expr, batch, {} if memo is None else memo)
    if found is None or isinstance(found, pa.Scalar):
        return None
    return found


def _operand(
    expr: Expr, batch: pa.RecordBatch, memo: dict[Any, Any]
) -> UnscaledDecimal | pa.Scalar | None:
    """``expr``'s unscaled values, or a constant's Arrow scalar (its type decided by its
    partner, as :func:`~sabot_lab.expr.types.with_decimal_literals` decides it)."""
    if isinstance(expr, Alias):
        return _operand(expr.args[0], batch, memo)
    if isinstance(expr, Literal):
        return literal_scalar(expr.param("value"), expr.param("dtype"))
    key = expr.key()
    if key not in memo:
        if isinstance(expr, Column):
            memo[key] = _column(expr.param("name"), batch)
        elif isinstance(expr, Binary) and expr.op in _OPS:
            memo[key] = _arithmetic(expr, batch, memo)
        else:
            memo[key] = None
    return memo[key]


def _column(name: str, batch: pa.RecordBatch) -> UnscaledDecimal | None:
    index = batch.schema.get_field_index(name)
    if index < 0:
        return None  # the usual evaluation names the missing column
    column = batch.column(index)
    dtype = column.type
    if (
        not isinstance(dtype, pa.Decimal128Type)
        or dtype.precision > SHORT_DIGITS
        or column.null_count
        or not len(column)
    ):
        return None
    values = unscaled_words(column)
    return UnscaledDecimal(values, dtype, largest_magnitude(values))


def _arithmetic(expr: Expr, batch: pa.RecordBatch, memo: dict[Any, Any]) -> UnscaledDecimal | None:
    operands = [_operand(a, batch, memo) for a in expr.args]
    if any(o is None for o in operands) or all(isinstance(o, pa.Scalar) for o in operands):
        return None
    typed = with_decimal_literals(
        expr,
        [o if not isinstance(o, UnscaledDecimal) else pa.nulls(0, o.dtype) for o in operands],
    )
    left, right = (t.type for t in typed)
    if not uses_decimal_rules(expr.op, left, right):
        return None
    target = decimal_result_type(expr.op, left, right)
    if target.precision > SHORT_DIGITS:
        return None
    parts = [_unscaled(o, t) for o, t in zip(operands, typed, strict=True)]
    if parts[0] is None or parts[1] is None:
        return None
    found = short_decimal_arithmetic(expr.op, parts[0], parts[1], target)
    if found is None:
        return None
    values, bound = found
    return UnscaledDecimal(values, target, bound)


def _unscaled(
    operand: UnscaledDecimal | pa.Scalar | None, typed: Any
) -> tuple[Any, int, int] | None:
    """An operand as ``short_decimal_arithmetic`` takes it: values, scale, largest magnitude."""
    if isinstance(operand, UnscaledDecimal):
        return operand.values, operand.dtype.scale, operand.bound
    return unscaled_operand(typed)
