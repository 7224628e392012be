"""Shuffle output held by an agent until the consuming stage has read it.

Rows are kept per ``(job, exchange, partition)`` and per producer (stage partition), so a
producer task that runs again (after a failure) replaces its earlier output instead of adding
to it. Beyond ``memory_limit`` bytes, batches are spilled to Arrow IPC files (compressed with
``compression``), so a producer never holds more than that in memory however slowly its
consumers read; reads stream spilled batches back one at a time.

Spill files go to a directory of this store's own under ``spill_root``, locked while the store
lives: a new store removes those of stores that are gone (an agent killed leaves its files),
and at most ``spill_limit`` bytes of them are on disk at once (a batch that would pass it
raises :class:`SpillLimitError`, naming the setting).

>>> import pyarrow as pa, tempfile
>>> store = ShuffleStore(memory_limit=0, spill_root=tempfile.mkdtemp())  # spill everything
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

import fcntl
import itertools
import os
import shutil
import tempfile
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from sabot_lab.config import COMPRESSIONS, get_config
from sabot_lab.errors import ComputeError
from sabot_lab.physical.ids import in_job, job_of

__all__ = [
    "DROPPED_REMEMBERED",
    "ShuffleStore",
    "SpillLimitError",
    "ipc_options",
    "remove_abandoned_spills",
]


class SpillLimitError(ComputeError):
    """An agent's spill files would pass its ``spill_limit``."""


Key = tuple[str, str, int]
DROPPED_REMEMBERED = 1024
"""Jobs dropped last whose late rows (of a task still stopping) a store discards."""


def ipc_options(compression: str) -> pa.ipc.IpcWriteOptions:
    """IPC write options for a codec of :data:`~sabot_lab.config.COMPRESSIONS`.

    >>> ipc_options("zstd").compression
    'zstd'
    """
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}; use one of {COMPRESSIONS}")
    return pa.ipc.IpcWriteOptions(compression=None if compression == "none" else compression)


def remove_abandoned_spills(root: Path) -> int:
    """Remove the spill directories under ``root`` whose store is gone (its lock is free);
    return how many.

    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "1-x").mkdir(); _ = (root / "1-x.lock").write_text("")
    >>> remove_abandoned_spills(root), sorted(root.iterdir())
    (1, [])
    """
    removed = 0
    for lock in root.glob("*.lock"):
        with open(lock, "a") as held:
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live store's
            shutil.rmtree(lock.with_suffix(""), ignore_errors=True)
            lock.unlink(missing_ok=True)
            removed += 1
    return removed


