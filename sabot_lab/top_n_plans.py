"""Top-N and deduplication plans over unbounded streams: a ``ROW_NUMBER()`` window
(``row_number().over(partition, order_by=...)``) whose rows a filter keeps by ``rn <= N``,
``rn < N`` or ``rn = 1`` (SQL's subquery ``WHERE`` or ``QUALIFY``, or :func:`top_k`) becomes
a :class:`~sabot_lab.logical.TopN` operator when its input never ends: it keeps each
partition's N best rows and emits an upsert changelog keyed by the partition columns and
the row number (by the partition columns alone when N is 1: Flink's deduplication, keeping
the last row, or the first one by an order that is not the event time). Keeping the first
row by event time (``ORDER BY`` the watermark's column, ascending) is append-only: each
partition's first row comes once, when the watermark passes its time. Over event-time windows (``window_start`` and ``window_end`` among
the partition columns, with a watermark) each window's rows come once, as it closes.
Partitioned by the left key of a join that keeps each left row until the watermark passes a
column of its own and each right row until it passes the right row's time (Nexmark q6:
``A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires``, partitioned by
``A.id``), each partition's rows come once, as the watermark passes that left row's end
(``expires``), carrying the right row's time as their event time: an append stream a window
over event time can read (q6's ``AVG(...) OVER``). The left key is taken as unique on its
side, as an auction's id is: rows of a key seen again after its end would come again.

On a bounded stream the same plan stays window functions and a filter, which give the same
rows.

May import: the plan and expressions; not :mod:`sabot_lab.stream` at run time (it imports
this module), whose streams it extends through their methods.

>>> import sabot_lab as sl
>>> bids = sl.nexmark(events=None).bids
>>> top = top_k(bids, 3, by="price", over="auction")
>>> top.changelog
'upsert'
>>> print(top.explain(optimized=False).splitlines()[2].strip())
[P2] top_n __over0 <= 3 by row_number().over("auction", order_by="price", descending=True) (upserts; keeps the rows of every partition seen)  #window_functions_...
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pyarrow as pa

from sabot_lab.errors import PlanError
from sabot_lab.expr import Expr, col
from sabot_lab.expr.nodes import Alias, Binary, Column, Literal, Over
from sabot_lab.expr.windows import row_number
from sabot_lab.logical import (
    Filter,
    JobGraph,
    Project,
    SymmetricJoin,
    TopN,
    Watermark,
    WindowFunctions,
)
from sabot_lab.predicates import substitute

if TYPE_CHECKING:
    from sabot_lab.stream import Stream

__all__ = ["plan_top_n", "top_k"]

WINDOW_BOUNDS = ("window_start", "window_end")
"""The columns a window table (``TUMBLE``, ``HOP``, ``CUMULATE``) adds."""


def top_k(
    stream: Stream,
    k: int,
    *,
    by: str | Expr | Sequence[str | Expr],
    over: str | Sequence[str] = (),
    reverse: bool | Sequence[bool] = False,
    name: str = "rank",
) -> Stream:
    """The ``k`` rows of each partition (rows with the same ``over`` columns; none: all
    rows) with the largest values of ``by`` (``reverse``: the smallest), ties going to the
    row that came first, each with its place from 1 in the column ``name``. On an unbounded
    stream it is an upsert changelog keyed by ``over`` and ``name`` (see the module).

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"k": ["a", "a", "a", "b"], "x": [1, 5, 3, 2]})
    >>> top_k(s, 2, by="x", over="k").sort(["k", "rank"]).collect().to_pydict()
    {'k': ['a', 'a', 'b'], 'x': [5, 3, 2], 'rank': [1, 2, 1]}
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise PlanError(f"top_k() needs k, the rows to keep per partition, of 1 or more; got {k!r}")
    keys = [by] if isinstance(by, str | Expr) else list(by)
    flags = [reverse] * len(keys) if isinstance(reverse, bool) else list(reverse)
    if len(flags) != len(keys):
        raise PlanError(f"top_k() got {len(keys)} by keys but {len(flags)} reverse flags")
    partitions = [over] if isinstance(over, str) else list(over)
    numbered = row_number().over(
        *partitions, order_by=keys, descending=[not f for f in flags], nulls_last=True
    )
    return stream.with_columns(numbered.alias(name)).filter(col(name) <= k)


def plan_top_n(filtered: Stream) -> Stream:
    """``filtered`` (a stream whose last operator is a filter) with the row number window
    its filter bounds run as a top-N, when it is one over an unbounded stream (else
    ``filtered`` as it is).

    >>> import sabot_lab as sl
    >>> bids = sl.nexmark(events=None).bids
    >>> numbered = bids.with_columns(rn=sl.row_number().over("bidder", order_by="dateTime"))
    >>> kinds = [n.op.kind.value for n in plan_top_n(numbered.filter(sl.col("rn") == 1)).graph]
    >>> "top_n" in kinds, "window_functions" in kinds
    (True, False)
    """
    graph = filtered.graph
    node = graph.node(filtered.node_id)
    if not isinstance(node.op, Filter):
        return filtered
    predicate, below = node.op.predicate, node.upstream[0]
    while isinstance(graph.node(below).op, Project) and len(graph.node(below).downstream) == 1:
        project = graph.node(below)
        assert isinstance(project.op, Project)
        predicate = substitute(predicate, {e.output_name(): e for e in project.op.exprs})
        below = project.upstream[0]
    window = graph.node(below)
    if not isinstance(window.op, WindowFunctions) or len(window.downstream) != 1:
        return filtered
    (rank,) = window.op.exprs if len(window.op.exprs) == 1 else (None,)
    (source,) = window.upstream
    if rank is None or graph.bounded(source) or not _numbers_rows(rank):
        return filtered
    n = _bound(predicate, rank.output_name())
    if n is None:
        return filtered
    window_end = _window_end(graph, source, rank)
    first_at = None if window_end or n != 1 else _first_at(graph, source, rank)
    changed = graph.copy()
    ending = None if window_end or first_at else _partition_end(graph, source, rank)
    if ending is None:
        top = TopN(rank=rank, n=n, window_end=window_end, first_at=first_at)
    else:
        top = _ending_with_partitions(changed, source, ending, rank, n)
    changed.replace_operator(window.replace(op=top, name="top_n"))
    return type(filtered)(changed, filtered.node_id)


