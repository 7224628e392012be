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
    """The items of one run of ``pipeline``, handed to ``readers`` consumers.

    One consumer at a time pulls the next item of the run, without holding the others back:
    while it waits for the run (an idle stream), the others take what their queues hold (a
    barrier another consumer's pull brought), and wait only when theirs are empty.
    """

    def __init__(self, pipeline: Pipeline, config: Config, readers: int) -> None:
        self._pipeline, self._config = pipeline, config
        self._queues: list[deque[Any]] = [deque() for _ in range(readers)]
        self._changed = threading.Condition()
        self._source: Iterator[Any] | None = None
        self._pulling = False  # a consumer is waiting for the run's next item
        self._opened = 0
        self._done = False
        self._error: BaseException | None = None

    def open(self) -> Iterator[Any]:
        """The next consumer's iterator (a consumer beyond ``readers`` gets a run of its own)."""
        with self._changed:
            index = self._opened
            self._opened += 1
        if index >= len(self._queues):
            return self._pipeline.run(self._config)
        return self._read(index)

    def _read(self, index: int) -> Iterator[Any]:
        mine = self._queues[index]
        while True:
            with self._changed:
                while not mine and self._error is None and not self._done and self._pulling:
                    self._changed.wait()
                if mine:
                    item = mine.popleft()
                elif self._error is not None:
                    raise self._error
                elif self._done:
                    return
                else:
                    self._pulling = True
                    item = _PULL
            if item is _PULL:
                item = self._pull(index)
                if item is _END:
                    continue
            yield item

    def _pull(self, index: int) -> Any:
        """The run's next item (also queued for the other consumers), or _END; called by one
        consumer at a time, without the lock."""
        item: Any = _END
        try:
            if self._source is None:
                self._source = self._pipeline.run(self._config)
            item = next(self._source)
        except StopIteration:
            with self._changed:
                self._done = True
        except BaseException as exc:
            with self._changed:
                self._error = exc
            raise
        finally:
            with self._changed:
                if item is not _END:
                    for other, queue in enumerate(self._queues):
                        if other != index:
                            queue.append(item)
                self._pulling = False
                self._changed.notify_all()
        return item


_PULL = object()
_END = object()


def shared_pipeline(pipeline: Pipeline, config: Config, readers: int) -> Pipeline:
    """A pipeline whose runs (up to ``readers`` of them) all read one run of ``pipeline``."""
    shared = SharedRun(pipeline, config, readers)
    return Pipeline(shared.open, (), pipeline.node_ids)
