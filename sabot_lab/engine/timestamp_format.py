"""Formatting timestamps as fixed-width text with numpy, for ``strftime`` patterns made of
``%Y %m %d %H %M %S %%`` and ASCII literals (Flink's ``DATE_FORMAT(t, 'yyyy-MM-dd')``,
``'HH:mm'``): every row's digits are written at once into one byte buffer, which becomes the
string column (each row the same width).

:func:`format_timestamps` gives None where it does not apply (another specifier, a time zone
other than UTC, years outside 0000-9999), and the caller formats with ``pyarrow.compute``.
Imports pyarrow, numpy and :mod:`sabot_lab.kernels.period_texts`.

>>> import pyarrow as pa
>>> t = pa.array([0, 1_700_000_000_123, None], pa.timestamp("ms"))
>>> format_timestamps(t, "%Y-%m-%d %H:%M:%S").to_pylist()
['1970-01-01 00:00:00', '2023-11-14 22:13:20', None]
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.expr.calendar import civil_from_days
from sabot_lab.kernels.period_texts import put_period_texts

__all__ = ["format_timestamps"]

_WIDTHS = {"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2}
"""The digits each supported specifier writes."""
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_UTC = (None, "UTC", "utc", "+00:00", "Etc/UTC")


@functools.lru_cache(maxsize=64)
def _pieces(fmt: str) -> tuple[str, ...] | None:
    """The pattern as specifier letters (``"Y"``) and one-byte literals (``"-"``, as ``"'-"``),
    or None when it holds something else."""
    pieces, i = [], 0
    while i < len(fmt):
        char = fmt[i]
        if char == "%":
            spec = fmt[i + 1 : i + 2]
            if spec == "%":
                pieces.append("'%")
            elif spec in _WIDTHS:
                pieces.append(spec)
            else:
                return None
            i += 2
            continue
        if not char.isascii():
            return None
        pieces.append("'" + char)
        i += 1
    return tuple(pieces)


def format_timestamps(values: pa.Array, fmt: str) -> pa.Array | None:
    """``values`` (a timestamp array, naive or UTC) formatted by ``fmt`` as a string array, as
    ``pyarrow.compute.strftime`` writes it over whole seconds; None where this does not apply.

    The rows' texts are taken from those of the range of days, minutes or seconds (the finest
    the pattern writes) they span, each formatted once, when that range is small (a pattern
    without the date has at most a day's worth): a kernel copies each row's period's text,
    dividing only where the period changes.

    >>> import pyarrow as pa
    >>> t = pa.array([86_399_999_999], pa.timestamp("us"))
    >>> format_timestamps(t, "%H:%M|%%").to_pylist()
    ['23:59|%']
    >>> format_timestamps(t, "%A") is None  # the day's name: not a fixed width
    True
    """
    pieces = _pieces(fmt)
    kind = values.type
    if pieces is None or not pa.types.is_timestamp(kind) or kind.tz not in _UTC:
        return None
    step = next((s for p, s in _STEPS if p in pieces), 86_400)
    width = sum(_WIDTHS.get(p, 1) for p in pieces)
    stamps = values.cast(pa.int64())
    if values.null_count:
        stamps = pc.fill_null(stamps, 0)
    units, per_period = stamps.to_numpy(), _PER_SECOND[kind.unit] * step
    if len(units) * width >= 2**31 - 1:
        return None
    wrap = 0 if _DATE & set(pieces) else 86_400 // step
    if wrap:
        first, last = 0, wrap - 1
    elif len(units):
        first, last = int(units.min()) // per_period, int(units.max()) // per_period
    else:
        first = last = 0
    if last - first < max(4_096, len(units) // 4):
        if wrap:
            table = _day_texts(pieces, step)
        else:
            table = _digits(np.arange(first, last + 1, dtype=np.int64) * step, pieces)
        if table is None:
            return None
        text = np.empty(len(units) * width, np.uint8)
        put_period_texts(units, per_period, first, wrap, table.reshape(-1), width, text)
    else:
        keys = units // per_period
        digits = _digits((keys % wrap if wrap else keys) * step, pieces)
        if digits is None:
            return None
        text = digits.reshape(-1)
    offsets = np.arange(0, (len(units) + 1) * width, width, dtype=np.int32)
    out = pa.Array.from_buffers(
        pa.string(), len(units), [None, pa.py_buffer(offsets), pa.py_buffer(text)]
    )
    if values.null_count:
        return pc.if_else(values.is_valid(), out, pa.scalar(None, pa.string()))
    return out


_DATE = {"Y", "m", "d"}
_STEPS = (("S", 1), ("M", 60), ("H", 3_600))
"""The finest unit a pattern writes, in seconds, by the specifiers it holds."""


@functools.lru_cache(maxsize=16)
def _day_texts(pieces: tuple[str, ...], step: int) -> np.ndarray | None:
    """The texts of a pattern without the date for each ``step`` seconds of a day (the same
    every day: made once, read-only)."""
    texts = _digits(np.arange(0, 86_400, step, dtype=np.int64), pieces)
    if texts is not None:
        texts.flags.writeable = False
    return texts


def _digits(seconds: np.ndarray, pieces: tuple[str, ...]) -> np.ndarray | None:
    """Seconds since the epoch formatted by ``pieces``, one row of bytes each; None for a
    year outside 0000-9999."""
    count, width = len(seconds), sum(_WIDTHS.get(p, 1) for p in pieces)
    days, second = np.divmod(seconds, 86_400)
    numbers: dict[str, np.ndarray] = {}
    if _DATE & set(pieces):
        year, numbers["m"], numbers["d"] = civil_from_days(days)
        if count and (year.min() < 0 or year.max() > 9_999):
            return None
        numbers["Y"] = year
    numbers["H"], numbers["M"], numbers["S"] = second // 3_600, second // 60 % 60, second % 60
    text = np.empty((count, width), np.uint8)
    at = 0
    for piece in pieces:
        if piece[0] == "'":
            text[:, at] = ord(piece[1])
            at += 1
            continue
        number = numbers[piece]
        for place in range(_WIDTHS[piece] - 1, -1, -1):
            text[:, at] = number // 10**place % 10 + 48
            at += 1
    return text
