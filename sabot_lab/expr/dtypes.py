"""Data type names: the strings expressions store for Arrow types (``"int64"``, ``"timestamp[us]"``).

Imports pyarrow and :mod:`sabot_lab.errors` only.

>>> dtype_name(parse_dtype("timestamp[us]"))
'timestamp[us]'
"""

from __future__ import annotations

import pyarrow as pa

from sabot_lab.errors import SchemaError

__all__ = ["dtype_name", "parse_dtype"]


def parse_dtype(dtype: pa.DataType | str) -> pa.DataType:
    """Turn a type name (``"int64"``, ``"float64"``, ``"string"``, ``"timestamp[us]"``…) into a type.

    >>> parse_dtype("float64")
    DataType(double)
    >>> parse_dtype("decimal")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: unknown data type 'decimal'; use a pyarrow type or a name such as 'int64', 'float64', 'string', 'bool', 'date32', 'timestamp[us]'
    """
    if isinstance(dtype, pa.DataType):
        return dtype
    try:
        return pa.type_for_alias(dtype)
    except (ValueError, KeyError):
        raise SchemaError(
            f"unknown data type {dtype!r}; use a pyarrow type or a name such as 'int64', "
            "'float64', 'string', 'bool', 'date32', 'timestamp[us]'"
        ) from None


def dtype_name(dtype: pa.DataType) -> str:
    """The name :func:`parse_dtype` turns back into ``dtype``; an error for types without one.

    >>> dtype_name(pa.int32())
    'int32'
    >>> dtype_name(pa.list_(pa.int64()))
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: data type list<item: int64> cannot be used in an expression; cast to a simpler type
    """
    name = str(dtype)
    try:
        if pa.type_for_alias(name) == dtype:
            return name
    except (ValueError, KeyError):
        pass
    raise SchemaError(f"data type {dtype} cannot be used in an expression; cast to a simpler type")
