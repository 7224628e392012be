"""Operator fusion: every maximal chain of stateless operators becomes one ``fused`` operator.

Filters, projections and UDFs that follow one another (each the only consumer of the one
before) are replaced by a single :attr:`~sabot_lab.plan.OperatorType.FUSED` operator listing
them in execution order. The engine runs its members back to back on each batch, on one
thread, without handing batches between operators; a filter followed by a pure column
selection runs as one step that copies only the selected columns. Results cannot change:
the same functions run on the same batches in the same order. Fusion runs last, so the
other rules see the individual operators.

>>> import sabot_lab as sl
>>> from sabot_lab.optimizer import RewriteTrace
>>> s = sl.from_pydict({"x": [1, 2]}).filter(sl.col("x") > 1).with_columns(y=sl.col("x") * 2)
>>> g = fuse_operators(s.graph, trace := RewriteTrace())
>>> [n.operator_type.value for n in g.topological_sort()]
['source', 'fused']
>>> print(trace.render())  # doctest: +ELLIPSIS
1. fuse_operators: filter_..., select_... -> fused_...: runs filter → with_columns in one pass per batch
"""

from __future__ import annotations

from sabot_lab.optimizer.trace import RewriteTrace
from sabot_lab.plan import (
    STATELESS,
    JobGraph,
    OperatorType,
    StreamOperatorNode,
    fused_members,
    new_operator_id,
)

__all__ = ["fuse_operators"]

RULE = "fuse_operators"


def fuse_operators(graph: JobGraph, trace: RewriteTrace) -> JobGraph:
    """Replace each chain of two or more stateless operators by one fused operator."""
    out = graph.copy()
    for start in graph.topological_sort():
        if not _fusible(start) or _continues(graph, start):
            continue
        chain = [start]
        while len(chain[-1].downstream) == 1:
            after = graph.node(chain[-1].downstream[0])
            if not _fusible(after):
                break
            chain.append(after)
        if len(chain) < 2:
            continue
        members = [m for node in chain for m in fused_members(node)]
        fused = StreamOperatorNode(
            operator_id=new_operator_id(OperatorType.FUSED),
            operator_type=OperatorType.FUSED,
            name="fused",
            parameters={"operators": [m.replace(upstream=(), downstream=()) for m in members]},
            schema=chain[-1].output_schema,
        )
        (upstream,) = out.node(chain[0].operator_id).upstream  # may be fused already
        out.insert_between(upstream, chain[0].operator_id, fused)
        out.redirect(chain[-1].operator_id, fused.operator_id)
        for node in chain:
            out.splice_out(node.operator_id)
        ids = [node.operator_id for node in chain]
        names = " → ".join(m.name for m in members)
        trace.record(RULE, ids, [fused.operator_id], f"runs {names} in one pass per batch")
    return out


def _fusible(node: StreamOperatorNode) -> bool:
    return node.operator_type in STATELESS


def _continues(graph: JobGraph, node: StreamOperatorNode) -> bool:
    """True if ``node`` extends the chain of its input (so the chain starts further up)."""
    (upstream,) = node.upstream
    before = graph.node(upstream)
    return _fusible(before) and len(before.downstream) == 1
