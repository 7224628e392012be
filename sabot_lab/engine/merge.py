"""Merging streams that carry event time: each input is read on its own thread, batches come
out as they arrive, and watermarks come out as the minimum over the inputs (an input that
ended counts as the end of time; one that is idle for its timeout stops holding the others).

>>> import pyarrow as pa
>>> from sabot_lab.engine.watermarks import Watermark
>>> a = lambda: iter([pa.record_batch({"x": [1]}), Watermark(10), Watermark(30)])
>>> b = lambda: iter([Watermark(20), pa.record_batch({"x": [2]})])
>>> out = list(merge_streams([a, b], [None, None]))
>>> sorted(x.column(0)[0].as_py() for x in out if isinstance(x, pa.RecordBatch))
[1, 2]
>>> [x.time for x in out if isinstance(x, Watermark)][-1] == END_OF_TIME
True
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sabot_lab.engine.watermarks import END_OF_TIME, Watermark, WatermarkMerger

__all__ = ["merge_streams"]

_END = object()
_POLL = 0.05  # seconds between checks for idle inputs and for a stopped consumer


def merge_streams(
    inputs: Sequence[Callable[[], Iterator[Any]]],
    idle_timeouts: Sequence[float | None],
    tagged: bool = False,
) -> Iterator[Any]:
    """The items of every input (batches, watermarks merged), as they arrive; an input's error
    is raised here. ``tagged``: batches come as ``(input index, batch)``."""
    items: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=4 * len(inputs))
    stop = threading.Event()

    def pump(index: int) -> None:
        try:
            for item in inputs[index]():
                if not _put(items, (index, item), stop):
                    return
            _put(items, (index, _END), stop)
        except BaseException as exc:  # handed to the consumer, which raises it
            _put(items, (index, exc), stop)

    threads = [
        threading.Thread(target=pump, args=(i,), daemon=True, name=f"sabot-merge-{i}")
        for i in range(len(inputs))
    ]
    for thread in threads:
        thread.start()
    merger = WatermarkMerger(len(inputs))
    last_seen = [time.monotonic()] * len(inputs)
    idle = [False] * len(inputs)
    running = len(inputs)
    try:
        while running:
            try:
                index, item = items.get(timeout=_POLL)
            except queue.Empty:
                yield from _idle_inputs(merger, last_seen, idle, idle_timeouts)
                continue
            last_seen[index] = time.monotonic()
            if isinstance(item, BaseException):
                raise item
            if item is _END:
                running -= 1
                advanced = merger.update(index, END_OF_TIME)
            elif isinstance(item, Watermark):
                advanced = merger.update(index, item.time)
            else:
                if idle[index]:
                    idle[index] = False
                    merger.active(index)
                yield (index, item) if tagged else item
                continue
            if advanced is not None:
                yield Watermark(advanced)
    finally:
        stop.set()


def _idle_inputs(
    merger: WatermarkMerger,
    last_seen: list[float],
    idle: list[bool],
    timeouts: Sequence[float | None],
) -> Iterator[Watermark]:
    now = time.monotonic()
    for index, timeout in enumerate(timeouts):
        if timeout is not None and not idle[index] and now - last_seen[index] >= timeout:
            idle[index] = True
            advanced = merger.idle(index)
            if advanced is not None:
                yield Watermark(advanced)


def _put(items: queue.Queue[tuple[int, Any]], item: tuple[int, Any], stop: threading.Event) -> bool:
    """Put ``item`` unless the consumer stopped first (then False)."""
    while not stop.is_set():
        try:
            items.put(item, timeout=_POLL)
            return True
        except queue.Full:
            continue
    return False
