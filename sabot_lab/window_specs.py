"""Window specifications and durations: ``sl.tumbling``, ``sl.sliding``, ``sl.session``, which
the engine's window operators and SQL's window table functions
(:mod:`sabot_lab.sql.window_tables`) read.

A window spec names the timestamp column it reads (``on``) and its sizes, kept in
microseconds; :meth:`WindowSpec.in_unit` converts them to a column's unit.

>>> tumbling("10s", on="dateTime")
tumbling(10s, on='dateTime')
>>> sliding("10s", "2s", on="dateTime").in_unit("ms")
(10000, 2000)
>>> duration_us("1m30s"), duration_us("250ms")
(90000000, 250000)
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from sabot_lab.errors import PlanError, SchemaError, column_not_found

__all__ = [
    "END_OF_TIME",
    "WindowSpec",
    "duration_us",
    "format_duration",
    "require_timestamp",
    "session",
    "sliding",
    "tumbling",
    "unit_to_us",
    "us_to_unit",
]

_UNIT_US = {"d": 86_400_000_000, "h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000,
            "ms": 1_000, "us": 1}  # fmt: skip
_US = {"s": (1_000_000, 1), "ms": (1_000, 1), "us": (1, 1), "ns": (1, 1_000)}  # (us, unit) per
_PART = re.compile(r"(\d+)(ms|us|d|h|m|s)")
_SIGN = re.compile(r"\s*([+-]?)\s*(.*)")

Duration = str | dt.timedelta


def duration_us(value: Duration) -> int:
    """A duration in microseconds, from ``"10s"``, ``"1m30s"``, ``"500ms"``, ``"2h"``, ``"1d"``,
    ``"250us"`` (``"-10s"``: negative) or a ``datetime.timedelta``.

    >>> duration_us(dt.timedelta(seconds=4)), duration_us("-2s")
    (4000000, -2000000)
    """
    if isinstance(value, dt.timedelta):
        return value // dt.timedelta(microseconds=1)
    sign, text = _SIGN.fullmatch(value).groups() if isinstance(value, str) else ("", "")  # type: ignore[union-attr]
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise PlanError(
            f"cannot read duration {value!r}: write e.g. '10s', '1m30s', '500ms', '2h', '1d' "
            "or pass a datetime.timedelta"
        )
    total = sum(int(n) * _UNIT_US[u] for n, u in parts)
    return -total if sign == "-" else total


def format_duration(us: int) -> str:
    """The shortest text for a duration in microseconds.

    >>> format_duration(90_000_000), format_duration(1_500)
    ('90s', '1500us')
    """
    for unit in ("d", "h", "m", "s", "ms"):
        if us % _UNIT_US[unit] == 0 and us:
            return f"{us // _UNIT_US[unit]}{unit}"
    return f"{us}us"


END_OF_TIME = sys.maxsize
"""A time after every other: the watermark of an input that has ended."""


def us_to_unit(us: int, unit: str) -> int:
    """Microseconds as a count of a timestamp ``unit`` (``s ms us ns``), rounded up: a time in
    ``unit`` is at or after ``us`` exactly when it is at or after the result.

    >>> us_to_unit(1_500, "ms"), us_to_unit(3, "ns"), us_to_unit(END_OF_TIME, "ns") == END_OF_TIME
    (2, 3000, True)
    """
    if us == END_OF_TIME:
        return END_OF_TIME
    per, times = _US[unit]
    return -((-us * times) // per)


def unit_to_us(value: int, unit: str) -> int:
    """A count of ``unit`` in microseconds, rounded down.

    >>> unit_to_us(3, "ms")
    3000
    """
    per, times = _US[unit]
    return value * per // times


def require_timestamp(schema: pa.Schema, column: str, verb: str) -> pa.TimestampType:
    """The type of ``column`` if it is a timestamp; a clear error otherwise.

    >>> require_timestamp(pa.schema([("t", pa.timestamp("ms"))]), "t", "window").unit
    'ms'
    """
    if column not in schema.names:
        raise column_not_found(column, schema.names)
    kind = schema.field(column).type
    if not pa.types.is_timestamp(kind):
        raise SchemaError(
            f"{verb} needs an event-time column of timestamp type; {column!r} is {kind} "
            f"(convert it first, e.g. with col({column!r}).cast('timestamp[ms]'))"
        )
    return kind


@dataclass(frozen=True)
class WindowSpec:
    """A window over event time: ``kind`` is ``tumbling``, ``sliding`` or ``session``; ``size``
    and ``slide`` (tumbling: equal; session: the gap) in microseconds; ``on`` the time column."""

    kind: str
    size: int
    slide: int
    on: str

    def __post_init__(self) -> None:
        if self.size <= 0 or self.slide <= 0:
            raise PlanError(f"{self.kind} window sizes must be positive, got {self!r}")
        if self.slide > self.size:
            raise PlanError(
                f"a sliding window's slide ({format_duration(self.slide)}) must not exceed its "
                f"size ({format_duration(self.size)}): rows between windows would be lost"
            )

    def in_unit(self, unit: str) -> tuple[int, int]:
        """``(size, slide)`` as counts of a timestamp unit; an error if they do not divide."""
        size, slide = us_to_unit(self.size, unit), us_to_unit(self.slide, unit)
        if unit_to_us(size, unit) != self.size or unit_to_us(slide, unit) != self.slide:
            raise PlanError(f"{self!r} is finer than the time column's unit ({unit})")
        return size, slide

    def to_dict(self) -> dict[str, Any]:
        """Plain data for plan serialization."""
        return {"kind": self.kind, "size": self.size, "slide": self.slide, "on": self.on}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> WindowSpec:
        """Inverse of :meth:`to_dict`.

        >>> WindowSpec.from_dict(session("5s", on="t").to_dict())
        session(5s, on='t')
        """
        return WindowSpec(data["kind"], data["size"], data["slide"], data["on"])

    def __repr__(self) -> str:
        if self.kind == "sliding":
            sizes = f"{format_duration(self.size)}, {format_duration(self.slide)}"
        else:
            sizes = format_duration(self.size)
        return f"{self.kind}({sizes}, on={self.on!r})"


def tumbling(size: Duration, on: str) -> WindowSpec:
    """Fixed, non-overlapping windows of ``size`` on the time column ``on``.

    >>> import sabot_lab as sl, datetime as dt
    >>> s = sl.from_pydict({"t": [dt.datetime(2026, 1, 1, 0, 0, s) for s in (1, 4, 12)]})
    >>> s.window(sl.tumbling("10s", on="t")).agg(n=sl.count()).collect().column("n").to_pylist()
    [2, 1]
    """
    us = duration_us(size)
    return WindowSpec("tumbling", us, us, on)


def sliding(size: Duration, slide: Duration, on: str) -> WindowSpec:
    """Windows of ``size`` starting every ``slide`` (SQL ``HOP``); a row falls in
    ``size / slide`` windows.

    >>> sliding("10s", "5s", on="t")
    sliding(10s, 5s, on='t')
    """
    return WindowSpec("sliding", duration_us(size), duration_us(slide), on)


def session(gap: Duration, on: str) -> WindowSpec:
    """Per-key sessions: runs of rows whose times are less than ``gap`` apart; a session's
    window ends ``gap`` after its last row.

    >>> session("10s", on="t")
    session(10s, on='t')
    """
    us = duration_us(gap)
    return WindowSpec("session", us, us, on)
