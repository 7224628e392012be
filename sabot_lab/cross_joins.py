"""The plans of joins without equal keys: the cross join (``join(other, how="cross")``: every
row of one side with every row of the other) and the non-equi join (``join_where(other,
*predicates)``: the pairs of rows where the predicates hold), as Polars names them.

A cross join is a hash join on a constant key column added to both sides (and dropped after):
the right side is read first and held, each left batch meets all of it, vectorised by the
hash join's probe. The right side must be bounded; the left side streams. ``join_where`` is
the cross join filtered by its predicates (the optimizer pushes a predicate on one side's
columns below the join). On a cluster the right side is broadcast when small, else both go
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

from sabot_lab.errors import PlanError, SchemaError
from sabot_lab.expr import Expr, lit

if TYPE_CHECKING:
    from sabot_lab.stream import Stream

__all__ = ["cross_join", "join_where"]


def _fresh(name: str, taken: set[str]) -> str:
    found, n = name, 1
    while found in taken:
        n += 1
        found = f"{name}_{n}"
    return found


def cross_join(left: Stream, right: Stream, suffix: str) -> Stream:
    """Every row of ``left`` with every row of ``right`` (the right columns after the left
    ones, those whose name the left side has renamed with ``suffix``).

    >>> import sabot_lab as sl
    >>> a, b = sl.from_pydict({"x": [1, 2]}), sl.from_pydict({"x": [10]})
    >>> cross_join(a, b, "_right").collect().to_pydict()
    {'x': [1, 2], 'x_right': [10, 10]}
    """
    key = _fresh("__cross", {*left.columns, *right.columns})
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
    return crossed.filter(*predicates)
