"""Flink SQL's ``PROCTIME()``: the processing time, the wall-clock time (UTC, in milliseconds as
Flink's ``TIMESTAMP_LTZ(3)``) at which a batch of rows is computed, as a timestamp column
(``SELECT *, PROCTIME() AS p_time FROM bid``, or a table's computed column ``p AS
PROCTIME()``). Rows computed together share a time; it never goes backwards within a task.

It is a user function (:func:`~sabot_lab.udf.udf`), not deterministic, so the optimizer
never folds, duplicates or moves it, and it travels with the plan to a cluster's agents.

May import: :mod:`sabot_lab.udf` and :mod:`sabot_lab.expr`.

>>> import datetime as dt, sabot_lab as sl
>>> before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
>>> times = sl.from_pydict({"x": [1, 2]}).select(proctime().alias("p")).collect().column("p")
>>> all(before - dt.timedelta(seconds=1) <= t <= before + dt.timedelta(minutes=5) for t in times.to_pylist())
True
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa

from sabot_lab.expr import Expr, lit
from sabot_lab.udf import udf

__all__ = ["proctime"]


@udf(return_dtype=pa.timestamp("ms"), vectorized=True, compile=False, deterministic=False)
def _processing_time(rows: np.ndarray) -> np.ndarray:
    """The current time for each of ``rows`` (one value per row, all equal)."""
    return np.full(len(rows), time.time_ns() // 1_000_000, dtype="datetime64[ms]")


def proctime() -> Expr:
    """The expression ``PROCTIME()`` stands for: the processing time of each row.

    >>> proctime().output_field(pa.schema([])).type
    TimestampType(timestamp[ms])
    """
    result: Expr = _processing_time(lit(0))  # the literal gives the batch's length
    return result
