"""Opening a state backend by name (the ``state_backend`` setting): the one module that
knows every backend.

>>> open_state("memory").kind
'memory'
"""

from __future__ import annotations

import os

from sabot_lab.engine.state.backend import StateBackend
from sabot_lab.engine.state.memory import MemoryState
from sabot_lab.engine.state.rocks import RocksState
from sabot_lab.errors import PlanError

__all__ = ["open_state"]


def open_state(kind: str = "memory", path: str | os.PathLike[str] | None = None) -> StateBackend:
    """A new, empty state backend: ``"memory"``, or ``"rocksdb"`` (on disk under ``path``; a
    temporary directory removed on close when None).

    >>> with open_state("rocksdb") as state:
    ...     state.kind
    'rocksdb'
    """
    if kind == "memory":
        return MemoryState()
    if kind == "rocksdb":
        return RocksState(path)
    raise PlanError(f"unknown state backend {kind!r}; choose 'memory' or 'rocksdb'")
