"""SQL's date and time forms as expressions, with DuckDB's meaning: ``INTERVAL`` constants
(``INTERVAL '3' MONTH``, ``INTERVAL 3 MONTH``, ``INTERVAL '1 year 2 months'`` and the TPC-H
specification's ``INTERVAL '90' DAY (3)``, whose precision changes nothing), the parts of
``EXTRACT``/``DATE_PART`` and ``DATE_DIFF``/``DATEDIFF``.

Timestamps with a time zone are taken in UTC (DuckDB takes its session's zone: the two agree
with ``SET TimeZone = 'UTC'``, DuckDB's default where the machine's zone is UTC).

Imports pyarrow, sqlglot, :mod:`sabot_lab.expr` and :mod:`sabot_lab.sql.context`.

>>> from sabot_lab.sql.parse import parse
>>> interval_constant(parse("SELECT INTERVAL '90' DAY (3) FROM t").expressions[0], Context("", {}))
MonthDayNano(months=0, days=90, nanoseconds=0)
"""

from __future__ import annotations

import re

import pyarrow as pa
from sqlglot import exp

from sabot_lab.expr import Expr
from sabot_lab.expr.calendar import interval_value
from sabot_lab.sql.context import Context

__all__ = [
    "DIFF_UNITS",
    "PARTS",
    "date_difference",
    "date_part",
    "interval_constant",
    "java_date_format",
]

_SECOND = 10**9
_UNITS = {
    "YEAR": (12, 0, 0), "QUARTER": (3, 0, 0), "MONTH": (1, 0, 0), "WEEK": (0, 7, 0),
    "DAY": (0, 1, 0), "HOUR": (0, 0, 3_600 * _SECOND), "MINUTE": (0, 0, 60 * _SECOND),
    "SECOND": (0, 0, _SECOND), "MILLISECOND": (0, 0, 10**6), "MICROSECOND": (0, 0, 10**3),
}  # fmt: skip
"""Each interval unit as (months, days, nanoseconds)."""
_SHORT_UNITS = {
    "Y": "YEAR", "YR": "YEAR", "YRS": "YEAR", "MON": "MONTH", "MONS": "MONTH", "W": "WEEK",
    "D": "DAY", "H": "HOUR", "HR": "HOUR", "HRS": "HOUR", "MIN": "MINUTE", "MINS": "MINUTE",
    "S": "SECOND", "SEC": "SECOND", "SECS": "SECOND", "MS": "MILLISECOND",
    "MSEC": "MILLISECOND", "US": "MICROSECOND", "USEC": "MICROSECOND",
}  # fmt: skip
_NUMBER = r"[+-]?\d+(?:\.\d+)?"
_AMOUNTS = re.compile(rf"\s*({_NUMBER})\s*([A-Za-z]+)\s*")
_INTERVAL_TEXTS = re.compile(r"(?i)\binterval\s*'((?:[^']|'')*)'")

PARTS = {
    "YEAR": "year", "QUARTER": "quarter", "MONTH": "month", "WEEK": "week", "DAY": "day",
    "DOY": "ordinal_day", "DAYOFYEAR": "ordinal_day", "ISODOW": "weekday", "DOW": "weekday",
    "DAYOFWEEK": "weekday", "HOUR": "hour", "MINUTE": "minute", "SECOND": "second",
    "EPOCH": "epoch",
}  # fmt: skip
"""The parts ``EXTRACT``/``DATE_PART`` take, by the ``.dt`` method computing each."""

DIFF_UNITS = ("YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND",
              "MILLISECOND", "MICROSECOND")  # fmt: skip
"""The units ``DATE_DIFF`` counts."""

_TRUNCATE = {"HOUR": "1h", "MINUTE": "1m", "SECOND": "1s",
             "MILLISECOND": "1ms", "MICROSECOND": "1us"}  # fmt: skip
_MICROSECONDS = {"HOUR": 3_600_000_000, "MINUTE": 60_000_000, "SECOND": 1_000_000,
                 "MILLISECOND": 1_000, "MICROSECOND": 1}  # fmt: skip


def _unit_name(text: str) -> str | None:
    name = text.upper()
    name = _SHORT_UNITS.get(name, name)
    if name not in _UNITS and name.endswith("S"):
        name = name[:-1]
    return name if name in _UNITS else None


def _amount(count: str, unit: str) -> tuple[int, int, int] | None:
    """(months, days, nanoseconds) of ``count`` ``unit``s; None for a fraction (DuckDB reads
    ``INTERVAL '1.5' HOUR`` as one hour but ``'1.5 hours'`` as an hour and a half)."""
    if not re.fullmatch(r"[+-]?\d+", count):
        return None
    return tuple(int(count) * size for size in _UNITS[unit])  # type: ignore[return-value]


def _parse(text: str, unit: str | None) -> tuple[int, int, int] | None:
    """An interval's text (``'90'`` with ``unit`` DAY, ``'1 year 2 months'`` without) as
    (months, days, nanoseconds); None if it is not a form read exactly."""
    if unit is not None:
        name = _unit_name(unit)
        if name is None or not re.fullmatch(rf"\s*{_NUMBER}\s*", text):
            return None
        return _amount(text.strip(), name)
    total, end = [0, 0, 0], 0
    for found in _AMOUNTS.finditer(text):
        name = _unit_name(found.group(2))
        amount = None if found.start() != end or name is None else _amount(found.group(1), name)
        if amount is None:
            return None
        total = [t + a for t, a in zip(total, amount, strict=True)]
        end = found.end()
    return (total[0], total[1], total[2]) if end and end == len(text) else None


