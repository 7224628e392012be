"""State kept as Arrow tables in a dict: the fastest backend, for state that fits in memory.

>>> state = MemoryState()
>>> state.put("k", pa.table({"x": [1, 2]})); state.nbytes > 0
True
"""

from __future__ import annotations

import pyarrow as pa

from sabot_lab.state.backend import StateBackend

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
