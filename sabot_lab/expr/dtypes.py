"""Data type names: the strings expressions store for Arrow types (``"int64"``, ``"timestamp[us]"``,
``"decimal128(15, 2)"``).

Imports pyarrow and :mod:`sabot_lab.errors` only.

>>> dtype_name(parse_dtype("timestamp[us]"))
'timestamp[us]'
"""

from __future__ import annotations

import re

import pyarrow as pa

from sabot_lab.errors import SchemaError

__all__ = ["dtype_name", "engine_type", "parse_dtype"]

_DECIMAL = re.compile(r"\s*decimal(128|256)?\s*\(\s*(\d+)\s*,\s*(-?\d+)\s*\)\s*", re.IGNORECASE)


def _parse_decimal(name: str) -> pa.DataType | None:
    """``decimal(p, s)`` (decimal128 up to 38 digits, else decimal256), ``decimal128(p, s)`` or
    ``decimal256(p, s)``; None for other names."""
    match = _DECIMAL.fullmatch(name)
    if match is None:
        return None
    width, precision, scale = match.group(1), int(match.group(2)), int(match.group(3))
    wide = width == "256" or (width is None and precision > 38)
    try:
        return pa.decimal256(precision, scale) if wide else pa.decimal128(precision, scale)
    except ValueError as exc:
        raise SchemaError(f"invalid data type {name!r}: {exc}") from None


def parse_dtype(dtype: pa.DataType | str) -> pa.DataType:
    """Turn a type name (``"int64"``, ``"float64"``, ``"string"``, ``"timestamp[us]"``…) into a type.

    >>> parse_dtype("float64"), parse_dtype("decimal(12,2)")
    (DataType(double), Decimal128Type(decimal128(12, 2)))
    >>> parse_dtype("decimal")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: unknown data type 'decimal'; use a pyarrow type or a name such as 'int64', 'float64', 'string', 'bool', 'date32', 'timestamp[us]', 'decimal(12, 2)'
    """
    if isinstance(dtype, pa.DataType):
        return dtype
    decimal = _parse_decimal(dtype)
    if decimal is not None:
        return decimal
    try:
        return pa.type_for_alias(dtype)
    except (ValueError, KeyError):
        raise SchemaError(
            f"unknown data type {dtype!r}; use a pyarrow type or a name such as 'int64', "
            "'float64', 'string', 'bool', 'date32', 'timestamp[us]', 'decimal(12, 2)'"
        ) from None


def dtype_name(dtype: pa.DataType) -> str:
    """The name :func:`parse_dtype` turns back into ``dtype``; an error for types without one.

    >>> dtype_name(pa.int32()), dtype_name(pa.decimal128(15, 2))
    ('int32', 'decimal128(15, 2)')
    >>> dtype_name(pa.list_(pa.int64()))
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: data type list<item: int64> cannot be used in an expression; cast to a simpler type
    """
    name = str(dtype)
    if pa.types.is_decimal(dtype):
        return name
    try:
        if pa.type_for_alias(name) == dtype:
            return name
    except (ValueError, KeyError):
        pass
    raise SchemaError(f"data type {dtype} cannot be used in an expression; cast to a simpler type")


def engine_type(dtype: pa.DataType) -> pa.DataType:
    """``dtype`` with the view layouts turned into ``string``/``binary``, nested types included:
    the layouts the engine computes on (most Arrow kernels do not take views).

    >>> engine_type(pa.list_(pa.binary_view()))
    ListType(list<item: binary>)
    >>> engine_type(pa.large_string())
    DataType(large_string)
    """
    if pa.types.is_string_view(dtype):
        return pa.string()
    if pa.types.is_binary_view(dtype):
        return pa.binary()
    if isinstance(dtype, pa.ListType | pa.LargeListType | pa.FixedSizeListType):
        item = dtype.value_field
        new_item = item.with_type(engine_type(item.type))
        if new_item.type == item.type:
            return dtype
        if isinstance(dtype, pa.FixedSizeListType):
            return pa.list_(new_item, dtype.list_size)
        return (
            pa.large_list(new_item) if isinstance(dtype, pa.LargeListType) else pa.list_(new_item)
        )
    if isinstance(dtype, pa.StructType):
        fields = [dtype.field(i) for i in range(dtype.num_fields)]
        new_fields = [f.with_type(engine_type(f.type)) for f in fields]
        return dtype if new_fields == fields else pa.struct(new_fields)
    return dtype
