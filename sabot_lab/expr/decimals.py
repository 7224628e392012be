"""Decimals with DuckDB's rules: result precision and scale, constants, exact results, casts.

DuckDB (the reference) types ``+ - *`` on decimals and integers as follows; this module states
those rules and computes the exact result in the type they give:

- an integer operand is a ``DECIMAL(w, 0)`` of its type's width (int8 3, int16 5, int32 10,
  int64 19 digits); an untyped integer constant is an int32 when it fits (SQL's INTEGER);
- an untyped float constant next to a decimal is the decimal its text shows (``0.05`` is
  ``DECIMAL(3, 2)``), so ``col("price") > 0.05`` compares exactly;
- ``+``/``-``: scale ``max(s1, s2)``, precision ``max(p1 - s1, p2 - s2) + scale + 1``;
- ``*``: scale ``s1 + s2``, precision ``p1 + p2``, narrowed to 18 when both operands fit in 18
  and the scale is below 18;
- the precision is capped at 38 (76 for ``decimal256``), and a value that does not fit the
  result type is an error, never a wrong number.

It also holds the other places decimals follow DuckDB rather than Arrow's defaults: casts to
decimals and ``round``/``floor``/``ceil`` round (halves away from zero) instead of failing,
decimals meet floats as doubles converted exactly (``99.99`` stays the double 99.99), and
comparisons whose common type needs more than 38 digits run in ``decimal256``.

Imports pyarrow and numpy only.

>>> decimal_result_type("mul", pa.decimal128(15, 2), pa.decimal128(15, 2))
Decimal128Type(decimal128(18, 4))
>>> decimal_literal(0.05)
<pyarrow.Decimal128Scalar: Decimal('0.05')>
"""

from __future__ import annotations

import decimal
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "DECIMAL_COMPARISONS",
    "DECIMAL_OPS",
    "SHORT_DIGITS",
    "cast_decimal",
    "cast_from_decimal",
    "common_decimal_type",
    "comparable_decimals",
    "decimal_arithmetic",
    "decimal_constant",
    "decimal_from_unscaled",
    "decimal_literal",
    "decimal_operand",
    "decimal_properties",
    "decimal_result_type",
    "decimal_to_float",
    "refuse_remainder_by_zero",
    "round_decimal",
    "short_decimal_arithmetic",
    "short_decimal_comparison",
    "unscaled_bound",
    "unscaled_int64",
    "unscaled_operand",
    "unscaled_values",
    "unscaled_words",
    "uses_decimal_rules",
]

DECIMAL_OPS = ("add", "sub", "mul", "mod")
"""The operations computed exactly in a decimal type when an operand is a decimal."""

DECIMAL_COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")
"""The comparisons whose decimal operands may need widening first (:func:`comparable_decimals`)."""

_INTEGER_WIDTHS = {8: 3, 16: 5, 32: 10, 64: 19}
_UNSIGNED_WIDTHS = {8: 3, 16: 5, 32: 10, 64: 20}
SHORT_DIGITS = 18  # digits of DuckDB's 64-bit decimals


def decimal_properties(dtype: pa.DataType) -> tuple[int, int] | None:
    """(precision, scale) of a decimal or integer type as DuckDB sees it; None for others.

    >>> decimal_properties(pa.int32()), decimal_properties(pa.decimal128(15, 2))
    ((10, 0), (15, 2))
    >>> decimal_properties(pa.float64()) is None
    True
    """
    if pa.types.is_decimal(dtype):
        return dtype.precision, dtype.scale
    if pa.types.is_signed_integer(dtype):
        return _INTEGER_WIDTHS[dtype.bit_width], 0
    if pa.types.is_unsigned_integer(dtype):
        return _UNSIGNED_WIDTHS[dtype.bit_width], 0
    return None


