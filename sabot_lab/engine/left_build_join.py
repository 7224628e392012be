"""A semi or anti join that builds its hash table on the left input and streams the right one.

``EXISTS`` over a big table (TPC-H Q4: 57 K orders, 3.8 M qualifying line items) is a semi
join whose right side is the big one. Building on the left (``build_side="left"``, set by the
optimizer for bounded inputs) keeps the table small: every right batch marks the left rows it
matches, and once the right input ends the left rows marked (``semi``) or not (``anti``) come
out, in the left input's order. Null keys never match (SQL).

May import the kernels, ``engine.join`` and ``engine.stateless``.

>>> import pyarrow as pa
>>> orders = pa.schema([("k", pa.int64()), ("p", pa.string())])
>>> join = LeftBuildJoin("semi", ["k"], ["id"], None, orders,
...                      lambda: iter([pa.record_batch({"k": [1, 2, None, 3], "p": list("abcd")})]), orders)
>>> join.prepare()
>>> join.mark(pa.record_batch({"id": [3, 3, 5, 1]}))
>>> [b.to_pydict() for b in join.result(batch_size=10)]
[{'k': [1, 3], 'p': ['a', 'd']}]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa

from sabot_lab.engine.join import collected, equal_pairs
from sabot_lab.kernels import JoinHashTable, key_codes

__all__ = ["LeftBuildJoin"]


class LeftBuildJoin:
    """State of one left-built semi or anti join: the left rows, their hash table, and which
    of them a right row has matched so far."""

    def __init__(
        self,
        how: str,
        left_on: Sequence[str],
        right_on: Sequence[str],
        left_payload: Sequence[str] | None,
        schema: pa.Schema,
        build_input: Callable[[], Iterator[pa.RecordBatch]],
        build_schema: pa.Schema,
    ) -> None:
        if how not in ("semi", "anti"):
            raise ValueError(f"only semi and anti joins build on the left side, not {how} joins")
        self.how = how
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
        assert self._table is not None and self._left is not None, "prepare() not called"
        codes, valid, exact = key_codes([batch.column(k) for k in self.right_on])
        if exact and self._exact:
            self._table.mark(codes, valid, self._matched)
            return
        right_idx, left_idx = self._table.probe(codes, valid)
        right_idx, left_idx = equal_pairs(
            [batch.column(k) for k in self.right_on],
            [self._left.column(k) for k in self.left_on],
            right_idx,
            left_idx,
        )
        self._matched[left_idx] = 1

    def result(self, batch_size: int) -> Iterator[pa.RecordBatch]:
        """The left rows matched (``semi``) or not (``anti``), in their order, once every
        right batch is marked."""
        assert self._left is not None, "prepare() not called"
        left = self._left if self.left_payload is None else self._left.select(self.left_payload)
        matched = self._matched.view(np.bool_)
        kept = left.filter(pa.array(matched if self.how == "semi" else ~matched))
        return iter(pa.Table.from_batches([kept]).to_batches(max_chunksize=batch_size))
