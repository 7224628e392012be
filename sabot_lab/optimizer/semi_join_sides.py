"""Build side of semi, anti and left joins: on the left input when it is the much smaller one.

A hash join builds its table on the right input and streams the left one through it. For
``EXISTS`` / ``NOT EXISTS`` / ``IN (SELECT …)`` the right input is often the big one (TPC-H Q4:
~170 K orders probe ~2 M qualifying line items). When both inputs are bounded and the left is
estimated at most half the right's rows, the join is set to ``build_side="left"``: it builds on
the left rows, every right batch marks the ones it matches, and the kept left rows come out
in their order at the end (:mod:`~sabot_lab.engine.left_build_join`). The result is the same
rows in the same order; only unbounded inputs keep streaming through a right-side build. A
``left`` join (TPC-H Q13: 150 K customers, each with the orders they placed, 1.5 M) built on
the left outputs the matched rows in the right input's order, then the unmatched left rows.
May import ``logical`` and the optimizer's statistics.

>>> import sabot_lab as sl
>>> from sabot_lab.optimizer import RewriteTrace
>>> orders = sl.from_pydict({"k": [1, 2, 3], "p": ["a", "b", "c"]})
>>> items = sl.from_pydict({"k": [1, 3] * 50})
>>> s = orders.join(items, on="k", how="semi")
>>> g = build_semi_joins_on_smaller_side(s.graph, trace := RewriteTrace())
>>> print(trace.render())  # doctest: +ELLIPSIS
1. build_semi_joins_on_smaller_side: hash_join_... -> hash_join_...: builds on the left input (~3 rows) and streams the right (~100 rows)
>>> sl.Stream(g, s.node_id).collect().to_pydict()
{'k': [1, 3], 'p': ['a', 'c']}
"""

from __future__ import annotations

from sabot_lab.logical import LEFT_BUILDS, HashJoin, JobGraph
from sabot_lab.optimizer.statistics import estimate
from sabot_lab.optimizer.trace import RewriteTrace, format_rows

__all__ = ["LEFT_BUILD_FACTOR", "build_semi_joins_on_smaller_side"]

RULE = "build_semi_joins_on_smaller_side"
LEFT_BUILD_FACTOR = 2.0
"""A semi, anti or left join builds on its left input when the right is estimated at least this many
times larger (estimates are rough: a near tie keeps the streaming right-side build)."""


def build_semi_joins_on_smaller_side(graph: JobGraph, trace: RewriteTrace) -> JobGraph:
    """Set ``build_side="left"`` on every bounded semi, anti or left join whose left input is
    the much smaller one."""
    joins = [
        node
        for node in graph.topological_sort()
        if isinstance(node.op, HashJoin)
        and node.op.how in LEFT_BUILDS
        and node.op.build_side == "right"
        and graph.bounded(node.operator_id)
    ]
    if not joins:
        return graph
    stats = estimate(graph, trace.statistics, trace.estimates)
    out = graph.copy()
    for node in joins:
        assert isinstance(node.op, HashJoin)
        left, right = (stats[u].rows for u in node.upstream)
        if right < LEFT_BUILD_FACTOR * left:
            continue
        out.replace_operator(node.replace(op=node.op.replace(build_side="left")))
        trace.record(
            RULE,
            [node.operator_id],
            [node.operator_id],
            f"builds on the left input (~{format_rows(left)} rows) and streams the right "
            f"(~{format_rows(right)} rows)",
        )
    return out
