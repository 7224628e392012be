"""Type rules: the Arrow type each expression node produces, from its inputs' types.

:func:`output_type` types the children first, then applies the rule of the node's class from
:data:`TYPE_RULES`. A rule states the result where SQL fixes it (comparisons are bool, ``/``
and ``sqrt`` float64, date parts int64…) and otherwise asks the Arrow kernel that will compute
the node which type it returns for inputs of these types (zero-length arrays: no data is
evaluated), so promotions such as int32 + int64 → int64 match the engine exactly. Operand
types no kernel accepts raise :class:`~sabot_lab.errors.SchemaError` naming the expression.
Imports pyarrow, :mod:`sabot_lab.errors` and the modules of :mod:`sabot_lab.expr`.

>>> schema = pa.schema([("n", pa.int32()), ("s", pa.string())])
>>> output_type((col("n") + 1) / 2, schema), output_type(col("s").str.len().sum(), schema)
(DataType(double), DataType(int64))
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.errors import ComputeError, SchemaError, column_not_found
from sabot_lab.expr.calendar import (
    calendar_result_type,
    epoch,
    part_operand,
    refuse_intervals,
    uses_calendar_rules,
)
from sabot_lab.expr.capabilities import require_distinct_countable, require_first_last
from sabot_lab.expr.decimals import (
    cast_decimal,
    cast_from_decimal,
    common_decimal_type,
    comparable_decimals,
    decimal_operand,
    decimal_result_type,
    decimal_to_float,
    round_decimal,
    uses_decimal_rules,
)
from sabot_lab.expr.dtypes import parse_dtype
from sabot_lab.expr.literals import decode_value, is_in_value_set, literal_scalar
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
from sabot_lab.expr.render import BINARY_SYMBOLS
from sabot_lab.expr.windows import over_type, window_function_type

__all__ = [
    "KERNELS",
    "ROUND_MODES",
    "TEMPORAL_PARTS",
    "TYPE_RULES",
    "as_float",
    "cast_value",
    "common_type",
    "concat_str_type",
    "converted",
    "explain_type_error",
    "first_line",
    "is_float_remainder",
    "is_number",
    "is_string",
    "nulls_typed",
    "output_type",
    "require_integers",
    "require_number",
    "require_temporal",
    "with_decimal_literals",
]

TypeRule = Callable[[Expr, list[pa.DataType], pa.Schema], pa.DataType]

KERNELS: dict[str, Callable[..., Any]] = {
    "add": pc.add_checked,
    "sub": pc.subtract_checked,
    "mul": pc.multiply_checked,
    "eq": pc.equal,
    "ne": pc.not_equal,
    "lt": pc.less,
    "le": pc.less_equal,
    "gt": pc.greater,
    "ge": pc.greater_equal,
    "and": pc.and_kleene,
    "or": pc.or_kleene,
    "neg": pc.negate_checked,
    "not": pc.invert,
    "is_null": pc.is_null,
    "is_not_null": pc.is_valid,
}
"""The Arrow kernel of each operation that is one kernel call on its operands."""

TEMPORAL_PARTS: dict[str, Callable[..., Any]] = {
    "year": pc.year,
    "month": pc.month,
    "day": pc.day,
    "hour": pc.hour,
    "minute": pc.minute,
    "second": pc.second,
    "quarter": pc.quarter,
    "weekday": lambda v: pc.day_of_week(v, count_from_zero=False, week_start=1),
    "ordinal_day": pc.day_of_year,
    "week": pc.iso_week,
}
"""The Arrow kernel of each date part (cast to int64 afterwards)."""


def output_type(expr: Expr, schema: pa.Schema) -> pa.DataType:
    """The Arrow type ``expr`` produces on inputs of ``schema``.

    >>> output_type(col("x").cast("int32") * 2, pa.schema([("x", pa.float64())]))
    DataType(int64)
    >>> output_type(col("x") // 2, pa.schema([("x", pa.float64())]))
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: cannot evaluate (col("x") // 2): '//' takes integers, got (double, int64); use '/' for true division
    """
    if isinstance(expr, Aggregate) and any(a.is_aggregate() for a in expr.args):
        raise SchemaError(f"cannot nest aggregates in {expr!r}")
    types = [output_type(a, schema) for a in expr.args]
    key = _rule_key(expr, types)
    found = _RULE_RESULTS.get(key) if key is not None else None
    if found is not None:
        return found
    try:
        dtype = TYPE_RULES[type(expr)](expr, types, schema)
    except (SchemaError, ComputeError):
        raise
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
        raise SchemaError(
            f"cannot evaluate {expr!r}: {explain_type_error(expr, [str(t) for t in types])}"
        ) from None
    except (pa.ArrowInvalid, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise SchemaError(f"cannot evaluate {expr!r}: {first_line(exc)}") from exc
    if key is not None:
        if len(_RULE_RESULTS) >= RULE_RESULTS_KEPT:
            _RULE_RESULTS.clear()
        _RULE_RESULTS[key] = dtype
    return dtype


RULE_RESULTS_KEPT = 4096
"""How many results of the kernel-probing rules :func:`output_type` keeps."""
_RULE_RESULTS: dict[Hashable, pa.DataType] = {}
"""The types the rules of :data:`_KEPT_RULES` gave, by :func:`_rule_key`: those rules ask
Arrow's kernels (tens of microseconds a node), and plans type the same operations on the same
types again and again (each query of a notebook or a benchmark, a view read by each query)."""


def _rule_key(expr: Expr, types: Sequence[pa.DataType]) -> Hashable | None:
    """What the rule of ``expr`` reads, as a key: its class, operation and parameters, its
    operands' types and its constant operands (values with their Python types, so that
    ``1``, ``1.0`` and ``True`` differ); None for a rule that reads more (the schema, a
    user function) or for parameters that cannot be a key.

    >>> _rule_key(col("x") + 1, [pa.int64(), pa.int64()]) == _rule_key(col("y") + 1, [pa.int64(), pa.int64()])
    True
    >>> _rule_key(col("x") + 1, [pa.int64(), pa.int64()]) == _rule_key(col("x") + True, [pa.int64(), pa.int64()])
    False
    """
    kind = type(expr)
    if kind not in _KEPT_RULES:
        return None
    constants = tuple(_typed(a.params) if isinstance(a, Literal) else None for a in expr.args)
    key = (kind, expr.op, _typed(expr.params), tuple(types), constants)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _typed(value: Any) -> Any:
    """``value`` with the Python type of each scalar beside it."""
    if isinstance(value, dict):
        return (dict, tuple((k, _typed(v)) for k, v in sorted(value.items())))
    if isinstance(value, list | tuple):
        return (type(value), tuple(_typed(v) for v in value))
    return (type(value), value)


def explain_type_error(expr: Expr, types: Sequence[str]) -> str:
    """Why a kernel refused ``expr``'s operands of ``types``.

    >>> explain_type_error(col("a") + 1, ["string", "int64"])
    "'+' does not accept (string, int64)"
    """
    symbol = BINARY_SYMBOLS.get(expr.op, expr.param("fn") or expr.op)
    return f"'{symbol}' does not accept ({', '.join(types)})"


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its class name if it has none).

    >>> first_line(ValueError("bad\\nmore")), first_line(KeyError())
    ('bad', 'KeyError')
    """
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def nulls_typed(types: Sequence[pa.DataType]) -> list[pa.DataType]:
    """Operand types with a NULL's type taken from its first typed partner.

    >>> nulls_typed([pa.null(), pa.int32()])
    [DataType(int32), DataType(int32)]
    """
    typed = [t for t in types if not pa.types.is_null(t)]
    if typed and len(typed) < len(types):
        return [typed[0] if pa.types.is_null(t) else t for t in types]
    return list(types)


def common_type(types: Sequence[pa.DataType]) -> pa.DataType:
    """The type all of ``types`` convert to (int64 and float64 give float64, decimals and
    integers a decimal by DuckDB's rule); null if none has a type.

    >>> common_type([pa.int64(), pa.null(), pa.float64()])
    DataType(double)
    """
    typed = [t for t in types if not pa.types.is_null(t)]
    decimal = common_decimal_type(typed)
    if decimal is not None:
        return decimal
    target = typed[0] if typed else pa.null()
    for t in typed[1:]:
        if t != target:
            target = (
                pa.unify_schemas(
                    [pa.schema([("v", target)]), pa.schema([("v", t)])],
                    promote_options="permissive",
                )
                .field("v")
                .type
            )
    return target


def is_number(dtype: pa.DataType) -> bool:
    """True for integer, floating point and decimal types.

    >>> is_number(pa.decimal128(5, 2)), is_number(pa.string())
    (True, False)
    """
    return pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype)


