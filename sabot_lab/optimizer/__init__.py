"""The plan optimizer: safe, traced rewrite rules over a :class:`~sabot_lab.logical.JobGraph`.

Each rule is a function over the plan that records what it did in a ``RewriteTrace`` and
dispatches on operator classes through a ``PhaseTable``; ``statistics`` estimates rows for
the join order. May import ``logical``, ``expr``, ``predicates`` and the engine's expression
evaluator (constant folding); never ``connectors`` (sources register what the rules need).

>>> from sabot_lab.optimizer import PlanOptimizer
>>> [r.__name__ for r in PlanOptimizer().rules]  # doctest: +NORMALIZE_WHITESPACE
['simplify_predicates', 'push_down_filters', 'push_filters_into_sources',
 'reorder_joins', 'push_down_semi_joins', 'transfer_semi_joins', 'aggregate_before_joins',
 'push_down_projections',
 'build_semi_joins_on_smaller_side', 'push_down_limits', 'fuse_operators']
"""

from sabot_lab.optimizer.cross_products import (
    CROSS_PRODUCT_WARN_ROWS,
    CrossProduct,
    large_cross_products,
    warn_large_cross_products,
)
from sabot_lab.optimizer.eager_aggregation import aggregate_before_joins
from sabot_lab.optimizer.filters import push_down_filters, push_filters_into_sources
from sabot_lab.optimizer.fusion import fuse_operators
from sabot_lab.optimizer.join_order import JoinGraph, best_order, reorder_joins
from sabot_lab.optimizer.limits import push_down_limits
from sabot_lab.optimizer.plan_optimizer import DEFAULT_RULES, OptimizedPlan, PlanOptimizer, Rule
from sabot_lab.optimizer.projection import push_down_projections
from sabot_lab.optimizer.semi_join_pushdown import push_down_semi_joins
from sabot_lab.optimizer.semi_join_sides import build_semi_joins_on_smaller_side
from sabot_lab.optimizer.semi_join_transfer import transfer_semi_joins
from sabot_lab.optimizer.simplify import fold_constants, simplify_predicates
from sabot_lab.optimizer.statistics import Statistics, estimate, estimate_rows, selectivity
from sabot_lab.optimizer.trace import RewriteTrace, RuleApplication

__all__ = [
    "CROSS_PRODUCT_WARN_ROWS",
    "DEFAULT_RULES",
    "CrossProduct",
    "JoinGraph",
    "OptimizedPlan",
    "PlanOptimizer",
    "RewriteTrace",
    "Rule",
    "RuleApplication",
    "Statistics",
    "aggregate_before_joins",
    "best_order",
    "build_semi_joins_on_smaller_side",
    "estimate",
    "estimate_rows",
    "fold_constants",
    "fuse_operators",
    "large_cross_products",
    "push_down_filters",
    "push_down_limits",
    "push_down_projections",
    "push_down_semi_joins",
    "push_filters_into_sources",
    "reorder_joins",
    "selectivity",
    "simplify_predicates",
    "transfer_semi_joins",
    "warn_large_cross_products",
]
