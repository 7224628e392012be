"""One run of a pipeline read by several consumers: an operator whose output feeds two others
(a diamond in the plan, like a window's counts joined with their maximum) runs once, and each
consumer reads every item in order. Items a consumer has not read yet wait in its queue, so
memory holds the gap between the fastest and the slowest consumer.

>>> import pyarrow as pa
>>> from sabot_lab.config import Config
>>> from sabot_lab.engine.pipeline import Pipeline
>>> runs = []
>>> def source():
...     runs.append(1)
...     return iter([1, 2, 3])
>>> shared = SharedRun(Pipeline(source), Config(threads=1), readers=2)
>>> list(shared.open()), list(shared.open()), len(runs)
([1, 2, 3], [1, 2, 3], 1)
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

from sabot_lab.config import Config
from sabot_lab.engine.pipeline import Pipeline

__all__ = ["SharedRun", "shared_pipeline"]


class SharedRun:
    """The items of one run of ``pipeline``, handed to ``readers`` consumers."""

    def __init__(self, pipeline: Pipeline, config: Config, readers: int) -> None:
        self._pipeline, self._config = pipeline, config
        self._queues: list[deque[Any]] = [deque() for _ in range(readers)]
        self._lock = threading.Lock()
        self._source: Iterator[Any] | None = None
        self._opened = 0
        self._done = False
        self._error: BaseException | None = None

    def open(self) -> Iterator[Any]:
        """The next consumer's iterator (a consumer beyond ``readers`` gets a run of its own)."""
        with self._lock:
            index = self._opened
            self._opened += 1
        if index >= len(self._queues):
            return self._pipeline.run(self._config)
        return self._read(index)

    def _read(self, index: int) -> Iterator[Any]:
        mine = self._queues[index]
        while True:
            with self._lock:
                if mine:
                    item = mine.popleft()
                elif self._error is not None:
                    raise self._error
                elif self._done:
                    return
                else:
                    item = self._pull(index)
                    if item is _END:
                        continue
            yield item

    def _pull(self, index: int) -> Any:
        if self._source is None:
            self._source = self._pipeline.run(self._config)
        try:
            item = next(self._source)
        except StopIteration:
            self._done = True
            return _END
        except BaseException as exc:
            self._error = exc
            raise
        for other, queue in enumerate(self._queues):
            if other != index:
                queue.append(item)
        return item


_END = object()


def shared_pipeline(pipeline: Pipeline, config: Config, readers: int) -> Pipeline:
    """A pipeline whose runs (up to ``readers`` of them) all read one run of ``pipeline``."""
    shared = SharedRun(pipeline, config, readers)
    return Pipeline(shared.open, (), pipeline.node_ids)
