"""The window bounds a plan's output carries: the columns holding the ``window_start`` or
``window_end`` of an event-time window aggregate, under their own names or renamed by
selects, and what a later ``GROUP BY`` of them is planned as on a stream that never ends.

A group by keys that include such a column over an append stream with event time is a
:class:`~sabot_lab.logical.operators.CascadedWindow` (Flink's window aggregate over
propagated window attributes): the windows' rows are final, so each group is final once the
watermark passes one of its bounds, and comes once, without updates. It closes on the window
start when it is a key (the window aggregate upstream passes on a watermark its windows'
starts keep to, so a group comes as soon as its window's rows have), else on the window end.

May import: the plan (:mod:`sabot_lab.logical`) and the expressions.

>>> import sabot_lab as sl
>>> bids = sl.nexmark(events=None).bids.with_watermark("dateTime", "4s")
>>> counts = bids.window(sl.sliding("10s", "2s", on="dateTime")).group_by("auction").agg(n=sl.count())
>>> ends = counts.select("n", sl.col("window_end").alias("ends"))
>>> window_bounds(ends.graph, ends.node_id)
{'ends': 'window_end'}
>>> cascaded_window(ends.graph, ends.node_id, ["ends"], [sl.col("n").max()]).describe()
'keys=[ends] aggs=[col("n").max()] each group once, when the watermark passes ends'
"""

from __future__ import annotations

from collections.abc import Sequence

from sabot_lab.expr import Expr
from sabot_lab.expr.nodes import Alias, Column
from sabot_lab.logical.graph import JobGraph
from sabot_lab.logical.operators import CascadedWindow, Filter, Project, Window

__all__ = ["cascaded_window", "window_bounds"]

_UNITS_US = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}
"""One unit of a timestamp type in microseconds (rounded up to 1 for nanoseconds): the
length of a cascaded window's panes, each holding the groups of one time."""


def window_bounds(graph: JobGraph, node_id: str) -> dict[str, str]:
    """The columns of the output of ``node_id`` holding a window aggregate's bounds, each
    with the bound it holds (``"window_start"`` or ``"window_end"``): a window aggregate's
    own, passed on by filters, selects (as they are or renamed) and the keys of a
    :class:`CascadedWindow`. A window with early results gives none (its rows are updates).

    >>> import datetime as dt, sabot_lab as sl
    >>> s = sl.from_pydict({"t": [dt.datetime(2026, 1, 1)], "x": [1]})
    >>> w = s.window(sl.tumbling("1s", on="t")).agg(n=sl.count())
    >>> window_bounds(w.graph, w.node_id), window_bounds(s.graph, s.node_id)
    ({'window_start': 'window_start', 'window_end': 'window_end'}, {})
    """
    node = graph.node(node_id)
    op = node.op
    if isinstance(op, CascadedWindow):
        upstream = window_bounds(graph, node.upstream[0])
        return {k: upstream[k] for k in op.keys if k in upstream}
    if isinstance(op, Window):
        return {} if op.emits_updates() else {b: b for b in ("window_start", "window_end")}
    if isinstance(op, Filter):
        return window_bounds(graph, node.upstream[0])
    if isinstance(op, Project):
        upstream = window_bounds(graph, node.upstream[0])
        found = {}
        for expr in op.exprs:
            inner = expr.args[0] if isinstance(expr, Alias) else expr
            if isinstance(inner, Column) and inner.param("name") in upstream:
                found[expr.output_name()] = upstream[inner.param("name")]
        return found
    return {}


def cascaded_window(
    graph: JobGraph, node_id: str, keys: Sequence[str], aggs: Sequence[Expr]
) -> CascadedWindow | None:
    """The :class:`CascadedWindow` a group by ``keys`` of the output of ``node_id`` is, when
    a key holds a window bound of an append stream with event time; else None."""
    bounds = window_bounds(graph, node_id)
    held = {bounds[k]: k for k in reversed(keys) if k in bounds}  # the first key of each
    on = held.get("window_start") or held.get("window_end")
    if on is None or graph.event_time(node_id) is None:
        return None
    unit = graph.node(node_id).output_schema.field(on).type.unit
    pane = _UNITS_US[unit]
    window = {"kind": "tumbling", "size": pane, "slide": pane, "on": on}
    return CascadedWindow(window=window, keys=list(keys), aggs=list(aggs))
