"""Window functions on a stream that never ends (Flink's ``OVER`` aggregations): which window
expressions can run as rows become final, and the operator a plan gets for them.

A window expression runs on an unbounded stream when each row's value is final once the
watermark passes the row's time: the window is ordered by an event-time column of the stream
(:func:`event_time_columns`), ascending, and reads no row after the current one:
``ROW_NUMBER``, ``RANK``, ``DENSE_RANK``; ``LAG``; ``SUM``, ``COUNT``, ``AVG``, ``MIN`` and
``MAX`` over ``ROWS|RANGE BETWEEN ... PRECEDING AND CURRENT ROW`` (or ``... PRECEDING``),
``FIRST_VALUE``, ``LAST_VALUE`` and ``NTH_VALUE`` over such frames with a bounded start.
Those get an :class:`~sabot_lab.logical.operators.OverWindow`; any other keeps the
:class:`~sabot_lab.logical.operators.WindowFunctions` that waits for the end of its input,
which the termination check refuses on an unbounded stream with :func:`streaming_refusal`'s
reason (a top-N over another order is planned from that operator and the filter after it).

May import: the plan (:mod:`sabot_lab.logical`), the expressions and :mod:`sabot_lab.errors`.

>>> import sabot_lab as sl
>>> ticks = sl.from_generator(lambda i: None, schema={"t": "timestamp[ms]", "x": "int64"})
>>> timed = ticks.with_watermark("t", "1s")
>>> sorted(event_time_columns(timed.graph, timed.node_id))
['t']
>>> last_10 = sl.col("x").sum().over(order_by="t", frame=("rows", -10, 0))
>>> window_operator(timed.graph, timed.node_id, [last_10.alias("s")]).kind.value
'over_window'
>>> print(streaming_refusal([sl.col("x").sum().over(order_by="x").alias("s")], {"t"}))
col("x").sum().over(order_by="x") is ordered by col("x"), not by the stream's event time (t): ...
"""

from __future__ import annotations

from collections.abc import Sequence

from sabot_lab.expr import Expr
from sabot_lab.expr.nodes import Aggregate, Alias, Column
from sabot_lab.expr.windows import FRAMED_FUNCTIONS, is_value_rank, window_parts
from sabot_lab.logical.graph import JobGraph
from sabot_lab.logical.operators import (
    CascadedWindow,
    Filter,
    OverWindow,
    Project,
    TopN,
    Watermark,
    Window,
    WindowFunctions,
)
from sabot_lab.logical.window_bounds import window_bounds

__all__ = ["FIX", "event_time_columns", "streaming_refusal", "window_operator"]

FIX = (
    "order the window by the stream's event-time column ascending (ORDER BY {time}, "
    'order_by="{time}") with a frame up to the current row (ROWS|RANGE BETWEEN ... PRECEDING '
    "AND CURRENT ROW), keep the first rows of each partition with a top-N (ROW_NUMBER() OVER "
    "(...) AS rn, then WHERE rn <= N), or aggregate within windows (stream.window(...))"
)
"""What to write instead of a window function an unbounded stream cannot run (``{time}``:
the stream's event-time column)."""

RUNNING = ("sum", "count", "mean", "min", "max")
"""The aggregates a window over an unbounded stream computes from a running partial when its
frame starts at the partition's first row."""

RANKS = ("row_number", "rank", "dense_rank")
"""The ranks by event time an unbounded stream numbers with a counter per partition."""


def event_time_columns(graph: JobGraph, node_id: str) -> set[str]:
    """The columns of the output of ``node_id`` no row after a watermark ``W`` has below
    ``W``: the column a ``with_watermark`` tracks (late rows are dropped there), a windowed
    aggregate's ``window_start`` and ``window_end`` (a cascaded window's: the bound it closes
    on, and the window ends when that is the start), the ``time`` of a top-N that ends with
    its partitions (its watermark waits for the rows it holds), and these passed on by
    filters, projections and window functions over event time.

    >>> import datetime as dt, sabot_lab as sl
    >>> s = sl.from_pydict({"t": [dt.datetime(2026, 1, 1)], "x": [1]})
    >>> u = s.with_watermark("t", "1s").select("x", sl.col("t").alias("u"))
    >>> sorted(event_time_columns(u.graph, u.node_id)), event_time_columns(s.graph, s.node_id)
    (['u'], set())
    """
    node = graph.node(node_id)
    op = node.op
    if isinstance(op, Watermark):
        return {op.column} if op.keep == "on_time" else set()
    if isinstance(op, CascadedWindow):
        bounds, on = window_bounds(graph, node.upstream[0]), op.window["on"]
        later = ("window_start", "window_end") if bounds[on] == "window_start" else ("window_end",)
        return {on} | {k for k in op.keys if bounds.get(k) in later}
    if isinstance(op, Window):
        return {"window_start", "window_end"}
    if isinstance(op, TopN):
        return {op.time} if op.time is not None else set()
    if isinstance(op, Filter | OverWindow):
        return event_time_columns(graph, node.upstream[0])
    if isinstance(op, Project):
        upstream = event_time_columns(graph, node.upstream[0])
        found = set()
        for expr in op.exprs:
            inner = expr.args[0] if isinstance(expr, Alias) else expr
            if isinstance(inner, Column) and inner.param("name") in upstream:
                found.add(expr.output_name())
        return found
    return set()


