"""One task: a stage's operators run on one partition, reading and writing exchanges.

A task binds its stage's graph to its partition (:func:`bind_task`): each source becomes its
split number ``partition`` (:meth:`~sabot_lab.logical.SourceSpec.split`), each exchange input the
rows sent to this partition. It then runs the operators of every exchange the stage feeds,
routing each output batch to the consumer's partitions (and each watermark to all of them),
and yields the job's result rows when it belongs to the last stage. A stage feeding several
exchanges feeds them at once, one thread each, from one run of its operators. The same code
runs in-process (:mod:`sabot_lab.physical.local`) and on agents, which only supply ``read``
and ``write``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pyarrow as pa

from sabot_lab.config import Config, get_config
from sabot_lab.engine import Executor
from sabot_lab.engine.checkpoints import Checkpoints
from sabot_lab.engine.items import Barrier, is_marker
from sabot_lab.engine.operator_rows import OperatorRows
from sabot_lab.logical import JobGraph
from sabot_lab.physical.exchange import BoundSource, Exchange, ExchangeSource
from sabot_lab.physical.ids import ProducerId, TaskId
from sabot_lab.physical.planner import PhysicalPlan, Stage

__all__ = ["Reader", "TaskSpec", "Writer", "bind_task", "run_task"]

Reader = Callable[[str, int], Iterator[Any]]
"""``read(exchange_id, partition)``: the rows (with watermarks and barriers) an exchange sent
to a partition."""
Writer = Callable[[str, int, Any], None]
"""``write(exchange_id, partition, item)``: send rows, a
:class:`~sabot_lab.engine.watermarks.Watermark` or a
:class:`~sabot_lab.engine.checkpoints.Barrier` to a partition of an exchange."""


def bind_task(stage: Stage, partition: int, read: Reader) -> JobGraph:
    """The stage's graph for task ``partition``: its source splits (the whole of the
    stage's ``whole`` sources) and exchange inputs."""
    graph = stage.graph.copy()
    for node in stage.graph.sources():
        spec = node.parameters["source"]
        if isinstance(spec, ExchangeSource):
            bound = spec.bind(partial(read, spec.exchange_id, partition))
        elif stage.partitions > 1 and node.operator_id not in stage.whole:
            splits = spec.split(stage.partitions)
            bound = (
                splits[partition]
                if partition < len(splits)
                else BoundSource(spec.schema, lambda: iter(()), f"{spec.describe()} (no split)")
            )
        else:
            continue
        graph.replace_operator(node.replace(op=node.op.replace(source=bound)))
    return graph


def run_task(
    stage: Stage,
    partition: int,
    exchanges: Mapping[str, Exchange],
    read: Reader,
    write: Writer,
    config: Config | None = None,
    checkpoints: Checkpoints | None = None,
    on_barrier: Callable[[int], None] | None = None,
    rows: OperatorRows | None = None,
) -> Iterator[pa.RecordBatch]:
    """Run task ``partition`` of ``stage``: fill the exchanges it writes, then yield its share
    of the job's result (nothing unless it is the last stage). With ``checkpoints``, barriers
    travel with the rows; ``on_barrier(n)`` is called once barrier ``n`` left every output.
    ``rows`` counts the rows out of each operator of the stage (live plan numbers)."""
    graph = bind_task(stage, partition, read)
    executor = Executor(graph, config or get_config(), checkpoints, rows=rows)
    feeds = [exchanges[x] for x in stage.writes]
    passed = _BarrierCount(len(feeds) + (stage.output is not None), on_barrier)
    if len(feeds) == 1:
        _feed(feeds[0], executor.run_items(feeds[0].node_id)[0], write, passed)
    elif feeds:
        _feed_at_once(feeds, executor.run_items(*(x.node_id for x in feeds)), write, passed)
    if stage.output is not None:
        for item in executor.run_items(stage.output)[0]:
            if isinstance(item, Barrier):
                passed(item.checkpoint)
            elif not is_marker(item):
                yield item


class _BarrierCount:
    """Calls ``done(n)`` when barrier ``n`` has passed all ``outputs`` of a task."""

    def __init__(self, outputs: int, done: Callable[[int], None] | None) -> None:
        self._outputs, self._done = outputs, done
        self._seen: dict[int, int] = {}
        self._lock = threading.Lock()

    def __call__(self, checkpoint: int) -> None:
        with self._lock:
            self._seen[checkpoint] = self._seen.get(checkpoint, 0) + 1
            finished = self._seen[checkpoint] == self._outputs
            if finished:
                del self._seen[checkpoint]
        if finished and self._done is not None:
            self._done(checkpoint)


def _feed(exchange: Exchange, items: Iterator[Any], write: Writer, passed: _BarrierCount) -> None:
    """Send a stage's output to an exchange: rows to their partitions, watermarks and
    barriers to all."""
    for item in items:
        if is_marker(item):
            for target in range(exchange.partitions):
                write(exchange.exchange_id, target, item)
            if isinstance(item, Barrier):
                passed(item.checkpoint)
        else:
            for target, rows in exchange.route(item):
                write(exchange.exchange_id, target, rows)


