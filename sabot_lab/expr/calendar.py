"""Calendar arithmetic with DuckDB's semantics: dates and timestamps plus or minus intervals
(``DATE '2020-01-31' + INTERVAL 1 MONTH`` is 2020-02-29: a month added to a day the month
does not have gives its last day), dates plus or minus days, and the difference of two dates.

An interval is Arrow's ``month_day_nano_interval`` (a :class:`pyarrow.MonthDayNano`): months,
days and nanoseconds kept apart, as in DuckDB. Adding one adds its months first (clamping the
day to the month's end), then its days, then its nanoseconds. Timestamps with a time zone are
computed in UTC (DuckDB computes them in the session's zone: set it to UTC to compare).

The result types are DuckDB's: a date plus an interval is a ``timestamp[us]``, a timestamp
plus an interval keeps its zone (and its unit if nanoseconds, else microseconds), a date plus
or minus whole days is a date, a date minus a date is the int64 number of days between them.

Imports pyarrow, numpy and :mod:`sabot_lab.errors` only.

>>> d = pa.array([dt.date(2020, 1, 31), dt.date(2019, 1, 31), None])
>>> calendar_arithmetic("add", d, pa.scalar(pa.MonthDayNano([1, 0, 0]))).to_pylist()
[datetime.datetime(2020, 2, 29, 0, 0), datetime.datetime(2019, 2, 28, 0, 0), None]
>>> calendar_arithmetic("sub", d, pa.scalar(dt.date(2019, 12, 31))).to_pylist()
[31, -334, None]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.errors import SchemaError

__all__ = [
    "EPOCH_UNITS",
    "INTERVAL_TYPE",
    "calendar_arithmetic",
    "calendar_result_type",
    "civil_from_days",
    "epoch",
    "interval_value",
    "parse_offset",
    "part_operand",
    "refuse_intervals",
    "uses_calendar_rules",
]

INTERVAL_TYPE = pa.month_day_nano_interval()
"""The type of intervals (months, days and nanoseconds apart)."""

_TICKS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_SECONDS_PER_DAY = 86_400
_OFFSET_UNITS = {
    "mo": (1, 0, 0), "y": (12, 0, 0), "q": (3, 0, 0), "w": (0, 7, 0), "d": (0, 1, 0),
    "h": (0, 0, 3_600 * 10**9), "m": (0, 0, 60 * 10**9), "s": (0, 0, 10**9),
    "ms": (0, 0, 10**6), "us": (0, 0, 10**3), "ns": (0, 0, 1),
}  # fmt: skip
"""Polars' offset units (``"3mo"``, ``"1y2d"``…) as (months, days, nanoseconds) each."""
_ARITHMETIC = ("add", "sub")


def interval_value(months: int = 0, days: int = 0, nanoseconds: int = 0) -> pa.MonthDayNano:
    """The interval of ``months``, ``days`` and ``nanoseconds``, checked to fit Arrow's fields.

    >>> interval_value(months=3)
    MonthDayNano(months=3, days=0, nanoseconds=0)
    """
    if not (abs(months) < 2**31 and abs(days) < 2**31 and abs(nanoseconds) < 2**63):
        raise ValueError(
            f"an interval of {months} months, {days} days and {nanoseconds} ns is out of range"
        )
    return pa.MonthDayNano([months, days, nanoseconds])


def parse_offset(by: str) -> pa.MonthDayNano:
    """The interval of a Polars offset string: counts and units, ``"3mo"``, ``"1y2mo"``,
    ``"-1d12h"`` (units ``y q mo w d h m s ms us ns``; a leading ``-`` negates it all).

    >>> parse_offset("1y2mo3d"), parse_offset("-90d")
    (MonthDayNano(months=14, days=3, nanoseconds=0), MonthDayNano(months=0, days=-90, nanoseconds=0))
    """
    text = by.strip() if isinstance(by, str) else ""
    sign = -1 if text.startswith("-") else 1
    rest, total = text.removeprefix("-"), [0, 0, 0]
    while rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        unit = rest[digits:].lstrip("abcdefghijklmnopqrstuvwxyz")
        name = rest[digits : len(rest) - len(unit)]
        if not digits or name not in _OFFSET_UNITS:
            rest = "?"
            break
        for i, size in enumerate(_OFFSET_UNITS[name]):
            total[i] += sign * int(rest[:digits]) * size
        rest = unit
    if rest or not text.removeprefix("-"):
        raise ValueError(
            f"cannot read the offset {by!r}; use counts and units like '3mo', '1y2mo', '-90d', "
            f"'1d12h' (units: {', '.join(_OFFSET_UNITS)})"
        )
    return interval_value(*total)


