"""Rows out of each operator of a running executor, for live EXPLAIN ANALYZE numbers, and the
seconds spent making them.

An :class:`OperatorRows` is handed to an :class:`~sabot_lab.engine.executor.Executor`, which
counts the rows every operator's pipeline yields: after the operator's last fused step, or
from the source of a pipeline it starts; and the time that step (or that source) took. Worker
threads add to it while another thread (an agent's heartbeat) reads it. Counting is per batch,
not per row.

>>> import pyarrow as pa
>>> from sabot_lab.engine.pipeline import Pipeline, Step
>>> rows = OperatorRows()
>>> p = rows.counted(Pipeline(lambda: iter(pa.table({"x": [1, 2, 3]}).to_batches())), "scan")
>>> p = rows.counted(p.extend(Step("keep odd", lambda b: b.filter(pa.compute.equal(pa.compute.bit_wise_and(b["x"], 1), 1)))), "odd")
>>> from sabot_lab.config import Config
>>> _ = list(p.run(Config(threads=1)))
>>> rows.snapshot()
{'scan': 3, 'odd': 2}
>>> sorted(rows.seconds())
['odd', 'scan']
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pyarrow as pa

from sabot_lab.engine.pipeline import Pipeline

__all__ = ["OperatorRows"]


class OperatorRows:
    """Rows out by operator id, added to from any thread. ``check``, when given, is called
    before each count: it raises to stop the executor (its task was cancelled), so a task
    stops at its next batch, wherever it is.

    >>> def stop() -> None:
    ...     raise InterruptedError("cancelled")
    >>> OperatorRows(check=stop).add("scan", 3)
    Traceback (most recent call last):
    ...
    InterruptedError: cancelled
    """

    def __init__(self, check: Callable[[], None] | None = None) -> None:
        self._rows: dict[str, int] = {}
        self._seconds: dict[str, float] = {}
        self._lock = threading.Lock()
        self._check = check

    def check(self) -> None:
        """Raise (through ``check``) when the executor must stop: its task was cancelled.
        Counting a batch does this; so does a live source's every poll, rows or none.

        >>> OperatorRows().check()  # no ``check``: it never stops
        """
        if self._check is not None:
            self._check()

    def add(self, operator_id: str, rows: int, seconds: float = 0.0) -> None:
        """Count ``rows`` more out of ``operator_id``, made in ``seconds``."""
        self.check()
        with self._lock:
            self._rows[operator_id] = self._rows.get(operator_id, 0) + rows
            self._seconds[operator_id] = self._seconds.get(operator_id, 0.0) + seconds

    def snapshot(self) -> dict[str, int]:
        """The counts so far, by operator id, in the order operators first yielded rows."""
        with self._lock:
            return dict(self._rows)

    def _time(self, operator_id: str, seconds: float) -> None:
        with self._lock:
            self._seconds[operator_id] = self._seconds.get(operator_id, 0.0) + seconds

    def seconds(self) -> dict[str, float]:
        """The seconds each operator's counted step (or source) took so far, by operator id:
        the time of its last fused step, or of its source's reads."""
        with self._lock:
            return {k: round(v, 6) for k, v in self._seconds.items()}

    def counted(self, pipeline: Pipeline, operator_id: str) -> Pipeline:
        """``pipeline`` (whose output is ``operator_id``'s) counting the rows it yields: its
        last step's output, or its source's when it has no steps."""
        if not pipeline.steps:
            source = pipeline.source
            return replace(pipeline, source=lambda: self._count(source(), operator_id))
        last = pipeline.steps[-1]
        counted = replace(last, fn=self._counting(last.fn, operator_id))
        return replace(pipeline, steps=(*pipeline.steps[:-1], counted))

    def _counting(self, fn: Callable[[Any], Any], operator_id: str) -> Callable[[Any], Any]:
        def step(batch: Any) -> Any:
            started = time.perf_counter()
            out = fn(batch)
            if out is None:
                self._time(operator_id, time.perf_counter() - started)
            else:
                self.add(operator_id, out.num_rows, time.perf_counter() - started)
            return out

        return step

    def _count(self, items: Iterator[Any], operator_id: str) -> Iterator[Any]:
        items = iter(items)
        while True:
            started = time.perf_counter()
            item = next(items, _END)
            if item is _END:
                return
            if isinstance(item, pa.RecordBatch | pa.Table):
                self.add(operator_id, item.num_rows, time.perf_counter() - started)
            else:
                self._time(operator_id, time.perf_counter() - started)
            yield item


_END = object()