def uses_decimal_rules(op: str, left: pa.DataType, right: pa.DataType) -> bool:
    """True if ``left op right`` is decimal arithmetic: ``+ - * %`` with a decimal operand and
    the other a decimal or an integer; but, as DuckDB does, not a ``%`` whose common decimal
    type would need more digits than a decimal holds (that remainder is of doubles).

    >>> uses_decimal_rules("add", pa.decimal128(5, 2), pa.int64())
    True
    >>> uses_decimal_rules("add", pa.decimal128(5, 2), pa.float64())
    False
    >>> uses_decimal_rules("mod", pa.decimal128(4, 2), pa.decimal128(37, 0))
    False
    """
    types = (left, right)
    properties = [p for p in map(decimal_properties, types) if p is not None]
    if op not in DECIMAL_OPS or not any(map(pa.types.is_decimal, types)) or len(properties) < 2:
        return False
    scale = max(s for _, s in properties)
    return op != "mod" or max(p - s for p, s in properties) + scale <= _widest(left, right)


def _widest(left: pa.DataType, right: pa.DataType) -> int:
    wide = any(isinstance(t, pa.Decimal256Type) for t in (left, right))
    return 76 if wide else 38


def _decimal_type(precision: int, scale: int, limit: int) -> pa.DataType:
    return pa.decimal128(precision, scale) if limit == 38 else pa.decimal256(precision, scale)


def decimal_result_type(op: str, left: pa.DataType, right: pa.DataType) -> pa.DataType:
    """The type of ``left op right`` (``op`` one of :data:`DECIMAL_OPS`) by DuckDB's rules.

    >>> decimal_result_type("add", pa.decimal128(15, 2), pa.int32())
    Decimal128Type(decimal128(16, 2))
    >>> decimal_result_type("mul", pa.decimal128(4, 2), pa.int64())
    Decimal128Type(decimal128(23, 2))
    >>> decimal_result_type("mod", pa.decimal128(4, 2), pa.decimal128(6, 3))
    Decimal128Type(decimal128(6, 3))
    """
    (p1, s1), (p2, s2) = (decimal_properties(t) or (0, 0) for t in (left, right))
    limit = _widest(left, right)
    if op == "mul":
        scale, precision = s1 + s2, p1 + p2
        if precision > SHORT_DIGITS and max(p1, p2) <= SHORT_DIGITS and scale < SHORT_DIGITS:
            precision = SHORT_DIGITS
    elif op == "mod":  # a remainder is smaller than the divisor: no digit more
        scale = max(s1, s2)
        precision = max(p1 - s1, p2 - s2) + scale
    else:
        scale = max(s1, s2)
        precision = max(p1 - s1, p2 - s2) + scale
        precision = precision + 1 if precision < limit else precision
    if scale > limit:
        raise ValueError(f"the result's scale {scale} exceeds the maximum of {limit} digits")
    return _decimal_type(min(precision, limit), scale, limit)


def common_decimal_type(types: Sequence[pa.DataType]) -> pa.DataType | None:
    """The type decimals and integers of ``types`` all convert to by DuckDB's rule (the most
    places and the most whole digits); None unless one is a decimal and all are numbers of
    these kinds.

    >>> common_decimal_type([pa.decimal128(4, 2), pa.int32()])
    Decimal128Type(decimal128(12, 2))
    """
    found = [decimal_properties(t) for t in types]
    properties = [p for p in found if p is not None]
    if not any(pa.types.is_decimal(t) for t in types) or len(properties) < len(found):
        return None
    limit = 76 if any(isinstance(t, pa.Decimal256Type) for t in types) else 38
    scale = max(s for _, s in properties)
    whole = max(p - s for p, s in properties)
    return _decimal_type(min(whole + scale, limit), scale, limit)


def decimal_literal(value: float) -> pa.Scalar:
    """A float constant as the decimal its shortest text shows in positional notation (DuckDB
    reads ``0.05`` as ``DECIMAL(3, 2)`` and ``0.000002`` as ``DECIMAL(7, 6)``); one of more
    than 38 digits, infinities, NaN and large values Python writes with an exponent (DuckDB's
    ``1e16`` is a double) stay floats.

    >>> decimal_literal(0.050).type, decimal_literal(-12.5)
    (Decimal128Type(decimal128(3, 2)), <pyarrow.Decimal128Scalar: Decimal('-12.5')>)
    >>> decimal_literal(2e-06).type, decimal_literal(1e16), decimal_literal(1e-40)
    (Decimal128Type(decimal128(7, 6)), <pyarrow.DoubleScalar: 1e+16>, <pyarrow.DoubleScalar: 1e-40>)
    """
    text = repr(value)
    if "e-" in text:
        text = format(decimal.Decimal(text), "f")
    constant = decimal_constant(text)
    return pa.scalar(value, pa.float64()) if constant is None else constant


