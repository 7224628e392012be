"""Keyed operator state: Arrow tables under string keys, in memory or on disk (RocksDB),
with snapshots a job restores from.

:mod:`~sabot_lab.engine.state.backend` is the interface and the portable snapshot format,
:mod:`~sabot_lab.engine.state.memory` and :mod:`~sabot_lab.engine.state.rocks` the backends,
:mod:`~sabot_lab.engine.state.factory` opens one by name. The package imports only
``errors`` and ``location`` of sabot_lab (may import nothing else): the engine's operators
and checkpoints import it.

>>> import tempfile
>>> import pyarrow as pa
>>> state = open_state("memory")
>>> state.put("w/0", pa.table({"x": [1]}))
>>> path = tempfile.mkdtemp()
>>> state.snapshot(path)
>>> with open_state("rocksdb") as other:
...     other.restore(path); other.get("w/0").to_pydict()
{'x': [1]}
"""

from sabot_lab.engine.state.backend import StateBackend
from sabot_lab.engine.state.factory import open_state
from sabot_lab.engine.state.memory import MemoryState
from sabot_lab.engine.state.rocks import RocksState

__all__ = ["MemoryState", "RocksState", "StateBackend", "open_state"]
