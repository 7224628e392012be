"""Physical plans: stages of parallel tasks, split at exchanges (hash shuffle, broadcast, single).

``planner`` cuts stages, ``partitioning`` follows which columns rows are hash-partitioned on
(an input partitioned already needs no exchange), ``exchange`` partitions rows, ``ids`` is the
one place that formats and parses task and producer ids, ``task`` runs one task with the
engine. May import
``logical``, ``optimizer``, ``engine``, ``kernels``, ``expr``, ``config``; never the runtime.

>>> import sabot_lab as sl
>>> s = sl.from_pydict({"k": [1, 2, 1], "x": [5, 6, 7]}).group_by("k").agg(sl.col("x").sum()).sort("k")
>>> print(plan_stages(s.graph, partitions=2).render())
stage 0 (2 tasks): source → group_by partial → x1
stage 1 (2 tasks): x1 → group_by → x2
stage 2 (1 task): x2 → sort
x1: stage 0 → stage 1, hash on [k]
x2: stage 1 → stage 2, single
"""

from sabot_lab.physical.exchange import EXCHANGE_KINDS, BoundSource, Exchange, ExchangeSource
from sabot_lab.physical.ids import ProducerId, TaskId, attempt_scope
from sabot_lab.physical.local import run_local
from sabot_lab.physical.planner import (
    BROADCAST_ROWS,
    MERGED_IN_ONE_TASK,
    PhysicalPlan,
    Stage,
    plan_stages,
)
from sabot_lab.physical.task import TaskSpec, bind_task, run_task

__all__ = [
    "BROADCAST_ROWS",
    "EXCHANGE_KINDS",
    "MERGED_IN_ONE_TASK",
    "BoundSource",
    "Exchange",
    "ExchangeSource",
    "PhysicalPlan",
    "ProducerId",
    "Stage",
    "TaskId",
    "TaskSpec",
    "attempt_scope",
    "bind_task",
    "plan_stages",
    "run_local",
    "run_task",
]