def is_string(dtype: pa.DataType) -> bool:
    """True for (large) UTF-8 string types.

    >>> is_string(pa.large_string()), is_string(pa.binary())
    (True, False)
    """
    return pa.types.is_string(dtype) or pa.types.is_large_string(dtype)


Probe: TypeAlias = "pa.Array | pa.Scalar"


def _operands(expr: Expr, types: Sequence[pa.DataType]) -> list[Probe]:
    """The operands as a kernel sees them, without any data: a literal is its own value (so a
    constant that cannot convert is reported when the plan is built), any other operand a
    zero-length array of its type."""
    return [
        literal_scalar(a.param("value"), a.param("dtype"))
        if isinstance(a, Literal)
        else pa.array([], type=t)
        for a, t in zip(expr.args, types, strict=True)
    ]


def _probes(expr: Expr, types: Sequence[pa.DataType]) -> list[Probe]:
    """:func:`_operands`, a NULL taking its partner's type."""
    typed = nulls_typed(types)
    operands = _operands(expr, types)
    return [p.cast(t) if p.type != t else p for p, t in zip(operands, typed, strict=True)]


def as_float(value: Any) -> Any:
    """An array or scalar of integers, decimals or NULL as float64 (where a float is needed);
    others as they are.

    >>> as_float(pa.scalar(2)), as_float(pa.scalar(2.5, pa.float32()))
    (<pyarrow.DoubleScalar: 2.0>, <pyarrow.FloatScalar: 2.5>)
    """
    t = value.type
    if pa.types.is_decimal(t):
        return decimal_to_float(value)
    if pa.types.is_integer(t) or pa.types.is_null(t):
        return value.cast(pa.float64())
    return value


