"""One task: a stage's operators run on one partition, reading and writing exchanges.

A task binds its stage's graph to its partition (:func:`bind_task`): each source becomes its
split number ``partition`` (:meth:`~sabot_lab.plan.SourceSpec.split`), each exchange input the
rows sent to this partition. It then runs the operators of every exchange the stage feeds,
routing each output batch to the consumer's partitions, and yields the job's result rows when
it belongs to the last stage. The same code runs in-process (:mod:`sabot_lab.physical.local`)
and on agents, which only supply ``read`` and ``write``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pyarrow as pa

from sabot_lab.config import Config, get_config
from sabot_lab.engine import Executor
from sabot_lab.physical.exchange import BoundSource, Exchange, ExchangeSource
from sabot_lab.physical.planner import PhysicalPlan, Stage
from sabot_lab.plan import JobGraph

__all__ = ["Reader", "TaskSpec", "Writer", "attempt_scope", "bind_task", "run_task"]

Reader = Callable[[str, int], Iterator[pa.RecordBatch]]
"""``read(exchange_id, partition)``: the rows an exchange sent to a partition."""
Writer = Callable[[str, int, pa.RecordBatch], None]
"""``write(exchange_id, partition, rows)``: send rows to a partition of an exchange."""


def bind_task(stage: Stage, partition: int, read: Reader) -> JobGraph:
    """The stage's graph for task ``partition``: its source splits and exchange inputs."""
    graph = stage.graph.copy()
    for node in stage.graph.sources():
        spec = node.parameters["source"]
        if isinstance(spec, ExchangeSource):
            bound = spec.bind(partial(read, spec.exchange_id, partition))
        elif stage.partitions > 1:
            splits = spec.split(stage.partitions)
            bound = (
                splits[partition]
                if partition < len(splits)
                else BoundSource(spec.schema, lambda: iter(()), f"{spec.describe()} (no split)")
            )
        else:
            continue
        graph.replace_operator(node.replace(parameters={**node.parameters, "source": bound}))
    return graph


def run_task(
    stage: Stage,
    partition: int,
    exchanges: Mapping[str, Exchange],
    read: Reader,
    write: Writer,
    config: Config | None = None,
) -> Iterator[pa.RecordBatch]:
    """Run task ``partition`` of ``stage``: fill the exchanges it writes, then yield its share
    of the job's result (nothing unless it is the last stage)."""
    executor = Executor(bind_task(stage, partition, read), config or get_config())
    for exchange_id in stage.writes:
        exchange = exchanges[exchange_id]
        for batch in executor.run(exchange.node_id):
            for target, rows in exchange.route(batch):
                write(exchange_id, target, rows)
    if stage.output is not None:
        yield from executor.run(stage.output)


def attempt_scope(job_id: str, attempt: int) -> str:
    """The name agents keep one attempt's exchange rows under.

    >>> attempt_scope("j1", 2)
    'j1/2'
    """
    return f"{job_id}/{attempt}"


@dataclass(frozen=True)
class TaskSpec:
    """Everything an agent needs to run one task: the stage, the partition, the exchanges it
    reads and writes, and where the rows of each exchange it reads are kept (agent URIs)."""

    job_id: str
    stage: Stage
    partition: int
    exchanges: Mapping[str, Exchange]
    inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    attempt: int = 0

    @staticmethod
    def of(
        plan: PhysicalPlan,
        stage: Stage,
        partition: int,
        job_id: str,
        held: Mapping[int, tuple[str, ...]],
        attempt: int = 0,
    ) -> TaskSpec:
        """Task ``partition`` of ``stage``; ``held`` maps each earlier stage to the agents
        holding its rows."""
        return TaskSpec(
            job_id,
            stage,
            partition,
            {x: plan.exchanges[x] for x in (*stage.reads, *stage.writes)},
            {x: held[plan.exchanges[x].producer] for x in stage.reads},
            attempt,
        )

    @property
    def producer(self) -> str:
        """The task's name among the producers of its stage's exchanges (stable over attempts)."""
        return f"{self.stage.stage_id}.{self.partition}"

    @property
    def scope(self) -> str:
        """Where this attempt's exchange rows are kept on agents: ``job/attempt`` (a new attempt
        never reads rows an earlier one left behind)."""
        return attempt_scope(self.job_id, self.attempt)

    @property
    def task_id(self) -> str:
        """Unique id of this attempt of the task."""
        return f"{self.job_id}/{self.producer}/{self.attempt}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, sent with the deploy action."""
        return {
            "job_id": self.job_id,
            "stage": self.stage.to_dict(),
            "partition": self.partition,
            "exchanges": {k: x.to_dict() for k, x in self.exchanges.items()},
            "inputs": {k: list(v) for k, v in self.inputs.items()},
            "attempt": self.attempt,
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> TaskSpec:
        """Inverse of :meth:`to_dict`."""
        return TaskSpec(
            data["job_id"],
            Stage.from_dict(data["stage"]),
            data["partition"],
            {k: Exchange.from_dict(x) for k, x in data["exchanges"].items()},
            {k: tuple(v) for k, v in data["inputs"].items()},
            data.get("attempt", 0),
        )
