"""A function called over and over as a source:
``sl.from_generator(fn, max_rows_per_second=...)``.

``fn(i)`` for ``i = 0, 1, 2, …`` returns the next rows (a record batch, a table, a dict of
columns or a list of row dicts), or None to end the stream; with ``max_rows_per_second``, rows
come out no faster than that many per second of wall-clock time (a live feed). Each run starts again from ``fn(0)``, or, when
restored from a checkpoint, from the ``i`` after the last one it had sent (``fn`` is not called
again for the ones before), paced from the moment it restarts.

>>> gen = Generated(lambda i: {"i": [i, i]} if i < 3 else None, max_rows_per_second=None)
>>> [t.column("i").to_pylist() for t in gen()]
[[0, 0], [1, 1], [2, 2]]
>>> [t.column("i").to_pylist() for t in gen(start=2)]
[[2, 2]]
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from sabot_lab.errors import SourceError

__all__ = ["Generated", "as_table"]


def as_table(data: Any) -> pa.Table:
    """Rows as a table: a record batch, table, dict of columns or list of row dicts.

    >>> as_table([{"x": 1}]).num_rows
    1
    """
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, dict):
        return pa.table(data)
    if isinstance(data, list):
        return pa.Table.from_pylist(data)
    raise SourceError(
        f"a generator function returned {type(data).__name__}; return a record batch, a table, "
        "a dict of columns, a list of row dicts, or None to end the stream"
    )


class Generated:
    """The tables of ``fn(0), fn(1), …`` until it returns None, paced to
    ``max_rows_per_second`` rows per second of wall-clock time;
    called with ``start``, the tables of ``fn(start), fn(start + 1), …``."""

    unbounded = True  # as far as planning can tell: fn may never return None

    def __init__(self, fn: Callable[[int], Any], max_rows_per_second: float | None) -> None:
        if max_rows_per_second is not None and max_rows_per_second <= 0:
            raise SourceError(
                f"max_rows_per_second must be a positive number, got {max_rows_per_second}"
            )
        self.fn, self.max_rows_per_second = fn, max_rows_per_second

    def __call__(self, start: int = 0) -> Iterator[pa.Table]:
        began, rows = time.monotonic(), 0
        for i in itertools.count(start):
            data = self.fn(i)
            if data is None:
                return
            table = as_table(data)
            if self.max_rows_per_second is not None:
                wait = began + rows / self.max_rows_per_second - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            rows += table.num_rows
            yield table
