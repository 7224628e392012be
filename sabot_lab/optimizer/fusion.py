"""Operator fusion: every maximal chain of stateless operators becomes one ``fused`` operator.

Per-batch operators (``Operator.per_batch``: filters, projections, UDFs) that follow one
another (each the only consumer of the one before) are replaced by a single
:class:`~sabot_lab.logical.Fused` operator listing them in execution order. The engine runs its members back to back on each batch, on one
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

from collections import Counter

from sabot_lab.expr import Expr
from sabot_lab.expr.nodes import Column
from sabot_lab.logical import (
    Fused,
    JobGraph,
    Project,
    StreamOperatorNode,
    derived_operator_id,
    fused_members,
)
from sabot_lab.optimizer.trace import RewriteTrace
from sabot_lab.predicates import substitute, unaliased

__all__ = ["fuse_operators", "merge_projections"]

RULE = "fuse_operators"


def fuse_operators(graph: JobGraph, trace: RewriteTrace) -> JobGraph:
    """Replace each chain of two or more stateless operators by one fused operator."""
    replaced: dict[str, str] = {}  # last operator of a chain -> the operator replacing it
    fused_nodes: dict[str, StreamOperatorNode] = {}  # first operator of a chain -> replacement
    absorbed: set[str] = set()
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
        fused, reason = _fuse(chain)
        fused_nodes[start.operator_id] = fused.replace(upstream=start.upstream, downstream=())
        replaced[chain[-1].operator_id] = fused.operator_id
        absorbed.update(node.operator_id for node in chain)
        trace.record(RULE, [node.operator_id for node in chain], [fused.operator_id], reason)
    if not fused_nodes:
        return graph
    nodes = []
    for node in graph:
        node = fused_nodes.get(node.operator_id, node)
        if node.operator_id in absorbed:
            continue
        upstream = tuple(replaced.get(u, u) for u in node.upstream)
        nodes.append(node.replace(upstream=upstream) if upstream != node.upstream else node)
    return JobGraph.from_upstream(graph.job_name, nodes)


def _fuse(chain: list[StreamOperatorNode]) -> tuple[StreamOperatorNode, str]:
    """The operator replacing ``chain`` and why."""
    members = [m for node in chain for m in fused_members(node)]
    names = " → ".join(m.name for m in members)
    members = merge_projections(members)
    if len(members) == 1:
        return members[0], f"merged {names} into one projection"
    fused = StreamOperatorNode(
        operator_id=derived_operator_id(Fused, members[0].operator_id),
        name="fused",
        schema=chain[-1].output_schema,
        op=Fused(operators=[m.replace(upstream=(), downstream=()) for m in members]),
    )
    merged = " (adjacent projections merged)" if len(members) < len(chain) else ""
    return fused, f"runs {names} in one pass per batch{merged}"


def merge_projections(members: list[StreamOperatorNode]) -> list[StreamOperatorNode]:
    """Compose each projection with the projection before it, unless that would compute one
    of the earlier projection's expressions twice.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"p": [2], "q": [3]}).with_columns(n=sl.col("p") * sl.col("q")).select("n")
    >>> members = [s.graph.node(i) for i in s.graph.nodes if not i.startswith("source")]
    >>> [n.op.exprs for n in merge_projections(members)]
    [[(col("p") * col("q")).alias("n")]]
    """
    out: list[StreamOperatorNode] = []
    for node in members:
        lower, upper = out[-1].op if out else None, node.op
        if (
            isinstance(lower, Project)
            and isinstance(upper, Project)
            and _composable(lower.exprs, upper.exprs)
        ):
            by_name = {e.output_name(): e for e in lower.exprs}
            exprs = []
            for e in upper.exprs:
                composed = substitute(e, by_name)
                name = e.output_name()
                exprs.append(composed if composed.output_name() == name else composed.alias(name))
            out[-1] = StreamOperatorNode(
                operator_id=derived_operator_id(Project, node.operator_id),
                name="select",
                schema=node.output_schema,
                op=Project(exprs=exprs),
            )
        else:
            out.append(node)
    return out


def _composable(lower: list[Expr], upper: list[Expr]) -> bool:
    """True if no computed column of ``lower`` is read more than once by ``upper``."""
    computed = {e.output_name() for e in lower if not isinstance(unaliased(e), Column)}
    uses = Counter(
        c
        for e in upper
        for node in e.walk()
        if isinstance(node, Column)
        for c in [node.param("name")]
    )
    return all(uses[name] <= 1 for name in computed)


def _fusible(node: StreamOperatorNode) -> bool:
    return node.op.per_batch


def _continues(graph: JobGraph, node: StreamOperatorNode) -> bool:
    """True if ``node`` extends the chain of its input (so the chain starts further up)."""
    (upstream,) = node.upstream
    before = graph.node(upstream)
    return _fusible(before) and len(before.downstream) == 1