def decimal_constant(text: str) -> pa.Scalar | None:
    """The decimal a number written as ``text`` is in DuckDB's SQL: its digits are the
    precision, those after the point the scale; None for a double (an exponent, infinities,
    NaN, more than 38 digits).

    >>> decimal_constant("0.0001000000").type, decimal_constant(".5").type, decimal_constant("1e3")
    (Decimal128Type(decimal128(11, 10)), Decimal128Type(decimal128(1, 1)), None)
    """
    digits = sum(ch.isdigit() for ch in text)
    if not digits or digits > 38 or any(ch not in "+-.0123456789" for ch in text):
        return None
    scale = len(text.partition(".")[2])
    return pa.scalar(decimal.Decimal(text), pa.decimal128(digits, scale))


def decimal_operand(value: Any, partner: pa.DataType) -> pa.Scalar | None:
    """The scalar an untyped constant ``value`` is next to a decimal ``partner`` (a float as
    its decimal, an integer as SQL's INTEGER when it fits), or None to keep it as it is.

    >>> decimal_operand(2, pa.decimal128(4, 2))
    <pyarrow.Int32Scalar: 2>
    >>> decimal_operand(2, pa.float64()) is None
    True
    """
    if not pa.types.is_decimal(partner) or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return decimal_literal(value)
    if isinstance(value, int) and -(1 << 31) <= value < 1 << 31:
        return pa.scalar(value, pa.int32())
    return None


_KERNELS: dict[str, Callable[..., Any]] = {
    "add": pc.add_checked,
    "sub": pc.subtract_checked,
    "mul": pc.multiply_checked,
}
_PYTHON: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "mod": lambda a, b: a % b,  # the sign of a, as SQL's (and C's) remainder
}


def _as_decimal(value: Any) -> Any:
    """An integer operand as the decimal of its width (decimals as they are)."""
    if pa.types.is_decimal(value.type):
        return value
    precision, _ = decimal_properties(value.type) or (0, 0)
    return value.cast(pa.decimal128(precision, 0))


def _kernel_precision(op: str, left: pa.DataType, right: pa.DataType) -> int:
    """The precision Arrow's kernel gives ``left op right``."""
    if op == "mul":
        return left.precision + right.precision + 1
    scale = max(left.scale, right.scale)
    return max(left.precision - left.scale, right.precision - right.scale) + scale + 1


def _widened(value: Any) -> Any:
    dtype = value.type
    if isinstance(dtype, pa.Decimal256Type):
        return value
    return value.cast(pa.decimal256(dtype.precision, dtype.scale))


def _python_arithmetic(op: str, left: Any, right: Any, target: pa.DataType) -> Any:
    """``left op right`` element by element in Python's decimals (when even 76 digits are too
    few for Arrow's intermediate type)."""
    length = max(len(v) if not isinstance(v, pa.Scalar) else 1 for v in (left, right))

    def values(v: Any) -> list[Any]:
        return [v.as_py()] * length if isinstance(v, pa.Scalar) else v.to_pylist()

    with decimal.localcontext() as context:
        context.prec = 160
        out = [
            None if a is None or b is None else _PYTHON[op](a, b)
            for a, b in zip(values(left), values(right), strict=True)
        ]
    result = pa.array(out, type=pa.decimal256(76, target.scale))
    return result[0] if all(isinstance(v, pa.Scalar) for v in (left, right)) else result


def decimal_arithmetic(op: str, left: Any, right: Any) -> Any:
    """``left op right`` exactly, in :func:`decimal_result_type`'s type; ``OverflowError``
    when a value does not fit that type.

    >>> from decimal import Decimal
    >>> a = pa.array([Decimal("1.25"), None], pa.decimal128(15, 2))
    >>> decimal_arithmetic("mul", a, a)
    <pyarrow.lib.Decimal128Array object at ...>
    [
      1.5625,
      null
    ]
    """
    target = decimal_result_type(op, left.type, right.type)
    if op != "mod":
        short = _short_arithmetic(op, left, right, target)
        if short is not None:
            return short
    left, right = _as_decimal(left), _as_decimal(right)
    if op == "mod":
        return _remainder(left, right, target)
    precision = _kernel_precision(op, left.type, right.type)
    if precision > 76:
        result = _python_arithmetic(op, left, right, target)
    else:
        if precision > 38:
            left, right = _widened(left), _widened(right)
        result = _KERNELS[op](left, right)
    try:
        return result.cast(target)
    except pa.ArrowInvalid:
        raise OverflowError(
            f"a result does not fit in {target} (DuckDB's type for this operation); "
            "cast an operand to a wider decimal or to float64"
        ) from None


