"""State in RocksDB (through ``rocksdict``): tables as Arrow IPC bytes on disk, for state larger
than memory.

Given a ``shared`` directory, its snapshots are incremental: a RocksDB checkpoint of the
database (hard links to its immutable SST files) is taken, and only the SST files no earlier
snapshot of this state uploaded are copied to ``shared``; the snapshot's own directory holds
the small files (manifest, options, log) and ``rocksdb.json`` naming the shared SST files it
is made of. A restored state goes on uploading only what is new; file names carry the state's
incarnation, so a restored database writing a file of an old name never overwrites one.

>>> import tempfile
>>> from sabot_lab.location import Location
>>> root = Location.of(tempfile.mkdtemp())
>>> state = RocksState()
>>> state.put("k", pa.table({"x": [1, 2]})); state.get("k").num_rows
2
>>> state.snapshot(root / "chk-1", root / "shared")
>>> state.put("j", pa.table({"x": [3]}))
>>> state.snapshot(root / "chk-2", root / "shared")
>>> len((root / "shared").files())  # one SST file each, the first one shared by both
2
>>> state.close()
>>> with RocksState.from_snapshot(root / "chk-2", root / "shared") as again:
...     again.keys()
['j', 'k']
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
from rocksdict import BlockBasedOptions, Cache, Checkpoint, Options, Rdict

from sabot_lab.engine.state.backend import (
    SHARED_LIST,
    StateBackend,
    table_from_bytes,
    table_to_bytes,
)
from sabot_lab.errors import PlanError
from sabot_lab.location import Location, LocationLike

__all__ = ["RocksState", "is_rocks_snapshot"]

_MANIFEST = "rocksdb.json"  # {"sst": {file name in the database: name in shared}}
_MEMORY = 8 << 20  # bytes of each memtable (two at most) and of the block cache


def _options() -> Options:
    """Options bounding RocksDB's memory (its defaults allow two 64 MiB memtables): state
    larger than memory stays on disk."""
    options = Options(raw_mode=True)
    options.set_write_buffer_size(_MEMORY)
    options.set_max_write_buffer_number(2)
    table = BlockBasedOptions()
    table.set_block_cache(Cache(_MEMORY))
    options.set_block_based_table_factory(table)
    return options


def is_rocks_snapshot(location: LocationLike) -> bool:
    """Whether ``location`` holds an incremental RocksDB snapshot (not the portable format).

    >>> is_rocks_snapshot("/nowhere")
    False
    """
    return (Location.of(location) / _MANIFEST).exists()


class RocksState(StateBackend):
    """Tables in a RocksDB database at ``path`` (a temporary directory when None)."""

    kind = "rocksdb"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._temporary = path is None
        self.path = tempfile.mkdtemp(prefix="sabot-state-") if path is None else os.fspath(path)
        self._db = Rdict(self.path, _options())
        self._incarnation = uuid.uuid4().hex[:12]
        self._shared: dict[str, str] = {}  # SST file -> its name in shared, once uploaded

    @classmethod
    def from_snapshot(cls, location: LocationLike, shared: LocationLike | None) -> RocksState:
        """A new state (in a temporary directory) holding the snapshot in ``location``."""
        state = cls()
        state.restore(location, shared)
        return state

    def put(self, key: str, table: pa.Table) -> None:
        self._db[key.encode()] = table_to_bytes(table)

    def get(self, key: str) -> pa.Table | None:
        data = self._db.get(key.encode())
        return None if data is None else table_from_bytes(data)

    def delete(self, key: str) -> None:
        del self._db[key.encode()]

    def keys(self) -> list[str]:
        stored = self._db.keys()  # raw mode: the keys are bytes
        return [bytes(k).decode() for k in stored]  # type: ignore[arg-type]

    def clear(self) -> None:
        for key in list(self._db.keys()):
            del self._db[key]

    def close(self) -> None:
        self._db.close()
        if self._temporary:
            shutil.rmtree(self.path, ignore_errors=True)

    def snapshot(self, location: LocationLike, shared: LocationLike | None = None) -> None:
        """Incremental with ``shared`` (see the module); else the portable format."""
        if shared is None:
            return super().snapshot(location)
        location, shared = Location.of(location), Location.of(shared)
        staging = Path(tempfile.mkdtemp(prefix="sabot-snapshot-", dir=Path(self.path).parent))
        try:
            Checkpoint(self._db).create_checkpoint(str(staging / "db"))
            files = sorted((staging / "db").iterdir())
            sst = {
                f.name: self._shared.get(f.name, f"{self._incarnation}-{f.name}")
                for f in files
                if f.suffix == ".sst"
            }
            added = 0
            for f in files:
                if f.name in self._shared:
                    continue  # uploaded by an earlier snapshot
                if f.name in sst:
                    Location.of(f).copy_to(shared / sst[f.name])
                    added += f.stat().st_size
                else:
                    Location.of(f).copy_to(location / f.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._shared = sst  # files compacted away are no longer the database's
        (location / _MANIFEST).write_text(json.dumps({"sst": sst}))
        listed = {"files": sorted(sst.values()), "added": added}
        (location / SHARED_LIST).write_text(json.dumps(listed))
        return None

    def restore(self, location: LocationLike, shared: LocationLike | None = None) -> None:
        """Replace the state with a snapshot; an incremental one becomes the database."""
        location = Location.of(location)
        if not is_rocks_snapshot(location):
            return super().restore(location)
        if shared is None:
            raise PlanError(
                f"{location} is an incremental snapshot: restore it with its shared directory"
            )
        sst = json.loads((location / _MANIFEST).read_text())["sst"]
        self._db.close()
        shutil.rmtree(self.path, ignore_errors=True)
        os.makedirs(self.path)
        for part in location.children():
            if part.name not in (_MANIFEST, SHARED_LIST):
                part.copy_to(Location.of(os.path.join(self.path, part.name)))
        for name, stored in sst.items():
            (Location.of(shared) / stored).copy_to(Location.of(os.path.join(self.path, name)))
        self._db = Rdict(self.path, _options())
        self._shared = dict(sst)
        return None
