"""What the stateful streaming operators (windows, stream joins, running aggregates) share:
tables kept in a state backend under keys of their own, a count of the rows held (reported as
``state_rows`` and ``peak_state_rows``), the snapshot of that state at a checkpoint and its
restore, and results handed on as batches. Everything an operator needs is in the state: one
built on a restored state (or restored later) carries on from it. The hooks an operator does
not need (see :class:`~sabot_lab.engine.stream_operator.StreamOperator`) do nothing here.

>>> import pyarrow as pa
>>> from sabot_lab.engine.state import open_state
>>> op = StatefulOperator(open_state())
>>> op._put_new(pa.table({"x": [1, 2]}), "left/"), op.state_rows
('left/0000000000000001', 2)
>>> [b.num_rows for b in table_batches(pa.table({"x": [1, 2, 3]}), 2)]
[2, 1]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from sabot_lab.engine.items import Watermark
from sabot_lab.engine.state import StateBackend
from sabot_lab.location import LocationLike

__all__ = ["StatefulOperator", "table_batches"]


class StatefulOperator:
    """An operator keeping tables in ``state``."""

    timer: float | None = None

    def __init__(self, state: StateBackend) -> None:
        self.state = state
        self._load()

    def _load(self) -> None:
        """Take up what the state holds (nothing, or a restored state): what an operator
        keeps beside it (here the rows held and the keys used) is made from it again."""
        self.state_rows = 0  # rows held in the state now
        self.peak_state_rows = 0
        self._seq = 0
        for key, table in self.state.items():  # new keys come after the restored ones
            if key[-16:].isdigit():
                self._seq = max(self._seq, int(key[-16:]))
            self._held(table.num_rows)

    def snapshot(self, location: LocationLike, shared: LocationLike | None) -> None:
        """Write the state into ``location`` (see :meth:`StateBackend.snapshot`)."""
        self.state.snapshot(location, shared)

    def restore(self, location: LocationLike, shared: LocationLike | None) -> None:
        """Replace the state with a snapshot and carry on from it."""
        self.state.restore(location, shared)
        self._load()

    def on_watermark(self, watermark: Watermark) -> Iterable[pa.Table | Watermark]:
        """Pass the watermark on (nothing is held back)."""
        yield watermark

    def on_timer(self) -> Iterable[pa.Table]:
        """Nothing (no early results)."""
        return ()

    def on_end(self) -> Iterable[pa.Table]:
        """Nothing (every result came out already)."""
        return ()

    def _next_key(self, prefix: str = "") -> str:
        """A key no table of this operator has had, sorting after the earlier ones."""
        self._seq += 1
        return f"{prefix}{self._seq:016d}"

    def _put_new(self, table: pa.Table, prefix: str = "") -> str:
        """Keep ``table`` under a new key (returned), counting its rows as held."""
        key = self._next_key(prefix)
        self.state.put(key, table)
        self._held(table.num_rows)
        return key

    def _held(self, change: int) -> None:
        self.state_rows += change
        self.peak_state_rows = max(self.peak_state_rows, self.state_rows)


def table_batches(table: pa.Table | None, batch_size: int) -> Iterator[pa.RecordBatch]:
    """A result table (None: no result) as record batches of at most ``batch_size`` rows."""
    if table is not None and table.num_rows:
        yield from table.combine_chunks().to_batches(max_chunksize=batch_size)
