"""The plans of joins without equal keys: the cross join (``join(other, how="cross")``: every
row of one side with every row of the other) and the non-equi join (``join_where(other,
*predicates)``: the pairs of rows where the predicates hold), as Polars names them.

A cross join is a hash join on a constant key column added to both sides (and dropped after):
the right side is read first and held, each left batch meets all of it, vectorised by the
hash join's probe. The right side must be bounded; the left side streams. ``join_where`` is
the cross join filtered by its predicates (the optimizer pushes a predicate on one side's
columns below the join), or, where a predicate is an equality of a left and a right column of
one integer or string type, the hash join on those columns filtered by the others. On a cluster the right side is broadcast when small, else both go
to one task (they share the one key). May import: the plan and expressions; not
:mod:`sabot_lab.stream` at run time (it imports this module).

>>> import sabot_lab as sl
>>> sizes = sl.from_pydict({"size": ["S", "M"]})
>>> colors = sl.from_pydict({"color": ["red", "blue"]})
>>> sizes.join(colors, how="cross").sort(["size", "color"]).collect().to_pydict()
{'size': ['M', 'M', 'S', 'S'], 'color': ['blue', 'red', 'blue', 'red']}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from sabot_lab.column_ops import unused_name
from sabot_lab.errors import PlanError, SchemaError
from sabot_lab.expr import Expr, col, lit
from sabot_lab.expr.nodes import Binary, Column
from sabot_lab.logical import join_output_names

if TYPE_CHECKING:
    from sabot_lab.stream import Stream

__all__ = ["cross_join", "join_where"]


def cross_join(left: Stream, right: Stream, suffix: str) -> Stream:
    """Every row of ``left`` with every row of ``right`` (the right columns after the left
    ones, those whose name the left side has renamed with ``suffix``).

    >>> import sabot_lab as sl
    >>> a, b = sl.from_pydict({"x": [1, 2]}), sl.from_pydict({"x": [10]})
    >>> cross_join(a, b, "_right").collect().to_pydict()
    {'x': [1, 2], 'x_right': [10, 10]}
    """
    key = unused_name("__cross", {*left.columns, *right.columns})
    one = lit(0, pa.int8()).alias(key)
    joined = left.with_columns(one).join(right.with_columns(one), on=key, suffix=suffix)
    return joined.select(*[n for n in joined.columns if n != key])


def join_where(left: Stream, right: Stream, predicates: tuple[Expr, ...], suffix: str) -> Stream:
    """The pairs of a row of ``left`` and a row of ``right`` where every predicate is true
    (null counts as false, as in SQL ``ON``); the predicates name a right column whose name
    the left side has with ``suffix`` (``col("x_right")``), as the output does.

    >>> import sabot_lab as sl
    >>> trips = sl.from_pydict({"t": [1, 5, 9]})
    >>> shifts = sl.from_pydict({"start": [0, 6], "end": [6, 12]})
    >>> on_shift = join_where(trips, shifts, (sl.col("t") >= sl.col("start"), sl.col("t") < sl.col("end")), "_right")
    >>> on_shift.sort("t").collect().to_pydict()
    {'t': [1, 5, 9], 'start': [0, 0, 6], 'end': [6, 6, 12]}
    """
    if not predicates:
        raise PlanError(
            "join_where() needs at least one predicate, e.g. col('t') < col('end'); "
            "use join(other, how='cross') for every pair"
        )
    for predicate in predicates:
        if not isinstance(predicate, Expr):
            raise PlanError(f"join_where() takes expressions, got {predicate!r}")
    crossed = cross_join(left, right, suffix)
    for predicate in predicates:
        field = predicate.output_field(crossed.schema)
        if not pa.types.is_boolean(field.type) and not pa.types.is_null(field.type):
            raise SchemaError(
                f"join_where() predicate {predicate!r} has type {field.type}, expected bool"
            )
    conditions = [c for p in predicates for c in _conjuncts(p)]
    keys = _equal_keys(conditions, left, right, suffix)
    if not keys:
        return crossed.filter(*predicates)
    rest = [c for c in conditions if not any(c is k for k, _, _ in keys)]
    taken = {*left.columns, *right.columns}
    copies: list[str] = []
    for _, _, name in keys:
        copies.append(unused_name(f"__key_{name}", taken | set(copies)))
    keyed = right.with_columns(
        *[col(r).alias(c) for (_, _, r), c in zip(keys, copies, strict=True)]
    )
    joined = left.join(keyed, left_on=[k for _, k, _ in keys], right_on=copies, suffix=suffix)
    return joined.filter(*rest) if rest else joined


def _conjuncts(predicate: Expr) -> list[Expr]:
    if isinstance(predicate, Binary) and predicate.op == "and":
        return [c for arg in predicate.args for c in _conjuncts(arg)]
    return [predicate]


def _equal_keys(
    conditions: list[Expr], left: Stream, right: Stream, suffix: str
) -> list[tuple[Expr, str, str]]:
    """The conditions that equal a left column with a right one (as the output names it) of
    the same integer or string type, with the two columns' names in their inputs."""
    named = dict(
        zip(join_output_names(right.columns, left.columns, suffix), right.columns, strict=True)
    )
    found: list[tuple[Expr, str, str]] = []
    for condition in conditions:
        if not (isinstance(condition, Binary) and condition.op == "eq"):
            continue
        names = [a.param("name") for a in condition.args if isinstance(a, Column)]
        if len(names) != 2:
            continue
        for first, second in (names, names[::-1]):
            if first in left.columns and second in named and second not in left.columns:
                left_type = left.schema.field(first).type
                right_type = right.schema.field(named[second]).type
                if left_type == right_type and _hashed_exactly(left_type):
                    found.append((condition, first, named[second]))
                break
    return found


def _hashed_exactly(t: pa.DataType) -> bool:
    """Types whose equal values a hash join matches exactly as ``==`` does (not floats:
    ``-0.0 == 0.0``)."""
    return pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t)
