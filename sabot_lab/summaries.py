"""Eager summaries of a bounded :class:`~sabot_lab.stream.Stream`'s rows, as Polars gives them
on a DataFrame: ``describe`` (count, null count, mean, standard deviation, minimum,
percentiles and maximum per column) and ``sample`` (rows drawn at random, reproducibly with a
seed). Both run the stream to its end, so they refuse an unbounded one.

The statistics are computed with ``pyarrow.compute`` on the collected table. May import:
pyarrow, numpy and sabot-lab's errors; not :mod:`sabot_lab.stream` at run time (it imports
this module).

>>> import pyarrow as pa
>>> describe_table(pa.table({"x": [1, 2, 3, None]})).to_pydict()["x"]
[3.0, 1.0, 2.0, 1.0, 1.0, 1.0, 2.0, 3.0, 3.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.errors import PlanError

if TYPE_CHECKING:
    from sabot_lab.stream import Stream

__all__ = ["QuantileMethod", "bounded_rows", "describe_table", "sample_table"]

QuantileMethod: TypeAlias = Literal["nearest", "higher", "lower", "midpoint", "linear"]


def bounded_rows(stream: Stream, verb: str) -> pa.Table:
    """All rows of ``stream``, or a :class:`PlanError` naming ``verb`` if it never ends.

    >>> import sabot_lab as sl
    >>> bounded_rows(sl.nexmark(events=None).bids, "describe")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.PlanError: describe() reads every row, and this stream never ends: take a bounded part first (head(n), or a filter on a source with stop=)
    """
    if not stream.bounded:
        raise PlanError(
            f"{verb}() reads every row, and this stream never ends: take a bounded part first "
            "(head(n), or a filter on a source with stop=)"
        )
    return stream.collect()


def _numeric(t: pa.DataType) -> bool:
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_boolean(t)
    )


def describe_table(
    table: pa.Table,
    percentiles: Sequence[float] = (0.25, 0.5, 0.75),
    interpolation: QuantileMethod = "nearest",
) -> pa.Table:
    """A column ``statistic`` (``count``, ``null_count``, ``mean``, ``std``, ``min``, one row
    per percentile such as ``25%``, ``max``), then one column per column of ``table``: float64
    for numbers and booleans (no ``std`` nor percentiles of booleans), and for other columns
    the text of their count, null count, minimum and maximum (null elsewhere), as Polars'
    ``describe`` (which also gives a mean and percentiles of times). ``count`` counts the values
    that are not null; ``std`` is the sample standard deviation (n - 1); percentiles
    interpolate between values as ``interpolation`` says (``pyarrow.compute.quantile``'s
    methods; ``nearest`` rounds a position halfway between two values to the even one).

    >>> t = describe_table(pa.table({"x": [1.0, 2.0, 3.0, 4.0, None], "s": ["a", "b", None, "c", "d"]}))
    >>> t.column("statistic").to_pylist()
    ['count', 'null_count', 'mean', 'std', 'min', '25%', '50%', '75%', 'max']
    >>> t.column("x").to_pylist()[:3], t.column("s").to_pylist()[4]
    ([4.0, 1.0, 2.5], 'a')
    """
    quantiles = sorted(percentiles)
    for q in quantiles:
        if not 0 <= q <= 1:
            raise PlanError(f"describe() takes percentiles between 0 and 1, got {q!r}")
    labels = [f"{q * 100:g}%" for q in quantiles]
    columns: dict[str, pa.Array] = {
        "statistic": pa.array(["count", "null_count", "mean", "std", "min", *labels, "max"])
    }
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name == "statistic":
            raise PlanError("describe() names its first column 'statistic'; rename yours first")
        columns[name] = _describe_column(column, quantiles, interpolation)
    return pa.table(columns)


def _describe_column(
    column: pa.ChunkedArray, quantiles: list[float], interpolation: QuantileMethod
) -> pa.Array:
    valid = len(column) - column.null_count
    nulls = column.null_count
    if not _numeric(column.type):
        extremes = pc.min_max(column) if _ordered(column.type) else None
        low, high = (None, None) if extremes is None else extremes.values()
        texts = [str(valid), str(nulls), None, None, _text(low), *[None] * len(quantiles)]
        return pa.array([*texts, _text(high)], pa.string())
    numbers = column.cast(pa.float64())
    flags = pa.types.is_boolean(column.type)  # as Polars: no spread of booleans
    std = None if flags else pc.stddev(numbers, ddof=1).as_py()
    spread = [None] * len(quantiles)
    if valid and quantiles and not flags:
        spread = pc.quantile(numbers, q=quantiles, interpolation=interpolation).to_pylist()
    stats = [pc.mean(numbers).as_py(), std, pc.min(numbers).as_py()]
    values = [float(valid), float(nulls), *stats, *spread]
    return pa.array([*values, pc.max(numbers).as_py()], pa.float64())


def _ordered(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_temporal(t)


def _text(scalar: pa.Scalar | None) -> str | None:
    if scalar is None or not scalar.is_valid:
        return None
    return str(scalar.as_py())


def sample_table(
    table: pa.Table,
    n: int | None = None,
    fraction: float | None = None,
    with_replacement: bool = False,
    shuffle: bool = False,
    seed: int | None = None,
) -> pa.Table:
    """``n`` rows of ``table`` (or ``fraction`` of its rows, rounded down) drawn at random,
    each at most once unless ``with_replacement``; the same ``seed`` draws the same rows. The
    rows keep the table's order unless ``shuffle``.

    >>> t = pa.table({"x": list(range(10))})
    >>> sample_table(t, n=3, seed=1).equals(sample_table(t, n=3, seed=1))
    True
    >>> sample_table(t, fraction=0.5).num_rows
    5
    """
    if (n is None) == (fraction is None):
        if n is None:
            n = 1  # as Polars: one row when neither is given
        else:
            raise PlanError("sample() takes n= or fraction=, not both")
    if fraction is not None:
        if fraction < 0 or (fraction > 1 and not with_replacement):
            raise PlanError(
                f"sample(fraction={fraction!r}) takes a fraction between 0 and 1 "
                "(above 1 only with with_replacement=True)"
            )
        n = int(fraction * table.num_rows)
    assert n is not None
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise PlanError(f"sample(n={n!r}) takes a non-negative number of rows")
    if n > table.num_rows and not with_replacement:
        raise PlanError(
            f"sample(n={n}) asks for more rows than the {table.num_rows} there are; "
            "pass with_replacement=True to draw rows more than once"
        )
    if n and not table.num_rows:
        raise PlanError(f"sample(n={n}) cannot draw rows from an empty stream")
    rng = np.random.default_rng(seed)
    rows = rng.choice(table.num_rows, size=n, replace=with_replacement) if n else np.zeros(0, int)
    if not shuffle:
        rows = np.sort(rows)
    return table.take(pa.array(rows, pa.int64()))
