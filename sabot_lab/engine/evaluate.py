"""Evaluating row-wise expressions on Arrow record batches.

:func:`evaluate` computes an :class:`~sabot_lab.expr.Expr` over a ``pyarrow.RecordBatch`` with
``pyarrow.compute`` kernels (and the Cython division kernel for ``//`` and ``%`` by a
constant). :data:`EVALUATORS` holds one evaluator per node class; operand checks, kernel
tables and type promotion come from :mod:`sabot_lab.expr.types`, so evaluation and the
plan-time types agree. Semantics follow SQL (DuckDB is the reference): nulls propagate,
``&``/``|`` use three-valued logic, ``/`` is true division, integer overflow is an error;
a CASE value or a COALESCE fill that fails over every row is evaluated only over the rows
that take it (``CASE WHEN x <> 0 THEN 10 // x END``).
Imports pyarrow, numpy, :mod:`sabot_lab.errors`, :mod:`sabot_lab.expr` and
:mod:`sabot_lab.kernels`.

>>> import pyarrow as pa
>>> from sabot_lab.expr import col
>>> e = (col("price") * col("size")).alias("notional")
>>> batch = pa.record_batch({"price": [1.5, None], "size": [2, 3]})
>>> evaluate(e, batch).to_pylist()
[3.0, None]
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.distinct_strings import MIN_ROWS as DISTINCT_MIN_ROWS
from sabot_lab.engine.distinct_strings import encoded as encode
from sabot_lab.engine.distinct_strings import on_distinct_strings, repeats
from sabot_lab.engine.identity_cache import IdentityCache
from sabot_lab.engine.timestamp_format import format_timestamps
from sabot_lab.errors import ComputeError, SchemaError, column_not_found
from sabot_lab.expr.calendar import calendar_arithmetic, epoch, part_operand, uses_calendar_rules
from sabot_lab.expr.decimals import (
    comparable_decimals,
    decimal_arithmetic,
    refuse_remainder_by_zero,
    round_decimal,
    short_decimal_comparison,
    uses_decimal_rules,
)
from sabot_lab.expr.dtypes import parse_dtype
from sabot_lab.expr.literals import is_in_value_set, literal_scalar
from sabot_lab.expr.nodes import (
    Aggregate,
    Alias,
    Binary,
    Case,
    Cast,
    Column,
    ConcatStr,
    Expr,
    FillNull,
    FormatTemporal,
    Horizontal,
    IsIn,
    Literal,
    Log,
    MathFunction,
    Over,
    ParseTemporal,
    Round,
    StringFunction,
    StructField,
    TemporalPart,
    TemporalTruncate,
    Unary,
    UserAggregate,
    UserFunction,
    WindowFunction,
)
from sabot_lab.expr.regex_groups import regex_groups
from sabot_lab.expr.types import (
    KERNELS,
    ROUND_MODES,
    TEMPORAL_PARTS,
    as_float,
    cast_value,
    common_type,
    concat_str_type,
    converted,
    explain_type_error,
    first_line,
    is_float_remainder,
    is_string,
    nulls_typed,
    require_integers,
    require_number,
    require_temporal,
    with_decimal_literals,
)
from sabot_lab.kernels.arith import divide_by_constant
from sabot_lab.kernels.split_part import split_part

__all__ = ["EVALUATORS", "evaluate", "evaluate_encoded"]

Value: TypeAlias = "pa.Array | pa.ChunkedArray | pa.Scalar"
Evaluator = Callable[[Expr, pa.RecordBatch], Value]


def evaluate(expr: Expr, batch: pa.RecordBatch) -> pa.Array:
    """Evaluate a row-wise expression on a batch; constants are broadcast to the batch length.

    Raises :class:`~sabot_lab.errors.ComputeError` naming the expression when the data makes
    evaluation fail (integer overflow, division by zero, a failed cast).

    >>> from sabot_lab.expr import col, lit
    >>> evaluate(lit(7) // col("x"), pa.record_batch({"x": [2, -2]})).to_pylist()
    [3, -3]
    >>> evaluate(lit(7) // col("x"), pa.record_batch({"x": [0]}))
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ComputeError: cannot evaluate (7 // col("x")): divide by zero
    """
    result = _eval(expr, batch)
    if isinstance(result, pa.Scalar):
        return pa.repeat(result, batch.num_rows)
    if isinstance(result, pa.ChunkedArray):
        return result.combine_chunks()
    return result


def evaluate_encoded(expr: Expr, batch: pa.RecordBatch) -> pa.Array:
    """:func:`evaluate`, a string result computed once per distinct input (see
    :mod:`~sabot_lab.engine.distinct_strings`) given dictionary-encoded rather than taken
    back to every row: a projection passes such a column on as it passes an encoded input
    on, and the engine decodes it where rows leave the pipeline.

    >>> from sabot_lab.expr import col
    >>> batch = pa.record_batch({"url": ["a/x", "b/y", None] * 3_000})
    >>> part = evaluate_encoded(col("url").str.split_part("/", 2), batch)
    >>> part.type, part.dictionary.to_pylist(), part.to_pylist()[:4]
    (DictionaryType(dictionary<values=string, indices=int32, ordered=0>), ['x', 'y'], ['x', 'y', None, 'x'])
    """
    if batch.num_rows > DISTINCT_MIN_ROWS:
        found = on_distinct_strings(expr, batch, _eval, keep_encoded=True)
        if isinstance(found, pa.Array):
            return found
    return evaluate(expr, batch)


def _eval(expr: Expr, batch: pa.RecordBatch) -> Value:
    if batch.num_rows > DISTINCT_MIN_ROWS:  # strings repeating: once per distinct input
        found = on_distinct_strings(expr, batch, _eval)
        if found is not None:
            return found
    try:
        return EVALUATORS[type(expr)](expr, batch)
    except (SchemaError, ComputeError):
        raise
    except KeyError as exc:
        raise ComputeError(f"cannot evaluate {expr!r}: {exc}") from exc
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        try:
            reason = explain_type_error(expr, [str(_eval(a, batch).type) for a in expr.args])
        except Exception:  # a child's own error is reported when it is evaluated first
            reason = first_line(exc)
        raise SchemaError(f"cannot evaluate {expr!r}: {reason}") from None
    except (pa.ArrowInvalid, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise ComputeError(f"cannot evaluate {expr!r}: {first_line(exc)}") from exc


def _args(expr: Expr, batch: pa.RecordBatch) -> list[Value]:
    """The operands' values, a NULL literal taking its partner's type."""
    values = [_eval(a, batch) for a in expr.args]
    types = nulls_typed([v.type for v in values])
    return [v.cast(t) if v.type != t else v for v, t in zip(values, types, strict=True)]


def _broadcast(value: Value, length: int) -> pa.Array:
    if isinstance(value, pa.Scalar):
        return pa.repeat(value, length)
    return value


# ----------------------------------------------------------------------------- leaves


def _eval_column(expr: Expr, batch: pa.RecordBatch) -> Value:
    name = expr.param("name")
    index = batch.schema.get_field_index(name)
    if index < 0:
        raise column_not_found(name, batch.schema.names)
    column = batch.column(index)
    if pa.types.is_dictionary(column.type):  # kernels take the plain values
        return column.dictionary_decode()
    return column


_LITERALS: IdentityCache[pa.Scalar] = IdentityCache(limit=4_096)
"""Each literal's Arrow scalar by the literal's identity: made once, not for every batch."""


def _eval_literal(expr: Expr, batch: pa.RecordBatch) -> Value:
    return _LITERALS.get(expr, lambda: literal_scalar(expr.param("value"), expr.param("dtype")))


# ----------------------------------------------------------------------------- arithmetic


def _eval_truediv(expr: Expr, batch: pa.RecordBatch) -> Value:
    left, right = (as_float(v) for v in _args(expr, batch))
    return pc.divide(left, right)


def _integer_operands(expr: Expr, batch: pa.RecordBatch) -> list[Value]:
    values = _args(expr, batch)
    require_integers(expr, [v.type for v in values])
    return values


def _eval_floordiv(expr: Expr, batch: pa.RecordBatch) -> Value:
    left, right = _integer_operands(expr, batch)
    fast = _by_constant(left, right, remainder=False)
    if fast is not None:
        return fast
    return pc.divide_checked(left, right)  # integer division truncates toward zero, as in SQL


def _eval_mod(expr: Expr, batch: pa.RecordBatch) -> Value:
    values = with_decimal_literals(expr, _args(expr, batch))
    if uses_decimal_rules("mod", values[0].type, values[1].type):
        return decimal_arithmetic("mod", *values)
    types = [v.type for v in values]
    if is_float_remainder(types):
        left, right = values
        if not any(map(pa.types.is_floating, types)):  # decimals too wide: DuckDB's doubles
            refuse_remainder_by_zero(left, right)
        return _float_remainder(left, right, batch.num_rows)
    left, right = _integer_operands(expr, batch)
    fast = _by_constant(left, right, remainder=True)
    if fast is not None:
        return fast
    quotient = pc.divide_checked(left, right)
    return pc.subtract_checked(left, pc.multiply_checked(quotient, right))


def _float_remainder(left: Value, right: Value, length: int) -> pa.Array:
    """``left % right`` of floats as C's ``fmod`` (the sign of ``left``; NaN for ``x % 0``)."""
    a, b = (_broadcast(as_float(v).cast(pa.float64()), length) for v in (left, right))
    missing = pc.or_(pc.is_null(a), pc.is_null(b)).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        out = np.fmod(a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False))
    return pa.array(out, type=pa.float64(), mask=missing)


def _by_constant(left: Value, right: Value, remainder: bool) -> pa.Array | None:
    """``left // right`` or ``left % right`` by the division kernel when ``left`` is an int64
    column and ``right`` a constant of at most 2**31 in size, other than 0 and -1; None
    otherwise (the checked kernels then handle it, errors included)."""
    if not (
        isinstance(left, pa.Array)
        and left.type == pa.int64()
        and isinstance(right, pa.Scalar)
        and right.is_valid
        and right.as_py() not in (0, -1)
        and abs(right.as_py()) <= 1 << 31
    ):
        return None
    values = np.frombuffer(left.buffers()[1], dtype=np.int64, count=left.offset + len(left))
    out = np.empty(len(left), dtype=np.int64)
    divide_by_constant(values[left.offset :], right.as_py(), out, remainder)
    validity = left.buffers()[0] if left.null_count else None
    if validity is not None and left.offset:
        validity = pc.is_valid(left).buffers()[1]
    return pa.Array.from_buffers(pa.int64(), len(left), [validity, pa.py_buffer(out)])


def _eval_pow(expr: Expr, batch: pa.RecordBatch) -> Value:
    values = _args(expr, batch)
    for value in values:
        require_number(expr, value.type)
    base, exponent = (as_float(v).cast(pa.float64()) for v in values)
    return pc.power(base, exponent)


_BINARY: dict[str, Evaluator] = {
    "truediv": _eval_truediv,
    "floordiv": _eval_floordiv,
    "mod": _eval_mod,
    "pow": _eval_pow,
}


def _eval_binary(expr: Expr, batch: pa.RecordBatch) -> Value:
    special = _BINARY.get(expr.op)
    if special is not None:
        return special(expr, batch)
    values = _args(expr, batch)
    if uses_calendar_rules(expr.op, *(v.type for v in values)):
        return calendar_arithmetic(expr.op, *values)
    values = with_decimal_literals(expr, values)
    compared = short_decimal_comparison(expr.op, *values)
    if compared is not None:
        return compared
    left, right = comparable_decimals(expr.op, *values)
    if uses_decimal_rules(expr.op, left.type, right.type):
        return decimal_arithmetic(expr.op, left, right)
    return KERNELS[expr.op](left, right)


def _eval_unary(expr: Expr, batch: pa.RecordBatch) -> Value:
    return KERNELS[expr.op](*_args(expr, batch))


# ----------------------------------------------------------------------------- null handling


def _eval_is_in(expr: Expr, batch: pa.RecordBatch) -> Value:
    (value,) = _args(expr, batch)
    value_set, has_null = is_in_value_set(expr.param("values"), value.type)
    found = pc.is_in(value, value_set=value_set)
    # SQL: NULL IN (...) is NULL; x IN (..., NULL) is NULL when x is not found.
    unknown = pc.is_null(value)
    if has_null:
        unknown = pc.or_(unknown, pc.invert(found))
    return pc.if_else(unknown, pa.scalar(None, pa.bool_()), found)


def _eval_fill_null(expr: Expr, batch: pa.RecordBatch) -> Value:
    try:
        value, fill = _args(expr, batch)
    except ComputeError:  # the fill fails on rows that do not need it (``COALESCE(x, 10 // y)``)
        return _fill_where_null(expr, batch)
    if fill.type != value.type:
        fill = converted(fill, value.type)
    return pc.coalesce(value, fill)


def _fill_where_null(expr: Expr, batch: pa.RecordBatch) -> pa.Array:
    """COALESCE as SQL evaluates it: the fill only over the rows whose value is null."""
    value = evaluate(expr.args[0], batch)
    missing = pc.is_null(value)
    fill = evaluate(expr.args[1], batch.filter(missing))
    value_type, fill_type = nulls_typed([value.type, fill.type])
    value = value.cast(value_type)
    return pc.replace_with_mask(value, missing, converted(fill.cast(fill_type), value_type))


def _eval_cast(expr: Expr, batch: pa.RecordBatch) -> Value:
    (value,) = _args(expr, batch)
    target = parse_dtype(expr.param("dtype"))
    if isinstance(value, pa.Scalar):
        return _cast_values(expr, pa.array([value], type=value.type), target)[0]
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    return _cast_values(expr, value, target)


def _cast_values(expr: Expr, value: pa.Array, target: pa.DataType) -> pa.Array:
    """``value`` cast to ``target``: where a value does not convert, an error naming it, or
    null for a lenient cast. A lenient cast first sets to null the values that cannot
    convert at a glance (:func:`_hopeless`); the rest that fail are found by halving the array
    until the parts convert, so the cost grows with their number, not with the length."""
    try:
        return cast_value(value, target)
    except pa.ArrowInvalid:
        if len(value) == 0:
            raise
        if expr.param("strict") is False:
            hopeless = _hopeless(value, target)
            if hopeless is not None and pc.any(hopeless).as_py():
                value = pc.if_else(hopeless, pa.scalar(None, value.type), value)
                return _lenient_cast(value, target)
        else:
            failing = _first_failing(value, target)
            raise ComputeError(
                f"cannot cast {expr.args[0]!r} value {failing!r} to {target}; "
                f"use .cast({str(target)!r}, strict=False) (SQL TRY_CAST) to get null where "
                "a value does not convert"
            ) from None
    return _lenient_cast(value, target)


def _lenient_cast(value: pa.Array, target: pa.DataType) -> pa.Array:
    """``value`` cast to ``target``, null where a value does not convert (by halving)."""
    try:
        return cast_value(value, target)
    except pa.ArrowInvalid:
        if len(value) == 1:
            return pa.nulls(1, type=target)
    half = len(value) // 2
    return pa.concat_arrays(
        [_lenient_cast(value[:half], target), _lenient_cast(value[half:], target)]
    )


_NUMBER_TEXT = {
    "integer": r"^\s*[+-]?(0[xX][0-9a-fA-F]+|[0-9]+)\s*$",
    "floating": r"(?i)^\s*[+-]?([0-9]*\.?[0-9]*(e[+-]?[0-9]+)?|inf(inity)?|nan)\s*$",
    "temporal": r"^\s*[+-]?[0-9]{4,}-[0-9]{1,2}-[0-9]{1,2}",
}
"""Patterns every string that converts to a number or time matches (and more)."""


def _hopeless(value: pa.Array, target: pa.DataType) -> pa.Array | None:
    """True where a value certainly cannot be cast to ``target`` (text that cannot be a number
    or time, a number far out of an integer type's range); None where there is no such test.
    Values it does not rule out may still fail."""
    if is_string(value.type):
        kind = (
            "integer" if pa.types.is_integer(target)
            else "floating" if pa.types.is_floating(target) or pa.types.is_decimal(target)
            else "temporal" if pa.types.is_temporal(target)
            else None
        )  # fmt: skip
        if kind is None:
            return None
        return pc.invert(pc.match_substring_regex(value, pattern=_NUMBER_TEXT[kind]))
    if pa.types.is_integer(target) and (
        pa.types.is_integer(value.type) or pa.types.is_floating(value.type)
    ):
        info = np.iinfo(target.to_pandas_dtype())
        numbers = value.cast(pa.float64())  # exact enough: only values beyond a margin count
        outside = pc.or_(
            pc.less(numbers, float(info.min) - 2), pc.greater(numbers, float(info.max) + 2)
        )
        return pc.or_(outside, pc.is_nan(numbers)) if pa.types.is_floating(value.type) else outside
    return None


def _first_failing(value: pa.Array, target: pa.DataType) -> Any:
    """The first value of ``value`` that does not convert to ``target`` (one that fails)."""
    while len(value) > 1:
        half = len(value) // 2
        try:
            cast_value(value[:half], target)
        except pa.ArrowInvalid:
            value = value[:half]
        else:
            value = value[half:]
    return value[0].as_py()


def _eval_case(expr: Expr, batch: pa.RecordBatch) -> Value:
    try:
        return _case_on_every_row(expr, batch)
    except ComputeError:  # a branch fails on rows that do not take it (a guarded ``10 // x``)
        return _case_by_branch(expr, batch)


def _case_on_every_row(expr: Expr, batch: pa.RecordBatch) -> Value:
    """CASE with every condition and value evaluated over every row, then chosen per row:
    the same result as :func:`_case_by_branch` whenever no branch fails, and faster."""
    values = [_eval(a, batch) for a in expr.args]  # NULL branches take the result type
    *pairs, otherwise = values
    conditions = [_broadcast(c, batch.num_rows) for c in pairs[0::2]]
    choices = [*pairs[1::2], otherwise]
    target = common_type([c.type for c in choices])
    choices = [converted(c, target) for c in choices]
    if all(isinstance(c, pa.Scalar) for c in choices):  # constants: each row's branch taken
        branches = [pa.scalar(i, pa.int32()) for i in range(len(choices))]
        taken = pc.case_when(pc.make_struct(*conditions), *branches)
        return pa.array([c.as_py() for c in choices], target).take(taken)
    choices = [_broadcast(c, batch.num_rows) for c in choices]
    return pc.case_when(pc.make_struct(*conditions), *choices)


def _case_by_branch(expr: Expr, batch: pa.RecordBatch) -> pa.Array:
    """CASE as SQL evaluates it: each condition over the rows no earlier condition took, each
    value over the rows its condition took (so ``WHEN x <> 0 THEN 10 // x`` never divides by
    zero); the values are then put back in row order."""
    *pairs, otherwise = expr.args
    remaining = np.arange(batch.num_rows)
    rows: list[np.ndarray] = []
    values: list[pa.Array] = []
    for condition, value in zip(pairs[0::2], pairs[1::2], strict=True):
        part = batch.take(remaining)
        holds = evaluate(condition, part)
        if not pa.types.is_boolean(holds.type):
            raise SchemaError(
                f"cannot evaluate {expr!r}: its condition {condition!r} is {holds.type}, not "
                "a boolean; compare it (== ...) to get one"
            )
        holds = pc.fill_null(holds, False)
        taken = holds.to_numpy(zero_copy_only=False)
        rows.append(remaining[taken])
        values.append(evaluate(value, part.filter(holds)))
        remaining = remaining[~taken]
    rows.append(remaining)
    values.append(evaluate(otherwise, batch.take(remaining)))
    target = common_type([v.type for v in values])
    merged = pa.concat_arrays([converted(v, target) for v in values])
    position = np.empty(batch.num_rows, dtype=np.int64)  # each row's place in ``merged``
    position[np.concatenate(rows)] = np.arange(batch.num_rows)
    return merged.take(position)


# ----------------------------------------------------------------------------- strings


def _slice(value: Value, offset: int, length: int | None) -> Value:
    """Characters ``[offset, offset + length)``, a negative offset counting from the end;
    positions outside the string are dropped (so a window reaching past the start is cut
    there rather than moved)."""
    stop = None if length is None else offset + length
    if offset < 0 and stop is not None and stop >= 0:
        stop = None  # the window reaches the end of every string
    return pc.utf8_slice_codeunits(value, start=offset, stop=stop)


def _tail(value: Value, n: int) -> Value:
    if n == 0:
        return pc.utf8_slice_codeunits(value, start=0, stop=0)
    return pc.utf8_slice_codeunits(value, start=-n)


def _replace_all(value: Value, pattern: str, replacement: str) -> Value:
    if not pattern:  # as in DuckDB (and Arrow's kernel would never finish)
        return value
    return pc.replace_substring(value, pattern=pattern, replacement=replacement)


def _extract(value: Value, pattern: str, group: int) -> Value:
    named, field = regex_groups(pattern, group)
    matches = pc.extract_regex(value, pattern=named)
    return pc.struct_field(matches, [matches.type.get_field_index(field)])


def _like_regex(pattern: str) -> str:
    """A LIKE pattern as an anchored regular expression (``%`` any run, ``_`` any character)."""
    wildcards = {"%": ".*", "_": "."}
    return "(?s)^" + "".join(wildcards.get(ch) or re.escape(ch) for ch in pattern) + "$"


_STRING_KERNELS: dict[str, Callable[[Value, dict[str, Any]], Value]] = {
    "contains": lambda v, p: pc.match_substring(v, pattern=p["pattern"]),
    "like": lambda v, p: pc.match_substring_regex(v, pattern=_like_regex(p["pattern"])),
    "starts_with": lambda v, p: pc.starts_with(v, pattern=p["pattern"]),
    "ends_with": lambda v, p: pc.ends_with(v, pattern=p["pattern"]),
    "lower": lambda v, p: pc.utf8_lower(v),
    "upper": lambda v, p: pc.utf8_upper(v),
    "len": lambda v, p: pc.utf8_length(v).cast(pa.int64()),
    "slice": lambda v, p: _slice(v, p["offset"], p["length"]),
    "head": lambda v, p: pc.utf8_slice_codeunits(v, start=0, stop=p["n"]),
    "tail": lambda v, p: _tail(v, p["n"]),
    "strip_chars": lambda v, p: pc.utf8_trim(v, characters=p["characters"]),
    "strip_chars_start": lambda v, p: pc.utf8_ltrim(v, characters=p["characters"]),
    "strip_chars_end": lambda v, p: pc.utf8_rtrim(v, characters=p["characters"]),
    "replace_all": lambda v, p: _replace_all(v, p["pattern"], p["value"]),
    "replace": lambda v, p: pc.replace_substring_regex(
        v, pattern=p["pattern"], replacement=p["value"], max_replacements=1
    ),
    "extract": lambda v, p: _extract(v, p["pattern"], p["n"]),
    "split_part": lambda v, p: split_part(v, p["pattern"], p["n"]),
    "split_index": lambda v, p: split_part(v, p["pattern"], p["n"] + 1, flink=True),
}


_COSTLY_STRING_KERNELS = frozenset(
    {"like", "replace_all", "replace", "extract", "split_part", "split_index"}
)
"""Kernels costing more per string than hashing it: run once per distinct string of a batch
whose strings repeat (see :func:`_per_distinct`)."""


def _eval_string(expr: Expr, batch: pa.RecordBatch) -> Value:
    (value,) = _args(expr, batch)
    if not is_string(value.type):
        raise SchemaError(
            f"cannot evaluate {expr!r}: str.{expr.param('fn')} takes strings, got {value.type}"
        )
    fn = expr.param("fn")
    kernel = _STRING_KERNELS[fn]
    params = dict(expr.params)
    if fn in _COSTLY_STRING_KERNELS and isinstance(value, pa.Array):
        return _per_distinct(value, lambda v: kernel(v, params))
    return kernel(value, params)


def _per_distinct(value: pa.Array, kernel: Callable[[pa.Array], Value]) -> Value:
    """``kernel(value)``, computed over the distinct strings and taken back to the rows when
    the first rows show few distinct ones (Nexmark's channels and urls), else over all rows."""
    if len(value) <= DISTINCT_MIN_ROWS or not repeats(value):
        return kernel(value)
    encoded = encode(value)
    if len(encoded.dictionary) > len(value) // 8:
        return kernel(value)
    return pc.take(kernel(encoded.dictionary), encoded.indices)


def _eval_concat_str(expr: Expr, batch: pa.RecordBatch) -> Value:
    values = [_eval(a, batch) for a in expr.args]
    values = [v.cast(concat_str_type(expr, v.type)) for v in values]
    separator = expr.param("separator")
    if not expr.param("ignore_nulls"):
        return pc.binary_join_element_wise(*values, separator)
    # Each present value with the separator in front (absent ones empty), joined, without the
    # first separator. (Arrow's own null_handling="skip" drops rows where all are null.)
    pieces = [pc.fill_null(pc.binary_join_element_wise(separator, v, ""), "") for v in values]
    return pc.utf8_slice_codeunits(pc.binary_join_element_wise(*pieces, ""), start=len(separator))


# ----------------------------------------------------------------------------- dates and times


def _eval_truncate(expr: Expr, batch: pa.RecordBatch) -> Value:
    (value,) = _args(expr, batch)
    require_temporal(expr, value.type)
    return pc.floor_temporal(value, multiple=expr.param("multiple"), unit=expr.param("unit"))


def _eval_struct_field(expr: Expr, batch: pa.RecordBatch) -> Value:
    (value,) = _args(expr, batch)
    index = value.type.get_field_index(expr.param("name")) if pa.types.is_struct(value.type) else -1
    if index < 0:
        raise SchemaError(f"cannot evaluate {expr!r}: no such field in {value.type}")
    field = pc.struct_field(value, [index])
    if pa.types.is_dictionary(field.type):  # kernels take the plain values
        return field.dictionary_decode()
    return field


def _eval_part(expr: Expr, batch: pa.RecordBatch) -> Value:
    (value,) = _args(expr, batch)
    require_temporal(expr, value.type)
    part = expr.param("part")
    if part == "epoch":
        return epoch(value, expr.param("time_unit"))
    return TEMPORAL_PARTS[part](part_operand(value, part)).cast(pa.int64())


def _eval_strptime(expr: Expr, batch: pa.RecordBatch) -> Value:
    (value,) = _args(expr, batch)
    target = parse_dtype(expr.param("dtype"))
    if pa.types.is_null(value.type):
        return value.cast(target)
    text = _broadcast(value, batch.num_rows)
    fmt = expr.param("format")
    parsed = pc.strptime(text, format=fmt, unit="us", error_is_null=True)
    if expr.param("strict") is not False and parsed.null_count > text.null_count:
        failing = text.filter(pc.and_(pc.is_null(parsed), pc.is_valid(text)))[0].as_py()
        raise ComputeError(
            f"cannot evaluate {expr!r}: {failing!r} does not match the format {fmt!r}; use "
            "strict=False to get null where a string does not parse"
        )
    if pa.types.is_date32(target):
        return pc.floor_temporal(parsed, unit="day").cast(target)
    return parsed.cast(target)


def _eval_strftime(expr: Expr, batch: pa.RecordBatch) -> Value:
    (value,) = _args(expr, batch)
    if pa.types.is_null(value.type):
        return value.cast(pa.string())
    if isinstance(value, pa.Array):  # fixed-width patterns: numpy, not Arrow's formatter
        fast = format_timestamps(value, expr.param("format"))
        if fast is not None:
            return fast
    if pa.types.is_timestamp(value.type) and value.type.unit != "s":
        # Arrow writes %S with the fraction of the unit; DuckDB writes whole seconds
        value = pc.floor_temporal(value, unit="second").cast(pa.timestamp("s", value.type.tz))
    return pc.strftime(value, format=expr.param("format"))


# ----------------------------------------------------------------------------- numbers


def _eval_math(expr: Expr, batch: pa.RecordBatch) -> Value:
    (value,) = _args(expr, batch)
    require_number(expr, value.type)
    fn = expr.param("fn")
    if fn == "sign":
        if pa.types.is_null(value.type):
            return value.cast(pa.int8())
        if pa.types.is_floating(value.type):  # NaN has sign 0 in DuckDB
            value = pc.if_else(pc.is_nan(value), pa.scalar(0, value.type), value)
        return pc.sign(value).cast(pa.int8())
    if fn == "abs":
        return pc.abs_checked(value)
    if fn in ("floor", "ceil") and pa.types.is_decimal(value.type):
        return round_decimal(value, 0, ROUND_MODES[fn])
    if fn in ("floor", "ceil"):
        if not pa.types.is_floating(value.type):
            value = as_float(value)
        return pc.floor(value) if fn == "floor" else pc.ceil(value)
    value = as_float(value).cast(pa.float64())
    return pc.sqrt(value) if fn == "sqrt" else pc.exp(value)


def _eval_log(expr: Expr, batch: pa.RecordBatch) -> Value:
    (value,) = _args(expr, batch)
    require_number(expr, value.type)
    value = as_float(value).cast(pa.float64())
    base = expr.param("base")
    if base == math.e:
        return pc.ln(value)
    if base == 10:
        return pc.log10(value)
    if base == 2:
        return pc.log2(value)
    return pc.divide(pc.ln(value), math.log(base))


def _eval_round(expr: Expr, batch: pa.RecordBatch) -> Value:
    (value,) = _args(expr, batch)
    require_number(expr, value.type)
    decimals = expr.param("decimals")
    if pa.types.is_integer(value.type):
        return _round_integer(expr, value, decimals)
    if pa.types.is_decimal(value.type):
        return round_decimal(value, decimals)
    rounded = _round_float(_broadcast(value, batch.num_rows).cast(pa.float64()), decimals)
    return rounded.cast(value.type) if pa.types.is_floating(value.type) else rounded


def _round_float(values: pa.Array, decimals: int) -> pa.Array:
    """Doubles rounded to ``decimals`` as DuckDB does it: the exact binary value is rounded,
    halves away from zero. ``x * 10**d`` is rounded, with its rounding error (computed
    exactly, Dekker's product) settling products that look like halves; where the result is
    not finite a finite value gives itself (``d >= 0``) or 0 (``d < 0``)."""
    x = values.to_numpy(zero_copy_only=False)
    scale = 10.0 ** abs(decimals) if abs(decimals) <= 308 else math.inf
    with np.errstate(all="ignore"):
        if decimals >= 0:
            y = x * scale
            error = _product_error(x, scale, y)  # x * scale - y, exactly
        else:
            y = x / scale
            back = y * scale
            error = (x - back) - _product_error(y, scale, back)  # (x - y * scale), its sign
        whole = np.trunc(y)
        half = np.abs(y - whole)
        away = (half > 0.5) | ((half == 0.5) & (error * y >= 0))
        rounded = whole + np.where(away, np.sign(y), 0.0)
        out = rounded / scale if decimals >= 0 else rounded * scale
        fallback = x if decimals >= 0 else np.where(np.isfinite(x), 0.0, x)
        out = np.where(np.isfinite(out), out, fallback)
    return pa.array(out, type=pa.float64(), mask=pc.is_null(values).to_numpy(zero_copy_only=False))


def _product_error(a: np.ndarray, b: float, product: np.ndarray) -> np.ndarray:
    """``a * b - product`` exactly, for ``product = a * b`` rounded (Dekker's TwoProduct)."""

    def split(v: Any) -> tuple[Any, Any]:
        c = 134217729.0 * v  # 2**27 + 1
        high = c - (c - v)
        return high, v - high

    a_high, a_low = split(a)
    b_high, b_low = split(b)
    return ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low


def _round_integer(expr: Expr, value: Value, decimals: int) -> Value:
    """Integers rounded to ``10**-decimals`` with halves away from zero, in their own type."""
    if decimals >= 0:
        return value
    if -decimals > 18:
        raise SchemaError(
            f"cannot evaluate {expr!r}: 10**{-decimals} does not fit in 64 bits; "
            "cast the value to float64 to round it"
        )
    step = 10**-decimals
    wide = value.cast(pa.int64())
    quotient = pc.divide(wide, step)  # truncates toward zero
    remainder = pc.subtract(wide, pc.multiply(quotient, step))
    away = pc.greater_equal(pc.multiply(pc.abs(remainder), 2), step)
    quotient = pc.add(quotient, pc.if_else(away, pc.sign(wide).cast(pa.int64()), 0))
    return pc.multiply_checked(quotient, step).cast(value.type)


def _eval_horizontal(expr: Expr, batch: pa.RecordBatch) -> Value:
    values = [_eval(a, batch) for a in expr.args]
    target = common_type([v.type for v in values])
    values = [converted(v, target) for v in values]
    if len(values) == 1:
        return values[0]
    maximum = expr.param("fn") == "max"
    kernel = pc.max_element_wise if maximum else pc.min_element_wise
    result = kernel(*values, skip_nulls=True)
    if maximum and pa.types.is_floating(target):  # NaN is the largest number in DuckDB
        nan = pc.fill_null(pc.is_nan(values[0]), False)
        for v in values[1:]:
            nan = pc.or_(nan, pc.fill_null(pc.is_nan(v), False))
        result = pc.if_else(nan, pa.scalar(math.nan, target), result)
    return result


def _eval_aggregate(expr: Expr, batch: pa.RecordBatch) -> Value:
    raise SchemaError(
        f"aggregate {expr!r} used where a row-wise expression is expected; "
        "use it inside group_by(...).agg(...) or agg(...)"
    )


def _eval_window(expr: Expr, batch: pa.RecordBatch) -> Value:
    raise SchemaError(
        f"window expression {expr!r} used where a row-wise expression is expected; "
        "compute it as a column with select(), with_columns() or filter() first"
    )


def _eval_user_function(expr: Expr, batch: pa.RecordBatch) -> Value:
    assert isinstance(expr, UserFunction)
    args = [evaluate(a, batch) for a in expr.args]  # constants broadcast to the batch
    return expr.function().apply(args, batch.num_rows)


EVALUATORS: dict[type[Expr], Evaluator] = {
    Column: _eval_column,
    Literal: _eval_literal,
    Alias: lambda e, b: _eval(e.args[0], b),
    Binary: _eval_binary,
    Unary: _eval_unary,
    IsIn: _eval_is_in,
    FillNull: _eval_fill_null,
    Cast: _eval_cast,
    Case: _eval_case,
    StringFunction: _eval_string,
    TemporalTruncate: _eval_truncate,
    TemporalPart: _eval_part,
    StructField: _eval_struct_field,
    ParseTemporal: _eval_strptime,
    FormatTemporal: _eval_strftime,
    MathFunction: _eval_math,
    Log: _eval_log,
    Round: _eval_round,
    ConcatStr: _eval_concat_str,
    Horizontal: _eval_horizontal,
    Aggregate: _eval_aggregate,
    UserAggregate: _eval_aggregate,
    WindowFunction: _eval_window,
    Over: _eval_window,
    UserFunction: _eval_user_function,
}
"""The evaluator of each node class."""
