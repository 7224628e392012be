"""Rows a filter keeps, handed on as a mask rather than copied: a filter fused with the
partial aggregate after it (:meth:`~sabot_lab.engine.aggregate.HashAggregate.partial`)
passes the batch with the rows it keeps marked, and the aggregate counts the others into a
group it leaves out, so the rows are read once (the 10 M-row filter and group-by of
``benchmarks/cluster.py``: about a tenth less time, in-process and on a cluster).

A filter that keeps at most a third of the rows copies them as :func:`filter_batch` does
(few rows are cheap to copy, and cheaper to group), and so does an aggregate that cannot
count by mask (:meth:`Selected.materialized`), among them one whose inputs could fail on a
row the filter leaves out (``sum(1000 // x)`` after ``x != 0``).

>>> import pyarrow as pa
>>> from sabot_lab.expr import col
>>> selected = select_rows(pa.record_batch({"k": [1, 2, 3, 4]}), col("k") != 2)
>>> selected.num_rows, selected.kept.tolist()
(3, [True, False, True, True])
>>> selected.materialized().to_pydict()
{'k': [1, 3, 4]}
>>> select_rows(pa.record_batch({"k": [1, 2, 3, 4]}), col("k") == 2).to_pydict()
{'k': [2]}
>>> select_rows(pa.record_batch({"k": [1, 2, 3, 4]}), col("k") > 1).kept.tolist()
[False, True, True, True]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sabot_lab.engine.booleans import as_bools
from sabot_lab.engine.integer_ranges import integer_selection, range_filter
from sabot_lab.engine.staged_filter import filter_stages
from sabot_lab.engine.stateless import evaluate_stages, filter_batch, kept_rows
from sabot_lab.expr import Expr

__all__ = ["Selected", "select_rows"]


@dataclass(frozen=True)
class Selected:
    """``batch`` with the rows a filter keeps marked in ``kept`` (one bool per row);
    :attr:`num_rows` counts them (what the filter's operator sends on)."""

    batch: pa.RecordBatch
    kept: np.ndarray
    num_rows: int

    def materialized(self) -> pa.RecordBatch:
        """The rows kept, copied (never empty: a selection keeps a row at least)."""
        kept = kept_rows(self.batch, pa.array(self.kept))
        assert kept is not None
        return kept


def select_rows(batch: pa.RecordBatch, predicate: Expr) -> Selected | pa.RecordBatch | None:
    """The rows of ``batch`` where ``predicate`` is true (null counts as false): marked
    (:class:`Selected`) when more than a third are, the batch itself when all are, copied
    when fewer, None when none. Integer ranges are compared on the columns' numbers
    (:mod:`~.integer_ranges`); other conjuncts as :func:`~.stateless.evaluate_stages` does."""
    ranges = range_filter(predicate, batch.schema)
    if ranges is not None:
        if ranges.coded is not None:  # (text conjuncts first, on few rows then: copied)
            return filter_batch(batch, predicate)
        selection = integer_selection(batch, ranges.ranges)
        if selection is None or selection.dtype != bool:  # none, or few
            return None if selection is None else batch.take(pa.array(selection))
        return _marked(batch, selection)
    staged = evaluate_stages(batch, filter_stages(predicate, batch.schema))
    if staged is None:
        return None
    left, mask = staged
    if mask is None:
        return left
    return _marked(left, as_bools(mask.fill_null(False) if mask.null_count else mask))


def _marked(batch: pa.RecordBatch, mask: np.ndarray) -> Selected | pa.RecordBatch | None:
    """The rows of ``batch`` ``mask`` keeps: marked when more than a third, else copied."""
    count = int(np.count_nonzero(mask))
    if count * 3 <= len(mask):
        return kept_rows(batch, pa.array(mask))
    if count == len(mask):
        return batch
    return Selected(batch, mask, count)
