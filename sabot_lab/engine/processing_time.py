"""Processing-time progress: the wall clock as a watermark, so that windows on the processing
time (Flink's ``PROCTIME()``) close when the clock passes their end, on unbounded streams too.

:class:`ProcessingTimeClock` stamps a timestamp column with the wall clock as each batch
passes it, in order and never going back, and follows each batch with a
:class:`~sabot_lab.engine.items.Watermark` at that time: every later row is stamped at that
time or after, so no row is ever late. A live source's
:class:`~sabot_lab.engine.items.Idle` marks and checkpoint barriers also move the watermark to
the clock, so windows close while no rows come (the ``Idle`` goes no further; it comes
only from a source in the clock's own pipeline, see
:meth:`~sabot_lab.engine.pipeline.Pipeline.run`). Windows,
their state and checkpoints are then the event-time ones
(:mod:`~sabot_lab.engine.window_aggregate`).

>>> import pyarrow as pa
>>> from sabot_lab.engine.items import Idle
>>> clock = ProcessingTimeClock("p", "ms", now=iter([5_000, 4_000, 7_000]).__next__)
>>> batch = pa.record_batch({"x": [1, 2], "p": pa.array([0, 0], pa.timestamp("ms"))})
>>> out = list(clock.run(iter([batch, batch, Idle()])))
>>> [x if isinstance(x, Watermark) else x["p"].cast(pa.int64()).to_pylist() for x in out]
[[5000, 5000], Watermark(time=5000000), [5000, 5000], Watermark(time=7000000)]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from sabot_lab.engine.items import Barrier, Idle, RuntimeItem, Watermark
from sabot_lab.window_specs import unit_to_us

__all__ = ["ProcessingTimeClock", "wall_clock"]


def wall_clock(unit: str) -> Callable[[], int]:
    """The wall clock as a number of ``unit`` (``s``, ``ms``, ``us``, ``ns``) since the epoch.

    >>> abs(wall_clock("s")() - time.time()) < 5
    True
    """
    per_ns = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}[unit]
    return lambda: time.time_ns() // per_ns


class ProcessingTimeClock:
    """Stamps the timestamp column ``column`` (in ``unit``) with ``now()`` (the wall clock by
    default) as batches pass, never going back, and gives the watermarks of that time."""

    def __init__(self, column: str, unit: str, now: Callable[[], int] | None = None) -> None:
        self.column, self.unit = column, unit
        self.now = now or wall_clock(unit)
        self.stamped: int | None = None
        """The latest time stamped, in the column's unit (a checkpoint keeps it)."""

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps (see :meth:`restore`)."""
        return {"stamped": self.stamped}

    def restore(self, state: dict[str, Any]) -> None:
        """Go on from :meth:`state`: never stamp before the time stamped last."""
        self.stamped = state.get("stamped")

    def run(self, items: Iterator[RuntimeItem]) -> Iterator[RuntimeItem]:
        """``items`` with their batches stamped and a watermark after each time the clock
        moved on (watermarks in ``items`` are replaced; barriers pass)."""
        for item in items:
            if isinstance(item, Watermark):
                continue
            if isinstance(item, Idle | Barrier):
                yield from self._tick()
                if isinstance(item, Barrier):
                    yield item
                continue
            if isinstance(item, pa.RecordBatch):
                before = self.stamped
                stamp = self._advance()
                index = item.schema.get_field_index(self.column)
                kind = item.schema.field(index).type
                stamps = pa.array(np.full(item.num_rows, stamp, np.int64)).cast(kind)
                yield item.set_column(index, self.column, stamps)
                if stamp != before:
                    yield Watermark(unit_to_us(stamp, self.unit))
            else:
                yield item

    def _advance(self) -> int:
        """The time to stamp now: the clock, or the last time stamped if the clock went back."""
        now = self.now()
        self.stamped = now if self.stamped is None else max(self.stamped, now)
        return self.stamped

    def _tick(self) -> Iterator[Watermark]:
        """The watermark of the clock, when it moved on."""
        before = self.stamped
        stamp = self._advance()
        if stamp != before:
            yield Watermark(unit_to_us(stamp, self.unit))
