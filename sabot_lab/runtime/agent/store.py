"""Shuffle output held by an agent until the consuming stage has read it.

Rows are kept per ``(job, exchange, partition)`` and per producer (stage partition), so a
producer task that runs again (after a failure) replaces its earlier output instead of adding
to it. Beyond ``memory_limit`` bytes, batches are spilled to Arrow IPC files in ``spill_dir``
(compressed with ``compression``), so a producer never holds more than that in memory however
slowly its consumers read; reads stream spilled batches back one at a time.

>>> import pyarrow as pa
>>> store = ShuffleStore(memory_limit=0)  # spill everything
>>> store.start_producer("j1", "p0")
>>> store.put("j1", "x1", 0, "p0", pa.record_batch({"k": [1, 2]}))
>>> [b.num_rows for b in store.get("j1", "x1", 0)], store.nbytes(), store.spilled_bytes > 0
([2], 0, True)
>>> store.start_producer("j1", "p0")  # a re-run starts from nothing
>>> list(store.get("j1", "x1", 0))
[]
>>> store.close()
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from sabot_lab.config import COMPRESSIONS, get_config
from sabot_lab.physical.ids import in_job

__all__ = ["ShuffleStore", "ipc_options"]

Key = tuple[str, str, int]


def ipc_options(compression: str) -> pa.ipc.IpcWriteOptions:
    """IPC write options for a codec of :data:`~sabot_lab.config.COMPRESSIONS`.

    >>> ipc_options("zstd").compression
    'zstd'
    """
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}; use one of {COMPRESSIONS}")
    return pa.ipc.IpcWriteOptions(compression=None if compression == "none" else compression)


class ShuffleStore:
    """Thread-safe buffers of exchange rows: in memory up to ``memory_limit`` bytes, then in
    IPC files under ``spill_dir`` (a fresh temporary directory by default), written with
    ``compression``. ``memory_limit`` and ``compression`` default to the process's
    :class:`~sabot_lab.config.ClusterConfig` (``shuffle_memory``, ``shuffle_compression``)."""

    def __init__(
        self,
        memory_limit: int | None = None,
        spill_dir: str | None = None,
        compression: str | None = None,
    ) -> None:
        cluster = get_config().cluster
        self.memory_limit = cluster.shuffle_memory if memory_limit is None else memory_limit
        self._options = ipc_options(
            cluster.shuffle_compression if compression is None else compression
        )
        self._spill_root = Path(spill_dir) if spill_dir else None
        self._spill_dir: Path | None = None
        self._lock = threading.Lock()
        self._rows: defaultdict[Key, dict[str, list[pa.RecordBatch | Path]]] = defaultdict(dict)
        self._in_memory = 0
        self._names = itertools.count()
        self.spilled_bytes = 0
        """Bytes of rows written to spill files so far."""

    def start_producer(self, job: str, producer: str) -> None:
        """Forget what ``producer`` wrote for ``job`` before (it is about to write again)."""
        with self._lock:
            for (owner, _, _), by_producer in self._rows.items():
                if owner == job:
                    self._free(by_producer.pop(producer, []))

    def put(
        self, job: str, exchange: str, partition: int, producer: str, batch: pa.RecordBatch
    ) -> None:
        """Keep rows ``producer`` sent to ``partition`` of ``exchange``."""
        with self._lock:
            spill = self._in_memory + batch.nbytes > self.memory_limit
            if not spill:
                self._in_memory += batch.nbytes
        entry = self._spill(batch) if spill else batch
        with self._lock:
            self._rows[job, exchange, partition].setdefault(producer, []).append(entry)

    def get(self, job: str, exchange: str, partition: int) -> Iterator[pa.RecordBatch]:
        """All rows sent to ``partition`` of ``exchange``, producer by producer; spilled
        batches are read back as the iterator reaches them."""
        with self._lock:
            by_producer = self._rows.get((job, exchange, partition), {})
            entries = [e for producer in sorted(by_producer) for e in by_producer[producer]]
        for entry in entries:
            if isinstance(entry, Path):
                with pa.ipc.open_stream(pa.memory_map(str(entry))) as reader:
                    yield from reader
            else:
                yield entry

    def drop_job(self, job: str) -> int:
        """Free everything kept for ``job`` and its attempts (``job/N``); return the number
        of batches freed."""
        with self._lock:
            keys = [k for k in self._rows if in_job(k[0], job)]
            entries = [e for k in keys for v in self._rows.pop(k).values() for e in v]
            self._free(entries)
            return len(entries)

    def nbytes(self) -> int:
        """Bytes of rows held in memory."""
        with self._lock:
            return self._in_memory

    def close(self) -> None:
        """Drop everything and delete the spill files."""
        with self._lock:
            self._rows.clear()
            self._in_memory = 0
            if self._spill_dir is not None:
                shutil.rmtree(self._spill_dir, ignore_errors=True)
                self._spill_dir = None

    def _spill(self, batch: pa.RecordBatch) -> Path:
        with self._lock:
            if self._spill_dir is None:
                self._spill_dir = Path(
                    tempfile.mkdtemp(prefix="sabot-spill-", dir=self._spill_root)
                )
            path = self._spill_dir / f"{next(self._names)}.arrows"
            self.spilled_bytes += batch.nbytes
        with (
            pa.OSFile(str(path), "wb") as sink,
            pa.ipc.new_stream(sink, batch.schema, options=self._options) as writer,
        ):
            writer.write_batch(batch)
        return path

    def _free(self, entries: list[pa.RecordBatch | Path]) -> None:
        """Release ``entries`` (the lock is held)."""
        for entry in entries:
            if isinstance(entry, Path):
                entry.unlink(missing_ok=True)
            else:
                self._in_memory -= entry.nbytes
