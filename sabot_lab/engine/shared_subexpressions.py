"""Projections that compute each repeated subexpression once per batch.

A projection such as TPC-H Q1's aggregate inputs, ``price * (1 - discount)`` and
``price * (1 - discount) * (1 + tax)``, computes ``price * (1 - discount)`` twice when its
expressions are evaluated one by one. :class:`SharedProjection` finds, when it is built, every
subexpression that occurs more than once among the expressions (structurally equal, by
``Expr.key()``), evaluates each of them once per batch into a hidden column, and evaluates the
expressions over those columns. Expressions whose results may differ between two evaluations
(aggregates, window functions, non-deterministic user functions) are never shared.

>>> import pyarrow as pa
>>> from sabot_lab.expr import col, lit
>>> disc = col("p") * (lit(1) - col("d"))
>>> schema = pa.schema([("p", pa.int64()), ("d", pa.int64())])
>>> projection = SharedProjection([disc.alias("a"), (disc * col("d")).alias("b")], schema)
>>> projection.shared
[(col("p") * (1 - col("d"))).alias("__shared0")]
>>> projection(pa.record_batch({"p": [10, 20], "d": [2, 3]})).to_pydict()
{'a': [-10, -40], 'b': [-20, -120]}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from sabot_lab.engine.distinct_strings import per_distinct_strings
from sabot_lab.engine.evaluate import evaluate
from sabot_lab.engine.stateless import project_batch
from sabot_lab.errors import ComputeError
from sabot_lab.expr import Expr, col
from sabot_lab.expr.nodes import (
    Aggregate,
    Alias,
    Column,
    Literal,
    Over,
    UserAggregate,
    UserFunction,
    WindowFunction,
)

__all__ = ["SharedProjection", "shared_subexpressions"]

_PREFIX = "__shared"
_UNSHARED = (Aggregate, UserAggregate, Over, WindowFunction)  # per group or window, not per row


def _shareable(expr: Expr, schema: pa.Schema) -> bool:
    """Whether two evaluations of ``expr`` over one batch give the same values, and it reads
    a column (a constant stays a literal: its type follows its partner's) other than only
    strings through costly functions: those are computed once per distinct string anyway,
    and a shared column of their results would be strings to encode again."""
    if not expr.columns() or per_distinct_strings(expr, schema):
        return False
    for node in expr.walk():
        if isinstance(node, _UNSHARED):
            return False
        if isinstance(node, UserFunction) and node.param("deterministic") is False:
            return False
    return True


def _counts(exprs: Sequence[Expr]) -> dict[Any, int]:
    """How often each computed (not a column, literal or alias) subexpression occurs."""
    counts: dict[Any, int] = {}
    for expr in exprs:
        for node in expr.walk():
            if not isinstance(node, Column | Literal | Alias):
                counts[node.key()] = counts.get(node.key(), 0) + 1
    return counts


def shared_subexpressions(
    exprs: Sequence[Expr], schema: pa.Schema
) -> tuple[list[Expr], list[Expr]]:
    """The repeated subexpressions of ``exprs`` over ``schema``, each aliased to a new column
    (a later one may read an earlier one), and ``exprs`` reading those columns instead.

    Only the largest repeated subexpressions are shared (a repeat inside one of them is
    computed once with it). Expressions of strings alone that are computed once per distinct
    string (``LOWER(channel)``) are not.

    >>> from sabot_lab.expr import col
    >>> s = pa.schema([("x", pa.float64())])
    >>> shared_subexpressions([(col("x") + 1).alias("a"), ((col("x") + 1) * 2).alias("b")], s)
    ([(col("x") + 1).alias("__shared0")], [col("__shared0").alias("a"), (col("__shared0") * 2).alias("b")])
    >>> shared_subexpressions([col("x").alias("a"), (col("x") * 2).alias("b")], s)
    ([], [col("x").alias("a"), (col("x") * 2).alias("b")])
    >>> lower = col("t").str.lower()
    >>> shared_subexpressions([lower == "a", lower == "b"], pa.schema([("t", pa.string())]))[0]
    []
    """
    counts = _counts(exprs)
    names: dict[Any, str] = {}
    shared: list[Expr] = []
    taken = set(schema.names)

    def rewrite(expr: Expr, within: int = 1) -> Expr:
        """``expr`` reading the shared columns; ``within``: the occurrences of the shared
        expression it is part of (its parts occurring only there are not shared)."""
        key = expr.key()
        if key in names:
            return col(names[key])
        if counts.get(key, 0) > within and _shareable(expr, schema):
            inner = expr.with_args([rewrite(a, counts[key]) for a in expr.args])
            name = f"{_PREFIX}{len(shared)}"
            while name in taken:
                name += "_"
            taken.add(name)
            names[key] = name
            shared.append(inner.alias(name))
            return col(name)
        if not expr.args:
            return expr
        return expr.with_args([rewrite(a, within) for a in expr.args])

    rewritten = [rewrite(e) for e in exprs]
    if not shared:
        return [], list(exprs)
    return shared, rewritten


class SharedProjection:
    """``project_batch(batch, exprs, schema of exprs)``, each repeated subexpression of
    ``exprs`` computed once (see the module docstring); ``schema``: the input's."""

    def __init__(self, exprs: Sequence[Expr], schema: pa.Schema) -> None:
        self.output_schema = pa.schema([e.output_field(schema) for e in exprs])
        self.unshared = list(exprs)
        self.shared, self.exprs = shared_subexpressions(exprs, schema)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The projection of ``batch``; where a shared subexpression fails over every row
        (``100 // x`` repeated in ``CASE WHEN x <> 0 THEN ...`` branches), the expressions
        evaluated one by one, each CASE branch only over its own rows."""
        if not self.shared:
            return project_batch(batch, self.exprs, self.output_schema)
        arrays, names = list(batch.columns), list(batch.schema.names)
        try:
            for expr in self.shared:
                widened = pa.RecordBatch.from_arrays(arrays, names=names)
                arrays.append(evaluate(expr, widened))
                names.append(expr.param("name"))
        except ComputeError:
            return project_batch(batch, self.unshared, self.output_schema)
        widened = pa.RecordBatch.from_arrays(arrays, names=names)
        return project_batch(widened, self.exprs, self.output_schema)