class _Stopped(Exception):
    """Another exchange of the task failed: stop feeding this one."""


def _feed_at_once(
    feeds: list[Exchange], outputs: list[Iterator[Any]], write: Writer, passed: _BarrierCount
) -> None:
    """Feed several exchanges on threads of their own (with unbounded input, feeding one to
    its end would never reach the others); the first error stops them all and is raised."""
    errors: list[BaseException] = []
    failed = threading.Event()

    def checked(exchange_id: str, partition: int, item: Any) -> None:
        if failed.is_set():
            raise _Stopped
        write(exchange_id, partition, item)

    def run(exchange: Exchange, items: Iterator[Any]) -> None:
        try:
            _feed(exchange, items, checked, passed)
        except _Stopped:
            pass
        except BaseException as exc:
            errors.append(exc)
            failed.set()

    threads = [
        threading.Thread(target=run, args=pair, name=f"sabot-feed-{pair[0].exchange_id}")
        for pair in zip(feeds, outputs, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@dataclass(frozen=True)
class TaskSpec:
    """Everything an agent needs to run one task: the stage, the partition, the exchanges it
    reads and writes, and where the rows of each exchange it reads are kept (agent URIs).

    ``streaming``: the job is unbounded or takes checkpoints, so every task runs at once and
    exchanges stream;
    ``inputs`` then lists, for each exchange read, the agent of each producing task in
    partition order (each is read on its own and their watermarks merged). ``checkpoints``:
    the directory the job's checkpoints go to (None: it takes none); ``restore``: the
    checkpoint the task starts from."""

    job_id: str
    stage: Stage
    partition: int
    exchanges: Mapping[str, Exchange]
    inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    attempt: int = 0
    streaming: bool = False
    checkpoints: str | None = None
    restore: int | None = None

    @staticmethod
    def of(
        plan: PhysicalPlan,
        stage: Stage,
        partition: int,
        job_id: str,
        held: Mapping[int, tuple[str, ...]],
        attempt: int = 0,
        checkpoints: str | None = None,
        restore: int | None = None,
    ) -> TaskSpec:
        """Task ``partition`` of ``stage``; ``held`` maps each earlier stage to the agents
        holding its rows (for a streaming task: the agent of each of its tasks, in order).
        A task of an unbounded plan, or one that takes checkpoints, streams."""
        return TaskSpec(
            job_id,
            stage,
            partition,
            {x: plan.exchanges[x] for x in (*stage.reads, *stage.writes)},
            {x: held[plan.exchanges[x].producer] for x in stage.reads},
            attempt,
            not plan.bounded or checkpoints is not None,
            checkpoints,
            restore,
        )

    def idle_timeout(self, exchange_id: str) -> float | None:
        """Seconds after which a quiet producer of ``exchange_id`` stops holding back the
        watermark (that of the ``with_watermark`` feeding it), or None."""
        for node in self.stage.graph.sources():
            spec = node.parameters["source"]
            if isinstance(spec, ExchangeSource) and spec.exchange_id == exchange_id:
                us = (spec.event_time or {}).get("idle_timeout")
                return None if us is None else us / 1e6
        return None

    def producers(self, exchange_id: str) -> list[str]:
        """The names of the tasks feeding ``exchange_id`` (see :attr:`producer`)."""
        stage = self.exchanges[exchange_id].producer
        return [str(ProducerId(stage, p)) for p in range(len(self.inputs[exchange_id]))]

    @property
    def producer(self) -> str:
        """The task's name among the producers of its stage's exchanges (stable over attempts)."""
        return str(self.producer_id)

    @property
    def producer_id(self) -> ProducerId:
        """The task's :class:`ProducerId`."""
        return ProducerId(self.stage.stage_id, self.partition)

    @property
    def scope(self) -> str:
        """Where this attempt's exchange rows are kept on agents: ``job/attempt`` (a new attempt
        never reads rows an earlier one left behind)."""
        return self.id.scope

    @property
    def task_id(self) -> str:
        """Unique id of this attempt of the task (see :attr:`id`)."""
        return str(self.id)

    @property
    def id(self) -> TaskId:
        """This attempt of the task as a :class:`TaskId`."""
        return TaskId(self.job_id, self.producer_id, self.attempt)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, sent with the deploy action."""
        return {
            "job_id": self.job_id,
            "stage": self.stage.to_dict(),
            "partition": self.partition,
            "exchanges": {k: x.to_dict() for k, x in self.exchanges.items()},
            "inputs": {k: list(v) for k, v in self.inputs.items()},
            "attempt": self.attempt,
            "streaming": self.streaming,
            "checkpoints": self.checkpoints,
            "restore": self.restore,
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
            data.get("streaming", False),
            data.get("checkpoints"),
            data.get("restore"),
        )
