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
>>> [n.parameters.get("columns") for n in g if n.operator_type.value == "source"]
[['c']]
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from sabot_lab.expr import Expr, col
from sabot_lab.logical import (
    TIME_JOINS,
    WINDOWS,
    JobGraph,
    OperatorType,
    StreamOperatorNode,
    derived_operator_id,
)
from sabot_lab.optimizer.trace import RewriteTrace

__all__ = ["push_down_projections"]

RULE = "push_down_projections"
_WHOLE_ROW = (OperatorType.MAP, OperatorType.FLAT_MAP, OperatorType.DISTINCT, OperatorType.SINK)


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
        rebuilt, reason = _rebuild(node, need, [_schema(pruned[u]) for u in upstream])
        pruned[node.operator_id] = rebuilt.replace(upstream=upstream)
        output_of[node.operator_id] = node.operator_id
        after = [node.operator_id]
        is_filter = node.operator_type == OperatorType.FILTER
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
    return JobGraph.from_upstream(graph.name, pruned.values())


def _feeds_select(graph: JobGraph, node: StreamOperatorNode) -> bool:
    """True if a projection is the only consumer (it drops the unneeded columns itself)."""
    consumers = [graph.node(d).operator_type for d in node.downstream]
    return consumers == [OperatorType.SELECT]


def _schema(node: StreamOperatorNode) -> pa.Schema:
    return node.output_schema


def _at_least_one(need: set[str], schema: pa.Schema) -> set[str]:
    return need if need else {schema.names[0]}


def _columns(exprs: Iterable[Expr]) -> set[str]:
    return {name for e in exprs for name in e.columns()}


def _join_payload(node: StreamOperatorNode, left_width: int) -> list[tuple[str, str]]:
    """(right column, output name) pairs of a join's right-side output columns."""
    out_names = _schema(node).names[left_width:]
    return list(zip(node.parameters["right_payload"], out_names, strict=True))


def _input_needs(graph: JobGraph, node: StreamOperatorNode, need: set[str]) -> list[set[str]]:
    kind, p = node.operator_type, node.parameters
    inputs = [_schema(graph.node(u)) for u in node.upstream]
    if kind == OperatorType.SOURCE:
        return []
    if kind == OperatorType.FILTER:
        return [need | set(p["predicate"].columns())]
    if kind == OperatorType.SELECT:
        return [_columns(e for e in p["exprs"] if e.output_name() in need)]
    if kind in _WHOLE_ROW:
        return [set(s.names) for s in inputs]
    if kind == OperatorType.HASH_JOIN:
        left_names = inputs[0].names
        left_width = len(_schema(node).names) - len(p["right_payload"])
        right = {r for r, out in _join_payload(node, left_width) if out in need}
        return [(need & set(left_names)) | set(p["left_on"]), right | set(p["right_on"])]
    if kind in (OperatorType.GROUP_BY, OperatorType.AGGREGATE):
        return [set(p["keys"]) | _columns(_kept_aggs(node, need))]
    if kind == OperatorType.WATERMARK:
        return [need | {p["column"]}]
    if kind in WINDOWS:
        return [set(p["keys"]) | {p["window"]["on"]} | _columns(p["aggs"])]
    if kind in TIME_JOINS:
        left, right = _time_join_keys(node)
        return [(need & set(inputs[0].names)) | left, right | set(p["right_payload"])]
    if kind == OperatorType.SORT:
        return [need | _columns(p["by"])]
    if kind in (OperatorType.LIMIT, OperatorType.UNION):
        return [set(need) for _ in inputs]
    return [set(s.names) for s in inputs]  # an operator this rule does not know: keep all


def _time_join_keys(node: StreamOperatorNode) -> tuple[set[str], set[str]]:
    """The columns an interval or as-of join matches on, on its left and right side."""
    p = node.parameters
    if node.operator_type == OperatorType.INTERVAL_JOIN:
        return {*p["left_on"], p["time"]}, {*p["right_on"], p["other_time"]}
    return {p["on"], *p["by"]}, {p["on"], *p["by"]}


