"""A filter fused with the projection after it, reading struct fields (Nexmark's ``bid.price``).

:class:`FieldsFilter` takes each column and struct field that the predicate or the projection
reads out of the batch once, computes each subexpression the predicate repeats once (q14's
``0.908 * price`` in ``price * 0.908 > 1000000 AND price * 0.908 < 50000000``), filters only
the columns the projection reads, and carries a string column that the predicate evaluated
once per distinct string (:mod:`sabot_lab.engine.distinct_strings`) in that dictionary
encoding: the filter then moves small integers instead of strings, and the expressions after
it over the same column (q21's ``CASE`` over ``LOWER(channel)`` and ``REGEXP_EXTRACT(url)``)
read the encoding instead of encoding the column again. A field that comes dictionary-encoded
(Nexmark's ``bid.channel``) is read in its encoding and carried so. Such encodings stay inside the
pipeline (the engine materializes them where batches leave it).

>>> import pyarrow as pa
>>> from sabot_lab.expr import col
>>> b = pa.record_batch({"k": [1, 2], "s": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]})
>>> out = pa.schema([("a", pa.int64()), ("k", pa.int64())])
>>> step = FieldsFilter(col("k") == 2, [col("s").struct.field("a") * 10, col("k")], out, b.schema)
>>> step(b).to_pydict()
{'a': [20], 'k': [2]}
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from sabot_lab.engine.distinct_strings import encoded_if_cached, input_value
from sabot_lab.engine.evaluate import evaluate
from sabot_lab.engine.shared_subexpressions import shared_subexpressions
from sabot_lab.engine.stateless import kept_rows, project_batch
from sabot_lab.errors import ComputeError
from sabot_lab.expr import Expr
from sabot_lab.expr.nodes import Alias, Column, StructField

__all__ = ["FieldsFilter", "filter_fields"]


def filter_fields(
    batch: pa.RecordBatch, predicate: Expr, exprs: Sequence[Expr], schema: pa.Schema
) -> pa.RecordBatch | None:
    """:func:`~sabot_lab.engine.stateless.project_batch` of the rows where ``predicate`` is
    true, the columns and struct fields ``exprs`` read taken out before the filter, so that it
    copies only those rather than whole struct columns; None if no row is left.
    :class:`FieldsFilter` does the same for many batches.

    >>> from sabot_lab.expr import col
    >>> b = pa.record_batch({"k": [1, 2], "s": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]})
    >>> out = pa.schema([("a", pa.int64()), ("k", pa.int64())])
    >>> filter_fields(b, col("k") == 2, [col("s").struct.field("a") * 10, col("k")], out).to_pydict()
    {'a': [20], 'k': [2]}
    """
    return FieldsFilter(predicate, exprs, schema, batch.schema)(batch)


class FieldsFilter:
    """:func:`filter_fields` with its ``predicate``, ``exprs``, output ``schema`` and
    ``input_schema``: the columns and fields read and the shared subexpressions found once,
    not per batch (see the module's text)."""

    def __init__(
        self, predicate: Expr, exprs: Sequence[Expr], schema: pa.Schema, input_schema: pa.Schema
    ) -> None:
        self.schema = schema
        read: dict[tuple[object, ...], Expr] = {}
        projected = [_read_as(expr, read) for expr in exprs]
        condition = _read_as(predicate, read)
        self.read = list(read.values())
        read_schema = pa.schema(
            [e.output_field(input_schema).with_name(str(i)) for i, e in enumerate(self.read)]
        )
        # the predicate's own repeats only: the projection sees only the rows kept (where
        # ``x <> 0`` kept them, ``10 // x`` never divides by zero)
        self.shared, (self.predicate,) = shared_subexpressions([condition], read_schema)
        self.unshared = condition
        # unaliased (the schema names the outputs): a column read passes through encoded
        self.exprs = [e.args[0] if isinstance(e, Alias) else e for e in projected]
        self._names = [*read_schema.names, *(e.param("name") for e in self.shared)]
        needed = {name for expr in self.exprs for name in expr.columns()}
        self._kept = [name for name in self._names if name in needed]

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        """The projection of ``batch``'s rows where the predicate is true; None if none."""
        read = pa.RecordBatch.from_arrays(
            [input_value(e, batch) for e in self.read], names=self._names[: len(self.read)]
        )
        try:
            mask = self._mask(read)
        except ComputeError:  # a shared part fails on rows a CASE branch does not take
            mask = evaluate(self.unshared, read)
        carried = [encoded_if_cached(read.column(name)) for name in self._kept]
        kept = kept_rows(pa.RecordBatch.from_arrays(carried, names=self._kept), mask)
        return None if kept is None else project_batch(kept, self.exprs, self.schema)

    def _mask(self, read: pa.RecordBatch) -> pa.Array:
        """The predicate over ``read``, its shared subexpressions computed once."""
        arrays = list(read.columns)
        for expr in self.shared:
            widened = pa.RecordBatch.from_arrays(arrays, names=self._names[: len(arrays)])
            arrays.append(evaluate(expr, widened))
        return evaluate(self.predicate, pa.RecordBatch.from_arrays(arrays, names=self._names))


def _read_as(expr: Expr, read: dict[tuple[object, ...], Expr]) -> Expr:
    """``expr`` reading column ``"i"`` for the ``i``-th column or struct field it reads,
    which it adds to ``read``."""
    if isinstance(expr, Column | StructField) and all(
        isinstance(e, Column | StructField) for e in expr.walk()
    ):
        key = expr.key()
        if key not in read:
            read[key] = expr
        return Column("col", name=str(list(read).index(key)))
    if not expr.args:
        return expr
    return expr.with_args([_read_as(a, read) for a in expr.args])
