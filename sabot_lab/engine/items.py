"""The items a running pipeline passes from operator to operator: record batches, and the
markers between them that carry no rows.

- :data:`Batch`: rows (an Arrow record batch).
- :class:`Watermark`: event-time progress; no later row has an event time below its time.
- :class:`Barrier`: the cut of a checkpoint; everything before it belongs to the checkpoint.
- :class:`~sabot_lab.logical.sources.SplitMark`: a source says which of its splits (a Kafka
  partition) the batches that follow come from (the source declares it, with its replays).

A stream of them is an ``Iterator[RuntimeItem]``, in order: a marker is a promise about
every batch before or after it, so per-batch steps pass markers untouched, in their place.
An operator with several inputs reads them merged as :data:`Tagged` batches (the input's
index and a batch) and markers (see :func:`~sabot_lab.engine.merge.merge_streams`).

This module imports only :mod:`sabot_lab.logical.sources` (for ``SplitMark``).

>>> import pyarrow as pa
>>> items = [pa.record_batch({"x": [1]}), Watermark(5), Barrier(1), SplitMark("0")]
>>> [is_marker(item) for item in items]
[False, True, True, True]
>>> [b.num_rows for b in batches_only(iter(items))]
[1]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeGuard

import pyarrow as pa

from sabot_lab.logical.sources import SplitMark

__all__ = [
    "Barrier",
    "Batch",
    "Idle",
    "Marker",
    "RuntimeItem",
    "SplitMark",
    "Tagged",
    "Watermark",
    "batches_only",
    "is_marker",
]


@dataclass(frozen=True)
class Watermark:
    """No row after this one has an event time below ``time`` (microseconds since the epoch)."""

    time: int


@dataclass(frozen=True)
class Barrier:
    """Everything before this item belongs to checkpoint ``checkpoint``, nothing after it."""

    checkpoint: int


@dataclass(frozen=True)
class Idle:
    """A live source has nothing new for now: the results a pipeline holds back for its
    look-ahead go out (the pipeline that reads the source drops it; it goes no further)."""


Batch: TypeAlias = pa.RecordBatch
"""Rows."""
Marker: TypeAlias = Watermark | Barrier | SplitMark | Idle
"""An item without rows, marking progress."""
RuntimeItem: TypeAlias = Batch | Marker
"""What one input or output of a running operator yields (``isinstance(item, Marker)``
tells markers from batches, and narrows the type)."""
Tagged: TypeAlias = tuple[int, Batch]
"""A batch of a multi-input operator, with the index of the input it came from."""


def is_marker(item: Any) -> TypeGuard[Marker]:
    """Whether a stream item marks progress (a watermark, a checkpoint barrier, a source's
    split mark) rather than holding rows: markers pass per-batch steps untouched, in their
    place.

    >>> is_marker(Watermark(0)), is_marker(pa.record_batch({"x": [1]}))
    (True, False)
    """
    return isinstance(item, Marker)


def batches_only(items: Iterator[Any]) -> Iterator[Batch]:
    """The items of a stream that hold rows, without its markers.

    >>> list(batches_only(iter([Watermark(1), Barrier(1)])))
    []
    """
    return (item for item in items if not is_marker(item))
