"""``PlanOptimizer``: an ordered list of rules, each a pure ``(JobGraph, RewriteTrace) -> JobGraph``.

>>> import sabot_lab as sl
>>> s = sl.from_pydict({"a": [1, 2], "b": [3, 4], "c": [5, 6]}).filter(sl.col("a") > 1).select("b")
>>> plan = PlanOptimizer().optimize(s.graph)
>>> print(plan.trace.render())  # doctest: +ELLIPSIS
1. push_down_projections: source_... -> source_...: read 2 of 3 columns (drops c)
2. push_down_projections: filter_... -> filter_..., select_...: keep 1 of 2 columns after the filter (drops a)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sabot_lab.optimizer.projection import push_down_projections
from sabot_lab.optimizer.trace import RewriteTrace
from sabot_lab.plan import JobGraph

__all__ = ["DEFAULT_RULES", "OptimizedPlan", "PlanOptimizer", "Rule"]

Rule = Callable[[JobGraph, RewriteTrace], JobGraph]

DEFAULT_RULES: tuple[Rule, ...] = (push_down_projections,)
"""The rules applied by default, in order."""


@dataclass(frozen=True)
class OptimizedPlan:
    """The optimized graph and the trace of the rewrites that produced it."""

    graph: JobGraph
    trace: RewriteTrace


class PlanOptimizer:
    """Applies rewrite rules in order; every rule preserves the plan's results."""

    def __init__(self, rules: Sequence[Rule] | None = None) -> None:
        self.rules = tuple(DEFAULT_RULES if rules is None else rules)

    def optimize(self, graph: JobGraph) -> OptimizedPlan:
        """Rewrite ``graph`` (left unchanged) with every rule, recording each change."""
        trace = RewriteTrace()
        for rule in self.rules:
            graph = rule(graph, trace)
        graph.validate()
        return OptimizedPlan(graph, trace)
