"""Aggregation of an upsert changelog (e.g. the running ``MAX(price)`` per auction, averaged
per category: Nexmark q4). A row of the input replaces the earlier row with the same
``updates_of`` key, so the aggregate keeps the last row of each such key: when a new one
comes, the old one's contribution is taken back (its group and the new row's group are
aggregated again over their current rows). The output is again an upsert changelog, keyed by
the group keys: after each batch, the new values of the groups it changed. The state is the
last row of each ``updates_of`` key.

A group whose every row moved to another group would need a deletion, which sabot-lab's
changelogs cannot say yet: that run fails with an error naming the group, rather than leave
a row that is no longer true.

May import: the engine's aggregation and state, :mod:`sabot_lab.errors`.

>>> import pyarrow as pa
>>> from sabot_lab.expr import col
>>> from sabot_lab.engine.state import open_state
>>> t = pa.table({"auction": [1, 2, 1], "category": [10, 10, 10], "top": [5, 7, 9]})
>>> agg = RetractingAggregate(["category"], [col("top").mean().alias("avg")], t.schema, open_state(), ["auction"])
>>> [[u.to_pylist() for u in agg.on_batch(b)] for b in t.to_batches(max_chunksize=2)]
[[[{'category': 10, 'avg': 6.0}]], [[{'category': 10, 'avg': 8.0}]]]
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.aggregate import HashAggregate
from sabot_lab.engine.items import Batch
from sabot_lab.engine.state import StateBackend
from sabot_lab.engine.stateful import StatefulOperator
from sabot_lab.errors import SabotError
from sabot_lab.expr import Expr

__all__ = ["RetractingAggregate", "latest_of", "members"]

_ROWS = "rows"
_ORDER = "__order"


class RetractingAggregate(StatefulOperator):
    """Grouped aggregation of an upsert changelog keyed by ``updates_of`` (see the module);
    its state holds the last row of each ``updates_of`` key. Watermarks pass."""

    def __init__(
        self,
        keys: Sequence[str],
        aggs: Sequence[Expr],
        schema: pa.Schema,
        state: StateBackend,
        updates_of: Sequence[str],
    ) -> None:
        self._keys, self._of, self._schema = list(keys), list(updates_of), schema
        self._agg = HashAggregate(keys, aggs, schema)
        super().__init__(state)

    def on_batch(self, batch: Batch, side: int = 0) -> list[pa.Table]:
        """Replace the rows of the batch's keys; the new values of the groups it touched."""
        if not batch.num_rows:
            return []
        new = latest_of(pa.Table.from_batches([batch]), self._of)
        last = self.state.get(_ROWS)
        last = self._schema.empty_table() if last is None else last
        replaced = members(last, self._of, new)
        old = last.filter(replaced)
        current = pa.concat_tables([last.filter(pc.invert(replaced)), new]).combine_chunks()
        self.state.put(_ROWS, current)
        self._held(current.num_rows - last.num_rows)
        if not self._keys:
            return [self._aggregate(current)]
        touched = pa.concat_tables([old.select(self._keys), new.select(self._keys)])
        result = self._aggregate(current.filter(members(current, self._keys, touched)))
        emptied = touched.filter(pc.invert(members(touched, self._keys, result)))
        if emptied.num_rows:
            group = emptied.slice(0, 1).to_pylist()[0]
            raise SabotError(
                f"every row of the group {group} moved to other groups: the aggregate of an "
                "upsert changelog would have to delete that group's row, and sabot-lab's "
                "changelogs cannot delete rows yet; group by a key whose rows never leave "
                "their group (as a category holds its auctions)"
            )
        return [result]

    def _aggregate(self, rows: pa.Table) -> pa.Table:
        batches = rows.to_batches() or [pa.RecordBatch.from_pylist([], schema=rows.schema)]
        return self._agg.finish([self._agg.partial(b) for b in batches])


def latest_of(rows: pa.Table, key: Sequence[str]) -> pa.Table:
    """The last row of each value of ``key`` (nulls are a value), in the order of those rows.

    >>> latest_of(pa.table({"k": [1, None, 1], "x": [1, 2, 3]}), ["k"]).to_pydict()
    {'k': [None, 1], 'x': [2, 3]}
    """
    numbered = rows.append_column(_ORDER, pa.array(range(rows.num_rows), pa.int64()))
    last = numbered.group_by(list(key), use_threads=False).aggregate([(_ORDER, "max")])
    return rows.take(last[f"{_ORDER}_max"].combine_chunks().sort())


def members(rows: pa.Table, key: Sequence[str], of: pa.Table) -> pa.ChunkedArray | pa.Array:
    """Per row of ``rows``: whether its values of ``key`` are those of a row of ``of`` (a
    null equals a null, as groups count them).

    >>> members(pa.table({"k": [1, None, 2]}), ["k"], pa.table({"k": [None, 2]})).to_pylist()
    [False, True, True]
    """
    both = pa.concat_tables([rows.select(list(key)), of.select(list(key))]).combine_chunks()
    code = pa.array([0] * both.num_rows, pa.int64())
    for name in key:
        encoded = pc.dictionary_encode(both[name], null_encoding="encode").combine_chunks()
        width = len(encoded.dictionary)
        code = pc.add(pc.multiply(code, width), encoded.indices.cast(pa.int64()))
    return pc.is_in(code.slice(0, rows.num_rows), value_set=code.slice(rows.num_rows))
