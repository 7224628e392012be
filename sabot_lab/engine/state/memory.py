"""State kept as Arrow tables in a dict: the fastest backend, for state that fits in memory.
It restores snapshots of either format (an incremental RocksDB one is read through a
temporary :class:`~sabot_lab.engine.state.rocks.RocksState`).

>>> state = MemoryState()
>>> state.put("k", pa.table({"x": [1, 2]})); state.nbytes > 0
True
"""

from __future__ import annotations

import pyarrow as pa

from sabot_lab.engine.state.backend import StateBackend
from sabot_lab.engine.state.rocks import RocksState, is_rocks_snapshot
from sabot_lab.location import LocationLike

__all__ = ["MemoryState"]


class MemoryState(StateBackend):
    """Tables in a dict."""

    kind = "memory"

    def __init__(self) -> None:
        self._tables: dict[str, pa.Table] = {}

    def put(self, key: str, table: pa.Table) -> None:
        self._tables[key] = table

    def get(self, key: str) -> pa.Table | None:
        return self._tables.get(key)

    def delete(self, key: str) -> None:
        self._tables.pop(key, None)

    def keys(self) -> list[str]:
        return sorted(self._tables)

    def clear(self) -> None:
        self._tables.clear()

    def close(self) -> None:
        self._tables.clear()

    @property
    def nbytes(self) -> int:
        """Bytes held by the tables."""
        return sum(t.nbytes for t in self._tables.values())

    def restore(self, location: LocationLike, shared: LocationLike | None = None) -> None:
        """Replace the state with a snapshot of either backend (an incremental one's with the
        ``shared`` directory it was taken with)."""
        if not is_rocks_snapshot(location):
            return super().restore(location)
        with RocksState.from_snapshot(location, shared) as taken:
            self.clear()
            for key, table in taken.items():
                self.put(key, table)
        return None
