"""Decimal ``+ - *`` of at most 18 digits (computed on 64-bit integers when the operands'
magnitudes prove the result fits) against Python's exact decimals: the same values and nulls,
or an overflow error where a value does not fit DuckDB's result type, for values up to each
type's limit, integer columns and constants; and comparisons of such a decimal column with a
constant of any scale (compared on the unscaled integers) against Python's comparisons."""

from __future__ import annotations

import decimal
import operator
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sabot_lab.expr.decimals import (
    decimal_arithmetic,
    decimal_result_type,
    short_decimal_comparison,
)

COMPARISONS = {name: getattr(operator, name) for name in ("eq", "ne", "lt", "le", "gt", "ge")}
OPS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b}


@st.composite
def operands(draw: st.DrawFn) -> Any:
    """A decimal128 of at most 18 digits or an int32/int64 array (values up to the type's
    limit, nulls, offsets), or a constant."""
    kind = draw(st.sampled_from(["decimal", "decimal", "int32", "int64", "scalar"]))
    rows = 5
    if kind == "scalar":
        precision = draw(st.integers(1, 9))
        scale = draw(st.integers(0, precision))
        units = draw(st.integers(-(10**precision) + 1, 10**precision - 1))
        return pa.array([decimal.Decimal(units).scaleb(-scale)], pa.decimal128(precision, scale))[0]
    if kind.startswith("int"):
        bound = 2**31 - 1 if kind == "int32" else 2**63 - 1
        values = st.none() | st.integers(-bound, bound) | st.integers(-100, 100)
        return pa.array(draw(st.lists(values, min_size=rows, max_size=rows)), getattr(pa, kind)())
    precision = draw(st.integers(1, 18))
    scale = draw(st.integers(0, precision))
    limit = 10**precision - 1
    units = st.integers(-limit, limit) | st.integers(-min(limit, 100), min(limit, 100))
    values = draw(st.lists(st.none() | units, min_size=rows + 1, max_size=rows + 1))
    array = pa.array(
        [None if v is None else decimal.Decimal(v).scaleb(-scale) for v in values],
        pa.decimal128(precision, scale),
    )
    return array.slice(1) if draw(st.booleans()) else array.slice(0, rows)


def _python(value: Any, rows: int) -> list[Any]:
    if isinstance(value, pa.Scalar):
        return [value.as_py()] * rows
    return [None if v is None else decimal.Decimal(v) for v in value.to_pylist()]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(OPS)), operands(), operands())
def test_short_decimal_arithmetic_is_exact(op: str, left: Any, right: Any) -> None:
    if isinstance(left, pa.Scalar) and isinstance(right, pa.Scalar):
        return
    if not any(pa.types.is_decimal(v.type) for v in (left, right)):
        return
    target = decimal_result_type(op, left.type, right.type)
    rows = len(left) if isinstance(left, pa.Array) else len(right)
    with decimal.localcontext() as context:
        context.prec = 80
        expected = [
            None if a is None or b is None else OPS[op](a, b)
            for a, b in zip(_python(left, rows), _python(right, rows), strict=True)
        ]
    fits = all(v is None or abs(v.scaleb(target.scale)) < 10**target.precision for v in expected)
    if not fits:
        with pytest.raises(OverflowError):
            decimal_arithmetic(op, left, right)
        return
    got = decimal_arithmetic(op, left, right)
    assert got.type == target
    assert got.to_pylist() == expected


@st.composite
def constants(draw: st.DrawFn) -> pa.Scalar:
    """A decimal constant of up to 38 digits and any scale, or a 64-bit integer."""
    if draw(st.booleans()):
        return pa.scalar(draw(st.integers(-(2**63), 2**63 - 1) | st.integers(-5, 5)), pa.int64())
    precision = draw(st.integers(1, 38))
    scale = draw(st.integers(0, precision))
    limit = 10**precision - 1
    units = draw(st.integers(-limit, limit) | st.integers(-min(limit, 2_000), min(limit, 2_000)))
    with decimal.localcontext(prec=80):  # scaleb rounds to the context's 28 digits otherwise
        value = decimal.Decimal(units).scaleb(-scale)
    return pa.scalar(value, pa.decimal128(precision, scale))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(COMPARISONS)), operands(), constants(), st.booleans())
def test_short_decimal_comparisons_are_exact(
    op: str, column: Any, constant: pa.Scalar, flipped: bool
) -> None:
    if not isinstance(column, pa.Array) or not pa.types.is_decimal(column.type):
        return
    left, right = (constant, column) if flipped else (column, constant)
    rows = len(column)
    expected = [
        None if a is None or b is None else COMPARISONS[op](a, b)
        for a, b in zip(_python(left, rows), _python(right, rows), strict=True)
    ]
    got = short_decimal_comparison(op, left, right)
    if got is None:  # only a constant beyond 64 bits at the column's scale is left to Arrow
        with decimal.localcontext() as context:
            context.prec = 80
            assert abs(decimal.Decimal(constant.as_py()).scaleb(column.type.scale)) >= 2**62
        return
    assert got.to_pylist() == expected