def refuse_remainder_by_zero(left: Any, right: Any) -> None:
    """Raise Arrow's divide-by-zero error if a number of ``left`` (decimals or integers,
    arrays or scalars) meets a zero of ``right``, as DuckDB does for a remainder of decimals,
    also one it takes of doubles; a null's remainder by zero is null.

    >>> refuse_remainder_by_zero(pa.array([None, 3]), pa.array([0, 2]))
    >>> refuse_remainder_by_zero(pa.array([1, 3]), pa.array([0, 2]))
    Traceback (most recent call last):
    pyarrow.lib.ArrowInvalid: divide by zero
    """
    zero = pa.scalar(decimal.Decimal(0), pa.decimal128(1, 0))
    if pc.any(pc.and_(pc.equal(right, zero), pc.is_valid(left))).as_py():
        raise pa.ArrowInvalid("divide by zero")


def _remainder(left: Any, right: Any, target: pa.DataType) -> Any:
    """``left % right`` of decimals in ``target``: on the unscaled 64-bit integers of both at
    ``target``'s scale when they fit (18 digits), else in Python's decimals."""
    refuse_remainder_by_zero(left, right)
    if target.precision > SHORT_DIGITS or isinstance(target, pa.Decimal256Type):
        return _python_arithmetic("mod", left, right, target).cast(target)
    common = pa.decimal128(SHORT_DIGITS, target.scale)
    length = max(len(v) if not isinstance(v, pa.Scalar) else 1 for v in (left, right))
    a, b = (_unscaled_int64(v.cast(common), length) for v in (left, right))
    out = np.fmod(a, np.where(b == 0, 1, b))  # C's remainder; nulls' garbage divisors are 1
    result = _from_int64(out, target, left, right)
    scalars = all(isinstance(v, pa.Scalar) for v in (left, right))
    return result[0] if scalars else result


def _from_int64(values: Any, target: pa.DataType, left: Any, right: Any) -> pa.Array:
    """A decimal128 ``target`` array of the unscaled int64 ``values``, null where ``left``
    or ``right`` (arrays or scalars) is.

    >>> _from_int64(np.array([125, -5]), pa.decimal128(5, 2), pa.array([1, None]), pa.scalar(2)).to_pylist()
    [Decimal('1.25'), None]
    """
    length = len(values)
    # each integer widened into a little-endian 128-bit word (low half, then its sign),
    # read at ``target``'s scale: a tenth of the time of Arrow's cast to decimal128(19, 0)
    words = np.empty((length, 2), dtype=np.int64)
    words[:, 0] = values
    np.right_shift(words[:, 0], 63, out=words[:, 1])
    data = pa.py_buffer(words)
    nullable = [v for v in (left, right) if not isinstance(v, pa.Scalar) and v.null_count]
    if not nullable and all(v.is_valid for v in (left, right) if isinstance(v, pa.Scalar)):
        return pa.Array.from_buffers(target, length, [None, data])
    valid = pc.and_(_broadcast_valid(left, length), _broadcast_valid(right, length))
    return pa.Array.from_buffers(target, length, [valid.buffers()[1], data])  # (no null: bits)


