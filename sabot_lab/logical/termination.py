"""Whether a run of a plan ends, and whether it gives any row before its end: the check a
terminal that reads a stream to its end (``collect()``, ``run()``, ``to_parquet()``...) makes
before it reads a single row.

An operator's :class:`Flow` follows from its inputs' (one :data:`FLOWS` entry per operator
class): a source ends when it is bounded; a limit ends once its input gives rows; an operator
that gives its rows at the end of its input (a sort, a distinct, a window without a watermark)
over an input that never ends gives none at all, and says why.

May import: the plan (:mod:`sabot_lab.logical`) and :mod:`sabot_lab.errors`.

>>> import sabot_lab as sl
>>> bids = sl.nexmark(events=None).bids
>>> first = bids.head(3)
>>> flow(first.graph, first.node_id)
Flow(ends=True, stuck=None)
>>> require_end(bids.graph, bids.node_id, "collect()")
Traceback (most recent call last):
...
sabot_lab.errors.PlanError: collect() reads the stream to its end, and this one never ends ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sabot_lab.errors import PlanError
from sabot_lab.logical.dispatch import PhaseTable
from sabot_lab.logical.graph import JobGraph, StreamOperatorNode
from sabot_lab.logical.operators import (
    Aggregate,
    AsofJoin,
    Distinct,
    Filter,
    FlatMap,
    Fused,
    HashJoin,
    IntervalJoin,
    Limit,
    Map,
    OverWindow,
    Project,
    RowIndex,
    Sort,
    Source,
    SymmetricJoin,
    TopN,
    Union,
    Watermark,
    Window,
    WindowFunctions,
)
from sabot_lab.logical.over_windows import event_time_columns, streaming_refusal

__all__ = [
    "FIX",
    "FLOWS",
    "Flow",
    "flow",
    "flows",
    "require_end",
    "require_row_numbers",
    "require_rows",
]

FIX = (
    "take head(n) first, iterate over its batches with iter_batches(), or submit() it to a cluster"
)
"""What to do instead of reading an unbounded stream to its end."""


@dataclass(frozen=True)
class Flow:
    """How an operator's output runs: ``ends`` when it has an end; ``stuck``: why it never
    gives a row (it waits for the end of an input that never ends), None when it gives rows
    as its inputs do."""

    ends: bool
    stuck: str | None = None


Rule = Callable[[JobGraph, StreamOperatorNode, list[Flow]], Flow]


def _source(graph: JobGraph, node: StreamOperatorNode, inputs: list[Flow]) -> Flow:
    assert isinstance(node.op, Source)
    return Flow(ends=node.op.source.bounded)


def _as_input(graph: JobGraph, node: StreamOperatorNode, inputs: list[Flow]) -> Flow:
    """Row by row, or joined against sides read first: it ends when all its inputs end and
    is stuck when one is."""
    stuck = next((f.stuck for f in inputs if f.stuck is not None), None)
    return Flow(ends=all(f.ends for f in inputs), stuck=stuck)


def _union(graph: JobGraph, node: StreamOperatorNode, inputs: list[Flow]) -> Flow:
    """Rows of any input that gives some."""
    stuck = inputs[0].stuck if all(f.stuck is not None for f in inputs) else None
    return Flow(ends=all(f.ends for f in inputs), stuck=stuck)


def _limit(graph: JobGraph, node: StreamOperatorNode, inputs: list[Flow]) -> Flow:
    """It ends once it has its rows: when its input ends or gives rows."""
    (upstream,) = inputs
    assert isinstance(node.op, Limit)
    return Flow(
        ends=upstream.ends or upstream.stuck is None or node.op.n == 0, stuck=upstream.stuck
    )


def _at_end(why: str) -> Rule:
    """An operator that gives its rows when its input ends (``why``: its own words)."""

    def rule(graph: JobGraph, node: StreamOperatorNode, inputs: list[Flow]) -> Flow:
        (upstream,) = inputs
        if upstream.ends:
            return upstream
        return Flow(ends=False, stuck=upstream.stuck or why.format(name=node.name))

    return rule


def _aggregate(graph: JobGraph, node: StreamOperatorNode, inputs: list[Flow]) -> Flow:
    """A running aggregate gives updates as rows come; another gives its rows at the end."""
    assert isinstance(node.op, Aggregate)
    if node.op.running:
        return _as_input(graph, node, inputs)
    return _at_end(
        "{name}() gives its rows when its input ends, and its input never ends: "
        "aggregate within windows (stream.window(...))"
    )(graph, node, inputs)


def _on_watermark(graph: JobGraph, node: StreamOperatorNode, inputs: list[Flow]) -> Flow:
    """A window or as-of join gives rows as the watermark passes; without one, at the end."""
    found = _as_input(graph, node, inputs)
    if found.ends or found.stuck is not None:
        return found
    if any(graph.event_time(u) is None for u in node.upstream):
        return Flow(
            ends=False,
            stuck=f"{node.name} over an unbounded stream gives rows as the watermark passes, "
            "and this stream has none: add with_watermark(column, max_delay) before it",
        )
    return found


def _top_n(graph: JobGraph, node: StreamOperatorNode, inputs: list[Flow]) -> Flow:
    """A top-N gives updates as rows come; per window, rows as the watermark passes."""
    assert isinstance(node.op, TopN)
    rule = _as_input if node.op.emits_updates() else _on_watermark
    return rule(graph, node, inputs)


def _window_functions(graph: JobGraph, node: StreamOperatorNode, inputs: list[Flow]) -> Flow:
    """Window functions give their rows when their input ends; over an input that never
    ends, the reason says which window and what to write instead."""
    assert isinstance(node.op, WindowFunctions)
    times = event_time_columns(graph, node.upstream[0])
    why = streaming_refusal(node.op.exprs, times) or (
        "keep the first rows of each partition (a top-N: filter ROW_NUMBER() OVER (PARTITION "
        "BY ... ORDER BY ...) AS rn with WHERE rn <= N, or top_k(k, by=..., over=...)), take "
        "head(n) first, or aggregate within windows (stream.window(...))"
    )
    why = why.replace("{", "{{").replace("}", "}}")  # read as a format below
    return _at_end(
        "{name}() computes window functions once its input has ended, and its input never "
        f"ends: {why}"
    )(graph, node, inputs)


FLOWS: PhaseTable[Rule] = PhaseTable(
    "termination",
    {
        Source: _source,
        Filter: _as_input,
        Project: _as_input,
        Map: _as_input,
        FlatMap: _as_input,
        Fused: _as_input,
        Watermark: _as_input,
        HashJoin: _as_input,
        IntervalJoin: _as_input,
        SymmetricJoin: _as_input,
        AsofJoin: _on_watermark,
        Aggregate: _aggregate,
        Distinct: _at_end(
            "{name}() gives its rows when its input ends, and its input never ends: "
            "drop duplicates within windows (stream.window(...)), or take head(n) first"
        ),
        Window: _on_watermark,
        Union: _union,
        Sort: _at_end(
            "{name}() orders the rows once its input has ended, and its input never ends: "
            "take head(n) before sorting, or sort the rows of windows"
        ),
        Limit: _limit,
        RowIndex: _as_input,
        WindowFunctions: _window_functions,
        OverWindow: _on_watermark,  # each row once the watermark passes its time
        TopN: _top_n,
    },
)
"""How each operator's :class:`Flow` follows from its inputs'."""


def flow(graph: JobGraph, node_id: str) -> Flow:
    """The :class:`Flow` of the output of ``node_id``.

    >>> import sabot_lab as sl
    >>> bids = sl.nexmark(events=None).bids
    >>> flow(bids.graph, bids.node_id)
    Flow(ends=False, stuck=None)
    >>> top = bids.sort("price").head(3)
    >>> flow(top.graph, top.node_id).stuck
    'sort() orders the rows once its input has ended, and its input never ends: take head(n) before sorting, or sort the rows of windows'
    """
    return flows(graph, [node_id])[node_id]


def flows(graph: JobGraph, node_ids: Iterable[str]) -> dict[str, Flow]:
    """The :class:`Flow` of the output of each of ``node_ids`` and of every operator they
    read, in one pass over the plan.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"x": [1]})
    >>> top = s.sort("x").head(1)
    >>> [f.ends for f in flows(top.graph, [top.node_id]).values()]
    [True, True, True]
    """
    needed = {n.operator_id for i in node_ids for n in graph.ancestry(i)}
    found: dict[str, Flow] = {}
    for node in graph.topological_sort():
        if node.operator_id in needed:
            rule = FLOWS[node.op]
            found[node.operator_id] = rule(graph, node, [found[u] for u in node.upstream])
    return found


def require_rows(graph: JobGraph, node_id: str, terminal: str) -> Flow:
    """The :class:`Flow` of ``node_id``; :class:`~sabot_lab.errors.PlanError` when its run
    would never give a row (the check of ``terminal``, e.g. ``iter_batches``, which reads
    an unbounded stream's rows as they come).

    >>> import sabot_lab as sl
    >>> top = sl.nexmark(events=None).bids.distinct()
    >>> require_rows(top.graph, top.node_id, "iter_batches()")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.PlanError: iter_batches() would wait forever: distinct() gives its rows when its input ends, ...
    """
    found = flow(graph, node_id)
    if found.stuck is not None:
        raise PlanError(f"{terminal} would wait forever: {found.stuck}")
    require_row_numbers(graph, node_id)
    return found


def require_row_numbers(graph: JobGraph, node_id: str) -> None:
    """Raise :class:`~sabot_lab.errors.PlanError` when the output of ``node_id`` drops the
    row number of a top-N of more than one row per partition that emits updates: its rows
    replace each other by partition and row number, and without it they cannot.

    >>> import sabot_lab as sl
    >>> top = sl.nexmark(events=None).bids.top_k(3, by="price", over="auction", name="rn")
    >>> require_row_numbers(top.graph, top.node_id)  # rn is kept
    >>> dropped = top.drop("rn")
    >>> require_row_numbers(dropped.graph, dropped.node_id)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.PlanError: a top-N of 3 rows per partition over an unbounded stream ...
    """
    carried: dict[str, set[str]] = {}  # per node: its columns holding a row number
    for node in graph.subgraph(node_id).topological_sort():
        op = node.op
        names = set().union(*(carried[u] for u in node.upstream))
        if isinstance(op, TopN) and op.emits_updates() and op.n > 1:
            names.add(op.rank.output_name())
        elif isinstance(op, Project):
            names = {out for out, column in op.passed_columns().items() if column in names}
        carried[node.operator_id] = names & set(node.output_schema.names)
    tops = [n.op for n in graph.ancestry(node_id) if isinstance(n.op, TopN)]
    dropped = [t for t in tops if t.emits_updates() and t.n > 1]
    if dropped and not carried[node_id]:
        top = dropped[0]
        raise PlanError(
            f"a top-N of {top.n} rows per partition over an unbounded stream emits updates "
            f"keyed by the partition and the row number ({top.rank.output_name()}), and this "
            "query drops the row number: select it too (e.g. SELECT *, or the ROW_NUMBER() "
            "column), or keep one row per partition (WHERE rn = 1)"
        )


def require_end(graph: JobGraph, node_id: str, terminal: str, fix: str = FIX) -> None:
    """Raise :class:`~sabot_lab.errors.PlanError` unless a run of ``node_id`` ends: the
    check of ``terminal`` (a method reading the stream to its end, e.g. ``"collect()"``); ``fix``: what to do
    instead, when the stream has no end.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"x": [1]})
    >>> require_end(s.graph, s.node_id, "collect()")  # a bounded stream ends
    """
    found = require_rows(graph, node_id, terminal)
    if not found.ends:
        raise PlanError(
            f"{terminal} reads the stream to its end, and this one never ends (an unbounded "
            f"source): {fix}"
        )