def _as_array(probe: Probe) -> pa.Array:
    return pa.repeat(probe, 0) if isinstance(probe, pa.Scalar) else probe


def require_number(expr: Expr, dtype: pa.DataType) -> None:
    """Raise unless ``dtype`` is a number type (or NULL's).

    >>> require_number(col("s").sqrt(), pa.string())
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: cannot evaluate col("s").sqrt(): sqrt takes numbers, got string
    """
    if not (is_number(dtype) or pa.types.is_null(dtype)):
        name = expr.param("fn") or expr.op
        raise SchemaError(f"cannot evaluate {expr!r}: {name} takes numbers, got {dtype}")


def require_integers(expr: Expr, types: Sequence[pa.DataType]) -> None:
    """Raise unless every operand of ``//`` or ``%`` is an integer.

    >>> require_integers(col("a") // 2, [pa.float64(), pa.int64()])
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: cannot evaluate (col("a") // 2): '//' takes integers, got (double, int64); use '/' for true division
    """
    if not all(pa.types.is_integer(t) for t in types):
        raise SchemaError(
            f"cannot evaluate {expr!r}: '{BINARY_SYMBOLS[expr.op]}' takes integers, got "
            f"({', '.join(str(t) for t in types)}); use '/' for true division"
        )


def require_temporal(expr: Expr, dtype: pa.DataType) -> None:
    """Raise unless ``dtype`` is a date, time or timestamp type.

    >>> require_temporal(col("t").dt.year(), pa.int64())
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: cannot evaluate col("t").dt.year(): takes a date or timestamp, got int64
    """
    if not pa.types.is_temporal(dtype):
        raise SchemaError(f"cannot evaluate {expr!r}: takes a date or timestamp, got {dtype}")


def is_float_remainder(types: Sequence[pa.DataType]) -> bool:
    """True if ``%`` of operands of ``types`` is a float remainder (numbers, not all integers).

    >>> is_float_remainder([pa.float64(), pa.int64()]), is_float_remainder([pa.int8(), pa.int64()])
    (True, False)
    """
    return all(is_number(t) for t in types) and not all(pa.types.is_integer(t) for t in types)