def unscaled_operand(value: Any) -> tuple[Any, int, int] | None:
    """A decimal of at most 18 digits or an integer operand as its unscaled int64 values
    (a Python int for a scalar), its scale and the largest magnitude among them; None for
    other operands (wider decimals, null scalars, unsigned 64-bit integers).

    >>> values, scale, largest = unscaled_operand(pa.array([-12.55, 3]).cast(pa.decimal128(4, 2)))
    >>> values.tolist(), scale, largest
    ([-1255, 300], 2, 1255)
    """
    dtype = value.type
    if pa.types.is_decimal(dtype):
        if not isinstance(dtype, pa.Decimal128Type) or dtype.precision > SHORT_DIGITS:
            return None
        scale = dtype.scale
    elif pa.types.is_integer(dtype) and dtype != pa.uint64():
        scale = 0
    else:
        return None
    if isinstance(value, pa.Scalar):
        if not value.is_valid:
            return None
        unscaled = int(decimal.Decimal(value.as_py()).scaleb(scale))
        return unscaled, scale, abs(unscaled)
    if not isinstance(value, pa.Array) or len(value) == 0:
        return None
    if scale or pa.types.is_decimal(dtype):  # the low words of decimal128 values
        values = _unscaled_int64(value, len(value))
    else:
        width = np.dtype(
            f"{'u' if pa.types.is_unsigned_integer(dtype) else 'i'}{dtype.bit_width // 8}"
        )
        values = np.frombuffer(value.buffers()[1], dtype=width)[
            value.offset : value.offset + len(value)
        ]
        values = values.astype(np.int64, copy=False)
    return values, scale, max(abs(int(values.max())), abs(int(values.min())))


def _short_arithmetic(op: str, left: Any, right: Any, target: pa.DataType) -> Any:
    """``left op right`` (``add``, ``sub`` or ``mul``, one operand an array) on unscaled
    64-bit integers, when the operands' magnitudes prove every result fits both ``target``
    (a decimal128: ``0.908 * price``, a ``decimal(23, 3)``, whose values have 18 digits or
    fewer) and 64 bits (null rows' values count too: a bound, never a wrong number); None
    when they do not, for the general path (which raises on a real overflow).

    >>> from decimal import Decimal
    >>> rate, price = pa.scalar(Decimal("0.908")), pa.array([1_000, None])
    >>> _short_arithmetic("mul", rate, price, pa.decimal128(23, 3)).to_pylist()
    [Decimal('908.000'), None]
    >>> _short_arithmetic("mul", rate, pa.array([2**62]), pa.decimal128(23, 3)) is None
    True
    """
    if not isinstance(target, pa.Decimal128Type):
        return None
    if isinstance(left, pa.Scalar) and isinstance(right, pa.Scalar):
        return None
    a, b = unscaled_operand(left), unscaled_operand(right)
    if a is None or b is None:
        return None
    found = short_decimal_arithmetic(op, a, b, target)
    return None if found is None else _from_int64(found[0], target, left, right)


def short_decimal_arithmetic(
    op: str, left: tuple[Any, int, int], right: tuple[Any, int, int], target: pa.DataType
) -> tuple[Any, int] | None:
    """``left op right`` (``add``, ``sub`` or ``mul``) on unscaled 64-bit integers: each
    operand its values (an int64 numpy array, or a Python int for a constant), its scale and
    the largest magnitude among them; the result's unscaled values at ``target``'s scale and
    a bound of their magnitudes, when the operands' magnitudes prove every result fits both
    ``target`` (a decimal128) and 64 bits; None when they do not.

    >>> values, bound = short_decimal_arithmetic("mul", (np.array([125, -5]), 2, 125), (3, 0, 3), pa.decimal128(13, 2))
    >>> values.tolist(), bound
    ([375, -15], 375)
    """
    if not isinstance(target, pa.Decimal128Type):
        return None
    (a_values, a_scale, a_max), (b_values, b_scale, b_max) = left, right
    limit = min(10**target.precision, 1 << 63)
    if op == "mul":
        if a_scale + b_scale != target.scale or a_max * b_max >= limit:
            return None
        return np.multiply(a_values, b_values), a_max * b_max
    if op not in ("add", "sub"):
        return None
    a_factor, b_factor = 10 ** (target.scale - a_scale), 10 ** (target.scale - b_scale)
    bound = a_max * a_factor + b_max * b_factor
    if bound >= limit:
        return None
    combine = np.add if op == "add" else np.subtract
    return combine(a_values * a_factor, b_values * b_factor), bound


def _unscaled_int64(value: Any, length: int) -> Any:
    """The unscaled integers of a decimal128 of at most 18 digits, as int64 (a scalar
    repeated ``length`` times)."""
    if isinstance(value, pa.Scalar):
        unscaled = 0 if not value.is_valid else int(value.as_py().scaleb(value.type.scale))
        return np.full(length, unscaled, dtype=np.int64)
    return unscaled_words(value)


