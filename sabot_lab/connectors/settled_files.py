"""What was read from a file once (a Parquet footer, a CSV file's inferred types), kept while
the file keeps its size and modification time.

A file modified less than :data:`SETTLED` before is not kept: the file system's clock ticks
coarsely, so a second write of the same size within one tick leaves no trace in the file's
time (git's "racily clean" files). May import nothing of sabot_lab.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
>>> _ = open(path, "w").write("x\\n1\\n")
>>> os.utime(path, (0, 0))  # written long ago
>>> kept: KeptReads[str, int] = KeptReads(10)
>>> kept.get(path, "rows", lambda stat: 1), kept.get(path, "rows", lambda stat: 2)
(1, 1)
>>> _ = open(path, "w").write("x\\n1\\n2\\n")
>>> kept.get(path, "rows", lambda stat: stat.st_size)  # bytes of "x 1 2" lines
6
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SETTLED", "KeptReads", "is_settled"]

SETTLED = 2_000_000_000
"""Nanoseconds since a file's modification time for what was read from it to be kept: coarser
than any local file system's clock tick."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def is_settled(stat: os.stat_result) -> bool:
    """True when the file of ``stat`` was last modified :data:`SETTLED` ago or more.

    >>> import os, tempfile
    >>> path = tempfile.mkstemp()[1]
    >>> is_settled(os.stat(path))
    False
    """
    return stat.st_mtime_ns <= time.time_ns() - SETTLED


class KeptReads(Generic[K, V]):
    """Values read from files, by file and key, each kept while its file is unchanged (its
    size and modification time), the ``kept`` most recently used at most. Thread-safe."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self._lock = threading.Lock()
        self._values: OrderedDict[tuple[str, K], tuple[int, int, V]] = OrderedDict()

    def get(self, path: str, key: K, read: Callable[[os.stat_result], V]) -> V:
        """The value kept for ``path`` and ``key`` while the file is unchanged since it was
        read, else ``read`` of the file's ``os.stat`` (kept when the file is settled)."""
        stat = os.stat(path)
        version = (stat.st_size, stat.st_mtime_ns)
        with self._lock:
            kept = self._values.get((path, key))
            if kept is not None and kept[:2] == version:
                self._values.move_to_end((path, key))
                return kept[2]
        value = read(stat)
        if is_settled(stat):
            with self._lock:
                self._values[(path, key)] = (*version, value)
                self._values.move_to_end((path, key))
                while len(self._values) > self.kept:
                    self._values.popitem(last=False)
        return value
