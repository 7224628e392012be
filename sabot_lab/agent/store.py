"""Shuffle output held by an agent until the consuming stage has read it.

Rows are kept per ``(job, exchange, partition)`` and per producer (stage partition), so a
producer task that runs again (after a failure) replaces its earlier output instead of adding
to it.

>>> import pyarrow as pa
>>> store = ShuffleStore()
>>> store.start_producer("j1", "p0")
>>> store.put("j1", "x1", 0, "p0", pa.record_batch({"k": [1, 2]}))
>>> [b.num_rows for b in store.get("j1", "x1", 0)]
[2]
>>> store.start_producer("j1", "p0")  # a re-run starts from nothing
>>> store.get("j1", "x1", 0)
[]
"""

from __future__ import annotations

import threading
from collections import defaultdict

import pyarrow as pa

__all__ = ["ShuffleStore"]

Key = tuple[str, str, int]


class ShuffleStore:
    """Thread-safe in-memory buffers of exchange rows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: defaultdict[Key, dict[str, list[pa.RecordBatch]]] = defaultdict(dict)

    def start_producer(self, job: str, producer: str) -> None:
        """Forget what ``producer`` wrote for ``job`` before (it is about to write again)."""
        with self._lock:
            for (owner, _, _), by_producer in self._rows.items():
                if owner == job:
                    by_producer.pop(producer, None)

    def put(
        self, job: str, exchange: str, partition: int, producer: str, batch: pa.RecordBatch
    ) -> None:
        """Keep rows ``producer`` sent to ``partition`` of ``exchange``."""
        with self._lock:
            self._rows[job, exchange, partition].setdefault(producer, []).append(batch)

    def get(self, job: str, exchange: str, partition: int) -> list[pa.RecordBatch]:
        """All rows sent to ``partition`` of ``exchange``, producer by producer."""
        with self._lock:
            by_producer = self._rows.get((job, exchange, partition), {})
            return [b for producer in sorted(by_producer) for b in by_producer[producer]]

    def drop_job(self, job: str) -> int:
        """Free everything kept for ``job`` and its attempts (``job/N``); return the number
        of batches freed."""
        with self._lock:
            keys = [k for k in self._rows if k[0] == job or k[0].startswith(f"{job}/")]
            freed = sum(len(v) for k in keys for v in self._rows[k].values())
            for k in keys:
                del self._rows[k]
            return freed

    def nbytes(self) -> int:
        """Bytes of rows held."""
        with self._lock:
            return sum(b.nbytes for v in self._rows.values() for bs in v.values() for b in bs)
