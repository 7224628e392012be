"""Large cross products in an optimized plan, and the warning that names them.

A cross product (``join(how="cross")``, SQL's ``CROSS JOIN`` or a ``FROM a, b`` list without
an equality between ``a`` and ``b``) is allowed: it is what the query asks for. It is a hash
join on one constant key, so its estimated rows are the product of its inputs'. When that
estimate exceeds :data:`CROSS_PRODUCT_WARN_ROWS`, running the plan
(:meth:`~sabot_lab.stream.Stream.collect`) warns with a
:class:`~sabot_lab.errors.PerformanceWarning` naming the two inputs (by the sources they read)
and the estimate. May import ``logical``, ``errors`` and the optimizer's statistics.

>>> import sabot_lab as sl
>>> a = sl.from_pydict({"x": list(range(5_000))})
>>> b = sl.from_pydict({"y": list(range(4_000))})
>>> [c.rows for c in large_cross_products(a.join(b, how="cross").optimize())]
[20000000.0]
>>> large_cross_products(a.join(b, how="cross").head(3).optimize(), limit=10**9)
[]
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from sabot_lab.errors import PerformanceWarning
from sabot_lab.logical import HashJoin, JobGraph, Source
from sabot_lab.optimizer.plan_optimizer import OptimizedPlan
from sabot_lab.optimizer.statistics import estimate

__all__ = [
    "CROSS_PRODUCT_WARN_ROWS",
    "CrossProduct",
    "large_cross_products",
    "warn_large_cross_products",
]

CROSS_PRODUCT_WARN_ROWS = 10_000_000
"""Estimated rows above which a cross product is worth a warning."""


@dataclass(frozen=True)
class CrossProduct:
    """A join pairing every row of one input with every row of the other: its operator id,
    what each input reads, and the estimated rows of each and of the product."""

    join: str
    left: str
    right: str
    left_rows: float
    right_rows: float
    rows: float

    def message(self) -> str:
        """What the warning says.

        >>> print(CrossProduct("j", "parquet a.parquet", "parquet b.parquet", 6e6, 2e4, 1.2e11).message())
        a cross product of parquet a.parquet (~6,000,000 rows) and parquet b.parquet (~20,000 rows) makes ~120,000,000,000 rows (join j): if the two have a column in common, join on it (WHERE a.k = b.k, or join(on=...)); else filter them first
        """
        return (
            f"a cross product of {self.left} (~{self.left_rows:,.0f} rows) and "
            f"{self.right} (~{self.right_rows:,.0f} rows) makes "
            f"~{self.rows:,.0f} rows (join {self.join}): if the two have a column in "
            "common, join on it (WHERE a.k = b.k, or join(on=...)); else filter them first"
        )


def large_cross_products(
    plan: OptimizedPlan, limit: float = CROSS_PRODUCT_WARN_ROWS
) -> list[CrossProduct]:
    """The joins of ``plan`` whose keys have a single value on both sides (every row meets
    every row) and whose estimated rows exceed ``limit``."""
    joins = [n for n in plan.graph if isinstance(n.op, HashJoin) and n.op.how == "inner"]
    if not joins:
        return []  # no estimate to make
    stats = estimate(plan.graph, plan.statistics)
    found = []
    for node in joins:
        assert isinstance(node.op, HashJoin)
        left, right = (stats[u] for u in node.upstream)
        keys = zip(node.op.left_on, node.op.right_on, strict=True)
        constant = all(max(left.distinct(a), right.distinct(b)) <= 1 for a, b in keys)
        if constant and stats[node.operator_id].rows > limit:
            found.append(
                CrossProduct(
                    node.operator_id,
                    _reads(plan.graph, node.upstream[0]),
                    _reads(plan.graph, node.upstream[1]),
                    left.rows,
                    right.rows,
                    stats[node.operator_id].rows,
                )
            )
    return found


def warn_large_cross_products(plan: OptimizedPlan, stacklevel: int = 2) -> None:
    """Warn (:class:`~sabot_lab.errors.PerformanceWarning`) of each large cross product of
    ``plan``; ``stacklevel`` as :func:`warnings.warn` counts it from this function's caller."""
    for cross in large_cross_products(plan):
        warnings.warn(cross.message(), PerformanceWarning, stacklevel=stacklevel + 1)


def _reads(graph: JobGraph, node_id: str) -> str:
    """The sources an operator's rows come from, described (joined by ``⋈``)."""
    found: list[str] = []
    pending = [node_id]
    while pending:
        node = graph.node(pending.pop())
        if isinstance(node.op, Source):
            found.append(node.op.source.describe())
        pending += reversed(node.upstream)
    return " ⋈ ".join(dict.fromkeys(found))