def unscaled_words(values: pa.Array) -> Any:
    """The unscaled integers of a decimal128 array of at most 18 digits: a strided int64
    view of its values' low words, no copy (garbage where a value is null).

    >>> from decimal import Decimal
    >>> unscaled_words(pa.array([Decimal("1.25"), Decimal("-0.50")], pa.decimal128(4, 2))[1:]).tolist()
    [-50]
    """
    words = np.frombuffer(values.buffers()[1], dtype=np.int64)
    return words[2 * values.offset : 2 * (values.offset + len(values)) : 2]


def _broadcast_valid(value: Any, length: int) -> Any:
    if isinstance(value, pa.Scalar):
        return pa.array(np.full(length, value.is_valid))
    return pc.is_valid(value)


def round_decimal(value: Any, ndigits: int, mode: str = "half_towards_infinity") -> Any:
    """Decimals rounded to ``ndigits`` places, halves away from zero (or by Arrow's round
    ``mode``: ``"down"`` is floor, ``"up"`` ceil), in DuckDB's type
    ``DECIMAL(p, min(s, max(ndigits, 0)))``.

    >>> from decimal import Decimal
    >>> round_decimal(pa.array([Decimal("99.95"), Decimal("-1.25")], pa.decimal128(4, 2)), 1)
    <pyarrow.lib.Decimal128Array object at ...>
    [
      100.0,
      -1.3
    ]
    """
    dtype = value.type
    scale = min(dtype.scale, max(ndigits, 0))
    limit = 76 if isinstance(dtype, pa.Decimal256Type) else 38
    if ndigits >= dtype.scale:
        return value
    roomy = _decimal_type(min(dtype.precision + 1, limit), dtype.scale, limit)
    rounded = pc.round(value.cast(roomy), ndigits=ndigits, round_mode=mode)
    return rounded.cast(_decimal_type(dtype.precision, scale, limit))


def cast_decimal(value: Any, target: pa.DataType) -> Any:
    """``value`` cast to the decimal ``target`` as DuckDB casts: extra digits (of decimals,
    floats and strings) rounded half away from zero; ``ArrowInvalid`` for a value too large.

    >>> cast_decimal(pa.array([2.5, 0.125, None]), pa.decimal128(4, 2)).to_pylist()
    [Decimal('2.50'), Decimal('0.13'), None]
    >>> cast_decimal(pa.array(["1.255"]), pa.decimal128(4, 2)).to_pylist()
    [Decimal('1.26')]
    """
    dtype = value.type
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        value = value.cast(pa.decimal256(76, min(38, 76 - (target.precision - target.scale))))
        dtype = value.type
    if pa.types.is_integer(dtype):
        value = _as_decimal(value)  # Arrow casts integers only to decimals as wide as them
        dtype = value.type
    if pa.types.is_decimal(dtype):
        if dtype.scale > target.scale:
            value = round_decimal(value, target.scale)
        return value.cast(target)
    if pa.types.is_floating(dtype):
        return _round_float_to_scale(value, target.scale).cast(target)
    return value.cast(target)


def _round_float_to_scale(value: Any, scale: int) -> Any:
    """Floats as ``round(x * 10**scale) / 10**scale`` with halves away from zero (DuckDB's
    double-to-decimal rounding), so Arrow's cast, which rounds to nearest, is exact."""
    factor = pa.scalar(10.0**scale)
    scaled = pc.multiply(value.cast(pa.float64()), factor)
    rounded = pc.round(scaled, round_mode="half_towards_infinity")
    return pc.divide(rounded, factor)


def cast_from_decimal(value: Any, target: pa.DataType) -> Any:
    """Decimals cast to an integer type rounded half away from zero (as DuckDB casts);
    other targets as Arrow casts.

    >>> from decimal import Decimal
    >>> cast_from_decimal(pa.array([Decimal("2.5"), Decimal("-1.4")]), pa.int32()).to_pylist()
    [3, -1]
    """
    if pa.types.is_integer(target) and value.type.scale > 0:
        value = round_decimal(value, 0)
    if pa.types.is_floating(target):
        return decimal_to_float(value).cast(target)
    return value.cast(target)