def window_operator(graph: JobGraph, node_id: str, exprs: Sequence[Expr]) -> WindowFunctions:
    """The operator computing the aliased window expressions ``exprs`` over the output of
    ``node_id``: an :class:`OverWindow` when that output never ends and every expression can
    run as rows become final, else a :class:`WindowFunctions`.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"t": [1], "x": [2]})
    >>> window_operator(s.graph, s.node_id, [sl.col("x").sum().over(order_by="t").alias("s")]).kind.value
    'window_functions'
    """
    if graph.bounded(node_id):
        return WindowFunctions(exprs=list(exprs))
    times = event_time_columns(graph, node_id)
    if streaming_refusal(exprs, times) is not None:
        return WindowFunctions(exprs=list(exprs))
    first = window_parts(_over(exprs[0])).order_by[0]
    return OverWindow(exprs=list(exprs), time=first.param("name"))


def streaming_refusal(exprs: Sequence[Expr], times: set[str]) -> str | None:
    """Why the aliased window expressions ``exprs`` cannot run on an unbounded stream whose
    event-time columns are ``times`` (the clause, then what to write instead), or None when
    they can.

    >>> import sabot_lab as sl
    >>> streaming_refusal([sl.col("x").shift(1).over(order_by="t").alias("p")], {"t"}) is None
    True
    >>> print(streaming_refusal([sl.col("x").shift(-1).over(order_by="t").alias("n")], {"t"}))
    col("x").shift(-1).over(order_by="t") (LEAD) reads rows after the current one, which ...
    """
    ordered_by: set[str] = set()
    for expr in exprs:
        why = _refusal(_over(expr), times)
        if why is not None:
            return f"{why}: {FIX.format(time=min(times, default='t'))}"
        ordered_by.add(window_parts(_over(expr)).order_by[0].param("name"))
    if len(ordered_by) > 1:
        return (
            f"the window functions are ordered by different event-time columns "
            f"({', '.join(sorted(ordered_by))}): order them all by one, or compute them in "
            "separate steps"
        )
    return None


def _over(expr: Expr) -> Expr:
    return expr.args[0] if isinstance(expr, Alias) else expr


def _refusal(over: Expr, times: set[str]) -> str | None:
    """Why the window expression ``over`` cannot run as rows become final, or None."""
    parts = window_parts(over)
    fn = parts.function
    name = str(fn.param("fn"))
    order = parts.order_by
    if is_value_rank(fn):
        return f"{over!r} ranks by its own values, not by the stream's event time"
    if not times:
        return (
            f"{over!r} needs the stream's event time, and this stream has none: add "
            "with_watermark(column, max_delay) before it"
        )
    time_words = ", ".join(sorted(times))
    if len(order) != 1 or not isinstance(order[0], Column) or order[0].param("name") not in times:
        written = ", ".join(repr(o) for o in order) or "nothing"
        return f"{over!r} is ordered by {written}, not by the stream's event time ({time_words})"
    if parts.descending[0]:
        return f"{over!r} is ordered by {order[0]!r} descending: a stream gives times ascending"
    if name in RANKS:
        return None
    if name == "shift":
        if int(fn.param("n")) < 0:
            return (
                f"{over!r} (LEAD) reads rows after the current one, which a stream that never "
                "ends may never give: use LAG over the rows instead"
            )
        return None
    framed = isinstance(fn, Aggregate) or name in FRAMED_FUNCTIONS
    if not framed:
        return f"{over!r} needs every row of its partition, which a stream never has"
    if isinstance(fn, Aggregate) and name not in RUNNING:
        return f"{over!r} is not one of {', '.join(RUNNING)} over a window"
    if parts.frame is None:
        return f"{over!r} reads the whole partition (no frame), up to rows still to come"
    _, start, end = parts.frame
    if end is None or end > 0:
        return f"{over!r} has a frame reaching FOLLOWING rows, which are still to come"
    if start is None and (end != 0 or name not in RUNNING):
        return (
            f"{over!r} has a frame from UNBOUNDED PRECEDING that an unbounded stream runs only "
            f"for {', '.join(RUNNING)} up to the CURRENT ROW"
        )
    return None
