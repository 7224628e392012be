"""Filter pushdown: each conjunct of a filter moves as far toward the sources as it stays exact.

A conjunct moves below:

- ``select``/``with_columns``, with references to computed columns replaced by their expressions;
- ``sort`` and ``distinct`` (filtering commutes with both);
- ``union``, into every input (when the inputs' column types equal the union's);
- ``group_by``, when it reads only group keys;
- a join: into the left input when it reads only left columns (any join kind: left, semi and
  anti joins preserve their left rows); into the right input of an *inner* join when it reads
  only right columns; never onto the null-extended side of a left join;
- ``map_batches`` only for a UDF that declares the columns it passes through unchanged
  (``preserves=``), and only for conjuncts on those;
- ``with_watermark`` when its rows come in the order of its time column (from a source that
  declares it, :attr:`~sabot_lab.logical.sources.SourceSpec.ordered_by`, through projections
  passing the column on and filters): no row is late then, whichever rows a filter keeps, so
  the rows after the watermark are the same, and its watermarks trail those of all rows by
  the rows filtered out at most (Nexmark's views filter the generator's events by kind).

It never moves below ``limit``, a global aggregate, ``flat_map`` or an opaque UDF. Filters
that meet merge into one. A conjunct calling a user function declared ``deterministic=False``
stays where it is (neither moved nor merged), and no conjunct moves below a projection by
copying such a call into it.

>>> import sabot_lab as sl
>>> from sabot_lab.optimizer import RewriteTrace
>>> s = sl.from_pydict({"p": [1, 5], "q": [2, 3]}).with_columns(n=sl.col("p") * 2).filter(sl.col("n") > 3)
>>> g = push_down_filters(s.graph, trace := RewriteTrace())
>>> [n.operator_type.value for n in g.topological_sort()]
['source', 'filter', 'select']
>>> print(trace.render())  # doctest: +ELLIPSIS
1. push_down_filters: filter_... -> filter_...: moved (col("n") > 3) as ((col("p") * 2) > 3) below with_columns (select_...)

Parquet and DuckDB sources take the conjuncts they can apply exactly
(:func:`push_filters_into_sources`): Parquet skips row groups by their statistics, DuckDB
gets a ``WHERE``.
"""

from __future__ import annotations

from collections.abc import Callable

from sabot_lab.expr import Expr, col
from sabot_lab.logical import (
    Distinct,
    Filter,
    GroupBy,
    HashJoin,
    JobGraph,
    Map,
    PhaseTable,
    Project,
    Sort,
    Source,
    StreamOperatorNode,
    Union,
    Watermark,
    WindowFunctions,
    derived_operator_id,
)
from sabot_lab.optimizer.trace import RewriteTrace
from sabot_lab.predicates import conjoin, is_deterministic, split_conjunction, substitute

__all__ = ["FILTER_ROUTES", "push_down_filters", "push_filters_into_sources"]

RULE = "push_down_filters"
Route = list[tuple[int, Expr]]  # (input position, conjunct rewritten for that input)


def push_down_filters(graph: JobGraph, trace: RewriteTrace) -> JobGraph:
    """Move filter conjuncts below the operators they commute with, down to the sources."""
    out = graph.copy()
    pending = [n.operator_id for n in out if isinstance(n.op, Filter)]
    while pending:
        filter_id = pending.pop()
        if filter_id in out.nodes and isinstance(out.node(filter_id).op, Filter):
            pending += _push(out, out.node(filter_id), trace)
    return out