def comparable_decimals(op: str, left: Any, right: Any) -> tuple[Any, Any]:
    """The operands of a comparison or of ``+ - *`` with a decimal, aligned for Arrow's kernels:
    next to a float the decimal is a double (:func:`decimal_to_float`, as DuckDB converts it);
    two decimals whose common type needs more than 38 digits (which Arrow's decimal128
    comparison refuses) both ``decimal256``.

    >>> from decimal import Decimal
    >>> wide = pa.array([Decimal("1")], pa.decimal128(38, 0))
    >>> [v.type for v in comparable_decimals("lt", wide, pa.scalar(Decimal("0.05")))]
    [Decimal256Type(decimal256(38, 0)), Decimal256Type(decimal256(2, 2))]
    """
    types = (left.type, right.type)
    if op not in (*DECIMAL_COMPARISONS, *DECIMAL_OPS) or not any(map(pa.types.is_decimal, types)):
        return left, right
    if any(pa.types.is_floating(t) for t in types):
        return decimal_to_float(left), decimal_to_float(right)
    if op not in DECIMAL_COMPARISONS or not uses_decimal_rules("add", *types):
        return left, right
    (p1, s1), (p2, s2) = (decimal_properties(t) or (0, 0) for t in types)
    if max(p1 - s1, p2 - s2) + max(s1, s2) <= 38:
        return left, right
    return _widened(_as_decimal(left)), _widened(_as_decimal(right))


_FLIPPED = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
_EXACT = decimal.Context(prec=100)  # room for any decimal256 constant at any scale


def unscaled_bound(op: str, constant: pa.Scalar, scale: int) -> int | bool | None:
    """The integer ``b`` such that ``u op b`` holds exactly when ``x op constant`` does, for
    every decimal ``x`` of ``scale`` places with unscaled integer ``u`` (an integer: scale 0),
    ``op`` a comparison: the constant at that scale, rounded the way ``op`` allows (``x <
    0.055`` at scale 2 is ``u < 6``); a bool when ``op`` holds for every value or none
    (``x = 0.055``: none); None for a null constant or one that is no integer or decimal.
    A bound beyond 64 bits is one past them (``-2**63 - 1`` or ``2**63``), which decides
    ``op`` the same way for every 64-bit ``u``.

    >>> from decimal import Decimal
    >>> unscaled_bound("lt", pa.scalar(Decimal("0.055")), 2), unscaled_bound("le", pa.scalar(24), 2)
    (6, 2400)
    >>> unscaled_bound("eq", pa.scalar(Decimal("0.055")), 2), unscaled_bound("lt", pa.scalar(0.5), 2)
    (False, None)
    >>> unscaled_bound("gt", pa.scalar(Decimal("1E+30")), 2) == 2**63
    True
    """
    if not constant.is_valid or not (
        pa.types.is_decimal(constant.type) or pa.types.is_integer(constant.type)
    ):
        return None
    exact = _EXACT.scaleb(decimal.Decimal(constant.as_py()), scale)
    low = int(exact.to_integral_value(decimal.ROUND_FLOOR))
    high = int(exact.to_integral_value(decimal.ROUND_CEILING))
    low, high = (max(-(1 << 63) - 1, min(v, 1 << 63)) for v in (low, high))
    if op in ("eq", "ne") and low != high:  # a constant of more places: never equal
        return op == "ne"
    return high if op in ("lt", "ge") else low


def short_decimal_comparison(op: str, left: Any, right: Any) -> pa.Array | None:
    """``left op right`` (a comparison) of a decimal128 array of at most 18 digits and a
    decimal or integer constant (either side), compared on the array's unscaled 64-bit
    integers against the constant at the array's scale, rounded the way the comparison
    allows (``x < 0.055`` at scale 2 is ``unscaled < 6``); None for other operands.

    >>> from decimal import Decimal
    >>> prices = pa.array([Decimal("0.05"), Decimal("0.06"), None], pa.decimal128(15, 2))
    >>> short_decimal_comparison("lt", prices, pa.scalar(Decimal("0.055"))).to_pylist()
    [True, False, None]
    >>> short_decimal_comparison("ge", pa.scalar(Decimal("0.06")), prices).to_pylist()
    [True, True, None]
    """
    if isinstance(left, pa.Scalar) and op in _FLIPPED:
        left, right, op = right, left, _FLIPPED[op]
    if op not in _FLIPPED or not isinstance(left, pa.Array) or not isinstance(right, pa.Scalar):
        return None
    dtype = left.type
    if not isinstance(dtype, pa.Decimal128Type) or dtype.precision > SHORT_DIGITS:
        return None
    bound = unscaled_bound(op, right, dtype.scale)
    if bound is None or (not isinstance(bound, bool) and not -(1 << 63) <= bound < 1 << 63):
        return None
    if isinstance(bound, bool):
        found = np.full(len(left), bound)
    else:
        found = getattr(operator, op)(_unscaled_int64(left, len(left)), bound)
    mask = left.is_null().to_numpy(zero_copy_only=False) if left.null_count else None
    return pa.array(found, pa.bool_(), mask=mask)