ROUND_MODES = {"floor": "down", "ceil": "up"}
"""Arrow's round mode of ``floor`` and ``ceil`` (of decimals, which keep a decimal type)."""

_DECIMAL_PARTNER_OPS = frozenset({"add", "sub", "mul", "mod", "eq", "ne", "lt", "le", "gt", "ge"})


def with_decimal_literals(expr: Expr, values: Sequence[Any]) -> list[Any]:
    """The operands of a binary ``expr`` with each untyped constant next to a decimal read as
    DuckDB reads it (``0.05`` a decimal, ``2`` an int32), so the arithmetic or the comparison
    stays exact.

    >>> [v.type for v in with_decimal_literals(col("p") > 0.05, [pa.array([], pa.decimal128(15, 2)), pa.scalar(0.05)])]
    [Decimal128Type(decimal128(15, 2)), Decimal128Type(decimal128(3, 2))]
    """
    out = list(values)
    if expr.op not in _DECIMAL_PARTNER_OPS:
        return out
    for i, arg in enumerate(expr.args):
        if isinstance(arg, Literal) and arg.param("dtype") is None:
            scalar = decimal_operand(decode_value(arg.param("value")), values[1 - i].type)
            out[i] = out[i] if scalar is None else scalar
    return out


# ----------------------------------------------------------------------------- the rules


