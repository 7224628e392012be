"""The ``.str`` and ``.dt`` namespaces of an expression: string and date/time functions.

``col("s").str.lower()`` and ``col("ts").dt.truncate("1h")`` build
:class:`~sabot_lab.expr.nodes.StringFunction`, :class:`~sabot_lab.expr.nodes.TemporalTruncate`,
:class:`~sabot_lab.expr.nodes.TemporalPart`, :class:`~sabot_lab.expr.nodes.ParseTemporal` and
:class:`~sabot_lab.expr.nodes.FormatTemporal` nodes, checking their arguments. Imports pyarrow,
:mod:`sabot_lab.errors`, :mod:`sabot_lab.expr.dtypes`, :mod:`sabot_lab.expr.calendar` (interval
offsets) and :mod:`sabot_lab.expr.nodes`.

>>> col("s").str.strip_chars_end("x")
col("s").str.strip_chars_end("x")
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from sabot_lab.errors import SchemaError
from sabot_lab.expr.calendar import EPOCH_UNITS, parse_offset
from sabot_lab.expr.dtypes import dtype_name, parse_dtype
from sabot_lab.expr.nodes import (
    Expr,
    FormatTemporal,
    Literal,
    ParseTemporal,
    StringFunction,
    StructField,
    TemporalPart,
    TemporalTruncate,
)
from sabot_lab.expr.regex_groups import regex_groups

__all__ = [
    "TRUNCATE_UNITS",
    "WHITESPACE",
    "StringNamespace",
    "StructNamespace",
    "TemporalNamespace",
]

WHITESPACE = " \t\n\v\f\r"
"""The characters ``strip_chars`` removes by default (ASCII whitespace)."""

TRUNCATE_UNITS = {
    "y": "year",
    "q": "quarter",
    "mo": "month",
    "w": "week",
    "d": "day",
    "h": "hour",
    "m": "minute",
    "s": "second",
    "ms": "millisecond",
    "us": "microsecond",
}
"""The units of :meth:`TemporalNamespace.truncate`, by their suffix."""


class StringNamespace:
    """String functions on an expression (``col("s").str.contains("x")``)."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    def _fn(self, fn: str, **params: Any) -> Expr:
        for value in params.values():
            if not isinstance(value, str):
                raise TypeError(f"str.{fn}() takes a string, got {type(value).__name__} {value!r}")
        return StringFunction("str", [self._expr], fn=fn, **params)

    def _counted(self, fn: str, **params: int | None) -> Expr:
        for value in params.values():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(
                    f"str.{fn}() takes whole numbers, got {type(value).__name__} {value!r}"
                )
        return StringFunction("str", [self._expr], fn=fn, **params)

    def strptime(
        self, dtype: pa.DataType | str, format: str | None = None, strict: bool = True
    ) -> Expr:
        """Parse dates (``dtype`` ``"date32"``) or timestamps (``"timestamp[us]"``…) by the
        strptime ``format`` (``"%d/%m/%Y %H:%M"``; ``%Y %m %d %H %M %S %y %b %j`` and the
        like, as DuckDB's ``strptime``), or as ISO 8601 without a format. A string that does
        not parse is an error naming it, or null with ``strict=False`` (DuckDB's
        ``try_strptime``). A date format's time of day, if any, is dropped.

        >>> b = pa.record_batch({"s": ["17/05/2024", "nope", None]})
        >>> evaluate(col("s").str.strptime("date32", "%d/%m/%Y", strict=False), b).to_pylist()
        [datetime.date(2024, 5, 17), None, None]
        """
        target = parse_dtype(dtype)
        if not (pa.types.is_date32(target) or pa.types.is_timestamp(target)):
            raise SchemaError(
                f"str.strptime() parses into 'date32' or a timestamp type, got {target}"
            )
        if format is None:
            return self._expr.cast(target, strict=strict)
        if not isinstance(format, str) or not format:
            raise TypeError(f"str.strptime() takes a format string, got {format!r}")
        lenient = {} if strict else {"strict": False}
        return ParseTemporal(
            "strptime", [self._expr], dtype=dtype_name(target), format=format, **lenient
        )

    def to_date(self, format: str | None = None, strict: bool = True) -> Expr:
        """Parse dates by the strptime ``format`` (see :meth:`strptime`).

        >>> evaluate(col("s").str.to_date("%Y%m%d"), pa.record_batch({"s": ["20240517"]})).to_pylist()
        [datetime.date(2024, 5, 17)]
        """
        return self.strptime("date32", format, strict=strict)

    def to_datetime(self, format: str | None = None, strict: bool = True) -> Expr:
        """Parse timestamps (microseconds) by the strptime ``format`` (see :meth:`strptime`).

        >>> b = pa.record_batch({"s": ["2024-05-17 13:04"]})
        >>> evaluate(col("s").str.to_datetime("%Y-%m-%d %H:%M"), b).to_pylist()
        [datetime.datetime(2024, 5, 17, 13, 4)]
        """
        return self.strptime("timestamp[us]", format, strict=strict)

    def contains(self, pattern: str) -> Expr:
        """True where the string contains ``pattern`` (a literal, not a regex).

        >>> evaluate(col("s").str.contains("ab"), pa.record_batch({"s": ["xabx", "b", None]})).to_pylist()
        [True, False, None]
        """
        return self._fn("contains", pattern=pattern)

    def like(self, pattern: str) -> Expr:
        """SQL ``LIKE``: ``%`` matches any run of characters and ``_`` any one character; there
        is no escape character (a backslash stands for itself).

        >>> evaluate(col("s").str.like("a%c_"), pa.record_batch({"s": ["abcd", "abc", "xac1", None]})).to_pylist()
        [True, False, False, None]
        """
        return self._fn("like", pattern=pattern)

    def starts_with(self, prefix: str) -> Expr:
        """True where the string starts with ``prefix``.

        >>> evaluate(col("s").str.starts_with("a"), pa.record_batch({"s": ["ab", "ba"]})).to_pylist()
        [True, False]
        """
        return self._fn("starts_with", pattern=prefix)

    def ends_with(self, suffix: str) -> Expr:
        """True where the string ends with ``suffix``.

        >>> evaluate(col("s").str.ends_with("a"), pa.record_batch({"s": ["ab", "ba"]})).to_pylist()
        [False, True]
        """
        return self._fn("ends_with", pattern=suffix)

    def lower(self) -> Expr:
        """Lower-case the string.

        >>> evaluate(col("s").str.lower(), pa.record_batch({"s": ["AbC"]})).to_pylist()
        ['abc']
        """
        return self._fn("lower")

    def upper(self) -> Expr:
        """Upper-case the string.

        >>> evaluate(col("s").str.upper(), pa.record_batch({"s": ["AbC"]})).to_pylist()
        ['ABC']
        """
        return self._fn("upper")

    def len(self) -> Expr:
        """Number of characters, as int64.

        >>> evaluate(col("s").str.len(), pa.record_batch({"s": ["héllo"]})).to_pylist()
        [5]
        """
        return self._fn("len")

    def slice(self, offset: int, length: int | None = None) -> Expr:
        """``length`` characters (all the rest if None) from the 0-based ``offset``; a negative
        offset counts from the end. Positions before the start or past the end are simply
        absent, so ``slice(-7, 3)`` of ``"hello"`` is ``"h"`` (SQL ``SUBSTRING``, whose 1-based
        positions sl.sql() translates).

        >>> b = pa.record_batch({"s": ["hello", "hi", None]})
        >>> evaluate(col("s").str.slice(1, 3), b).to_pylist(), evaluate(col("s").str.slice(-3), b).to_pylist()
        (['ell', 'i', None], ['llo', 'hi', None])
        """
        if length is not None and not (isinstance(length, int) and length >= 0):
            raise ValueError(f"str.slice() takes a length of 0 or more, got {length!r}")
        return self._counted("slice", offset=offset, length=length)

    def head(self, n: int) -> Expr:
        """The first ``n`` characters; for a negative ``n`` all but the last ``-n`` (SQL ``LEFT``).

        >>> evaluate(col("s").str.head(2), pa.record_batch({"s": ["hello"]})).to_pylist()
        ['he']
        >>> evaluate(col("s").str.head(-2), pa.record_batch({"s": ["hello"]})).to_pylist()
        ['hel']
        """
        return self._counted("head", n=n)

    def tail(self, n: int) -> Expr:
        """The last ``n`` characters; for a negative ``n`` all but the first ``-n`` (SQL ``RIGHT``).

        >>> evaluate(col("s").str.tail(2), pa.record_batch({"s": ["hello"]})).to_pylist()
        ['lo']
        >>> evaluate(col("s").str.tail(-2), pa.record_batch({"s": ["hello"]})).to_pylist()
        ['llo']
        """
        return self._counted("tail", n=n)

    def strip_chars(self, characters: str | None = None) -> Expr:
        """Remove any of ``characters`` from both ends (None: ASCII whitespace; SQL ``TRIM``
        takes ``" "``).

        >>> evaluate(col("s").str.strip_chars(), pa.record_batch({"s": ["\\t a b \\n"]})).to_pylist()
        ['a b']
        >>> evaluate(col("s").str.strip_chars("xy"), pa.record_batch({"s": ["xyaxx"]})).to_pylist()
        ['a']
        """
        return self._fn("strip_chars", characters=WHITESPACE if characters is None else characters)

    def strip_chars_start(self, characters: str | None = None) -> Expr:
        """Remove any of ``characters`` from the start (None: ASCII whitespace; SQL ``LTRIM``).

        >>> evaluate(col("s").str.strip_chars_start(), pa.record_batch({"s": ["  a "]})).to_pylist()
        ['a ']
        """
        chars = WHITESPACE if characters is None else characters
        return self._fn("strip_chars_start", characters=chars)

    def strip_chars_end(self, characters: str | None = None) -> Expr:
        """Remove any of ``characters`` from the end (None: ASCII whitespace; SQL ``RTRIM``).

        >>> evaluate(col("s").str.strip_chars_end(), pa.record_batch({"s": ["  a "]})).to_pylist()
        ['  a']
        """
        return self._fn(
            "strip_chars_end", characters=WHITESPACE if characters is None else characters
        )

    def extract(self, pattern: str, group_index: int = 1) -> Expr:
        """Group ``group_index`` (0: the whole match) of the first match of the regular
        expression ``pattern`` (RE2 syntax), null where it does not match (SQL
        ``regexp_extract``, which gives '' there, translates to this with the ''); as Polars.

        >>> b = pa.record_batch({"s": ["id-42", "none", None]})
        >>> evaluate(col("s").str.extract(r"([a-z]+)-(\\d+)", 2), b).to_pylist()
        ['42', None, None]
        """
        regex_groups(pattern, group_index)  # refused now, not when it runs
        return self._regex("extract", pattern, n=group_index)

    def replace(self, pattern: str, value: str, literal: bool = False) -> Expr:
        """Replace the first match of the regular expression ``pattern`` (a plain string with
        ``literal=True``) by ``value`` (``\\1`` … name the match's groups); as Polars, and SQL
        ``regexp_replace``.

        >>> b = pa.record_batch({"s": ["a-b-c", None]})
        >>> evaluate(col("s").str.replace("-", "+"), b).to_pylist()
        ['a+b-c', None]
        """
        return self._regex("replace", re.escape(pattern) if literal else pattern, value)

    def split_part(self, by: str, n: int) -> Expr:
        """Part ``n`` (1 the first, -1 the last) of the string split at each ``by``; '' where
        there is no such part (SQL ``split_part``).

        >>> b = pa.record_batch({"s": ["a-b-c", "x", None]})
        >>> evaluate(col("s").str.split_part("-", 2), b).to_pylist()
        ['b', '', None]
        """
        if not isinstance(by, str) or not by:
            raise TypeError(f"str.split_part() splits at a non-empty string, got {by!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n == 0:
            raise TypeError(f"str.split_part() takes a part number other than 0, got {n!r}")
        return StringFunction("str", [self._expr], fn="split_part", pattern=by, n=n)

    def split_index(self, by: str, n: int) -> Expr:
        """Part ``n`` (0 the first) of the string split at each ``by``; null where there is no
        such part and for an empty string (Flink's ``SPLIT_INDEX``).

        >>> b = pa.record_batch({"s": ["a-b-c", "x", "", None]})
        >>> evaluate(col("s").str.split_index("-", 1), b).to_pylist()
        ['b', None, None, None]
        """
        if not isinstance(by, str) or not by:
            raise TypeError(f"str.split_index() splits at a non-empty string, got {by!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise TypeError(f"str.split_index() takes a part number from 0, got {n!r}")
        return StringFunction("str", [self._expr], fn="split_index", pattern=by, n=n)

    def _regex(self, fn: str, pattern: str, value: str | None = None, n: int | None = None) -> Expr:
        if not isinstance(pattern, str) or not pattern:
            raise TypeError(f"str.{fn}() takes a non-empty pattern, got {pattern!r}")
        if value is not None and not isinstance(value, str):
            raise TypeError(f"str.{fn}() takes a string to put in, got {value!r}")
        params = {k: v for k, v in {"value": value, "n": n}.items() if v is not None}
        return StringFunction("str", [self._expr], fn=fn, pattern=pattern, **params)

    def replace_all(self, pattern: str, value: str) -> Expr:
        """Replace every occurrence of ``pattern`` (a literal, not a regex) by ``value``; an
        empty pattern changes nothing (SQL ``REPLACE``).

        >>> evaluate(col("s").str.replace_all("a", "bb"), pa.record_batch({"s": ["aXa", None]})).to_pylist()
        ['bbXbb', None]
        """
        return self._fn("replace_all", pattern=pattern, value=value)


class StructNamespace:
    """Functions on a struct expression (``col("bid").struct.field("price")``)."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    def field(self, name: str) -> Expr:
        """The struct's field ``name`` (null where the struct is null); as Polars, and SQL's
        ``bid.price`` on a struct column ``bid``.

        >>> b = pa.record_batch({"bid": [{"price": 7, "auction": 1}, None]})
        >>> evaluate(col("bid").struct.field("price"), b).to_pylist()
        [7, None]
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"struct.field() takes a field name, got {name!r}")
        return StructField("struct_field", [self._expr], name=name)


class TemporalNamespace:
    """Date/time functions on an expression (``col("ts").dt.truncate("1h")``). The parts of
    timestamps with a time zone are UTC's (as DuckDB's with its session's zone in UTC)."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    def truncate(self, every: str) -> Expr:
        """Round timestamps down to a multiple of ``every``: ``"1h"``, ``"15m"``, ``"1d"``, ``"1mo"``…

        Units: ``y q mo w d h m s ms us`` (``q``: quarter); multiples above one are allowed for
        ``h m s ms us`` (buckets aligned to the Unix epoch). Weeks start on Monday.

        >>> import datetime as dt
        >>> b = pa.record_batch({"ts": [dt.datetime(2024, 5, 17, 13, 47, 5)]})
        >>> evaluate(col("ts").dt.truncate("15m"), b).to_pylist()
        [datetime.datetime(2024, 5, 17, 13, 45)]
        """
        multiple, unit = _parse_every(every)
        return TemporalTruncate(
            "dt_truncate", [self._expr], every=every, multiple=multiple, unit=unit
        )

    def _part(self, part: str) -> Expr:
        return TemporalPart("dt_part", [self._expr], part=part)

    def strftime(self, format: str) -> Expr:
        """Write dates and timestamps as text by the strftime ``format`` (``"%Y-%m-%d %H:%M"``,
        as DuckDB's ``strftime``): ``%S`` is the whole seconds.

        >>> b = pa.record_batch({"t": [dt.datetime(2024, 5, 17, 13, 4, 5, 250)]})
        >>> evaluate(col("t").dt.strftime("%d/%m/%Y %H:%M:%S"), b).to_pylist()
        ['17/05/2024 13:04:05']
        """
        if not isinstance(format, str) or not format:
            raise TypeError(f"dt.strftime() takes a format string, got {format!r}")
        return FormatTemporal("strftime", [self._expr], format=format)

    def to_string(self, format: str) -> Expr:
        """The same as :meth:`strftime` (Polars' other name for it).

        >>> col("t").dt.to_string("%Y")
        col("t").dt.strftime("%Y")
        """
        return self.strftime(format)

    def year(self) -> Expr:
        """The year, as int64.

        >>> evaluate(col("d").dt.year(), pa.record_batch({"d": [dt.date(2024, 5, 17)]})).to_pylist()
        [2024]
        """
        return self._part("year")

    def month(self) -> Expr:
        """The month (1-12), as int64.

        >>> evaluate(col("d").dt.month(), pa.record_batch({"d": [dt.date(2024, 5, 17)]})).to_pylist()
        [5]
        """
        return self._part("month")

    def day(self) -> Expr:
        """The day of the month, as int64.

        >>> evaluate(col("d").dt.day(), pa.record_batch({"d": [dt.date(2024, 5, 17)]})).to_pylist()
        [17]
        """
        return self._part("day")

    def hour(self) -> Expr:
        """The hour (0-23), as int64.

        >>> evaluate(col("t").dt.hour(), pa.record_batch({"t": [dt.datetime(2024, 5, 17, 13)]})).to_pylist()
        [13]
        """
        return self._part("hour")

    def minute(self) -> Expr:
        """The minute (0-59), as int64.

        >>> evaluate(col("t").dt.minute(), pa.record_batch({"t": [dt.datetime(2024, 1, 1, 0, 7)]})).to_pylist()
        [7]
        """
        return self._part("minute")

    def second(self) -> Expr:
        """The second (0-59), as int64.

        >>> evaluate(col("t").dt.second(), pa.record_batch({"t": [dt.datetime(2024, 1, 1, 0, 0, 9)]})).to_pylist()
        [9]
        """
        return self._part("second")

    def quarter(self) -> Expr:
        """The quarter of the year (1-4), as int64.

        >>> evaluate(col("d").dt.quarter(), pa.record_batch({"d": [dt.date(2024, 5, 17)]})).to_pylist()
        [2]
        """
        return self._part("quarter")

    def weekday(self) -> Expr:
        """The ISO day of the week, Monday 1 to Sunday 7, as int64 (SQL ``ISODOW``).

        >>> evaluate(col("d").dt.weekday(), pa.record_batch({"d": [dt.date(2024, 5, 19)]})).to_pylist()
        [7]
        """
        return self._part("weekday")

    def ordinal_day(self) -> Expr:
        """The day of the year (1-366), as int64 (SQL ``DOY``).

        >>> evaluate(col("d").dt.ordinal_day(), pa.record_batch({"d": [dt.date(2024, 2, 1)]})).to_pylist()
        [32]
        """
        return self._part("ordinal_day")

    def epoch(self, time_unit: str = "us") -> Expr:
        """The time since 1970-01-01 00:00 UTC in ``time_unit`` (``"ns"``, ``"us"``, ``"ms"``,
        ``"s"``, ``"d"``), rounded down, as int64 (SQL ``EXTRACT(EPOCH ...)`` is
        ``epoch("us") / 1e6``).

        >>> evaluate(col("d").dt.epoch("d"), pa.record_batch({"d": [dt.date(1970, 1, 3)]})).to_pylist()
        [2]
        """
        if time_unit not in EPOCH_UNITS:
            raise ValueError(
                f"dt.epoch() takes a time_unit of {', '.join(EPOCH_UNITS)}, got {time_unit!r}"
            )
        return TemporalPart("dt_part", [self._expr], part="epoch", time_unit=time_unit)

    def offset_by(self, by: str) -> Expr:
        """Dates or timestamps moved by ``by``: counts and units as Polars writes them
        (``"3mo"``, ``"1y2mo"``, ``"-90d"``, ``"1d12h"``; units ``y q mo w d h m s ms us ns``).
        Months come first, a day the month reached does not have becomes its last day (Jan 31
        offset by ``"1mo"`` is Feb 28 or 29). As DuckDB's ``DATE + INTERVAL``, a date gives a
        timestamp at midnight: ``.cast("date32")`` keeps a date.

        >>> b = pa.record_batch({"d": [dt.date(2024, 1, 31)]})
        >>> evaluate(col("d").dt.offset_by("1mo"), b).to_pylist()
        [datetime.datetime(2024, 2, 29, 0, 0)]
        """
        return self._expr + Literal.of(parse_offset(by))

    def week(self) -> Expr:
        """The ISO week of the year (1-53), as int64 (SQL ``WEEK``).

        >>> evaluate(col("d").dt.week(), pa.record_batch({"d": [dt.date(2024, 12, 30)]})).to_pylist()
        [1]
        """
        return self._part("week")


def _parse_every(every: str) -> tuple[int, str]:
    digits = "".join(ch for ch in every if ch.isdigit())
    suffix = every[len(digits) :]
    if not digits or suffix not in TRUNCATE_UNITS or not every.startswith(digits):
        raise ValueError(
            f"cannot truncate to {every!r}; use a count and a unit like '1h', '15m', '1d' "
            f"(units: {', '.join(TRUNCATE_UNITS)})"
        )
    multiple, unit = int(digits), TRUNCATE_UNITS[suffix]
    if multiple < 1 or (multiple > 1 and unit in ("year", "quarter", "month", "week", "day")):
        raise ValueError(f"cannot truncate to {every!r}: use 1 for calendar units (y, q, mo, w, d)")
    return multiple, unit
