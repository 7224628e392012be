"""Runs of streams planned as unbounded whose source does end (a generator function that
returns None): the tests of unbounded operators over finite data read them to their end
through the engine's executor, as ``Stream.run()`` does for bounded streams (it refuses
unbounded ones)."""

from __future__ import annotations

import pyarrow as pa

import sabot_lab as sl
from sabot_lab.config import get_config
from sabot_lab.engine import Executor

__all__ = ["run_to_end"]


def run_to_end(stream: sl.Stream) -> sl.RunResult:
    """All the rows of ``stream`` (optimized) and its operators' counters."""
    plan = stream.optimize()
    executor = Executor(plan.graph, get_config())
    table = pa.Table.from_batches(list(executor.run(plan.output)), schema=stream.schema)
    return sl.RunResult(table, executor.metrics())
