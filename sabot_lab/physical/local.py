"""Run a physical plan in this process, task by task, with exchanges held in memory.

It runs exactly what agents run (:func:`~sabot_lab.physical.task.run_task`), so it checks the
physical plan against the in-process engine without a cluster. Stages run one after another,
so the plan must be bounded, and exchanges keep rows only (a stage reads its whole input, so
windows close at its end).

>>> import sabot_lab as sl
>>> from sabot_lab.physical import plan_stages
>>> s = sl.from_pydict({"k": [1, 2, 1, 3], "x": [1, 2, 3, 4]}).group_by("k").agg(sl.col("x").sum()).sort("k")
>>> pa.Table.from_batches(list(run_local(plan_stages(s.graph, 3)))).to_pydict()
{'k': [1, 2, 3], 'x': [4, 2, 4]}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from sabot_lab.config import Config
from sabot_lab.errors import PlanError
from sabot_lab.physical.planner import PhysicalPlan
from sabot_lab.physical.task import run_task

__all__ = ["run_local"]


def run_local(plan: PhysicalPlan, config: Config | None = None) -> Iterator[pa.RecordBatch]:
    """Yield the job's result: stages in order, each stage's tasks one after another."""
    if not plan.bounded:
        raise PlanError("an unbounded plan runs all its stages at once: submit it to a cluster")
    buffers: defaultdict[tuple[str, int], list[pa.RecordBatch]] = defaultdict(list)

    def read(exchange_id: str, partition: int) -> Iterator[pa.RecordBatch]:
        return iter(buffers.get((exchange_id, partition), []))

    def write(exchange_id: str, partition: int, item: Any) -> None:
        if isinstance(item, pa.RecordBatch):  # not watermarks or barriers: stage by stage
            buffers[exchange_id, partition].append(item)

    for stage in plan.stages:
        for partition in range(stage.partitions):
            yield from run_task(stage, partition, plan.exchanges, read, write, config)
        for exchange_id in stage.reads:  # consumed: free the rows
            for partition in range(stage.partitions):
                buffers.pop((exchange_id, partition), None)
