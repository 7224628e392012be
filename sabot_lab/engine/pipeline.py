"""Fused pipelines: a batch source followed by per-batch steps, run on worker threads.

A pipeline is what the engine executes between two pipeline breakers (a source, a join's
build side, an aggregate, a sort): every stateless operator, join probe and partial aggregate
in between is one *step*, and the steps of a batch run back to back on one thread (operator
fusion). Watermarks and checkpoint barriers between the batches pass the steps untouched, in their place. Batches are processed by ``Config.threads`` workers with at most
``threads * max_in_flight`` batches in flight, and come out in input order.

>>> import pyarrow as pa
>>> from sabot_lab.config import Config
>>> p = Pipeline(lambda: iter(pa.table({"x": list(range(10))}).to_batches(max_chunksize=3)))
>>> p = p.extend(Step("double", lambda b: pa.record_batch({"x": pa.compute.multiply(b["x"], 2)})))
>>> [b["x"].to_pylist() for b in p.run(Config(threads=2))]
[[0, 2, 4], [6, 8, 10], [12, 14, 16], [18]]
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import Any

from sabot_lab.config import Config
from sabot_lab.engine.items import Idle, RuntimeItem, batches_only, is_marker
from sabot_lab.engine.worker_pools import borrowed_pool
from sabot_lab.errors import ComputeError

__all__ = ["Pipeline", "Step", "ordered_parallel_map"]


@dataclass(frozen=True)
class Step:
    """One fused operator: ``fn(batch) -> batch`` (or another value), with an optional ``prepare``.

    ``prepare`` runs once before the pipeline's first batch (a join builds its hash table there),
    on a thread of its own while the source starts (see :func:`while_preparing`).
    ``fn`` may return None to drop the batch.
    """

    label: str
    fn: Callable[[Any], Any]
    prepare: Callable[[], None] | None = None


@dataclass(frozen=True)
class Pipeline:
    """A source of batches and the fused steps applied to each batch."""

    source: Callable[[], Iterator[RuntimeItem]]
    steps: tuple[Step, ...] = ()
    node_ids: tuple[str, ...] = field(default=())

    def extend(self, step: Step, node_id: str | None = None) -> Pipeline:
        """A pipeline with one more step fused at the end."""
        ids = (*self.node_ids, node_id) if node_id else self.node_ids
        return Pipeline(self.source, (*self.steps, step), ids)

    def with_node(self, node_id: str) -> Pipeline:
        """The same pipeline, also listing ``node_id`` (an operator fused into its last step)."""
        return Pipeline(self.source, self.steps, (*self.node_ids, node_id))

    def run(self, config: Config, keep_idle: bool = False) -> Iterator[Any]:
        """Yield the output of the last step for every source batch, in order; a live
        source's :class:`~sabot_lab.engine.items.Idle` marks too with ``keep_idle`` (for a
        processing-time clock), else they go no further."""
        if not self.steps:
            yield from (item for item in self.source() if keep_idle or not isinstance(item, Idle))
            return
        steps = self.steps
        prepares = [s.prepare for s in steps if s.prepare is not None]
        items = while_preparing(prepares, self.source(), config.engine.threads > 1)

        def process(batch: Any) -> Any:
            for step in steps:
                try:
                    batch = step.fn(batch)
                except ComputeError as exc:
                    raise ComputeError(f"in {step.label}: {exc}") from exc
                if batch is None:
                    return None
            return batch

        for out in ordered_parallel_map(process, items, config, is_marker):
            if out is not None and (keep_idle or not isinstance(out, Idle)):
                yield out  # (an Idle flushed the look-ahead)

    def run_batches(self, config: Config) -> Iterator[Any]:
        """:meth:`run` without watermarks and barriers, for operators that wait for their
        whole input."""
        return batches_only(self.run(config))


def while_preparing(
    prepares: list[Callable[[], None]], items: Iterator[RuntimeItem], concurrently: bool
) -> Iterator[RuntimeItem]:
    """``items``, once every one of ``prepares`` has run. ``concurrently``, they run on threads
    of their own while this thread takes the first item, which starts the source (a Parquet
    scan reads ahead on Arrow's threads from then on): a join's build side and its probe
    input are read at the same time. The first error of a ``prepare`` is raised before any
    item.

    >>> built = []
    >>> items = while_preparing([lambda: built.append("table")], iter([1, 2]), concurrently=True)
    >>> next(items), built, list(items)
    (1, ['table'], [2])
    """
    if not concurrently or not prepares:
        for fn in prepares:
            fn()
        yield from items
        return
    errors: list[BaseException] = []

    def prepare(fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as error:  # raised on the consumer's thread below
            errors.append(error)

    threads = [
        threading.Thread(target=prepare, args=(fn,), name="sabot-prepare", daemon=True)
        for fn in prepares
    ]
    for thread in threads:
        thread.start()
    try:
        first = next(items, _END)
    finally:
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    if first is not _END:
        yield first
        yield from items


_END = object()
"""No item: the source ended before its first."""


def ordered_parallel_map(
    fn: Callable[[Any], Any],
    items: Iterator[Any],
    config: Config,
    passes: Callable[[Any], bool] | None = None,
) -> Generator[Any, None, None]:
    """``map(fn, items)`` on ``config.engine.threads`` threads, in order, with bounded look-ahead.
    Items for which ``passes`` is true (watermarks) come out as they are, after every result
    before them: they flush the look-ahead, so a stream that pauses after a watermark does
    not hold back rows already processed.

    >>> list(ordered_parallel_map(lambda x: x * x, iter(range(5)), Config(threads=2)))
    [0, 1, 4, 9, 16]
    """
    if config.engine.threads == 1:
        yield from (item if passes and passes(item) else fn(item) for item in items)
        return
    window = config.engine.threads * config.engine.max_in_flight
    with borrowed_pool(config.engine.threads) as pool:
        pending: deque[Future[Any]] = deque()
        try:
            for item in items:
                if passes is not None and passes(item):
                    while pending:
                        yield pending.popleft().result()
                    yield item
                    continue
                pending.append(pool.submit(fn, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # stopped early or failed: the batches not started are dropped
            for future in pending:
                future.cancel()
            if not pool.on_worker():  # else closed by the GC on a worker: it would wait for itself
                wait([future for future in pending if not future.cancelled()])
