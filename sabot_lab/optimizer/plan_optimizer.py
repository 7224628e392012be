"""``PlanOptimizer``: an ordered list of rules, each a pure ``(JobGraph, RewriteTrace) -> JobGraph``.

>>> import sabot_lab as sl
>>> s = sl.from_pydict({"a": [1, 2], "b": [3, 4], "c": [5, 6]}).filter(sl.col("a") > 1).select("b")
>>> plan = PlanOptimizer().optimize(s.graph)
>>> print(plan.trace.render())  # doctest: +ELLIPSIS
1. push_down_projections: source_... -> source_...: read 2 of 3 columns (drops c)
2. fuse_operators: filter_..., select_... -> fused_...: runs filter → select in one pass per batch
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property

from sabot_lab.errors import PlanError
from sabot_lab.logical import JobGraph
from sabot_lab.optimizer.eager_aggregation import aggregate_before_joins
from sabot_lab.optimizer.filters import push_down_filters, push_filters_into_sources
from sabot_lab.optimizer.fusion import fuse_operators
from sabot_lab.optimizer.join_order import reorder_joins
from sabot_lab.optimizer.limits import push_down_limits
from sabot_lab.optimizer.projection import push_down_projections
from sabot_lab.optimizer.semi_join_pushdown import push_down_semi_joins
from sabot_lab.optimizer.semi_join_sides import build_semi_joins_on_smaller_side
from sabot_lab.optimizer.semi_join_transfer import transfer_semi_joins
from sabot_lab.optimizer.simplify import simplify_predicates
from sabot_lab.optimizer.statistics import Statistics, estimate
from sabot_lab.optimizer.trace import RewriteTrace

__all__ = ["DEFAULT_RULES", "OptimizedPlan", "PlanOptimizer", "Rule"]

Rule = Callable[[JobGraph, RewriteTrace], JobGraph]

DEFAULT_RULES: tuple[Rule, ...] = (
    simplify_predicates,
    push_down_filters,
    push_filters_into_sources,
    reorder_joins,
    push_down_semi_joins,
    transfer_semi_joins,
    aggregate_before_joins,
    push_down_projections,
    build_semi_joins_on_smaller_side,
    push_down_limits,
    fuse_operators,
)
"""The rules applied by default, in order (fusion last: the others see single operators)."""


class OptimizedPlan(JobGraph):
    """An optimized plan: the optimized :class:`~sabot_lab.logical.JobGraph` itself, with
    the trace of the rewrites that produced it and the row statistics they used.

    >>> import sabot_lab as sl
    >>> plan = PlanOptimizer().optimize(sl.from_pydict({"x": [1, 2]}).head(1).graph)
    >>> isinstance(plan, JobGraph), plan.graph is plan, len(plan.trace) >= 0
    (True, True, True)
    """

    def __init__(
        self,
        graph: JobGraph,
        trace: RewriteTrace,
        statistics: Mapping[str, Statistics] | None = None,
    ) -> None:
        super().__init__(graph.job_name, graph.nodes)
        self.trace = trace
        self.statistics: Mapping[str, Statistics] = dict(statistics or {})

    @property
    def graph(self) -> JobGraph:
        """The optimized graph: this plan itself (as ``Stream.graph`` gives a stream's)."""
        return self

    @cached_property
    def estimated_rows(self) -> Mapping[str, float]:
        """Estimated output rows of every operator (computed when first asked for)."""
        body, _ = self.without_sink()
        return {k: v.rows for k, v in estimate(body, self.statistics).items()}

    @property
    def output(self) -> str:  # type: ignore[override]
        """Id of the plan's output operator (rewrites may replace the original one)."""
        sinks = self.sinks()
        if len(sinks) != 1:
            raise PlanError(f"plan has {len(sinks)} outputs, expected 1")
        return sinks[0].operator_id


class PlanOptimizer:
    """Applies rewrite rules in order; every rule preserves the plan's results.

    ``stats`` maps source operator ids to known :class:`Statistics`, overriding what the
    optimizer would read from metadata and samples.
    """

    def __init__(
        self, rules: Sequence[Rule] | None = None, stats: Mapping[str, Statistics] | None = None
    ) -> None:
        self.rules = tuple(DEFAULT_RULES if rules is None else rules)
        self.stats = dict(stats or {})

    def optimize(self, graph: JobGraph) -> OptimizedPlan:
        """Rewrite ``graph`` (left unchanged) with every rule, recording each change; the
        result is the optimized graph, its :attr:`~OptimizedPlan.trace` saying what each rule
        changed. A hand-built graph is validated first (its operators declared by parameters
        are built); a sink stays the plan's output.

        >>> import sabot_lab as sl
        >>> from sabot_lab.logical import JobGraph, OperatorType, StreamOperatorNode
        >>> numbers = sl.from_pydict({"x": [1, 2, 3], "y": [4, 5, 6]}).graph.sources()[0].op.source
        >>> g = JobGraph(job_name="by_hand")
        >>> src = g.add_operator(StreamOperatorNode(operator_type=OperatorType.SOURCE, name="numbers", parameters={"source": numbers}))
        >>> ys = g.add_operator(StreamOperatorNode(operator_type=OperatorType.SELECT, name="ys", parameters={"columns": ["y"]}))
        >>> g.connect(src, ys)
        >>> optimized = PlanOptimizer().optimize(g)
        >>> optimized.job_name, [n.name for n in optimized]
        ('by_hand', ['numbers', 'ys'])
        >>> print(optimized.trace.render())  # doctest: +ELLIPSIS
        1. push_down_projections: source_... -> source_...: read 1 of 2 columns (drops x)
        """
        if any(n.declared is not None or n.schema is None for n in graph):
            graph = graph.resolved()
        graph, sink = graph.without_sink()
        trace = RewriteTrace(self.stats)
        snapshots = [(0, graph)]
        for rule in self.rules:
            start = len(trace)
            graph = rule(graph, trace)
            if len(trace) > start:
                snapshots.append((start, graph))
        graph.validate()
        trace.estimate_lazily(snapshots)
        return OptimizedPlan(graph if sink is None else graph.with_sink(sink), trace, self.stats)
