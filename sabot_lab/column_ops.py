"""The expressions behind the column verbs ``Stream.drop``, ``Stream.fill_null`` and
``Stream.drop_nulls``: which columns a verb touches, checked against the schema, and the
projection or filter that does it; and :func:`unused_name`, for the helper columns other
verbs add. Imports pyarrow, :mod:`sabot_lab.errors` and
:mod:`sabot_lab.expr`.

>>> import pyarrow as pa
>>> schema = pa.schema([("a", pa.int64()), ("s", pa.string())])
>>> kept_after_drop(schema, ["s"])
['a']
>>> null_filter(schema, None)
(col("a").is_not_null() & col("s").is_not_null())
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from sabot_lab.errors import SchemaError, column_not_found
from sabot_lab.expr import Expr, col, lit

__all__ = ["column_names", "filled", "kept_after_drop", "null_filter", "unused_name"]


def unused_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... whichever no column in ``taken`` has.

    >>> unused_name("k", {"k", "k_2"}), unused_name("x", {"k"})
    ('k_3', 'x')
    """
    found, n = name, 1
    while found in taken:
        n += 1
        found = f"{name}_{n}"
    return found


def column_names(columns: Iterable[str | Sequence[str]]) -> list[str]:
    """Column names given one by one or in lists, flattened (as Polars takes them).

    >>> column_names(["a", ["b", "c"]])
    ['a', 'b', 'c']
    """
    names: list[str] = []
    for item in columns:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, Sequence) and all(isinstance(n, str) for n in item):
            names.extend(item)
        else:
            raise TypeError(f"expected column names (strings or lists of them), got {item!r}")
    return names


def _check_known(schema: pa.Schema, names: Sequence[str]) -> None:
    for name in names:
        if name not in schema.names:
            raise column_not_found(name, schema.names)


def kept_after_drop(schema: pa.Schema, names: Sequence[str], strict: bool = True) -> list[str]:
    """The columns of ``schema`` left after dropping ``names``; an unknown name is an error
    unless ``strict`` is false.

    >>> kept_after_drop(pa.schema([("a", pa.int64())]), ["b"])
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: column 'b' not found. Available columns: a
    >>> kept_after_drop(pa.schema([("a", pa.int64()), ("b", pa.int64())]), ["c"], strict=False)
    ['a', 'b']
    """
    if strict:
        _check_known(schema, names)
    kept = [n for n in schema.names if n not in set(names)]
    if not kept:
        raise SchemaError(
            f"drop({', '.join(map(repr, names))}) would remove every column; keep at least one"
        )
    return kept


def null_filter(schema: pa.Schema, subset: str | Sequence[str] | None) -> Expr:
    """The condition of a row without nulls in ``subset`` (all columns if None).

    >>> null_filter(pa.schema([("a", pa.int64()), ("b", pa.int64())]), "b")
    col("b").is_not_null()
    """
    names = list(schema.names) if subset is None else column_names([subset])
    _check_known(schema, names)
    if not names:
        raise SchemaError("drop_nulls(subset=[]) names no column; give at least one or None")
    condition = col(names[0]).is_not_null()
    for name in names[1:]:
        condition = condition & col(name).is_not_null()
    return condition


def _fits(value: Any, dtype: pa.DataType) -> bool:
    """True if a column of ``dtype`` takes ``value`` as it is (Polars fills the columns whose
    type the value matches: a whole number fills integer and float columns, a float only float
    columns, text only strings…)."""
    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    if isinstance(value, bool):
        return pa.types.is_boolean(dtype)
    if isinstance(value, int):
        if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
            return True
        if not pa.types.is_integer(dtype):
            return False
        try:
            pa.scalar(value, dtype)
        except (pa.ArrowInvalid, OverflowError):
            return False
        return True
    if isinstance(value, float):
        return pa.types.is_floating(dtype)
    if isinstance(value, decimal.Decimal):
        return pa.types.is_decimal(dtype) or pa.types.is_floating(dtype)
    if isinstance(value, str):
        return pa.types.is_string(dtype) or pa.types.is_large_string(dtype)
    if isinstance(value, dt.datetime):
        return pa.types.is_timestamp(dtype)
    if isinstance(value, dt.date):
        return pa.types.is_date(dtype)
    if isinstance(value, dt.timedelta):
        return pa.types.is_duration(dtype)
    return False


def filled(schema: pa.Schema, value: Any) -> list[Expr]:
    """Every column of ``schema``, nulls replaced by ``value`` in the columns whose type takes
    it; the others as they are. A column keeps its type.

    >>> filled(pa.schema([("a", pa.int64()), ("s", pa.string())]), 0)
    [col("a").fill_null(0).alias("a"), col("s")]
    """
    if value is None or isinstance(value, Expr):
        raise TypeError(
            f"fill_null() takes a constant (a number, string, boolean, date…), got {value!r}; "
            "fill a column with an expression by with_columns(col(name).fill_null(expr))"
        )
    items: list[Expr] = []
    for field in schema:
        if _fits(value, field.type):
            items.append(col(field.name).fill_null(lit(value)).alias(field.name))
        else:
            items.append(col(field.name))
    return items
