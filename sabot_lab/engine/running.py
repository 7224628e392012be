"""Aggregation over an unbounded stream: after each batch, the new values of the groups the
batch changed (an upsert changelog keyed by the group keys: the latest row of a key replaces
the earlier ones). The partial aggregates of every group are the state.

>>> import pyarrow as pa
>>> from sabot_lab.expr import col
>>> from sabot_lab.engine.state import open_state
>>> t = pa.table({"k": ["a", "b", "a"], "x": [1, 2, 3]})
>>> agg = RunningAggregate(["k"], [col("x").sum().alias("s")], t.schema, open_state())
>>> [[u.to_pylist() for u in agg.on_batch(b)] for b in t.to_batches(max_chunksize=2)]
[[[{'k': 'a', 's': 1}, {'k': 'b', 's': 2}]], [[{'k': 'a', 's': 4}]]]
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from sabot_lab.engine.aggregate import HashAggregate
from sabot_lab.engine.items import Batch
from sabot_lab.engine.state import StateBackend
from sabot_lab.engine.stateful import StatefulOperator
from sabot_lab.expr import Expr

__all__ = ["RunningAggregate"]

_TOUCHED = "__touched"
_GROUPS = "groups"


class RunningAggregate(StatefulOperator):
    """Grouped aggregation emitting updates; its state holds one partial row per group.
    Watermarks pass (updates are emitted at once, nothing is held back)."""

    def __init__(
        self, keys: Sequence[str], aggs: Sequence[Expr], schema: pa.Schema, state: StateBackend
    ) -> None:
        self._agg = HashAggregate(keys, aggs, schema)
        super().__init__(state)

    def on_batch(self, batch: Batch, side: int = 0) -> list[pa.Table]:
        """Fold a batch into the state; the updated rows of the groups it touched."""
        if not batch.num_rows:
            return []
        partial = self._agg.partial(batch)
        partial = partial.append_column(_TOUCHED, pa.repeat(True, partial.num_rows))
        current = self.state.get(_GROUPS)
        parts = [partial] if current is None else [current, partial]
        merged = self._agg.combine(parts, flag=_TOUCHED)
        touched = merged[_TOUCHED]
        self.state.put(_GROUPS, merged.set_column(
            merged.schema.get_field_index(_TOUCHED), _TOUCHED, pa.repeat(False, merged.num_rows)
        ))  # fmt: skip
        self._held(merged.num_rows - self.state_rows)
        return [self._agg.finish([merged.filter(touched).drop_columns([_TOUCHED])])]
