"""Semi and anti joins pushed down their left input, as far as their key goes unchanged.

A semi (anti) join on one key keeps the left rows whose key is (is not) among the right
input's keys: a condition on one column, like a filter. It moves below what keeps that column
unchanged per row (renames, deterministic filters, group-bys on it, and into the input of an
inner or left join that carries it), so it drops rows before they are joined, grouped or
copied; other semi joins keep their order (swapping them gains nothing). It moves only where
it is estimated to probe at most :data:`MAX_GROWTH` times the rows it probes now: below a
join that drops most rows it would probe the rows that join drops (and the join's other
input may reduce the semi join's right one: :mod:`~sabot_lab.optimizer.semi_join_transfer`). TPC-H Q18's ``o_orderkey IN (SELECT l_orderkey … HAVING sum(l_quantity) >
300)`` then keeps the 399 qualifying line items before they are joined with their orders,
instead of after all 6 M were; the semi join on the line items' key then reduces the orders too
(:mod:`~sabot_lab.optimizer.semi_join_transfer`). Bounded inputs only, the optimizer's earlier
rules having set neither ``left_payload`` nor ``build_side``. May import ``logical``.

>>> import sabot_lab as sl
>>> from sabot_lab.optimizer import RewriteTrace
>>> orders = sl.from_pydict({"o": [1, 2, 3], "c": [7, 8, 7]})
>>> items = sl.from_pydict({"k": [1, 1, 2, 3], "q": [5, 6, 7, 8]})
>>> big = items.group_by("k").agg(sl.col("q").sum().alias("t")).filter(sl.col("t") > 10).select("k")
>>> s = items.join(orders, left_on="k", right_on="o").join(big, on="k", how="semi")
>>> g = push_down_semi_joins(s.graph, trace := RewriteTrace())
>>> print(trace.render())  # doctest: +ELLIPSIS
1. push_down_semi_joins: hash_join_... -> hash_join_...: keeps only the rows of source_... whose k is in select_..., below hash_join_...
>>> sorted(sl.Stream(g, g.sinks()[0].operator_id).collect().to_pylist(), key=str)
[{'k': 1, 'q': 5, 'c': 7}, {'k': 1, 'q': 6, 'c': 7}]
"""

from __future__ import annotations

from sabot_lab.logical import HashJoin, JobGraph, StreamOperatorNode, derived_operator_id
from sabot_lab.optimizer.semi_join_transfer import deepest_edge, reaches
from sabot_lab.optimizer.statistics import Statistics, estimate
from sabot_lab.optimizer.trace import RewriteTrace

__all__ = ["MAX_GROWTH", "push_down_semi_joins"]

RULE = "push_down_semi_joins"
MAX_GROWTH = 1.25
"""A semi join moves down only where it probes at most this many times its rows now (estimated;
a join below that neither drops nor multiplies rows, like TPC-H Q18's line items with their
orders, counts as no growth)."""


def push_down_semi_joins(graph: JobGraph, trace: RewriteTrace) -> JobGraph:
    """Move every bounded single-key semi or anti join to the lowest point of its left input
    where its key still comes unchanged."""
    out = graph.copy()
    stats: dict[str, Statistics] = {}
    for node in graph.topological_sort():
        op = node.op
        if not (
            isinstance(op, HashJoin)
            and op.how in ("semi", "anti")
            and len(op.left_on) == 1
            and op.left_payload is None
            and op.build_side == "right"
            and graph.bounded(node.operator_id)
        ):
            continue
        left, right = out.node(node.operator_id).upstream
        below, parent, key, _ = deepest_edge(
            out, left, node.operator_id, op.left_on[0], past_semi_joins=False
        )
        if below == left or reaches(out, parent, right):
            continue  # already lowest, or the right input reads the rows it would reduce
        stats = stats or estimate(graph, trace.statistics, trace.estimates)
        if below not in stats or stats[below].rows > MAX_GROWTH * stats[left].rows:
            continue  # a rule's new operator (not estimated), or the join below drops rows
        out.disconnect(right, node.operator_id)
        out.splice_out(node.operator_id)
        moved = StreamOperatorNode(
            derived_operator_id(HashJoin, below, parent),
            name=node.name,
            schema=out.node(below).output_schema,
            op=op.replace(left_on=[key]),
        )
        out.connect(right, out.insert_between(below, parent, moved))
        trace.record(
            RULE,
            [node.operator_id],
            [moved.operator_id],
            f"keeps only the rows of {below} whose {key} is in {right}, below {parent}",
        )
    return out
