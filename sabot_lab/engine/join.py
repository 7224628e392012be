"""Hash join: build a :class:`~sabot_lab.kernels.JoinHashTable` on the right input, probe per batch.

The build side is collected once (``prepare``); probing is a per-batch step fused into the
left input's pipeline, so the left side streams. Null keys never match (SQL). Several integer
keys pack into one exact code when the build side's ranges allow (no hashing, no comparing
the keys of each match). Join kinds:
``inner``, ``left`` (unmatched left rows with nulls on the right), ``semi`` (left rows with a
match, once) and ``anti`` (left rows without one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.stateless import dictionary_encoded, materialize
from sabot_lab.kernels import JoinHashTable, is_integer_like, key_codes, packed_key_ranges

__all__ = ["HashJoin", "collected", "equal_pairs"]


def collected(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> pa.RecordBatch:
    """A join's build input as one batch of ``schema`` (empty when no row came).

    >>> collected(iter([pa.record_batch({"k": [1]}), pa.record_batch({"k": [2]})]), pa.schema([("k", pa.int64())])).to_pydict()
    {'k': [1, 2]}
    """
    table = pa.Table.from_batches([materialize(b, schema) for b in batches], schema=schema)
    batches_out = table.combine_chunks().to_batches()
    return batches_out[0] if batches_out else pa.RecordBatch.from_pylist([], schema=schema)


class HashJoin:
    """State of one hash join: the build table and how to assemble output rows."""

    def __init__(
        self,
        how: str,
        left_on: Sequence[str],
        right_on: Sequence[str],
        right_payload: Sequence[str],
        left_payload: Sequence[str] | None,
        schema: pa.Schema,
        build_input: Callable[[], Iterator[pa.RecordBatch]],
        build_schema: pa.Schema,
        probe_schema: pa.Schema | None = None,
    ) -> None:
        self.how = how
        self.left_on = list(left_on)
        self.right_on = list(right_on)
        self.right_payload = list(right_payload)
        self.left_payload = None if left_payload is None else list(left_payload)
        self.schema = schema
        self._build_input = build_input
        self._build_schema = build_schema
        self._packable = probe_schema is not None and all(
            is_integer_like(probe_schema.field(k).type) for k in self.left_on
        )
        self._ranges: list[tuple[int, int]] | None = None
        self._table: JoinHashTable | None = None
        self._build: pa.RecordBatch | None = None
        self._payload: list[pa.Array] = []
        self._exact = False

    def prepare(self) -> None:
        """Collect the build side and build the hash table (once per run)."""
        self._build = collected(self._build_input(), self._build_schema)
        self._payload = [
            dictionary_encoded(self._build.column(name)) for name in self.right_payload
        ]
        keys = [self._build.column(k) for k in self.right_on]
        if self._packable and len(keys) > 1:
            self._ranges = packed_key_ranges(keys)
        codes, valid, exact = key_codes(keys, self._ranges)
        self._table = JoinHashTable(codes, valid, exact)
        self._exact = exact

    def probe(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        """Join one left batch against the build table."""
        assert self._table is not None and self._build is not None, "prepare() not called"
        codes, valid, exact = key_codes([batch.column(k) for k in self.left_on], self._ranges)
        confirmed = exact and self._exact
        if self.how in ("semi", "anti") and confirmed:
            matched = self._table.contains(codes, valid)
            keep = matched if self.how == "semi" else ~matched
            return _nonempty(self._left_columns(batch).filter(pa.array(keep)))
        left_idx, right_idx = self._table.probe(codes, valid)
        if not confirmed:
            left_idx, right_idx = equal_pairs(
                [batch.column(k) for k in self.left_on],
                [self._build.column(k) for k in self.right_on],
                left_idx,
                right_idx,
            )
        if self.how in ("semi", "anti"):
            matched = np.zeros(batch.num_rows, dtype=np.bool_)
            matched[left_idx] = True
            keep = matched if self.how == "semi" else ~matched
            return _nonempty(self._left_columns(batch).filter(pa.array(keep)))
        right_nulls = None
        if self.how == "left":
            matched = np.zeros(batch.num_rows, dtype=np.bool_)
            matched[left_idx] = True
            unmatched = np.flatnonzero(~matched)
            if len(unmatched):
                right_nulls = np.concatenate(
                    [
                        np.zeros(len(left_idx), dtype=np.bool_),
                        np.ones(len(unmatched), dtype=np.bool_),
                    ]
                )
                left_idx = np.concatenate([left_idx, unmatched])
                right_idx = np.concatenate([right_idx, np.zeros(len(unmatched), dtype=np.int64)])
        if not len(left_idx):
            return None
        right_take = pa.array(right_idx, mask=right_nulls)
        left = self._left_columns(batch)
        columns = left.columns
        if right_nulls is not None or not (self._table.unique and len(left_idx) == batch.num_rows):
            # (else every left row matched once, in order: its columns are kept as they are)
            left_take = pa.array(left_idx)
            columns = [column.take(left_take) for column in columns]
        columns += [column.take(right_take) for column in self._payload]
        return pa.RecordBatch.from_arrays(columns, names=self.schema.names)

    def _left_columns(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch if self.left_payload is None else batch.select(self.left_payload)


def equal_pairs(
    left_keys: Sequence[pa.Array],
    right_keys: Sequence[pa.Array],
    left_idx: np.ndarray,
    right_idx: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the ``(left row, right row)`` pairs whose keys are equal (hash codes can
    collide).

    >>> keep = equal_pairs([pa.array(["a", "b"])], [pa.array(["b", "a"])], np.array([0, 1]), np.array([1, 1]))
    >>> [k.tolist() for k in keep]
    [[0], [1]]
    """
    if not len(left_idx):
        return left_idx, right_idx
    same = None
    left_take, right_take = pa.array(left_idx), pa.array(right_idx)
    for lk, rk in zip(left_keys, right_keys, strict=True):
        lv = lk.take(left_take)
        rv = rk.take(right_take)
        if lv.type != rv.type:
            rv = rv.cast(lv.type)
        eq = pc.equal(lv, rv)
        same = eq if same is None else pc.and_(same, eq)
    keep = same.to_numpy(zero_copy_only=False) if same is not None else None
    if keep is None or keep.all():
        return left_idx, right_idx
    return left_idx[keep], right_idx[keep]


def _nonempty(batch: pa.RecordBatch) -> pa.RecordBatch | None:
    return batch if batch.num_rows else None
