"""User aggregates (``@sl.udaf``) shared by the tests, each with a plain-Python reference over
one group's rows and, where SQL can say it, the same aggregate in DuckDB's SQL."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

import sabot_lab as sl

__all__ = [
    "DUCKDB_SQL",
    "REFERENCES",
    "GeometricMean",
    "SignedRange",
    "SumOfSquares",
    "WeightedMean",
    "WeightedMeanFunctions",
    "python_reference",
    "random_rows",
]


class WeightedMeanFunctions:
    """A weighted mean's four functions (``WeightedMean`` compiles them)."""

    @staticmethod
    def init() -> tuple[float, float]:
        return (0.0, 0.0)

    @staticmethod
    def accumulate(state: tuple[float, float], x: float, w: float) -> tuple[float, float]:
        return (state[0] + x * w, state[1] + w)

    @staticmethod
    def merge(state: tuple[float, float], other: tuple[float, float]) -> tuple[float, float]:
        return (state[0] + other[0], state[1] + other[1])

    @staticmethod
    def finalize(state: tuple[float, float]) -> float | None:
        return state[0] / state[1] if state[1] != 0 else None


WeightedMean = sl.udaf(return_dtype=pa.float64())(WeightedMeanFunctions)


@sl.udaf(return_dtype=pa.float64())
class GeometricMean:
    @staticmethod
    def init() -> tuple[float, int]:
        return (0.0, 0)

    @staticmethod
    def accumulate(state: tuple[float, int], x: float) -> tuple[float, int]:
        return (state[0] + math.log(x), state[1] + 1)

    @staticmethod
    def merge(state: tuple[float, int], other: tuple[float, int]) -> tuple[float, int]:
        return (state[0] + other[0], state[1] + other[1])

    @staticmethod
    def finalize(state: tuple[float, int]) -> float:
        return math.exp(state[0] / state[1])


@sl.udaf(return_dtype=pa.float64())
class SumOfSquares:
    @staticmethod
    def init() -> float:
        return 0.0

    @staticmethod
    def accumulate(state: float, x: float) -> float:
        return state + x * x

    @staticmethod
    def merge(state: float, other: float) -> float:
        return state + other

    @staticmethod
    def finalize(state: float) -> float:
        return state


@sl.udaf(return_dtype=pa.int64())
class SignedRange:
    """The highest minus the lowest integer, and whether a negative one was seen (the sign of
    the result): a state of an integer, an integer and a boolean."""

    @staticmethod
    def init() -> tuple[int, int, bool]:
        return (2**62, -(2**62), False)

    @staticmethod
    def accumulate(state: tuple[int, int, bool], x: int) -> tuple[int, int, bool]:
        return (min(state[0], x), max(state[1], x), state[2] or x < 0)

    @staticmethod
    def merge(state: tuple[int, int, bool], other: tuple[int, int, bool]) -> tuple[int, int, bool]:
        return (min(state[0], other[0]), max(state[1], other[1]), state[2] or other[2])

    @staticmethod
    def finalize(state: tuple[int, int, bool]) -> int:
        spread = state[1] - state[0]
        return -spread if state[2] else spread


def _weighted_mean(x: Sequence[float], w: Sequence[float]) -> float | None:
    total = sum(w)
    return sum(a * b for a, b in zip(x, w, strict=True)) / total if total != 0 else None


def _geometric_mean(x: Sequence[float]) -> float:
    return math.exp(sum(math.log(v) for v in x) / len(x))


def _signed_range(x: Sequence[int]) -> int:
    spread = max(x) - min(x)
    return -spread if min(x) < 0 else spread


REFERENCES: dict[str, tuple[Callable[..., Any], Callable[..., sl.Expr]]] = {
    "wm": (_weighted_mean, lambda: WeightedMean(sl.col("x"), sl.col("w"))),
    "gm": (_geometric_mean, lambda: GeometricMean(sl.col("p"))),
    "ss": (lambda x: sum(v * v for v in x), lambda: SumOfSquares(sl.col("x"))),
    "sr": (_signed_range, lambda: SignedRange(sl.col("i"))),
}
"""Output name -> (plain-Python aggregate of one group's inputs, the user aggregate)."""

_INPUTS = {"wm": ("x", "w"), "gm": ("p",), "ss": ("x",), "sr": ("i",)}

DUCKDB_SQL = (
    "sum(x * w) FILTER (WHERE x IS NOT NULL AND w IS NOT NULL) / "
    "nullif(sum(w) FILTER (WHERE x IS NOT NULL AND w IS NOT NULL), 0) AS wm, "
    "exp(avg(ln(p))) AS gm, sum(x * x) AS ss"
)
"""The aggregates of :data:`REFERENCES` SQL can say, as DuckDB computes them."""


def random_rows(seed: int, n: int, keys: int = 5) -> pa.Table:
    """Rows with string and integer keys (some null) and inputs with nulls: ``x`` and ``w``
    (floats), ``p`` (positive floats), ``i`` (integers)."""
    rng = np.random.default_rng(seed)

    def with_nulls(values: np.ndarray, share: float = 0.1) -> pa.Array:
        return pa.array(values, mask=rng.random(n) < share)

    names = np.array([f"k{j}" for j in range(keys)], dtype=object)
    return pa.table(
        {
            "k": with_nulls(names[rng.integers(0, keys, n)], 0.05),
            "g": pa.array(rng.integers(0, 3, n)),
            "x": with_nulls(rng.normal(0, 10, n)),
            "w": with_nulls(rng.uniform(0, 2, n)),
            "p": with_nulls(rng.uniform(0.1, 5, n)),
            "i": with_nulls(rng.integers(-1000, 1000, n)),
        }
    )


def python_reference(rows: pa.Table, keys: Sequence[str], names: Sequence[str]) -> pa.Table:
    """The aggregates ``names`` of :data:`REFERENCES` per group of ``keys``, in plain Python:
    a group's rows with a null input are left out, and no row left gives null."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows.to_pylist():
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    out: dict[str, list[Any]] = {k: [] for k in [*keys, *names]}
    for key, members in groups.items():
        for k, v in zip(keys, key, strict=True):
            out[k].append(v)
        for name in names:
            inputs = _INPUTS[name]
            kept = [r for r in members if all(r[c] is not None for c in inputs)]
            columns = [[r[c] for r in kept] for c in inputs]
            out[name].append(REFERENCES[name][0](*columns) if kept else None)
    return pa.table(out)
