"""Limit pushdown: a limit moves below row-by-row projections, tells its source when to stop,
and turns a sort below it into a top-N sort that keeps only ``offset + n`` rows.

>>> import sabot_lab as sl
>>> from sabot_lab.optimizer import RewriteTrace
>>> s = sl.from_pydict({"x": [3, 1, 2]}).sort("x").select(y=sl.col("x") * 10).limit(2)
>>> g = push_down_limits(s.graph, RewriteTrace())
>>> [(n.name, getattr(n.op, "top_n", None)) for n in g.topological_sort()]
[('source', None), ('sort', 2), ('limit', None), ('select', None)]
>>> sl.Stream(g, g.sinks()[0].operator_id).collect().to_pydict()
{'y': [10, 20]}
"""

from __future__ import annotations

from sabot_lab.logical import JobGraph, Limit, PhaseTable, Project, Sort, Source
from sabot_lab.optimizer.trace import RewriteTrace

__all__ = ["LIMIT_TARGETS", "push_down_limits"]

RULE = "push_down_limits"

LIMIT_TARGETS: PhaseTable[str | None] = PhaseTable(
    RULE, {Source: "limit", Sort: "top_n"}, otherwise=None
)
"""The field of an operator under a limit that takes the number of rows needed (a source
stops reading, a sort keeps a top N); None: the limit stays above it."""


def push_down_limits(graph: JobGraph, trace: RewriteTrace) -> JobGraph:
    """Move limits below projections; pass ``offset + n`` to sources and sorts below."""
    out = graph.copy()
    for limit in graph.topological_sort():
        if not isinstance(limit.op, Limit):
            continue
        node = out.node(limit.operator_id)
        child = out.node(node.upstream[0])
        while isinstance(child.op, Project) and len(child.downstream) == 1:
            out.splice_out(node.operator_id)
            out.insert_between(
                child.upstream[0],
                child.operator_id,
                node.replace(schema=out.node(child.upstream[0]).output_schema),
            )
            trace.record(
                RULE,
                [node.operator_id],
                [node.operator_id],
                f"limit {limit.op.n} moved below {child.name} ({child.operator_id})",
            )
            node, child = out.node(node.operator_id), out.node(child.upstream[0])
        if len(child.downstream) != 1:
            continue
        keep = limit.op.n + limit.op.offset
        key = LIMIT_TARGETS.get(child.op)
        if key is None:
            continue
        known = getattr(child.op, key)
        if known is not None and known <= keep:
            continue
        out.replace_operator(child.replace(op=child.op.replace(**{key: keep})))
        what = "stops after" if key == "limit" else "keeps only the first"
        trace.record(
            RULE,
            [node.operator_id, child.operator_id],
            [node.operator_id, child.operator_id],
            f"{child.name} ({child.operator_id}) {what} {keep} rows",
        )
    return out
