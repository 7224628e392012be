"""User functions the UDF tests share, each with the plain-Python reference it must equal:
the same function applied row by row, None for a row with a null argument."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

import sabot_lab as sl


def price(f: float, i: int) -> float:
    """Branches, a loop and ``math``: a made-up pricing rule."""
    if f > 100.0:
        return f * 0.9
    if i < 0:
        return f - i
    acc = 0.0
    for k in range(i % 5):
        acc += math.sin(f) * k
    return acc + math.exp(-abs(f) / 100.0)


def steps(i: int, j: int) -> int:
    """Integer arithmetic in a loop (floor division and modulo of negatives as Python's)."""
    n = abs(j) + 1
    count = 0
    while n > 1 and count < 50:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        count += 1
    return count * (1 if i >= 0 else -1) + j // 7 - i % 3


def either(b: bool, i: int) -> bool:
    """Booleans in and out."""
    return (b and i > 0) or (not b and i < -5)


def elapsed(t: Any, start: Any) -> Any:
    """Timestamps in, a duration out."""
    return t - start if t > start else start - t


def maybe(f: float) -> float | None:
    """A path returning None gives a null."""
    if f < 0:
        return None
    return f / 2.0


def label(s: str, i: int) -> str | None:
    """Strings in and out (any UTF-8), with branches and a null result."""
    if i > 0:
        return s.upper() + "+"
    if s == "":
        return None
    return s[::-1] * (1 + abs(i) % 3)


def width(s: str) -> int:
    """A string in, a number out."""
    return len(s) + (10 if s.startswith("a") else 0)


def scaled(f: np.ndarray, i: np.ndarray) -> np.ndarray:
    """A vectorised function of whole arrays: ``f * i`` where ``f > 0``, else ``-f`` (numba
    compiles this arithmetic in well under a second, ``np.where`` in several)."""
    return (f > 0) * f * i - (f <= 0) * f


SCALAR_CASES: list[tuple[str, Callable[..., Any], pa.DataType, tuple[str, ...]]] = [
    ("price", price, pa.float64(), ("f", "i")),
    ("steps", steps, pa.int64(), ("i", "j")),
    ("either", either, pa.bool_(), ("b", "i")),
    ("maybe", maybe, pa.float64(), ("f",)),
    ("label", label, pa.string(), ("s", "i")),
    ("width", width, pa.int64(), ("s",)),
]
"""(name, function, return type, argument columns of tests.support.strategies.SCHEMA)."""

UDFS = {name: sl.udf(fn, return_dtype=dtype) for name, fn, dtype, _ in SCALAR_CASES}
"""The compiled UDF of each case."""


def per_row(fn: Callable[..., Any], table: pa.Table, columns: tuple[str, ...]) -> list[Any]:
    """``fn`` applied in plain Python to each row of ``columns``; None where one is null."""
    values = [table.column(c).to_pylist() for c in columns]
    return [None if any(v is None for v in row) else fn(*row) for row in zip(*values, strict=True)]