class ShuffleStore:
    """Thread-safe buffers of exchange rows: in memory up to ``memory_limit`` bytes, then in
    IPC files under ``spill_root`` (default: ``sabot-lab-spill-<uid>`` in the temporary
    directory),
    written with ``compression``, at most ``spill_limit`` bytes of them.
    ``memory_limit``, ``compression`` and ``spill_limit`` default to the process's
    :class:`~sabot_lab.config.ClusterConfig` (``shuffle_memory``, ``shuffle_compression``,
    ``spill_limit``)."""

    def __init__(
        self,
        memory_limit: int | None = None,
        spill_root: str | os.PathLike[str] | None = None,
        compression: str | None = None,
        spill_limit: int | None = None,
    ) -> None:
        cluster = get_config().cluster
        self.memory_limit = cluster.shuffle_memory if memory_limit is None else memory_limit
        self.spill_limit = cluster.spill_limit if spill_limit is None else spill_limit
        self._options = ipc_options(
            cluster.shuffle_compression if compression is None else compression
        )
        root = Path(spill_root or Path(tempfile.gettempdir()) / f"sabot-lab-spill-{os.getuid()}")
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        remove_abandoned_spills(root)
        # The lock is taken under a name the clean-up above does not look at, and only then
        # renamed: an agent starting beside this one never takes it for an abandoned store's.
        held, locking = tempfile.mkstemp(prefix=f"{os.getpid()}-", suffix=".locking", dir=root)
        self._held = os.fdopen(held, "a")
        fcntl.flock(self._held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock = Path(locking).with_suffix(".lock")
        os.replace(locking, lock)
        self.spill_dir = lock.with_suffix("")
        """Where this store's spill files go (removed by :meth:`close`)."""
        self.spill_dir.mkdir(mode=0o700)
        self._on_disk: dict[Path, int] = {}  # spill files and their sizes
        self._lock = threading.Lock()
        self._rows: defaultdict[Key, dict[str, list[pa.RecordBatch | Path]]] = defaultdict(dict)
        self._in_memory = 0
        self._names = itertools.count()
        self._dropped: dict[str, None] = {}  # the jobs dropped last, oldest first
        self.spilled_bytes = 0
        """Bytes of rows written to spill files so far."""

    def spill_bytes(self) -> int:
        """Bytes of spill files on disk now."""
        with self._lock:
            return sum(self._on_disk.values())

    def start_producer(self, job: str, producer: str) -> None:
        """Forget what ``producer`` wrote for ``job`` before (it is about to write again); a
        job dropped before runs again (its id was taken anew)."""
        with self._lock:
            self._dropped.pop(job_of(job), None)
            for (owner, _, _), by_producer in self._rows.items():
                if owner == job:
                    self._free(by_producer.pop(producer, []))

    def put(
        self, job: str, exchange: str, partition: int, producer: str, batch: pa.RecordBatch
    ) -> None:
        """Keep rows ``producer`` sent to ``partition`` of ``exchange`` (none of a job dropped:
        a task still stopping writes them)."""
        with self._lock:
            if job_of(job) in self._dropped:
                return
            spill = self._in_memory + batch.nbytes > self.memory_limit
            if not spill:
                self._in_memory += batch.nbytes
        entry = self._spill(batch) if spill else batch
        with self._lock:
            if job_of(job) in self._dropped:  # dropped while it was spilled
                self._free([entry])
                return
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
            self._dropped[job] = None
            while len(self._dropped) > DROPPED_REMEMBERED:
                del self._dropped[next(iter(self._dropped))]
            keys = [k for k in self._rows if in_job(k[0], job)]
            entries = [e for k in keys for v in self._rows.pop(k).values() for e in v]
            self._free(entries)
            return len(entries)

    def nbytes(self) -> int:
        """Bytes of rows held in memory."""
        with self._lock:
            return self._in_memory

    def close(self) -> None:
        """Drop everything and delete the spill files and their directory."""
        with self._lock:
            self._rows.clear()
            self._in_memory = 0
            self._on_disk.clear()
            shutil.rmtree(self.spill_dir, ignore_errors=True)
            if not self._held.closed:
                self.spill_dir.with_suffix(".lock").unlink(missing_ok=True)
                self._held.close()

    def _spill(self, batch: pa.RecordBatch) -> Path:
        with self._lock:
            path = self.spill_dir / f"{next(self._names)}.arrows"
        with (
            pa.OSFile(str(path), "wb") as sink,
            pa.ipc.new_stream(sink, batch.schema, options=self._options) as writer,
        ):
            writer.write_batch(batch)
        size = path.stat().st_size
        with self._lock:
            held = sum(self._on_disk.values())
            if held + size > self.spill_limit:
                path.unlink()
                raise SpillLimitError(
                    f"the agent's shuffle rows spilled to disk would pass its spill limit of "
                    f"{self.spill_limit:,} bytes ({held:,} held, {size:,} more): raise "
                    "spill_limit (SABOT_SPILL_LIMIT, sabot-lab agent --spill-limit) or "
                    "shuffle_memory, or give the job more agents"
                )
            self._on_disk[path] = size
            self.spilled_bytes += batch.nbytes
        return path

    def _free(self, entries: list[pa.RecordBatch | Path]) -> None:
        """Release ``entries`` (the lock is held)."""
        for entry in entries:
            if isinstance(entry, Path):
                entry.unlink(missing_ok=True)
                self._on_disk.pop(entry, None)
            else:
                self._in_memory -= entry.nbytes