def _kept_aggs(node: StreamOperatorNode, need: set[str]) -> list[Expr]:
    aggs: list[Expr] = node.parameters["aggs"]
    kept = [a for a in aggs if a.output_name() in need]
    if not kept and node.operator_type == OperatorType.AGGREGATE:
        return aggs[:1]  # a global aggregate keeps one so its single row survives
    return kept


def _rebuild(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> tuple[StreamOperatorNode, str]:
    """The pruned operator and a description of what was pruned ('' if nothing)."""
    kind, p, schema = node.operator_type, dict(node.parameters), _schema(node)
    if kind == OperatorType.SOURCE:
        names = [n for n in schema.names if n in need]
        if len(names) == len(schema.names):
            return node, ""
        p["columns"] = names
        dropped = [n for n in schema.names if n not in need]
        reason = f"read {len(names)} of {len(schema.names)} columns (drops {', '.join(dropped)})"
        return node.replace(parameters=p, schema=_subset(schema, names)), reason
    if kind in (OperatorType.FILTER, OperatorType.SORT, OperatorType.LIMIT, OperatorType.WATERMARK):
        return node.replace(schema=inputs[0]), ""
    if kind in TIME_JOINS:  # the left side's columns, then the right's payload as before
        payload = list(schema)[len(schema) - len(p["right_payload"]) :]
        pruned = pa.schema([*inputs[0], *payload])
        if pruned.names == schema.names:
            return node, ""
        return node.replace(schema=pruned), _dropped(schema, pruned.names, "outputs")
    if kind == OperatorType.SELECT:
        exprs = [e for e in p["exprs"] if e.output_name() in need] or p["exprs"][:1]
        if len(exprs) == len(p["exprs"]):
            return node, ""
        p["exprs"] = exprs
        names = [e.output_name() for e in exprs]
        return node.replace(parameters=p, schema=_subset(schema, names)), _dropped(
            schema, names, "computes"
        )
    if kind == OperatorType.HASH_JOIN:
        return _rebuild_join(node, need, inputs)
    if kind in (OperatorType.GROUP_BY, OperatorType.AGGREGATE):
        aggs = _kept_aggs(node, need)
        if len(aggs) == len(p["aggs"]):
            return node, ""
        p["aggs"] = aggs
        names = [*p["keys"], *(a.output_name() for a in aggs)]
        return node.replace(parameters=p, schema=_subset(schema, names)), _dropped(
            schema, names, "computes"
        )
    if kind == OperatorType.UNION:
        names = [n for n in schema.names if n in need]
        if len(names) == len(schema.names):
            return node, ""
        return node.replace(schema=_subset(schema, names)), _dropped(schema, names, "outputs")
    return node, ""


def _rebuild_join(
    node: StreamOperatorNode, need: set[str], inputs: list[pa.Schema]
) -> tuple[StreamOperatorNode, str]:
    p, schema = dict(node.parameters), _schema(node)
    left_in = inputs[0]
    original_left = len(schema.names) - len(p["right_payload"])
    payload = [(r, out) for r, out in _join_payload(node, original_left) if out in need]
    left_keep = [n for n in left_in.names if n in need]
    if not left_keep and not payload:
        left_keep = left_in.names[:1]
    p["left_payload"] = left_keep if left_keep != left_in.names else None
    p["right_payload"] = [r for r, _ in payload]
    names = [*left_keep, *(out for _, out in payload)]
    if names == schema.names:
        return node, ""
    fields = [left_in.field(n) for n in left_keep] + [schema.field(out) for _, out in payload]
    return node.replace(parameters=p, schema=pa.schema(fields)), _dropped(schema, names, "outputs")


def _subset(schema: pa.Schema, names: list[str]) -> pa.Schema:
    return pa.schema([schema.field(n) for n in names])


def _dropped(schema: pa.Schema, kept: list[str], verb: str) -> str:
    dropped = [n for n in schema.names if n not in kept]
    return f"{verb} {len(kept)} of {len(schema.names)} columns (drops {', '.join(dropped)})"


def _select(node: StreamOperatorNode, names: list[str]) -> StreamOperatorNode:
    return StreamOperatorNode(
        operator_id=derived_operator_id(OperatorType.SELECT, node.operator_id),
        operator_type=OperatorType.SELECT,
        name="select",
        parameters={"exprs": [col(n) for n in names]},
        schema=_subset(_schema(node), names),
    )
