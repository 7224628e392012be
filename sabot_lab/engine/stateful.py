"""What the stateful streaming operators (windows, stream joins, running aggregates) share:
tables kept in a state backend under keys of their own, a count of the rows held (reported as
``state_rows`` and ``peak_state_rows``), and results handed on as batches. An operator built
on a restored state (a checkpoint) carries on from it: everything it needs is in the state.

>>> import pyarrow as pa
>>> from sabot_lab.engine.state import open_state
>>> op = StatefulOperator(open_state())
>>> op._put_new(pa.table({"x": [1, 2]}), "left/"), op.state_rows
('left/0000000000000001', 2)
>>> [b.num_rows for b in table_batches(pa.table({"x": [1, 2, 3]}), 2)]
[2, 1]
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from sabot_lab.engine.state import StateBackend

__all__ = ["StatefulOperator", "table_batches"]


class StatefulOperator:
    """An operator keeping tables in ``state``."""

    def __init__(self, state: StateBackend) -> None:
        self.state = state
        self.state_rows = 0  # rows held in the state now
        self.peak_state_rows = 0
        self._seq = 0
        for key, table in state.items():  # a restored state: new keys come after its keys
            if key[-16:].isdigit():
                self._seq = max(self._seq, int(key[-16:]))
            self._held(table.num_rows)

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
