"""The interface of keyed state backends, and the portable snapshot format they share.

A snapshot is a directory holding one Arrow IPC file per key and ``keys.json`` listing the
keys, so a snapshot taken from one backend restores into the other (state that outgrew
memory moves to disk on restore). The backends (:mod:`~sabot_lab.engine.state.memory`,
:mod:`~sabot_lab.engine.state.rocks`) import this module; it imports none of them.

>>> from sabot_lab.engine.state.memory import MemoryState
>>> state = MemoryState()
>>> state.put("b", pa.table({"x": [2]})); state.put("a", pa.table({"x": [1]}))
>>> state.keys(), state.pop("a").num_rows, state.keys()
(['a', 'b'], 1, ['b'])
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterator

import pyarrow as pa

from sabot_lab.errors import PlanError
from sabot_lab.location import Location, LocationLike

__all__ = ["SHARED_LIST", "StateBackend", "table_from_bytes", "table_to_bytes"]

_KEYS = "keys.json"
SHARED_LIST = "shared.json"
"""In a snapshot taken with a ``shared`` directory: ``{"files": [names in that directory],
"added": bytes of those first written for this snapshot}``."""


def table_to_bytes(table: pa.Table) -> bytes:
    """A table as Arrow IPC stream bytes.

    >>> table_from_bytes(table_to_bytes(pa.table({"x": [1]}))).to_pydict()
    {'x': [1]}
    """
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def table_from_bytes(data: bytes) -> pa.Table:
    """Inverse of :func:`table_to_bytes`."""
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


class StateBackend(abc.ABC):
    """Arrow tables under string keys, owned by one operator of one task."""

    kind: str

    @abc.abstractmethod
    def put(self, key: str, table: pa.Table) -> None:
        """Store ``table`` under ``key``, replacing what was there."""

    @abc.abstractmethod
    def get(self, key: str) -> pa.Table | None:
        """The table under ``key``, or None."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Forget ``key`` (nothing happens if it is absent)."""

    @abc.abstractmethod
    def keys(self) -> list[str]:
        """All keys, sorted."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Forget every key."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release resources (files, handles); the state is unusable afterwards."""

    def __enter__(self) -> StateBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pop(self, key: str) -> pa.Table | None:
        """The table under ``key``, removed from the state."""
        table = self.get(key)
        if table is not None:
            self.delete(key)
        return table

    def items(self) -> Iterator[tuple[str, pa.Table]]:
        """``(key, table)`` pairs in key order."""
        for key in self.keys():
            table = self.get(key)
            if table is not None:
                yield key, table

    def snapshot(self, location: LocationLike, shared: LocationLike | None = None) -> None:
        """Write the whole state into the (new or empty) directory ``location`` (local or
        any ``pyarrow.fs`` URI). ``shared``: a directory where a backend that snapshots
        incrementally keeps the files its snapshots share (the portable format has none)."""
        root = Location.of(location)
        keys = []
        for i, (key, table) in enumerate(self.items()):
            (root / f"{i}.arrow").write_bytes(table_to_bytes(table))
            keys.append(key)
        (root / _KEYS).write_text(json.dumps(keys))

    def restore(self, location: LocationLike, shared: LocationLike | None = None) -> None:
        """Replace the state with the snapshot in ``location`` (in the portable format; a
        backend reading other formats too extends this)."""
        root = Location.of(location)
        if not (root / _KEYS).exists():
            raise PlanError(f"{root} holds no state snapshot ({_KEYS} is missing)")
        self.clear()
        for i, key in enumerate(json.loads((root / _KEYS).read_text())):
            self.put(key, table_from_bytes((root / f"{i}.arrow").read_bytes()))