EPOCH_UNITS = ("ns", "us", "ms", "s", "d")
"""The units :func:`epoch` counts in (Polars' ``time_unit``)."""


def part_operand(value: Any, part: str) -> Any:
    """The values the kernel of the date ``part`` reads: timestamps with a time zone as UTC
    ones (their parts are UTC's, as DuckDB's with the session's zone set to UTC), dates as
    their midnight for the parts of a time of day (``hour``…, 0 as in DuckDB).

    >>> part_operand(pa.scalar(0, pa.timestamp("s", "Asia/Tokyo")), "hour").type
    TimestampType(timestamp[s, tz=UTC])
    """
    dtype = value.type
    if _is_date(dtype) and part in ("hour", "minute", "second"):
        return value.cast(pa.timestamp("s"))
    if pa.types.is_timestamp(dtype) and dtype.tz is not None and dtype.tz != "UTC":
        return value.cast(pa.timestamp(dtype.unit, "UTC"))
    return value


def epoch(value: Any, time_unit: str) -> Any:
    """The time since 1970-01-01 of dates or timestamps as int64 in ``time_unit``, rounded
    down (as Polars' ``dt.epoch``).

    >>> epoch(pa.array([dt.datetime(1969, 12, 31, 23, 59, 59, 500000), None]), "s").to_pylist()
    [-1, None]
    """
    if time_unit not in EPOCH_UNITS:
        raise ValueError(
            f"epoch() takes a time_unit of {', '.join(EPOCH_UNITS)}, got {time_unit!r}"
        )
    if not _is_moment(value.type) and not pa.types.is_null(value.type):
        raise pa.ArrowNotImplementedError(f"epoch() takes dates or timestamps, got {value.type}")
    scalar = isinstance(value, pa.Scalar)
    if not pa.types.is_timestamp(value.type):
        value = value.cast(pa.timestamp("s"))
    if scalar:
        value = pa.array([value], type=value.type)
    ticks, missing = _numbers(value, len(value))
    have = _TICKS_PER_SECOND[value.type.unit]
    want = _TICKS_PER_SECOND.get(time_unit)
    if want is None:  # days
        counts = np.floor_divide(ticks, have * _SECONDS_PER_DAY)
    elif want >= have:
        counts = ticks * (want // have)
    else:
        counts = np.floor_divide(ticks, have // want)
    out = pa.array(counts, type=pa.int64(), mask=missing)
    return out[0] if scalar else out


def _is_date(dtype: pa.DataType) -> bool:
    return pa.types.is_date32(dtype) or pa.types.is_date64(dtype)


def _is_moment(dtype: pa.DataType) -> bool:
    return _is_date(dtype) or pa.types.is_timestamp(dtype)


def uses_calendar_rules(op: str, left: pa.DataType, right: pa.DataType) -> bool:
    """True if ``left op right`` is calendar arithmetic this module computes: a date or
    timestamp and an interval, a date and an integer, two dates.

    >>> uses_calendar_rules("add", pa.date32(), pa.int32()), uses_calendar_rules("add", pa.int8(), pa.int8())
    (True, False)
    """
    if op not in _ARITHMETIC:
        return False
    if pa.types.is_interval(left) or pa.types.is_interval(right):
        return True
    if _is_date(left) and (_is_date(right) or pa.types.is_integer(right)):
        return True
    return op == "add" and pa.types.is_integer(left) and _is_date(right)


def calendar_result_type(op: str, left: pa.DataType, right: pa.DataType) -> pa.DataType:
    """The type of ``left op right`` under :func:`uses_calendar_rules` (DuckDB's types); a
    :class:`~sabot_lab.errors.SchemaError` for the pairs DuckDB refuses too.

    >>> calendar_result_type("add", pa.date32(), INTERVAL_TYPE)
    TimestampType(timestamp[us])
    >>> calendar_result_type("sub", pa.date32(), pa.date32())
    DataType(int64)
    """
    symbol = "+" if op == "add" else "-"
    if pa.types.is_interval(left) and pa.types.is_interval(right):
        _require_month_day_nano(left, right)
        return INTERVAL_TYPE
    if pa.types.is_interval(left) and op == "add":
        left, right = right, left  # an interval plus a moment is that moment plus it
    if pa.types.is_interval(right) and (_is_moment(left) or pa.types.is_null(left)):
        _require_month_day_nano(right)
        return _moment_type(left)
    if _is_date(left) and _is_date(right) and op == "sub":
        return pa.int64()
    if _is_date(left) and pa.types.is_integer(right):
        return pa.date32()
    if pa.types.is_integer(left) and _is_date(right) and op == "add":
        return pa.date32()
    raise SchemaError(
        f"'{symbol}' does not accept ({left}, {right}): add or subtract an interval to a date "
        "or timestamp, whole days to a date, or subtract two dates"
    )


def refuse_intervals(what: str, types: list[pa.DataType]) -> None:
    """Refuse an operation other than calendar arithmetic on intervals (the kernels have
    none): ``what`` names the expression.

    >>> refuse_intervals("col('i') < col('i')", [INTERVAL_TYPE, INTERVAL_TYPE])
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: cannot evaluate col('i') < col('i'): intervals (month_day_nano_interval) can only be added to or subtracted from dates, timestamps and intervals; compare or aggregate the dates or timestamps they lead to instead (col("d") + interval)
    """
    if any(pa.types.is_interval(t) for t in types):
        raise SchemaError(
            f"cannot evaluate {what}: intervals ({INTERVAL_TYPE}) can only be added to or "
            "subtracted from dates, timestamps and intervals; compare or aggregate the dates "
            'or timestamps they lead to instead (col("d") + interval)'
        )


def _require_month_day_nano(*types: pa.DataType) -> None:
    for dtype in types:
        if dtype != INTERVAL_TYPE:
            raise SchemaError(
                f"intervals of type {dtype} are not supported; cast them to "
                f"{INTERVAL_TYPE} (months, days and nanoseconds)"
            )


def _moment_type(dtype: pa.DataType) -> pa.DataType:
    """The type a date or timestamp plus an interval has (DuckDB's)."""
    if pa.types.is_timestamp(dtype):
        return pa.timestamp("ns" if dtype.unit == "ns" else "us", dtype.tz)
    return pa.timestamp("us")


def calendar_arithmetic(op: str, left: Any, right: Any) -> Any:
    """``left op right`` (arrays or scalars) under :func:`uses_calendar_rules`.

    >>> ts = pa.array([dt.datetime(2024, 2, 29, 13, 30)])
    >>> calendar_arithmetic("sub", ts, pa.scalar(pa.MonthDayNano([12, 1, 3_600 * 10**9]))).to_pylist()
    [datetime.datetime(2023, 2, 27, 12, 30)]
    >>> calendar_arithmetic("add", pa.scalar(dt.date(2024, 1, 31)), pa.scalar(pa.MonthDayNano([1, 0, 0])))
    <pyarrow.TimestampScalar: '2024-02-29T00:00:00.000000'>
    """
    result_type = calendar_result_type(op, left.type, right.type)
    if pa.types.is_interval(left.type) or pa.types.is_interval(right.type):
        if pa.types.is_interval(left.type) and pa.types.is_interval(right.type):
            out = _combine_intervals(op, left, right)
        elif pa.types.is_interval(left.type):
            out = _shift(right, left, 1, result_type)
        else:
            out = _shift(left, right, -1 if op == "sub" else 1, result_type)
        both_constant = isinstance(left, pa.Scalar) and isinstance(right, pa.Scalar)
        return out[0] if both_constant else out
    if pa.types.is_integer(left.type):
        left, right = right, left
    if _is_date(right.type):
        return pc.subtract_checked(_days(left), _days(right)).cast(pa.int64())
    kernel = pc.add_checked if op == "add" else pc.subtract_checked
    return kernel(_days(left), right.cast(pa.int64())).cast(pa.int32()).cast(pa.date32())


def _days(value: Any) -> Any:
    """Dates as int64 days since 1970-01-01."""
    return value.cast(pa.date32()).cast(pa.int32()).cast(pa.int64())


def _length(*values: Any) -> int:
    return max((len(v) for v in values if not isinstance(v, pa.Scalar)), default=1)


def _numbers(value: Any, length: int) -> tuple[np.ndarray, np.ndarray]:
    """int64 values of a date, timestamp or integer array or scalar, and where it is null."""
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, pa.Scalar):
        value = pa.repeat(value, length)
    missing = pc.is_null(value).to_numpy(zero_copy_only=False)
    numbers = pc.fill_null(value.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    return numbers.astype(np.int64), missing


def _interval_parts(value: Any, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """Months, days and nanoseconds (int64 arrays) of an interval array or scalar, and where
    it is null."""
    if isinstance(value, pa.Scalar):
        found = value.as_py()
        parts = (0, 0, 0) if found is None else (found.months, found.days, found.nanoseconds)
        full = [np.full(length, p, dtype=np.int64) for p in parts]
        return full[0], full[1], full[2], np.full(length, found is None)
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    layout = np.dtype([("months", "<i4"), ("days", "<i4"), ("nanos", "<i8")])
    raw = np.frombuffer(value.buffers()[1], dtype=layout, count=value.offset + len(value))
    raw = raw[value.offset :]
    missing = pc.is_null(value).to_numpy(zero_copy_only=False)
    return (
        raw["months"].astype(np.int64),
        raw["days"].astype(np.int64),
        raw["nanos"].astype(np.int64),
        missing,
    )


def _combine_intervals(op: str, left: Any, right: Any) -> pa.Array:
    length = _length(left, right)
    a, b = _interval_parts(left, length), _interval_parts(right, length)
    sign = -1 if op == "sub" else 1
    rows = [
        None
        if gone_a or gone_b
        else pa.MonthDayNano([int(m + sign * n), int(d + sign * e), int(s + sign * t)])
        for m, d, s, gone_a, n, e, t, gone_b in zip(*a, *b, strict=True)
    ]
    return pa.array(rows, type=INTERVAL_TYPE)


def _shift(moment: Any, interval: Any, sign: int, result_type: pa.DataType) -> pa.Array:
    """Dates or timestamps moved by ``sign`` times the intervals: months (clamped to the
    month's end), then days, then nanoseconds."""
    length = _length(moment, interval)
    if not pa.types.is_timestamp(moment.type):  # a date (or NULL) is its midnight
        moment = moment.cast(pa.timestamp("us"))
    moment = moment.cast(pa.timestamp(result_type.unit, moment.type.tz))
    ticks, missing = _numbers(moment, length)
    months, days, nanos, no_interval = _interval_parts(interval, length)
    per_day = _TICKS_PER_SECOND[result_type.unit] * _SECONDS_PER_DAY
    day, time_of_day = np.divmod(ticks, per_day)
    day = _add_months(day, sign * months) + sign * days
    shift = sign * (nanos // (10**9 // _TICKS_PER_SECOND[result_type.unit]))
    estimate = day.astype(np.float64) * per_day + time_of_day + shift.astype(np.float64)
    if np.any(np.abs(estimate[~missing]) >= 2.0**63 * 0.999):
        raise pa.ArrowInvalid(f"a result is outside the range of {result_type}")
    out = day * per_day + time_of_day + shift
    return pa.array(out, type=pa.int64(), mask=missing | no_interval).cast(result_type)


def _add_months(day: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 moved by whole months, the day of the month clamped to the
    last day of the month reached (Jan 31 + 1 month is Feb 28 or 29)."""
    if not np.any(months):
        return day
    year, month, dom = civil_from_days(day)
    total = year * 12 + (month - 1) + months
    year, month = np.floor_divide(total, 12), np.mod(total, 12) + 1
    return _from_civil(year, month, np.minimum(dom, _month_length(year, month)))


def _month_length(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    lengths = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    return lengths[month - 1] + ((month == 2) & leap)


def civil_from_days(day: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day of month) of days since 1970-01-01 (proleptic Gregorian calendar;
    H. Hinnant's ``civil_from_days``).

    >>> [a.tolist() for a in civil_from_days(np.array([0, 59, -1]))]
    [[1970, 1970, 1969], [1, 3, 12], [1, 1, 31]]
    """
    z = day + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    dom = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, dom


def _from_civil(year: np.ndarray, month: np.ndarray, dom: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a (year, month, day of month)."""
    year = year - (month <= 2)
    era = np.floor_divide(year, 400)
    yoe = year - era * 400
    doy = (153 * np.where(month > 2, month - 3, month + 9) + 2) // 5 + dom - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468