@dataclass(frozen=True)
class _PartitionEnd:
    """Where the rows of each partition of a top-N end: the symmetric join ``join`` keeps a
    left row until the watermark passes its column ``end`` (its output's too), and the
    top-N's input passes on the right side's ``until`` column as ``time``."""

    join: str
    end: str
    time: str


def _partition_end(graph: JobGraph, source: str, rank: Expr) -> _PartitionEnd | None:
    """Where the partitions of ``rank`` end, when ``source`` selects columns of filtered rows
    of a symmetric join that keeps both sides' rows until the watermark passes a column of
    theirs, and ``rank`` partitions by the left join key: every row of a partition then
    pairs with one left row (Nexmark's auction, ``A.id`` unique), whose ``until`` column
    (``expires``) ends it. None otherwise."""
    project = graph.node(source)
    if not isinstance(project.op, Project) or len(project.downstream) != 1:
        return None
    passed = project.op.passed_columns()
    below = graph.node(project.upstream[0])
    while isinstance(below.op, Filter) and len(below.downstream) == 1:
        below = graph.node(below.upstream[0])
    join = below.op
    if not isinstance(join, SymmetricJoin) or len(below.downstream) != 1:
        return None
    if join.left_until is None or join.left_slack > 0 or join.right_until not in join.right_payload:
        return None  # (a left row kept past its until, by a slack, still meets right rows)
    over = rank.args[0]
    partitions = {
        passed.get(k.param("name")) for k in over.args[1 : 1 + int(over.param("partitions"))]
    }
    right_time = join.payload_names[join.right_payload.index(join.right_until)]
    times = [name for name, column in passed.items() if column == right_time]
    if partitions.isdisjoint(join.left_on) or not times:
        return None
    return _PartitionEnd(below.operator_id, join.left_until, times[0])


def _ending_with_partitions(
    graph: JobGraph, source: str, ending: _PartitionEnd, rank: Expr, n: int
) -> TopN:
    """The top-N emitting each partition's rows as it ends (``ending``); ``graph`` changed
    in place: the join passes its watermark on and ``source`` also selects the end."""
    join = graph.node(ending.join)
    assert isinstance(join.op, SymmetricJoin)
    graph.replace_operator(join.replace(op=replace(join.op, passes_watermark=True)))
    project = graph.node(source)
    assert isinstance(project.op, Project)
    end = "__ends_at"
    while end in project.output_schema.names:
        end += "_"
    selected = replace(project.op, exprs=[*project.op.exprs, col(ending.end).alias(end)])
    schema = selected.schema([graph.node(project.upstream[0]).output_schema])
    graph.replace_operator(project.replace(op=selected, schema=schema))
    return TopN(rank=rank, n=n, ends_at=end, time=ending.time)


def _numbers_rows(rank: Expr) -> bool:
    """Whether ``rank`` is an aliased ``row_number()`` over partitions of columns."""
    over = rank.args[0] if isinstance(rank, Alias) else None
    if not isinstance(over, Over) or over.args[0].param("fn") != "row_number":
        return False
    keys = over.args[1 : 1 + int(over.param("partitions"))]
    return all(isinstance(k, Column) for k in keys)


def _bound(predicate: Expr, rank: str) -> int | None:
    """The N of ``rank <= N`` (``rank < N + 1``, ``rank = 1``, or written the other way
    round) that ``predicate`` is; None for any other predicate."""
    if not isinstance(predicate, Binary):
        return None
    left, right = predicate.args
    op = predicate.op
    if isinstance(left, Literal):
        left, right = right, left
        op = {"ge": "le", "gt": "lt", "le": "ge", "lt": "gt"}.get(op, op)
    if not (isinstance(left, Column) and left.param("name") == rank):
        return None
    value = right.param("value") if isinstance(right, Literal) else None
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    n = {"le": value, "lt": value - 1, "eq": 1 if value == 1 else None}.get(op)
    return n if n is not None and n >= 1 else None


def _window_end(graph: JobGraph, source: str, rank: Expr) -> str | None:
    """``window_end`` when ``rank`` partitions by a window table's bounds of a stream with
    event time (its windows close as the watermark passes their end)."""
    over = rank.args[0]
    keys = {k.param("name") for k in over.args[1 : 1 + int(over.param("partitions"))]}
    schema = graph.node(source).output_schema
    if not set(WINDOW_BOUNDS) <= keys or graph.event_time(source) is None:
        return None
    if not pa.types.is_timestamp(schema.field("window_end").type):
        return None
    return "window_end"


def _first_at(graph: JobGraph, source: str, rank: Expr) -> str | None:
    """The order column of ``rank`` when it is the only one, ascending, and the column the
    nearest watermark upstream of ``source`` tracks (under that name or renamed)."""
    over = rank.args[0]
    orders = over.args[1 + int(over.param("partitions")) :]
    if len(orders) != 1 or not isinstance(orders[0], Column) or over.param("descending")[0]:
        return None
    wanted = orders[0].param("name")
    found = graph.column_origin(source, wanted, lambda op: not isinstance(op, Watermark))
    if found is None:
        return None
    node, name = found
    return wanted if isinstance(node.op, Watermark) and node.op.column == name else None
