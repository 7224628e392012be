"""Merging streams that carry event time: each input is read on its own thread, batches come
out as they arrive, and watermarks come out as the minimum over the inputs (an input that
ended counts as the end of time; one that is idle for its timeout stops holding the others).
Checkpoint barriers are aligned: an input whose barrier arrived is not read until the barrier
came from every input still running, and then it comes out once.

>>> import pyarrow as pa
>>> from sabot_lab.engine.items import Watermark
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

from sabot_lab.engine.items import Barrier, RuntimeItem, Tagged, Watermark
from sabot_lab.engine.watermarks import WatermarkMerger
from sabot_lab.window_specs import END_OF_TIME

__all__ = ["merge_streams"]

_END = object()
_POLL = 0.05  # seconds between checks for idle inputs and for a stopped reader
_AHEAD = 2  # items an input may read ahead of the merge


def merge_streams(
    inputs: Sequence[Callable[[], Iterator[RuntimeItem]]],
    idle_timeouts: Sequence[float | None],
    tagged: bool = False,
    timed: Sequence[bool] | None = None,
) -> Iterator[RuntimeItem | Tagged]:
    """The items of every input (batches, watermarks merged), as they arrive; an input's error
    is raised here. ``tagged``: batches come as ``(input index, batch)``.

    Inputs stay aligned in event time, which bounds the state of the operator reading them:
    an input whose watermark is ahead of another's is not read until that one catches up (or
    ends, or is idle), and each input reads only a couple of items ahead of the merge.
    ``timed``: which inputs carry watermarks (default: all); the others are read whenever
    they have rows and hold no one back.
    """
    timed = [True] * len(inputs) if timed is None else list(timed)
    queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=_AHEAD) for _ in inputs]
    arrived = threading.Event()
    stop = threading.Event()

    def pump(index: int) -> None:
        try:
            for item in inputs[index]():
                if not _put(queues[index], item, stop, arrived):
                    return
            _put(queues[index], _END, stop, arrived)
        except BaseException as exc:  # handed to the reader, which raises it
            _put(queues[index], exc, stop, arrived)

    threads = [
        threading.Thread(target=pump, args=(i,), daemon=True, name=f"sabot-merge-{i}")
        for i in range(len(inputs))
    ]
    for thread in threads:
        thread.start()
    merger = WatermarkMerger(len(inputs))
    reached: list[int] = [-END_OF_TIME] * len(inputs)  # each input's latest watermark
    last_seen = [time.monotonic()] * len(inputs)
    idle = [False] * len(inputs)
    running = set(range(len(inputs)))
    aligning: dict[int, int] = {}  # input -> the checkpoint whose barrier it sent
    checked = time.monotonic()
    try:
        while running:
            if time.monotonic() - checked >= _POLL:  # busy inputs must not hide idle ones
                checked = time.monotonic()
                quiet = {i for i in running if queues[i].empty()}  # one held back is not idle
                yield from _idle_inputs(merger, last_seen, idle, idle_timeouts, quiet)
            arrived.clear()
            readable = _readable(running - aligning.keys(), reached, idle, timed)
            got = _next_item(queues, readable)
            if got is None:
                arrived.wait(_POLL)
                continue
            index, item = got
            last_seen[index] = time.monotonic()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Barrier):
                aligning[index] = item.checkpoint
                if aligning.keys() >= running:
                    aligning.clear()
                    yield item
                continue
            if item is _END:
                running.discard(index)
                reached[index] = END_OF_TIME
                advanced = merger.update(index, END_OF_TIME)
                if aligning and aligning.keys() >= running:  # the others all sent theirs
                    yield Barrier(max(aligning.values()))
                    aligning.clear()
            elif isinstance(item, Watermark):
                reached[index] = max(reached[index], item.time)
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


def _readable(
    running: set[int], reached: Sequence[int], idle: Sequence[bool], timed: Sequence[bool]
) -> list[int]:
    """The inputs that may be read now, furthest behind first: those without watermarks, and
    those not ahead of the slowest input that still has rows to come."""
    waiting = [reached[i] for i in running if timed[i] and not idle[i]]
    slowest = min(waiting, default=END_OF_TIME)
    allowed = [i for i in running if not timed[i] or idle[i] or reached[i] <= slowest]
    return sorted(allowed, key=reached.__getitem__)


def _next_item(queues: Sequence[queue.Queue[Any]], order: Sequence[int]) -> tuple[int, Any] | None:
    """The first waiting item of the inputs in ``order``, if any."""
    for index in order:
        try:
            return index, queues[index].get_nowait()
        except queue.Empty:
            continue
    return None


def _idle_inputs(
    merger: WatermarkMerger,
    last_seen: list[float],
    idle: list[bool],
    timeouts: Sequence[float | None],
    running: set[int],
) -> Iterator[Watermark]:
    now = time.monotonic()
    for index in running:
        timeout = timeouts[index]
        if timeout is not None and not idle[index] and now - last_seen[index] >= timeout:
            idle[index] = True
            advanced = merger.idle(index)
            if advanced is not None:
                yield Watermark(advanced)


def _put(
    items: queue.Queue[Any], item: Any, stop: threading.Event, arrived: threading.Event
) -> bool:
    """Put ``item`` unless the reader stopped first (then False), and wake the reader."""
    while not stop.is_set():
        try:
            items.put(item, timeout=_POLL)
        except queue.Full:
            continue
        arrived.set()
        return True
    return False
