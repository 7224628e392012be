"""Projection pushdown: every operator reads, carries and computes only the columns used above it.

Two passes over the graph. Top-down (consumers first), each operator's *needed* output columns
become the columns it needs from its inputs. Bottom-up, operators are rebuilt: sources read only
needed columns, projections and aggregates drop unused outputs, joins take only needed columns
from each side, and a projection is fused after a filter whose predicate columns are not needed
further up. Operators that see whole rows (``map_batches``, ``flat_map``, ``distinct``) keep
all their input columns. At least one column always flows, so row counts are kept.

>>> import sabot_lab as sl
>>> from sabot_lab.optimizer import RewriteTrace
>>> s = sl.from_pydict({"a": [1], "b": [2], "c": [3]}).select("c")
>>> g = push_down_projections(s.graph, RewriteTrace())
>>> [n.op.columns for n in g if n.operator_type.value == "source"]
[['c']]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pyarrow as pa

from sabot_lab.expr import Expr, col
from sabot_lab.logical import (
    Aggregate,
    AsofJoin,
    Distinct,
    Filter,
    FlatMap,
    Fused,
    GroupBy,
    HashJoin,
    IntervalJoin,
    JobGraph,
    Limit,
    Map,
    PhaseTable,
    Project,
    RowIndex,
    Sort,
    Source,
    StreamOperatorNode,
    SymmetricJoin,
    TopN,
    Union,
    Watermark,
    Window,
    WindowFunctions,
    derived_operator_id,
)
from sabot_lab.optimizer.trace import RewriteTrace

__all__ = ["INPUT_NEEDS", "PRUNING", "push_down_projections"]

RULE = "push_down_projections"


def push_down_projections(graph: JobGraph, trace: RewriteTrace) -> JobGraph:
    """Prune every operator to the columns its consumers need, down to the sources."""
    order = graph.topological_sort()
    needed: dict[str, set[str]] = {n.operator_id: set() for n in order}
    for sink in graph.sinks():
        needed[sink.operator_id] = set(_schema(sink).names)
    for node in reversed(order):
        need = _at_least_one(needed[node.operator_id], _schema(node))
        for input_id, columns in zip(node.upstream, _input_needs(graph, node, need), strict=True):
            needed[input_id] |= columns

    pruned: dict[str, StreamOperatorNode] = {}
    output_of: dict[str, str] = {}  # operator id -> id consumers connect to
    for node in order:
        need = _at_least_one(needed[node.operator_id], _schema(node))
        upstream = tuple(output_of[u] for u in node.upstream)
        if isinstance(node.op, Union):
            upstream = _same_columns(node, need, upstream, pruned, trace)
        rebuilt, reason = _rebuild(node, need, [_schema(pruned[u]) for u in upstream])
        pruned[node.operator_id] = rebuilt.replace(upstream=upstream)
        output_of[node.operator_id] = node.operator_id
        after = [node.operator_id]
        is_filter = isinstance(node.op, Filter)
        extra = [n for n in _schema(rebuilt).names if n not in need] if is_filter else []
        if extra and not _feeds_select(graph, node):
            kept = [n for n in _schema(rebuilt).names if n in need]
            select = _select(rebuilt, kept).replace(upstream=(node.operator_id,))
            pruned[select.operator_id] = select
            output_of[node.operator_id] = select.operator_id
            after.append(select.operator_id)
            reason = (
                f"keep {len(kept)} of {len(kept) + len(extra)} columns after the filter "
                f"(drops {', '.join(extra)})"
            )
        if reason:
            trace.record(RULE, [node.operator_id], after, reason)
    return JobGraph.from_upstream(graph.job_name, pruned.values())


def _same_columns(
    node: StreamOperatorNode,
    need: set[str],
    upstream: tuple[str, ...],
    pruned: dict[str, StreamOperatorNode],
    trace: RewriteTrace,
) -> tuple[str, ...]:
    """The inputs of a union, each narrowed by a select to the union's kept columns where it
    has more (an input that also feeds another operator keeps that one's columns too)."""
    kept = {n for n in _schema(node).names if n in need}
    inputs = []
    for position, input_id in enumerate(upstream):
        names = _schema(pruned[input_id]).names
        if set(names) == kept:
            inputs.append(input_id)
            continue
        select = _select(pruned[input_id], [n for n in names if n in kept]).replace(
            operator_id=derived_operator_id(Project, input_id, node.operator_id, str(position)),
            upstream=(input_id,),
        )
        pruned[select.operator_id] = select
        inputs.append(select.operator_id)
        reason = f"keep the union's {len(kept)} of {len(names)} columns of input {position}"
        trace.record(RULE, [input_id], [select.operator_id], reason)
    return tuple(inputs)


def _feeds_select(graph: JobGraph, node: StreamOperatorNode) -> bool:
    """True if a projection is the only consumer (it drops the unneeded columns itself)."""
    consumers = [graph.node(d).op for d in node.downstream]
    return len(consumers) == 1 and isinstance(consumers[0], Project)


def _schema(node: StreamOperatorNode) -> pa.Schema:
    return node.output_schema


def _at_least_one(need: set[str], schema: pa.Schema) -> set[str]:
    return need if need else {schema.names[0]}


def _columns(exprs: Iterable[Expr]) -> set[str]:
    return {name for e in exprs for name in e.columns()}


def _join_payload(node: StreamOperatorNode, left_width: int) -> list[tuple[str, str]]:
    """(right column, output name) pairs of a join's right-side output columns."""
    assert isinstance(node.op, HashJoin)
    out_names = _schema(node).names[left_width:]
    return list(zip(node.op.right_payload, out_names, strict=True))


Needs = Callable[[StreamOperatorNode, set[str], list[pa.Schema]], list[set[str]]]


def _input_needs(graph: JobGraph, node: StreamOperatorNode, need: set[str]) -> list[set[str]]:
    inputs = [_schema(graph.node(u)) for u in node.upstream]
    return INPUT_NEEDS[node.op](node, need, inputs)


def _needs_nothing(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> list[set[str]]:
    return []


def _needs_all(node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]) -> list[set[str]]:
    return [set(s.names) for s in inputs]


def _needs_same(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> list[set[str]]:
    return [set(need) for _ in inputs]


def _filter_needs(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> list[set[str]]:
    assert isinstance(node.op, Filter)
    return [need | set(node.op.predicate.columns())]


def _project_needs(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> list[set[str]]:
    assert isinstance(node.op, Project)
    return [_columns(e for e in node.op.exprs if e.output_name() in need)]


def _join_needs(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> list[set[str]]:
    p = node.op
    assert isinstance(p, HashJoin)
    left_names = inputs[0].names
    left_width = len(_schema(node).names) - len(p.right_payload)
    right = {r for r, out in _join_payload(node, left_width) if out in need}
    return [(need & set(left_names)) | set(p.left_on), right | set(p.right_on)]


def _aggregate_needs(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> list[set[str]]:
    assert isinstance(node.op, Aggregate)
    updates_of = set(node.op.updates_of or ())  # which row an update replaces
    return [set(node.op.keys) | updates_of | _columns(_kept_aggs(node, need))]


def _watermark_needs(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> list[set[str]]:
    assert isinstance(node.op, Watermark)
    return [need | {node.op.column}]


def _window_needs(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> list[set[str]]:
    p = node.op
    assert isinstance(p, Window)
    return [set(p.keys) | {p.window["on"]} | _columns(p.aggs)]


def _time_join_needs(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> list[set[str]]:
    p = node.op
    assert isinstance(p, IntervalJoin | AsofJoin | SymmetricJoin)
    if isinstance(p, IntervalJoin):
        left, right = {*p.left_on, p.time}, {*p.right_on, p.other_time}
    elif isinstance(p, SymmetricJoin):
        left = {*p.left_on, *([p.left_until] if p.left_until else [])}
        right = {*p.right_on, *([p.right_until] if p.right_until else [])}
    else:
        left = right = {p.on, *p.by}
    return [(need & set(inputs[0].names)) | left, right | set(p.right_payload)]


def _sort_needs(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> list[set[str]]:
    assert isinstance(node.op, Sort)
    return [need | _columns(node.op.by)]


def _window_functions_needs(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> list[set[str]]:
    assert isinstance(node.op, WindowFunctions)
    kept = [e for e in node.op.exprs if e.output_name() in need] or node.op.exprs[:1]
    return [(need & set(inputs[0].names)) | _columns(kept)]


def _top_n_needs(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> list[set[str]]:
    """The input columns needed of its output, those it ranks by and its partitions' end."""
    assert isinstance(node.op, TopN)
    ends = {node.op.ends_at} if node.op.ends_at else set()
    return [(need & set(inputs[0].names)) | set(node.op.rank.columns()) | ends]


def _row_index_needs(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> list[set[str]]:
    """The input columns needed of its output (one at least, to carry the rows it numbers)."""
    return [_at_least_one(need & set(inputs[0].names), inputs[0])]


INPUT_NEEDS: PhaseTable[Needs] = PhaseTable(
    RULE + " (input columns)",
    {
        Source: _needs_nothing,
        Filter: _filter_needs,
        Project: _project_needs,
        Map: _needs_all,  # whole rows
        FlatMap: _needs_all,
        Distinct: _needs_all,
        Fused: _needs_all,
        HashJoin: _join_needs,
        Aggregate: _aggregate_needs,
        Watermark: _watermark_needs,
        Window: _window_needs,
        IntervalJoin: _time_join_needs,
        SymmetricJoin: _time_join_needs,
        AsofJoin: _time_join_needs,
        Sort: _sort_needs,
        WindowFunctions: _window_functions_needs,
        TopN: _top_n_needs,
        Limit: _needs_same,
        Union: _needs_same,
        RowIndex: _row_index_needs,
    },
)
"""The columns each operator class needs from each input, given those needed of its output."""


def _kept_aggs(node: StreamOperatorNode, need: set[str]) -> list[Expr]:
    assert isinstance(node.op, Aggregate)
    aggs = node.op.aggs
    kept = [a for a in aggs if a.output_name() in need]
    if not kept and not isinstance(node.op, GroupBy):
        return aggs[:1]  # a global aggregate keeps one so its single row survives
    return kept


Pruned = tuple[StreamOperatorNode, str]
Pruning = Callable[[StreamOperatorNode, set[str], list[pa.Schema]], Pruned]


def _rebuild(node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]) -> Pruned:
    """The pruned operator and a description of what was pruned ('' if nothing)."""
    return PRUNING[node.op](node, need, inputs)


def _unchanged(node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]) -> Pruned:
    return node, ""


def _input_schema(node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]) -> Pruned:
    return node.replace(schema=inputs[0]), ""


def _prune_source(node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]) -> Pruned:
    assert isinstance(node.op, Source)
    schema = _schema(node)
    names = [n for n in schema.names if n in need]
    if len(names) == len(schema.names):
        return node, ""
    dropped = [n for n in schema.names if n not in need]
    reason = f"read {len(names)} of {len(schema.names)} columns (drops {', '.join(dropped)})"
    return node.replace(op=node.op.replace(columns=names), schema=_subset(schema, names)), reason


def _prune_time_join(node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]) -> Pruned:
    """The left side's columns, then the right's payload as before."""
    assert isinstance(node.op, IntervalJoin | AsofJoin | SymmetricJoin)
    schema = _schema(node)
    payload = list(schema)[len(schema) - len(node.op.right_payload) :]
    pruned = pa.schema([*inputs[0], *payload])
    if pruned.names == schema.names:
        return node, ""
    return node.replace(schema=pruned), _dropped(schema, pruned.names, "outputs")


def _prune_project(node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]) -> Pruned:
    p = node.op
    assert isinstance(p, Project)
    exprs = [e for e in p.exprs if e.output_name() in need] or p.exprs[:1]
    if len(exprs) == len(p.exprs):
        return node, ""
    names = [e.output_name() for e in exprs]
    schema = _schema(node)
    return node.replace(op=Project(exprs=exprs), schema=_subset(schema, names)), _dropped(
        schema, names, "computes"
    )


def _prune_aggregate(node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]) -> Pruned:
    p = node.op
    assert isinstance(p, Aggregate)
    aggs = _kept_aggs(node, need)
    if len(aggs) == len(p.aggs):
        return node, ""
    names = [*p.keys, *(a.output_name() for a in aggs)]
    schema = _schema(node)
    return node.replace(op=p.replace(aggs=aggs), schema=_subset(schema, names)), _dropped(
        schema, names, "computes"
    )


def _prune_union(node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]) -> Pruned:
    schema = _schema(node)
    names = [n for n in schema.names if n in need]
    if len(names) == len(schema.names):
        return node, ""
    return node.replace(schema=_subset(schema, names)), _dropped(schema, names, "outputs")


def _prune_join(node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]) -> Pruned:
    p, schema = node.op, _schema(node)
    assert isinstance(p, HashJoin)
    left_in = inputs[0]
    original_left = len(schema.names) - len(p.right_payload)
    payload = [(r, out) for r, out in _join_payload(node, original_left) if out in need]
    left_keep = [n for n in left_in.names if n in need]
    if not left_keep and not payload:
        left_keep = left_in.names[:1]
    names = [*left_keep, *(out for _, out in payload)]
    if names == schema.names:
        return node, ""
    op = p.replace(
        left_payload=left_keep if left_keep != left_in.names else None,
        right_payload=[r for r, _ in payload],
        payload_names=[out for _, out in payload],  # kept where the clashing left column goes
    )
    fields = [left_in.field(n) for n in left_keep] + [schema.field(out) for _, out in payload]
    return node.replace(op=op, schema=pa.schema(fields)), _dropped(schema, names, "outputs")


def _prune_window_functions(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> Pruned:
    """The pruned input's columns, then the window columns still needed."""
    p, schema = node.op, _schema(node)
    assert isinstance(p, WindowFunctions)
    exprs = [e for e in p.exprs if e.output_name() in need] or p.exprs[:1]
    pruned = pa.schema([*inputs[0], *(schema.field(e.output_name()) for e in exprs)])
    if pruned.names == schema.names:
        return node, ""
    op = p.replace(exprs=exprs)
    return node.replace(op=op, schema=pruned), _dropped(schema, pruned.names, "outputs")


def _prune_top_n(node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]) -> Pruned:
    """The pruned input's columns, then the row number."""
    schema = _schema(node)
    pruned = node.op.schema(inputs)
    assert pruned is not None
    if pruned.names == schema.names:
        return node, ""
    return node.replace(schema=pruned), _dropped(schema, pruned.names, "ranks")


def _prune_row_index(node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]) -> Pruned:
    schema = _schema(node)
    pruned = node.op.schema(inputs)
    assert pruned is not None
    if pruned.names == schema.names:
        return node, ""
    return node.replace(schema=pruned), _dropped(schema, pruned.names, "passes")


PRUNING: PhaseTable[Pruning] = PhaseTable(
    RULE + " (rebuild)",
    {
        Source: _prune_source,
        Filter: _input_schema,
        Sort: _input_schema,
        Limit: _input_schema,
        Watermark: _input_schema,
        IntervalJoin: _prune_time_join,
        SymmetricJoin: _prune_time_join,
        AsofJoin: _prune_time_join,
        Project: _prune_project,
        HashJoin: _prune_join,
        Aggregate: _prune_aggregate,
        Union: _prune_union,
        Map: _unchanged,  # whole rows in, its own outputs out
        FlatMap: _unchanged,
        Distinct: _unchanged,
        RowIndex: _prune_row_index,
        Window: _unchanged,
        Fused: _unchanged,
        WindowFunctions: _prune_window_functions,
        TopN: _prune_top_n,
    },
)
"""How each operator class is rebuilt to output only the columns needed of it."""


def _subset(schema: pa.Schema, names: list[str]) -> pa.Schema:
    return pa.schema([schema.field(n) for n in names])


def _dropped(schema: pa.Schema, kept: list[str], verb: str) -> str:
    dropped = [n for n in schema.names if n not in kept]
    return f"{verb} {len(kept)} of {len(schema.names)} columns (drops {', '.join(dropped)})"


def _select(node: StreamOperatorNode, names: list[str]) -> StreamOperatorNode:
    return StreamOperatorNode(
        operator_id=derived_operator_id(Project, node.operator_id),
        name="select",
        schema=_subset(_schema(node), names),
        op=Project(exprs=[col(n) for n in names]),
    )
