"""The plan optimizer: safe, traced rewrite rules over a :class:`~sabot_lab.plan.JobGraph`.

>>> from sabot_lab.optimizer import PlanOptimizer
>>> [r.__name__ for r in PlanOptimizer().rules]
['push_down_projections']
"""

from sabot_lab.optimizer.plan_optimizer import DEFAULT_RULES, OptimizedPlan, PlanOptimizer, Rule
from sabot_lab.optimizer.projection import push_down_projections
from sabot_lab.optimizer.trace import RewriteTrace, RuleApplication

__all__ = [
    "DEFAULT_RULES",
    "OptimizedPlan",
    "PlanOptimizer",
    "RewriteTrace",
    "Rule",
    "RuleApplication",
    "push_down_projections",
]
