"""The protocol of the stateful streaming operators (windows, interval and as-of joins,
running aggregates) and the one loop that drives each of them over its input.

A :class:`StreamOperator` reacts to what arrives, and returns the result tables it can give
at that point (the driver cuts them into batches):

- ``on_batch(batch, side)``: rows of input ``side`` (0, or 1 for the right side of a join);
- ``on_watermark(watermark)``: event time moved on: the results it closes, then the
  watermark to pass on (an operator that holds rows back holds the watermark back too);
- ``on_timer()``: every ``timer`` seconds (None: never): early results;
- ``on_end()``: the input ended: the results still held;
- ``snapshot(location, shared)`` when a checkpoint barrier reaches it (after every row before
  the barrier), and ``restore(location, shared)`` before its first item in a run restored
  from that checkpoint.

:func:`drive` is the loop: it calls the hooks in the order of the items, passes markers on in
their place (a barrier after the snapshot) and yields the results in between. Each hook's
result is read to its end before the next item is looked at. Bytewax's ``StatefulLogic``
(``on_item``, ``on_notify``, ``on_eof``, ``snapshot``) is the model.

>>> import pyarrow as pa
>>> from sabot_lab.engine.items import Watermark
>>> class Count:
...     timer = None
...     def __init__(self): self.n = 0
...     def on_batch(self, batch, side=0): self.n += batch.num_rows; return ()
...     def on_watermark(self, watermark): yield watermark
...     def on_timer(self): return ()
...     def on_end(self): yield pa.table({"n": [self.n]})
...     def snapshot(self, location, shared): pass
...     def restore(self, location, shared): pass
>>> items = [pa.record_batch({"x": [1, 2]}), Watermark(5), pa.record_batch({"x": [3]})]
>>> [x if isinstance(x, Watermark) else x.to_pydict() for x in drive(Count(), iter(items))]
[Watermark(time=5), {'n': [3]}]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from time import monotonic
from typing import Protocol

import pyarrow as pa

from sabot_lab.engine.checkpoints import Checkpoints
from sabot_lab.engine.items import Barrier, Batch, RuntimeItem, Tagged, Watermark, is_marker
from sabot_lab.engine.stateful import table_batches
from sabot_lab.location import LocationLike

__all__ = ["StreamOperator", "drive"]


class StreamOperator(Protocol):
    """A stateful operator over a stream of batches and markers (see the module)."""

    timer: float | None
    """Seconds between two calls of :meth:`on_timer` (None: it is never called)."""

    def on_batch(self, batch: Batch, side: int = 0) -> Iterable[pa.Table]:
        """Take the rows of input ``side``; the results they give at once."""
        ...

    def on_watermark(self, watermark: Watermark) -> Iterable[pa.Table | Watermark]:
        """Event time reached ``watermark``: the results it closes, then the watermark(s) to
        pass on."""
        ...

    def on_timer(self) -> Iterable[pa.Table]:
        """``timer`` seconds passed: early results."""
        ...

    def on_end(self) -> Iterable[pa.Table]:
        """The input ended: the results still held."""
        ...

    def snapshot(self, location: LocationLike, shared: LocationLike | None) -> None:
        """Write the operator's state into ``location`` (``shared``: where files several
        snapshots share go)."""
        ...

    def restore(self, location: LocationLike, shared: LocationLike | None) -> None:
        """Go on from a snapshot (taken with the same ``shared`` directory)."""
        ...


def drive(
    op: StreamOperator,
    items: Iterator[RuntimeItem | Tagged],
    batch_size: int = 131_072,
    checkpoints: Checkpoints | None = None,
    name: str = "",
    final: bool = True,
) -> Iterator[RuntimeItem]:
    """Run ``op`` over ``items`` (batches, or :data:`~sabot_lab.engine.items.Tagged` batches
    of several inputs, and markers): its results as batches of at most ``batch_size`` rows,
    and the markers in their place. A barrier snapshots ``op`` first, as part ``name`` of
    its checkpoint in ``checkpoints`` (None: barriers only pass). At the end of ``items``,
    :meth:`~StreamOperator.on_end` unless not ``final`` (the input stops without ending, as
    before a snapshot)."""
    last_timer = monotonic()
    for item in items:
        if op.timer is not None and monotonic() - last_timer >= op.timer:
            last_timer = monotonic()
            yield from _batches(op.on_timer(), batch_size)
        if isinstance(item, tuple):
            yield from _batches(op.on_batch(item[1], item[0]), batch_size)
        elif isinstance(item, Watermark):
            for out in op.on_watermark(item):
                if isinstance(out, Watermark):
                    yield out
                else:
                    yield from table_batches(out, batch_size)
        elif isinstance(item, Barrier):
            if checkpoints is not None:
                op.snapshot(checkpoints.path(item.checkpoint, name), checkpoints.shared(name))
            yield item
        elif is_marker(item):
            yield item
        else:
            yield from _batches(op.on_batch(item), batch_size)
    if final:
        yield from _batches(op.on_end(), batch_size)


def _batches(tables: Iterable[pa.Table], batch_size: int) -> Iterator[pa.RecordBatch]:
    for table in tables:
        yield from table_batches(table, batch_size)
