"""Literal values as JSON-safe data: Python constants in, tagged JSON out, Arrow scalars back.

Dates, times, durations, intervals, decimals and bytes are stored as one-key dicts (``{"$date": ...}``)
so expressions serialize to plain JSON. Imports pyarrow, :mod:`sabot_lab.expr.dtypes` and
:mod:`sabot_lab.expr.decimals` only.

>>> import datetime as dt
>>> encode_value(dt.date(2024, 5, 17))
{'$date': '2024-05-17'}
>>> decode_value(encode_value(dt.date(2024, 5, 17)))
datetime.date(2024, 5, 17)
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from sabot_lab.expr.decimals import decimal_literal
from sabot_lab.expr.dtypes import parse_dtype

__all__ = ["decode_value", "encode_value", "is_in_value_set", "literal_scalar"]

_DECODERS: dict[str, Callable[[Any], Any]] = {
    "$datetime": dt.datetime.fromisoformat,
    "$date": dt.date.fromisoformat,
    "$timedelta": lambda s: dt.timedelta(seconds=s),
    "$decimal": decimal.Decimal,
    "$bytes": base64.b64decode,
    "$interval": pa.MonthDayNano,
}


def encode_value(value: Any) -> Any:
    """Turn a Python literal into a JSON-safe value.

    >>> encode_value(b"hi"), encode_value(2.5), encode_value(pa.MonthDayNano([3, 0, 0]))
    ({'$bytes': 'aGk='}, 2.5, {'$interval': [3, 0, 0]})
    >>> encode_value(object())
    Traceback (most recent call last):
    ...
    TypeError: cannot use <object object at ...> (object) as a literal
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$timedelta": value.total_seconds()}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, pa.MonthDayNano):
        return {"$interval": [value.months, value.days, value.nanoseconds]}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if hasattr(value, "item"):  # numpy scalars
        return encode_value(value.item())
    raise TypeError(f"cannot use {value!r} ({type(value).__name__}) as a literal")


def decode_value(value: Any) -> Any:
    """The Python value of :func:`encode_value`'s output.

    >>> decode_value({"$decimal": "1.5"}), decode_value("x")
    (Decimal('1.5'), 'x')
    """
    if not isinstance(value, dict):
        return value
    (tag, raw), *_ = value.items()
    return _DECODERS[tag](raw)


def literal_scalar(value: Any, dtype: str | None) -> pa.Scalar:
    """The Arrow scalar of an encoded literal ``value``, of type ``dtype`` (else inferred).

    >>> literal_scalar(3, "int32")
    <pyarrow.Int32Scalar: 3>
    """
    return pa.scalar(decode_value(value), type=parse_dtype(dtype) if dtype else None)


def is_in_value_set(values: list[Any], dtype: pa.DataType) -> tuple[pa.Array, bool]:
    """The non-null encoded ``values`` of an ``IN`` list as an array of ``dtype``, and whether
    the list holds a null.

    >>> is_in_value_set([1, None, 2], pa.int32())
    (<pyarrow.lib.Int32Array object at ...>
    [
      1,
      2
    ], True)
    """
    raw = [decode_value(v) for v in values]
    if pa.types.is_decimal(dtype):
        return _decimal_value_set(raw, dtype), any(v is None for v in raw)
    value_set = pa.array([v for v in raw if v is not None], type=None if raw else dtype)
    if len(value_set) and value_set.type != dtype:
        value_set = value_set.cast(dtype)
    return value_set.cast(dtype), any(v is None for v in raw)


def _decimal_value_set(raw: list[Any], dtype: pa.DataType) -> pa.Array:
    """The numbers of an ``IN`` list for a decimal column, each as the decimal its text shows
    (``0.1`` is exactly 0.1); a number the column's type cannot hold can match no value and
    is left out."""
    kept = []
    for value in raw:
        if value is None or isinstance(value, bool):
            continue
        if not isinstance(value, int | float | decimal.Decimal):
            kept.append(pa.array([value]).cast(dtype)[0].as_py())  # raises unless it converts
            continue
        try:
            number = decimal_literal(value).as_py() if isinstance(value, float) else value
            number = decimal.Decimal(number)
            kept.append(pa.scalar(number).cast(dtype).as_py())
        except (pa.ArrowInvalid, ValueError):
            continue  # a number no value of the column's type equals
    return pa.array(kept, type=dtype)
