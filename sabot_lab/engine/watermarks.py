"""Event-time progress: watermarks travel between batches, in order, through every operator.

A :class:`~sabot_lab.engine.items.Watermark` with time ``W`` (microseconds since the Unix epoch) promises that every
later row has event time ``W`` or more. :class:`WatermarkAssigner` makes them from a timestamp
column with bounded out-of-orderness (``W = max time seen - delay``) and takes out the rows that
break the promise (late rows, and rows without a time), counting them. :class:`WatermarkMerger`
combines the watermarks of several inputs: the minimum over the inputs that are not idle.

>>> import datetime as dt, pyarrow as pa
>>> batches = [pa.record_batch({"t": pa.array([10_000, 3_000], pa.timestamp("ms"))}),
...            pa.record_batch({"t": pa.array([5_000, 9_000], pa.timestamp("ms"))})]
>>> assigner = WatermarkAssigner("t", "ms", delay_us=4_000_000)
>>> [x if isinstance(x, Watermark) else x.num_rows for x in assigner.run(iter(batches))]
[1, Watermark(time=6000000), 1]
>>> assigner.late_rows
2
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from sabot_lab.engine.items import Barrier, Idle, RuntimeItem, SplitMark, Watermark
from sabot_lab.kernels.late_rows import count_late
from sabot_lab.window_specs import unit_to_us, us_to_unit

__all__ = [
    "WatermarkAssigner",
    "WatermarkMerger",
    "times_of",
]

_NO_TIME = -(2**62)  # below every time: no row seen yet


def times_of(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A timestamp column's values as int64 numbers of its unit (nulls must be removed first).

    >>> times_of(pa.array([1, 2], pa.timestamp("s"))).tolist()
    [1, 2]
    """
    return np.asarray(column.cast(pa.int64()).to_numpy())