def interval_constant(node: exp.Interval, ctx: Context, negate: bool = False) -> pa.MonthDayNano:
    """The interval of an ``INTERVAL`` constant (negated if ``negate``); an error naming it
    for forms not read exactly (``INTERVAL '1 day 02:00:00'``, an interval of a column).

    >>> from sabot_lab.sql.parse import parse
    >>> node = parse("SELECT INTERVAL '1 year 2 months' FROM t").expressions[0]
    >>> interval_constant(node, Context("", {}), negate=True)
    MonthDayNano(months=-14, days=0, nanoseconds=0)
    """
    value, unit = node.this, node.args.get("unit")
    unit_text = None
    if unit is not None:
        unit_text = str(unit.name) if isinstance(unit, exp.Var) else type(unit).__name__
    parsed, written = None, node.sql()
    if isinstance(value, exp.Literal):
        parsed = _parse(str(value.this), unit_text)
        if "start" not in value.meta:  # the parser split a text such as '3 months': check it
            texts = [t.replace("''", "'") for t in _INTERVAL_TEXTS.findall(ctx.text)]
            unread = [t for t in texts if _parse(t, None) is None and _parse(t, "DAY") is None]
            if unread:
                parsed, written = None, f"INTERVAL '{unread[0]}'"
    if parsed is None:
        raise ctx.unsupported(
            f"the interval {written} (write a constant as INTERVAL '3' MONTH, "
            "INTERVAL 3 MONTH or INTERVAL '1 year 2 months 3 days', in whole numbers of "
            f"{', '.join(u.lower() + 's' for u in _UNITS)})",
            node,
        )
    sign = -1 if negate else 1
    try:
        return interval_value(*(sign * p for p in parsed))
    except ValueError as exc:
        raise ctx.error(f"the interval {node.sql()} is out of range: {exc}", node) from None


def date_part(name: str, value: Expr) -> Expr:
    """The part ``name`` (one of :data:`PARTS`) of dates, times or timestamps, as DuckDB's
    ``EXTRACT(name FROM value)``: ``DOW`` counts from Sunday 0, ``EPOCH`` is seconds (float).

    >>> from sabot_lab.expr import col
    >>> date_part("EPOCH", col("t"))
    (col("t").dt.epoch("us") / 1000000)
    """
    if name == "EPOCH":
        return value.dt.epoch("us") / 1_000_000
    result: Expr = getattr(value.dt, PARTS[name])()
    return result % 7 if name in ("DOW", "DAYOFWEEK") else result  # Sunday is 0


def date_difference(unit: str, start: Expr, end: Expr) -> Expr:
    """DuckDB's ``DATE_DIFF(unit, start, end)``: the number of ``unit`` boundaries (one of
    :data:`DIFF_UNITS`) crossed from ``start`` to ``end``, as int64.

    >>> from sabot_lab.expr import col
    >>> date_difference("MONTH", col("a"), col("b"))
    (((col("b").dt.year() * 12) + col("b").dt.month()) - ((col("a").dt.year() * 12) + col("a").dt.month()))
    """
    if unit == "YEAR":
        return end.dt.year() - start.dt.year()
    if unit in ("QUARTER", "MONTH"):
        per_year, part = (4, "quarter") if unit == "QUARTER" else (12, "month")

        def count(v: Expr) -> Expr:
            result: Expr = v.dt.year() * per_year + getattr(v.dt, part)()
            return result

        return count(end) - count(start)
    if unit in ("WEEK", "DAY"):  # weeks: whole weeks of days, as DuckDB counts them
        days = end.cast("date32") - start.cast("date32")
        return days // 7 if unit == "WEEK" else days
    every = _TRUNCATE[unit]
    ticks = end.dt.truncate(every).dt.epoch("us") - start.dt.truncate(every).dt.epoch("us")
    return ticks // _MICROSECONDS[unit]


_JAVA_PATTERN = {
    "yyyy": "%Y", "yy": "%y", "MMMM": "%B", "MMM": "%b", "MM": "%m", "dd": "%d", "HH": "%H",
    "hh": "%I", "mm": "%M", "ss": "%S", "a": "%p", "EEEE": "%A", "EEE": "%a", "DDD": "%j",
}  # fmt: skip
_JAVA_TOKEN = re.compile(r"'([^']*)'|([A-Za-z])\2*|(.)", re.DOTALL)


def java_date_format(pattern: str) -> str:
    """A date pattern as Flink's ``DATE_FORMAT`` writes it (Java's ``yyyy-MM-dd HH:mm:ss``) as
    the strftime format it stands for; a ``ValueError`` naming a letter it has no equal for.

    >>> java_date_format("yyyy-MM-dd'T'HH:mm:ss")
    '%Y-%m-%dT%H:%M:%S'
    >>> java_date_format("yyyy-MM-dd HH:mm:ss.SSS")
    Traceback (most recent call last):
    ...
    ValueError: the date pattern letters 'SSS' (use yyyy yy MMMM MMM MM dd HH hh mm ss a EEEE EEE DDD)
    """
    out = []
    for found in _JAVA_TOKEN.finditer(pattern):
        quoted, run, other = found.group(1), found.group(0), found.group(3)
        if quoted is not None:
            out.append(quoted.replace("%", "%%") or "'")  # '' is a quote
        elif other is not None:
            out.append("%%" if other == "%" else other)
        elif run in _JAVA_PATTERN:
            out.append(_JAVA_PATTERN[run])
        else:
            raise ValueError(f"the date pattern letters {run!r} (use {' '.join(_JAVA_PATTERN)})")
    return "".join(out)
