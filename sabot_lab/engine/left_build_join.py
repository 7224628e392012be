"""A semi, anti or left join that builds its hash table on the left input and streams the
right one.

``EXISTS`` over a big table (TPC-H Q4: 57 K orders, 3.8 M qualifying line items) is a semi
join whose right side is the big one. Building on the left (``build_side="left"``, set by the
optimizer for bounded inputs) keeps the table small: every right batch marks the left rows it
matches, and once the right input ends the left rows marked (``semi``) or not (``anti``) come
out, in the left input's order. A ``left`` join (TPC-H Q13: 150 K customers, 1.5 M orders)
outputs each right batch's matched pairs as it comes, then the left rows no right row matched,
with nulls on the right. Null keys never match (SQL).

May import the kernels, ``engine.join`` and ``engine.stateless``.

>>> import pyarrow as pa
>>> orders = pa.schema([("k", pa.int64()), ("p", pa.string())])
>>> join = LeftBuildJoin("semi", ["k"], ["id"], None, orders,
...                      lambda: iter([pa.record_batch({"k": [1, 2, None, 3], "p": list("abcd")})]), orders)
>>> join.prepare()
>>> join.mark(pa.record_batch({"id": [3, 3, 5, 1]}))
>>> [b.to_pydict() for b in join.result(batch_size=10)]
[{'k': [1, 3], 'p': ['a', 'd']}]
>>> joined = pa.schema([("k", pa.int64()), ("p", pa.string()), ("q", pa.int64())])
>>> join = LeftBuildJoin("left", ["k"], ["id"], None, joined,
...                      lambda: iter([pa.record_batch({"k": [1, 2, None], "p": list("abc")})]), orders,
...                      right_payload=["q"])
>>> join.prepare()
>>> join.probe(pa.record_batch({"id": [2, 5, 2], "q": [10, 11, 12]})).to_pydict()
{'k': [2, 2], 'p': ['b', 'b'], 'q': [10, 12]}
>>> [b.to_pydict() for b in join.result(batch_size=10)]
[{'k': [1, None], 'p': ['a', 'c'], 'q': [None, None]}]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa

from sabot_lab.engine.join import collected, equal_pairs
from sabot_lab.engine.stateless import materialize
from sabot_lab.kernels import JoinHashTable, key_codes

__all__ = ["LeftBuildJoin"]


class LeftBuildJoin:
    """State of one left-built semi, anti or left join: the left rows, their hash table, and
    which of them a right row has matched so far (``right_payload``: the right columns a left
    join outputs)."""

    def __init__(
        self,
        how: str,
        left_on: Sequence[str],
        right_on: Sequence[str],
        left_payload: Sequence[str] | None,
        schema: pa.Schema,
        build_input: Callable[[], Iterator[pa.RecordBatch]],
        build_schema: pa.Schema,
        right_payload: Sequence[str] = (),
    ) -> None:
        if how not in ("semi", "anti", "left"):
            raise ValueError(
                f"only semi, anti and left joins build on the left side, not {how} joins"
            )
        self.how = how
        self.right_payload = list(right_payload)
        self.left_on = list(left_on)
        self.right_on = list(right_on)
        self.left_payload = None if left_payload is None else list(left_payload)
        self.schema = schema
        self._build_input = build_input
        self._build_schema = build_schema
        self._left: pa.RecordBatch | None = None
        self._table: JoinHashTable | None = None
        self._matched = np.zeros(0, dtype=np.uint8)
        self._exact = False

    def prepare(self) -> None:
        """Collect the left input and build the hash table on it (once per run)."""
        self._left = collected(self._build_input(), self._build_schema)
        codes, valid, self._exact = key_codes([self._left.column(k) for k in self.left_on])
        self._table = JoinHashTable(codes, valid, self._exact)
        self._matched = np.zeros(self._left.num_rows, dtype=np.uint8)

    def mark(self, batch: pa.RecordBatch) -> None:
        """Mark the left rows matched by one right batch (batches may run on several threads:
        a mark only ever sets a flag)."""
        assert self._table is not None, "prepare() not called"
        codes, valid, exact = key_codes([batch.column(k) for k in self.right_on])
        if exact and self._exact:
            self._table.mark(codes, valid, self._matched)
            return
        self._matched[self._pairs(batch, codes, valid, exact)[1]] = 1

    def probe(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        """The rows of a left join one right batch matches, marking their left rows (batches
        may run on several threads: a mark only ever sets a flag); None if none matches."""
        assert self._table is not None, "prepare() not called"
        codes, valid, exact = key_codes([batch.column(k) for k in self.right_on])
        right_idx, left_idx = self._pairs(batch, codes, valid, exact)
        if not len(left_idx):
            return None
        self._matched[left_idx] = 1
        left_take, right_take = pa.array(left_idx), pa.array(right_idx)
        left = self._left_columns()
        columns = [left.column(i).take(left_take) for i in range(left.num_columns)]
        columns += [batch.column(name).take(right_take) for name in self.right_payload]
        # the plan's types, as the unmatched rows' nulls have them
        return materialize(
            pa.RecordBatch.from_arrays(columns, names=self.schema.names), self.schema
        )

    def _pairs(
        self, batch: pa.RecordBatch, codes: np.ndarray, valid: np.ndarray, exact: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The (right row, left row) pairs of equal keys of one right batch (codes that are
        not the keys themselves are checked against the keys: they can collide)."""
        assert self._table is not None and self._left is not None
        right_idx, left_idx = self._table.probe(codes, valid)
        if exact and self._exact:
            return right_idx, left_idx
        return equal_pairs(
            [batch.column(k) for k in self.right_on],
            [self._left.column(k) for k in self.left_on],
            right_idx,
            left_idx,
        )

    def result(self, batch_size: int) -> Iterator[pa.RecordBatch]:
        """The left rows matched (``semi``) or not (``anti``, ``left``: with nulls on the
        right), in their order, once every right batch is marked."""
        matched = self._matched.view(np.bool_)
        kept = self._left_columns().filter(pa.array(matched if self.how == "semi" else ~matched))
        if self.how == "left":
            payload = self.schema.names[kept.num_columns :]
            nulls = [pa.nulls(kept.num_rows, self.schema.field(n).type) for n in payload]
            kept = pa.RecordBatch.from_arrays([*kept.columns, *nulls], names=self.schema.names)
        return iter(pa.Table.from_batches([kept]).to_batches(max_chunksize=batch_size))

    def _left_columns(self) -> pa.RecordBatch:
        assert self._left is not None, "prepare() not called"
        return self._left if self.left_payload is None else self._left.select(self.left_payload)