class WatermarkAssigner:
    """Bounded out-of-orderness watermarks on the timestamp column ``column`` (in ``unit``).

    ``keep="on_time"`` yields the rows at or after the current watermark and the watermarks;
    ``keep="late"`` yields only the other rows (those before the watermark, or without a time):
    the late side output. ``late_rows`` counts them either way.

    A source whose splits advance on their own (Kafka partitions) says which split the
    batches come from with :class:`~sabot_lab.logical.sources.SplitMark` items: the watermark then
    follows each split (the minimum over the splits not idle, never going back), so a split
    that lags does not make the others' rows late.

    >>> t = lambda *ms: pa.record_batch({"t": pa.array(ms, pa.timestamp("ms"))})
    >>> a = WatermarkAssigner("t", "ms", delay_us=0)
    >>> items = [SplitMark("0"), SplitMark("1"), SplitMark("0"), t(9_000), SplitMark("1"),
    ...          t(2_000), SplitMark("0", idle=True)]
    >>> [x if isinstance(x, Watermark) else x.num_rows for x in a.run(iter(items))]
    [1, 1, Watermark(time=2000000)]
    """

    def __init__(self, column: str, unit: str, delay_us: int, keep: str = "on_time") -> None:
        self.column, self.unit, self.delay_us, self.keep = column, unit, delay_us, keep
        self.late_rows = 0
        self.highest = _NO_TIME
        """The latest time seen, in the column's unit (a checkpoint keeps it)."""
        self.splits: dict[str, int] = {}
        """The latest time seen of each split marked (a checkpoint keeps them)."""
        self.idle: set[str] = set()
        self.emitted = _NO_TIME
        self._split: str | None = None

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps (see :meth:`restore`)."""
        return {"highest": self.highest, "splits": self.splits, "idle": sorted(self.idle),
                "emitted": self.emitted}  # fmt: skip

    def restore(self, state: dict[str, Any]) -> None:
        """Go on from :meth:`state`."""
        self.highest = state["highest"]
        self.splits = dict(state.get("splits", {}))
        self.idle = set(state.get("idle", ()))
        self.emitted = state.get("emitted", _NO_TIME)

    def run(self, items: Iterator[RuntimeItem]) -> Iterator[RuntimeItem]:
        """Assign watermarks to a stream of batches (watermarks already in it are replaced;
        barriers pass).

        A row is late when it is older than the watermark of the rows before it, in the
        same batch or earlier ones, so what is late does not depend on how rows are batched.
        """
        delay = us_to_unit(self.delay_us, self.unit)
        for batch in items:
            if isinstance(batch, Barrier | Idle):
                yield batch
                continue
            if isinstance(batch, Watermark):
                continue
            if isinstance(batch, SplitMark):  # (it goes no further)
                self.splits.setdefault(batch.split, _NO_TIME)
                if batch.idle:
                    self.idle.add(batch.split)
                    yield from self._advance(delay)
                else:
                    self.idle.discard(batch.split)
                    self._split = batch.split
                continue
            split = self._split
            highest = self.highest if split is None else self.splits[split]
            column = batch.column(self.column)
            filled = (
                column.fill_null(pa.scalar(_NO_TIME, column.type)) if column.null_count else column
            )
            times = times_of(filled)
            if split is None and not column.null_count:  # counted first: mostly none late
                n_late, top = count_late(times, highest, delay)
                late = self._late(times, column, highest, None, delay) if n_late else None
            else:
                late = self._late(times, column, highest, split, delay)
                n_late = int(np.count_nonzero(late))
                top = max(highest, int(times.max())) if len(times) else highest
            self.late_rows += n_late
            if late is None:  # none late
                if self.keep == "on_time":
                    yield batch
            elif self.keep == "late":
                if n_late:
                    yield batch.filter(pa.array(late))
            elif n_late == 0:
                yield batch
            elif n_late < batch.num_rows:
                yield batch.filter(pa.array(~late))
            if top > highest:
                self.highest = max(self.highest, top)
                if split is None:
                    if self.keep == "on_time":
                        yield Watermark(unit_to_us(self.highest - delay, self.unit))
                else:
                    self.splits[split] = top
                    yield from self._advance(delay)

    def _late(
        self, times: np.ndarray, column: pa.Array, highest: int, split: str | None, delay: int
    ) -> np.ndarray:
        """Which rows of ``times`` (of ``column``, after the time ``highest``, from ``split``)
        are late: before the watermark they meet, or without a time."""
        latest = np.maximum.accumulate(times)
        np.maximum(latest, highest, out=latest)
        if split is None:
            late = times < latest - delay
        else:  # the watermark the row meets: the slowest split's, never going back
            others = [h for s, h in self.splits.items() if s != split and s not in self.idle]
            bound = latest - delay if not others else np.minimum(latest, min(others)) - delay
            late = times < np.maximum(bound, self.emitted)
        if column.null_count:
            late |= ~np.asarray(column.is_valid())
        return late

    def _advance(self, delay: int) -> Iterator[Watermark]:
        """The watermark of the splits (the slowest not idle), when it moved on."""
        active = [h for s, h in self.splits.items() if s not in self.idle]
        time = min(active) - delay if active else self.highest - delay
        if max(time, _NO_TIME) > self.emitted:
            self.emitted = time
            if self.keep == "on_time":
                yield Watermark(unit_to_us(time, self.unit))


class WatermarkMerger:
    """The watermark of an operator with ``inputs`` inputs: the minimum of the inputs' latest
    watermarks, leaving out idle inputs (and ended ones, at :data:`END_OF_TIME`).

    >>> m = WatermarkMerger(2)
    >>> m.update(0, 5), m.update(1, 3), m.update(1, 9), m.idle(0), m.active(0)
    (None, 3, 5, 9, None)
    """

    def __init__(self, inputs: int) -> None:
        self._times: list[int | None] = [None] * inputs
        self._idle = [False] * inputs
        self._emitted: int | None = None

    def update(self, index: int, time: int) -> int | None:
        """Input ``index`` reached ``time``: the new combined watermark if it advanced."""
        self._idle[index] = False
        current = self._times[index]
        self._times[index] = time if current is None else max(current, time)
        return self._advance()

    def idle(self, index: int) -> int | None:
        """Input ``index`` has had nothing for a while: stop waiting for it."""
        self._idle[index] = True
        return self._advance()

    def active(self, index: int) -> None:
        """Input ``index`` produced rows again: wait for its watermarks again."""
        self._idle[index] = False

    def _advance(self) -> int | None:
        waiting = [t for t, idle in zip(self._times, self._idle, strict=True) if not idle]
        if not waiting or any(t is None for t in waiting):
            return None
        low = min(t for t in waiting if t is not None)
        if self._emitted is not None and low <= self._emitted:
            return None
        self._emitted = low
        return low