def _push(graph: JobGraph, node: StreamOperatorNode, trace: RewriteTrace) -> list[str]:
    """Push what can move one operator down; return the filters created or changed below."""
    (child_id,) = node.upstream
    child = graph.node(child_id)
    if len(child.downstream) != 1:
        return []  # another consumer reads the child's output unfiltered
    assert isinstance(node.op, Filter)
    if isinstance(child.op, Filter):
        if not (is_deterministic(child.op.predicate) and is_deterministic(node.op.predicate)):
            return []  # each filter keeps its own rows for its own calls
        merged = conjoin([child.op.predicate, node.op.predicate])
        graph.replace_operator(child.replace(op=Filter(predicate=merged)))
        graph.splice_out(node.operator_id)
        trace.record(RULE, [node.operator_id, child_id], [child_id], "merged adjacent filters")
        return [child_id]
    moves: dict[int, list[Expr]] = {}
    stay: list[Expr] = []
    notes: list[str] = []
    for conjunct in split_conjunction(node.op.predicate):
        route = _route(graph, child, conjunct)
        if route is None:
            stay.append(conjunct)
            continue
        for position, rewritten in route:
            moves.setdefault(position, []).append(rewritten)
        rewritten_note = "" if route[0][1] is conjunct else f" as {route[0][1]!r}"
        notes.append(f"{conjunct!r}{rewritten_note}")
    if not moves:
        return []
    created = []
    for position, conjuncts in sorted(moves.items()):
        upstream = child.upstream[position]
        below = StreamOperatorNode(
            operator_id=derived_operator_id(Filter, upstream, child_id),
            name="filter",
            schema=graph.node(upstream).output_schema,
            op=Filter(predicate=conjoin(conjuncts)),
        )
        created.append(graph.insert_between(upstream, child_id, below))
    where = f"{child.name} ({child_id})"
    if stay:
        graph.replace_operator(node.replace(op=Filter(predicate=conjoin(stay))))
        after = [node.operator_id, *created]
    else:
        graph.splice_out(node.operator_id)
        after = created
    trace.record(RULE, [node.operator_id], after, f"moved {', '.join(notes)} below {where}")
    return created


def _route(graph: JobGraph, child: StreamOperatorNode, conjunct: Expr) -> Route | None:
    """Where ``conjunct`` can go below ``child`` (None: it must stay above)."""
    if not is_deterministic(conjunct):
        return None
    route = FILTER_ROUTES.get(child.op)
    return None if route is None else route(graph, child, conjunct, set(conjunct.columns()))


def _commutes(
    graph: JobGraph, child: StreamOperatorNode, conjunct: Expr, columns: set[str]
) -> Route | None:
    return [(0, conjunct)]


def _route_project(
    graph: JobGraph, child: StreamOperatorNode, conjunct: Expr, columns: set[str]
) -> Route | None:
    assert isinstance(child.op, Project)
    by_name = {e.output_name(): e for e in child.op.exprs}
    if not columns <= set(by_name):
        return None
    if not all(is_deterministic(by_name[c]) for c in columns):
        return None  # the copy below would call the function again, for other values
    return [(0, substitute(conjunct, by_name))]


def _route_union(
    graph: JobGraph, child: StreamOperatorNode, conjunct: Expr, columns: set[str]
) -> Route | None:
    out_schema = child.output_schema
    for upstream in child.upstream:
        schema = graph.node(upstream).output_schema
        if any(schema.field(c).type != out_schema.field(c).type for c in columns):
            return None
    return [(i, conjunct) for i in range(len(child.upstream))]


def _route_group_by(
    graph: JobGraph, child: StreamOperatorNode, conjunct: Expr, columns: set[str]
) -> Route | None:
    assert isinstance(child.op, GroupBy)
    return [(0, conjunct)] if columns <= set(child.op.keys) else None


def _route_map(
    graph: JobGraph, child: StreamOperatorNode, conjunct: Expr, columns: set[str]
) -> Route | None:
    assert isinstance(child.op, Map)
    preserves = set(child.op.preserves)
    return [(0, conjunct)] if preserves and columns <= preserves else None


def _route_join(
    graph: JobGraph, join: StreamOperatorNode, conjunct: Expr, columns: set[str]
) -> Route | None:
    p = join.op
    assert isinstance(p, HashJoin)
    names = join.output_schema.names
    right_out = names[len(names) - len(p.right_payload) :]
    left_out = names[: len(names) - len(p.right_payload)]
    if columns <= set(left_out):
        return [(0, conjunct)]
    if p.how == "inner" and columns <= set(right_out):
        mapping = {out: col(r) for out, r in zip(right_out, p.right_payload, strict=True)}
        return [(1, substitute(conjunct, mapping))]
    return None