def decimal_to_float(value: Any) -> Any:
    """Decimals as float64 the way DuckDB converts them: the unscaled integer divided by
    ``10**scale``, so ``99.99`` is the double nearest 99.99 (Arrow's own cast can be one
    rounding off, and then ``99.99 == 99.99`` fails).

    >>> from decimal import Decimal
    >>> decimal_to_float(pa.array([Decimal("99.99"), None], pa.decimal128(4, 2))).to_pylist()
    [99.99, None]
    """
    if isinstance(value, pa.Scalar):
        return decimal_to_float(pa.array([value.as_py()], value.type))[0]
    if isinstance(value, pa.ChunkedArray):
        return pa.chunked_array([decimal_to_float(c) for c in value.chunks], pa.float64())
    if pa.types.is_floating(value.type):
        return value
    if not isinstance(value.type, pa.Decimal128Type):
        return value.cast(pa.float64())
    out = unscaled_values(value, np.float64) / 10.0**value.type.scale
    return pa.array(out, pa.float64(), mask=value.is_null().to_numpy(zero_copy_only=False))


def unscaled_values(values: pa.Array, dtype: Any) -> Any:
    """The unscaled integers of a decimal128 array as a numpy array of float type ``dtype``
    (exact up to 2**53 for float64; garbage where a value is null).

    >>> from decimal import Decimal
    >>> unscaled_values(pa.array([Decimal("-12.55"), Decimal("3")]), np.float64).tolist()
    [-1255.0, 300.0]
    """
    words = np.frombuffer(values.buffers()[1], dtype=np.uint64)
    words = words[2 * values.offset : 2 * (values.offset + len(values))]
    low, high = words[0::2], words[1::2].view(np.int64)
    small = low.view(np.int64)
    fits = high == (small >> 63)  # the high word only extends the low word's sign
    wide = high.astype(dtype) * dtype(2.0**64) + low.astype(dtype)
    return np.where(fits, small.astype(dtype), wide)


def unscaled_int64(values: pa.Array) -> pa.Array | None:
    """The unscaled integers of a decimal128 array of at most 18 digits as an int64 array
    (nulls kept), when even the sum of all of them cannot overflow 64 bits; None otherwise.

    >>> from decimal import Decimal
    >>> unscaled_int64(pa.array([Decimal("-12.55"), None], pa.decimal128(4, 2))).to_pylist()
    [-1255, None]
    """
    length, offset = len(values), values.offset
    if not length:
        return None
    words = np.frombuffer(values.buffers()[1], dtype=np.int64)[: 2 * (offset + length) : 2]
    words = np.ascontiguousarray(words)
    low = words[offset:]  # (null rows' words count too: a bound, never a wrong sum)
    largest = max(abs(int(low.max())), abs(int(low.min())))
    if largest * length >= 1 << 63:
        return None
    data = pa.py_buffer(words)
    validity = values.buffers()[0] if values.null_count else None
    return pa.Array.from_buffers(
        pa.int64(), length, [validity, data], null_count=values.null_count, offset=offset
    )


def decimal_from_unscaled(values: pa.Array, target: pa.DataType) -> pa.Array:
    """The decimal128 ``target`` array whose unscaled integers are the int64 ``values``
    (nulls kept).

    >>> decimal_from_unscaled(pa.array([-1255, None]), pa.decimal128(38, 2)).to_pylist()
    [Decimal('-12.55'), None]
    """
    return _from_int64(values.fill_null(0).to_numpy(), target, values, pa.scalar(0))
