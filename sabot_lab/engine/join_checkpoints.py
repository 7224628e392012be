"""The build rows of a hash join, kept with each checkpoint of a job that takes them.

A hash join holds no state but its build table, and that table is whole before any probe
row (or barrier) passes the join. The tasks that sent the build rows may be restored as
finished, though (they ended before the checkpoint, see
:meth:`~sabot_lab.engine.checkpoints.Checkpoints.mark_finished`) and send nothing again, or
from a position past rows they sent before it. So each checkpoint keeps the build rows the
join holds, and a restored join reads them back instead, draining what its input sends again
(rows already among them).

May import: :mod:`sabot_lab.engine.checkpoints` (the files of a checkpoint) and pyarrow.

>>> import tempfile
>>> from sabot_lab.engine.checkpoints import Checkpoints
>>> rows = pa.record_batch({"k": [1, 2]})
>>> directory = tempfile.mkdtemp()
>>> first = KeptBuild(Checkpoints(directory, "1.0"), "join", rows.schema)
>>> [b.num_rows for b in first.rows(iter([rows]))]
[2]
>>> first.save(1)
>>> again = KeptBuild(Checkpoints(directory, "1.0", restore=1), "join", rows.schema)
>>> [b.to_pydict() for b in again.rows(iter([]))]  # its input sent nothing again
[{'k': [1, 2]}]
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from sabot_lab.engine.checkpoints import Checkpoints

__all__ = ["KeptBuild"]

_FILE = "build.arrows"


class KeptBuild:
    """The build rows of one join, saved with each checkpoint, read back on a restore."""

    def __init__(self, checkpoints: Checkpoints, name: str, schema: pa.Schema) -> None:
        self.checkpoints, self.name, self.schema = checkpoints, name, schema
        self._rows: list[pa.RecordBatch] = []

    def rows(self, incoming: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The build rows: those of the checkpoint restored from, if it kept them (what
        ``incoming`` sends again is drained: rows already among them), else ``incoming``'s."""
        saved = self.checkpoints.restored(self.name) if self.checkpoints.restore else None
        if saved is not None and (saved / _FILE).exists():
            for _ in incoming:
                pass
            with pa.ipc.open_stream((saved / _FILE).read_bytes()) as reader:
                self._rows = list(reader)
            yield from self._rows
            return
        for batch in incoming:
            self._rows.append(batch)
            yield batch

    def save(self, checkpoint: int) -> None:
        """Keep the build rows with checkpoint ``checkpoint``."""
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, self.schema) as writer:
            for batch in self._rows:
                writer.write_batch(
                    batch.cast(self.schema) if batch.schema != self.schema else batch
                )
        (self.checkpoints.path(checkpoint, self.name) / _FILE).write_bytes(
            sink.getvalue().to_pybytes()
        )