def _column(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    name = expr.param("name")
    index = schema.get_field_index(name)
    if index < 0:
        raise column_not_found(name, schema.names)
    dtype = schema.field(index).type
    return dtype.value_type if pa.types.is_dictionary(dtype) else dtype  # kernels take values


def _binary(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    op = expr.op
    if uses_calendar_rules(op, *nulls_typed(types)):
        return calendar_result_type(op, *nulls_typed(types))
    refuse_intervals(repr(expr), types)
    left, right = comparable_decimals(op, *with_decimal_literals(expr, _probes(expr, types)))
    if uses_decimal_rules(op, left.type, right.type):
        return decimal_result_type(op, left.type, right.type)
    if op in KERNELS:
        return KERNELS[op](left, right).type
    if op == "truediv":
        return pc.divide(as_float(left), as_float(right)).type
    if op == "pow":
        for probe in (left, right):
            require_number(expr, probe.type)
        return pa.float64()
    if op == "mod" and is_float_remainder([left.type, right.type]):
        return pa.float64()
    require_integers(expr, [left.type, right.type])
    quotient = pc.divide_checked(left, right)
    if op == "floordiv":
        return quotient.type
    return pc.subtract_checked(left, pc.multiply_checked(quotient, right)).type


def _unary(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    if expr.op not in ("is_null", "is_not_null"):
        refuse_intervals(repr(expr), types)
    return KERNELS[expr.op](*_probes(expr, types)).type


def _literal(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    return literal_scalar(expr.param("value"), expr.param("dtype")).type


def _is_in(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    (value,) = _probes(expr, types)
    value_set, _ = is_in_value_set(expr.param("values"), value.type)
    return pc.is_in(value, value_set=value_set).type


def _fill_null(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    value, fill = _probes(expr, types)
    return pc.coalesce(value, converted(fill, value.type)).type


def _cast(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    (value,) = _probes(expr, types)
    if expr.param("strict") is False:  # a constant that does not convert becomes null
        value = pa.array([], type=value.type)
    return cast_value(value, parse_dtype(expr.param("dtype"))).type


def cast_value(value: Any, target: pa.DataType) -> Any:
    """``value`` cast to ``target`` as DuckDB casts: floats and decimals round to integers and
    to decimals of fewer places (floats to integers half to even, decimals half away from zero),
    other casts are Arrow's safe casts.

    >>> cast_value(pa.array([2.5, 3.5]), pa.int64()).to_pylist()
    [2, 4]
    """
    if pa.types.is_decimal(target):
        return cast_decimal(value, target)
    if pa.types.is_decimal(value.type):
        return cast_from_decimal(value, target)
    if pa.types.is_floating(value.type) and pa.types.is_integer(target):
        value = pc.round(value, round_mode="half_to_even")
    return pc.cast(value, target, safe=True)


def converted(value: Any, target: pa.DataType) -> Any:
    """``value`` in the common type ``target`` of several operands (a CASE's branches, a
    COALESCE): integers and floats into a decimal as DuckDB casts them, others as Arrow does.

    >>> converted(pa.scalar(0), pa.decimal128(15, 2))
    <pyarrow.Decimal128Scalar: Decimal('0.00')>
    """
    if pa.types.is_decimal(target) and value.type != target:
        return cast_decimal(value, target)
    if pa.types.is_floating(target) and pa.types.is_decimal(value.type):
        return decimal_to_float(value).cast(target)
    return value.cast(target)


def _case(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    *pairs, otherwise = _operands(expr, types)  # NULL branches take the result type
    choices = [*pairs[1::2], otherwise]
    target = common_type([c.type for c in choices])
    conditions = pc.make_struct(*(_as_array(c) for c in pairs[0::2]))
    return pc.case_when(conditions, *(_as_array(converted(c, target)) for c in choices)).type


def _string(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    (dtype,) = types
    fn = expr.param("fn")
    if not is_string(dtype):
        raise SchemaError(f"cannot evaluate {expr!r}: str.{fn} takes strings, got {dtype}")
    if fn in ("contains", "like", "starts_with", "ends_with"):
        return pa.bool_()
    return pa.int64() if fn == "len" else dtype


def _truncate(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    (value,) = _probes(expr, types)
    require_temporal(expr, value.type)
    multiple, unit = expr.param("multiple"), expr.param("unit")
    return pc.floor_temporal(value, multiple=multiple, unit=unit).type


def _struct_field(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    (dtype,) = types
    name = expr.param("name")
    if not pa.types.is_struct(dtype):
        raise SchemaError(f"cannot evaluate {expr!r}: struct.field takes a struct, got {dtype}")
    index = dtype.get_field_index(name)
    if index < 0:
        fields = ", ".join(f.name for f in dtype)
        raise SchemaError(f"struct field {name!r} not found; the struct has: {fields}")
    return dtype.field(index).type


def _part(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    (value,) = _probes(expr, types)
    require_temporal(expr, value.type)
    part = expr.param("part")
    if part == "epoch":
        epoch(value, expr.param("time_unit"))  # dates and timestamps only
    else:
        TEMPORAL_PARTS[part](part_operand(value, part))  # a kernel for this type
    return pa.int64()


def _parse_temporal(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    (dtype,) = types
    if not (is_string(dtype) or pa.types.is_null(dtype)):
        raise SchemaError(f"cannot evaluate {expr!r}: str.strptime takes strings, got {dtype}")
    return parse_dtype(expr.param("dtype"))


def _format_temporal(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    (dtype,) = types
    if not (pa.types.is_date(dtype) or pa.types.is_timestamp(dtype) or pa.types.is_null(dtype)):
        raise SchemaError(
            f"cannot evaluate {expr!r}: dt.strftime takes dates or timestamps, got {dtype}"
        )
    return pa.string()


def _math(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    (dtype,) = types
    require_number(expr, dtype)
    fn = expr.param("fn")
    if fn == "sign":
        return pa.int8()
    if fn == "abs":
        return dtype
    if fn in ("floor", "ceil") and pa.types.is_floating(dtype):
        return dtype
    if fn in ("floor", "ceil") and pa.types.is_decimal(dtype):  # DuckDB: DECIMAL(p, 0)
        return round_decimal(pa.array([], type=dtype), 0, ROUND_MODES[fn]).type
    return pa.float64()


def _log(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    require_number(expr, types[0])
    return pa.float64()


def _round(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    (value,) = _probes(expr, types)
    dtype = value.type
    require_number(expr, dtype)
    decimals = expr.param("decimals")
    if pa.types.is_integer(dtype):
        if -decimals > 18:
            raise SchemaError(
                f"cannot evaluate {expr!r}: 10**{-decimals} does not fit in 64 bits; "
                "cast the value to float64 to round it"
            )
        return dtype
    if pa.types.is_decimal(dtype):
        return round_decimal(_as_array(value), decimals).type
    return dtype if pa.types.is_floating(dtype) else pa.float64()


def concat_str_type(expr: Expr, dtype: pa.DataType) -> pa.DataType:
    """The text type an operand of ``concat_str`` is joined as (strings stay as they are).

    >>> concat_str_type(concat_str([col("a")]), pa.int8())
    DataType(string)
    """
    if is_string(dtype):
        return dtype
    if not (pa.types.is_integer(dtype) or pa.types.is_boolean(dtype) or pa.types.is_null(dtype)):
        raise SchemaError(
            f"cannot evaluate {expr!r}: concat_str takes strings, integers and "
            f'booleans, got {dtype}; cast the value with .cast("string") first'
        )
    return pa.string()


def _concat_str(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    values = [
        v.cast(concat_str_type(expr, t)) for v, t in zip(_probes(expr, types), types, strict=True)
    ]
    return pc.binary_join_element_wise(*values, expr.param("separator")).type


def _horizontal(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    values = _operands(expr, types)
    target = common_type(types)
    values = [converted(v, target) for v in values]
    if len(values) == 1:
        return target
    kernel = pc.max_element_wise if expr.param("fn") == "max" else pc.min_element_wise
    return kernel(*values, skip_nulls=True).type


def _argument_name(expr: Expr) -> str:
    """An aggregate's argument as messages name it: its column name, or its text."""
    (arg,) = expr.args
    return str(arg.param("name")) if isinstance(arg, Column) else repr(arg)


_AGGREGATE_KERNELS = {"sum": pc.sum, "min": pc.min, "max": pc.max}


def _aggregate(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    fn = expr.param("fn")
    if fn == "n_unique":
        require_distinct_countable(_argument_name(expr), types[0])
    if not types or fn in ("count", "n_unique"):
        return pa.int64()
    (dtype,) = types
    if fn in ("first", "last"):
        require_first_last(_argument_name(expr), dtype, fn)
        return dtype
    if fn == "mean":
        if not is_number(dtype):  # decimals too: DuckDB's AVG of decimals is a double
            raise SchemaError(f"cannot evaluate {expr!r}: mean takes numbers, got {dtype}")
        return pa.float64()
    if fn in ("std", "var", "median", "quantile"):
        if not (pa.types.is_integer(dtype) or pa.types.is_floating(dtype)):
            raise SchemaError(f"cannot evaluate {expr!r}: {fn} takes numbers, got {dtype}")
        return pa.float64()
    try:
        return _AGGREGATE_KERNELS[fn](pa.array([], type=dtype)).type
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
        raise SchemaError(f"cannot evaluate {expr!r}: {fn} does not accept {dtype}") from None


def _user_aggregate(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    """A user aggregate takes numbers and booleans (numba compiles its loop over their
    buffers) and gives its declared ``return_dtype``."""
    for arg, dtype in zip(expr.args, types, strict=True):
        if not (
            pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_boolean(dtype)
        ):
            raise SchemaError(
                f"user aggregate {expr.param('name')} takes numbers and booleans, got {dtype} "
                f'for {arg!r}; cast it first (e.g. {arg!r}.cast("float64"))'
            )
    return parse_dtype(expr.param("dtype"))


def _user_function(expr: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    """The declared type, once the function is checked (compiled) for these argument types."""
    assert isinstance(expr, UserFunction)
    result: pa.DataType = expr.function().output_type(types)
    return result


TYPE_RULES: dict[type[Expr], TypeRule] = {
    Column: _column,
    Literal: _literal,
    Alias: lambda e, t, s: t[0],
    Binary: _binary,
    Unary: _unary,
    IsIn: _is_in,
    FillNull: _fill_null,
    Cast: _cast,
    Case: _case,
    StringFunction: _string,
    TemporalTruncate: _truncate,
    TemporalPart: _part,
    StructField: _struct_field,
    ParseTemporal: _parse_temporal,
    FormatTemporal: _format_temporal,
    MathFunction: _math,
    Log: _log,
    Round: _round,
    ConcatStr: _concat_str,
    Horizontal: _horizontal,
    Aggregate: _aggregate,
    UserAggregate: _user_aggregate,
    WindowFunction: window_function_type,
    Over: over_type,
    UserFunction: _user_function,
}
"""The type rule of each node class: (node, its children's types, the input schema) → type."""

_KEPT_RULES = frozenset({Literal, Binary, Unary, IsIn, FillNull, Cast, Aggregate})
"""The node classes whose rule reads only the node, its operands' types and its constant
operands: :func:`output_type` keeps their results (:data:`_RULE_RESULTS`)."""
