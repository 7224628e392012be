"""State in RocksDB (through ``rocksdict``): tables as Arrow IPC bytes on disk, for state larger
than memory.

>>> state = RocksState()
>>> state.put("k", pa.table({"x": [1, 2]})); state.get("k").num_rows
2
>>> state.close()
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pyarrow as pa
from rocksdict import Options, Rdict

from sabot_lab.state.backend import StateBackend, table_from_bytes, table_to_bytes

__all__ = ["RocksState"]


class RocksState(StateBackend):
    """Tables in a RocksDB database at ``path`` (a temporary directory when None)."""

    kind = "rocksdb"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._temporary = path is None
        self.path = tempfile.mkdtemp(prefix="sabot-state-") if path is None else os.fspath(path)
        self._db = Rdict(self.path, Options(raw_mode=True))

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
