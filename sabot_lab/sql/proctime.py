"""Flink SQL's ``PROCTIME()``: the processing time, the wall-clock time (UTC, in milliseconds as
Flink's ``TIMESTAMP_LTZ(3)``) at which a batch of rows is computed, as a timestamp column
(``SELECT *, PROCTIME() AS p_time FROM bid``, or a table's computed column ``p AS
PROCTIME()``). Rows computed together share a time; it never goes backwards within a task.

It is a user function (:func:`~sabot_lab.udf.udf`), not deterministic, so the optimizer
never folds, duplicates or moves it, and it travels with the plan to a cluster's agents.
:func:`is_processing_time` tells a column computed so: windows on it (processing-time
windows) are grouped once a bounded input ends; on an unbounded one the window table
function stamps the column again where the windows are cut, with the wall clock as its
watermark (:meth:`~sabot_lab.stream.Stream.with_processing_time`), so a window closes when
the clock passes its end.

May import: :mod:`sabot_lab.udf`, :mod:`sabot_lab.expr`, the plan and the stream.

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
from sabot_lab.expr.nodes import Alias, Column
from sabot_lab.logical import Project
from sabot_lab.stream import Stream
from sabot_lab.udf import udf

__all__ = ["is_processing_time", "proctime"]


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


def is_processing_time(stream: Stream, column: str) -> bool:
    """Whether ``stream``'s ``column`` is ``PROCTIME()``'s (computed so, or renamed from such a
    column).

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"x": [1]}).with_columns(proctime().alias("p")).filter(sl.col("x") > 0)
    >>> is_processing_time(s, "p"), is_processing_time(s, "x")
    (True, False)
    """
    graph = stream.graph
    pending = [(stream.node_id, column)]
    while pending:
        node_id, name = pending.pop()
        node = graph.node(node_id)
        if isinstance(node.op, Project):
            made = [e for e in node.op.exprs if e.output_name() == name]
            if not made:
                continue
            expr = made[0].args[0] if isinstance(made[0], Alias) else made[0]
            if expr.equals(proctime()):
                return True
            if not isinstance(expr, Column):
                continue
            name = expr.param("name")
        pending.extend((upstream, name) for upstream in node.upstream)
    return False