def _route_window_functions(
    graph: JobGraph, child: StreamOperatorNode, conjunct: Expr, columns: set[str]
) -> Route | None:
    """Below window functions only on columns every one partitions by (a filter there
    keeps or drops whole partitions)."""
    assert isinstance(child.op, WindowFunctions)
    return [(0, conjunct)] if columns and columns <= set(child.op.key_by(None)) else None


def _route_watermark(
    graph: JobGraph, child: StreamOperatorNode, conjunct: Expr, columns: set[str]
) -> Route | None:
    """Below an event-time watermark whose input comes in the order of its column."""
    op = child.op
    assert isinstance(op, Watermark)
    if op.processing_time or op.keep != "on_time":
        return None
    return [(0, conjunct)] if _comes_ordered(graph, child.upstream[0], op.column) else None


def _comes_ordered(graph: JobGraph, node_id: str, column: str) -> bool:
    """Whether ``node_id``'s rows come in the order of ``column``: the column of a source
    ordered by it, passed on by projections (renamed or not) and filters."""
    found = graph.column_origin(node_id, column, lambda op: isinstance(op, Project | Filter))
    if found is None:
        return False
    node, name = found
    return isinstance(node.op, Source) and node.op.source.ordered_by == name


FILTER_ROUTES: PhaseTable[
    Callable[[JobGraph, StreamOperatorNode, Expr, set[str]], Route | None] | None
] = PhaseTable(
    RULE,
    {
        Sort: _commutes,
        Distinct: _commutes,
        Project: _route_project,
        Union: _route_union,
        GroupBy: _route_group_by,
        Map: _route_map,
        HashJoin: _route_join,
        WindowFunctions: _route_window_functions,
        Watermark: _route_watermark,
    },
    otherwise=None,  # a conjunct stays above every other operator
)
"""How a filter conjunct moves below each operator class (its routes to the inputs)."""


def push_filters_into_sources(graph: JobGraph, trace: RewriteTrace) -> JobGraph:
    """Hand each source the filter conjuncts it can apply while scanning.

    >>> import duckdb, sabot_lab as sl
    >>> from sabot_lab.optimizer import RewriteTrace
    >>> s = sl.from_duckdb("SELECT range AS x FROM range(10)").filter(sl.col("x") >= 8)
    >>> g = push_filters_into_sources(s.graph, RewriteTrace())
    >>> [(n.operator_type.value, n.op.predicate) for n in g]
    [('source', (col("x") >= 8))]
    """
    out = graph.copy()
    for original in graph.topological_sort():
        if original.operator_id not in out.nodes or not isinstance(original.op, Filter):
            continue
        node = out.node(original.operator_id)
        source = out.node(node.upstream[0])
        if not isinstance(source.op, Source) or len(source.downstream) != 1:
            continue
        assert isinstance(node.op, Filter)
        spec = source.op.source
        taken: list[Expr] = []
        stay: list[Expr] = []
        for conjunct in split_conjunction(node.op.predicate):
            (taken if spec.accepts_filter(conjunct) else stay).append(conjunct)
        if not taken:
            continue
        existing = source.op.predicate
        predicate = conjoin([existing, *taken] if existing is not None else taken)
        out.replace_operator(source.replace(op=source.op.replace(predicate=predicate)))
        if stay:
            out.replace_operator(node.replace(op=Filter(predicate=conjoin(stay))))
            after = [source.operator_id, node.operator_id]
        else:
            out.splice_out(node.operator_id)
            after = [source.operator_id]
        moved = ", ".join(map(repr, taken))
        trace.record(
            RULE_SOURCES,
            [node.operator_id],
            after,
            f"{spec.describe()} applies {moved} while scanning",
        )
    return out


RULE_SOURCES = "push_filters_into_sources"
