"""The plans of a :class:`~sabot_lab.stream.Stream`'s reshaping verbs, named and defined as
Polars' are: ``explode`` (list elements into rows), ``unnest`` (struct fields into columns),
``unpivot`` (columns into rows) and ``pivot`` (rows into columns).

Each function checks the verb's arguments and builds the plan from existing operators: a
:class:`~sabot_lab.logical.Map` running :mod:`sabot_lab.engine.explode`'s batch functions,
unions of projections, and two group-bys. May import: the plan, the engine's batch functions
and expressions; not :mod:`sabot_lab.stream` at run time (it imports this module), whose
streams it extends through their methods.

>>> import sabot_lab as sl
>>> wide = sl.from_pydict({"id": [1, 2], "a": [10, 20], "b": [30, None]})
>>> long = wide.unpivot(index="id")
>>> long.sort(["id", "variable"]).collect().to_pydict()
{'id': [1, 1, 2, 2], 'variable': ['a', 'b', 'a', 'b'], 'value': [10, 30, 20, None]}
>>> long.pivot(on="variable", index="id", values="value").sort("id").collect().to_pydict()
{'id': [1, 2], 'a': [10, 20], 'b': [30, None]}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.explode import Explode, Unnest
from sabot_lab.errors import PlanError, SchemaError, column_not_found
from sabot_lab.expr import Expr, col, count, lit, when
from sabot_lab.logical import Map

if TYPE_CHECKING:
    from sabot_lab.stream import Stream

__all__ = ["PivotAgg", "explode", "pivot", "pivot_name", "unnest", "unpivot"]

PivotAgg: TypeAlias = Literal["first", "last", "sum", "min", "max", "mean", "len"]
_PIVOT_AGGS: tuple[str, ...] = ("first", "last", "sum", "min", "max", "mean", "len")
_ZERO_WHEN_EMPTY = ("sum", "len")  # as Polars: no value sums to 0 and counts 0 rows


def _column_list(stream: Stream, names: str | Sequence[str] | None, verb: str) -> list[str]:
    found = [] if names is None else [names] if isinstance(names, str) else list(names)
    for name in found:
        if not isinstance(name, str):
            raise PlanError(f"{verb}() takes column names, got {name!r}")
        if name not in stream.columns:
            raise column_not_found(name, stream.columns)
    return found


def explode(
    stream: Stream, columns: str | Sequence[str], empty_as_null: bool, keep_nulls: bool
) -> Stream:
    """``stream`` with one row per element of the list ``columns`` (see :class:`Explode`).

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"k": ["a", "b"], "xs": [[1, 2], []]})
    >>> explode(s, "xs", empty_as_null=True, keep_nulls=True).collect().to_pydict()
    {'k': ['a', 'a', 'b'], 'xs': [1, 2, None]}
    """
    names = _column_list(stream, columns, "explode")
    if not names:
        raise PlanError("explode() needs at least one list column")
    fn = Explode(tuple(names), empty_as_null, keep_nulls)
    kept = [n for n in stream.columns if n not in names]
    return stream._extend(Map(fn=fn, preserves=kept), "explode", learned=fn.schema(stream.schema))


def unnest(stream: Stream, columns: str | Sequence[str]) -> Stream:
    """``stream`` with the struct ``columns`` as their fields (see :class:`Unnest`).

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"k": [1], "pt": [{"x": 1.0, "y": 2.0}]})
    >>> unnest(s, "pt").collect().to_pydict()
    {'k': [1], 'x': [1.0], 'y': [2.0]}
    """
    names = _column_list(stream, columns, "unnest")
    if not names:
        raise PlanError("unnest() needs at least one struct column")
    fn = Unnest(tuple(names))
    kept = [n for n in stream.columns if n not in names]
    return stream._extend(Map(fn=fn, preserves=kept), "unnest", learned=fn.schema(stream.schema))


def unpivot(
    stream: Stream,
    on: str | Sequence[str] | None,
    index: str | Sequence[str] | None,
    variable_name: str,
    value_name: str,
) -> Stream:
    """For each row and each ``on`` column, a row of the ``index`` columns, the column's name
    (``variable_name``) and its value (``value_name``, of the type all ``on`` columns cast
    to); ``on=None``: every column not in ``index``. A union of one projection per column: it
    streams.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"id": [1], "a": [2], "b": [3.5]})
    >>> unpivot(s, ["a", "b"], "id", "variable", "value").collect().to_pydict()
    {'id': [1, 1], 'variable': ['a', 'b'], 'value': [2.0, 3.5]}
    """
    keys = _column_list(stream, index, "unpivot")
    names = _column_list(stream, on, "unpivot")
    if on is None:
        names = [n for n in stream.columns if n not in keys]
    if not names:
        raise PlanError("unpivot() has no column to unpivot: name some with on=[...]")
    fields = [stream.schema.field(n) for n in names]
    plain = [  # a dictionary-encoded column joins the others as its values
        f.type.value_type if pa.types.is_dictionary(f.type) else f.type for f in fields
    ]
    try:
        common = pa.unify_schemas(
            [pa.schema([("v", t)]) for t in plain], promote_options="permissive"
        ).field("v")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        kinds = ", ".join(f"{f.name} {f.type}" for f in fields)
        raise SchemaError(
            f"unpivot() puts the values of {kinds} in one column, and their types have no "
            "common type; cast them first, e.g. with_columns(col(...).cast('string'))"
        ) from exc
    parts = [
        stream.select(
            *keys, lit(n).alias(variable_name), col(n).cast(common.type).alias(value_name)
        )
        for n in names
    ]
    return parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]


def pivot_name(value: Any) -> str:
    """The column name Polars gives an ``on`` value in a pivot.

    >>> [pivot_name(v) for v in ("a", 1, 2.5, True, None)]
    ['a', '1', '2.5', 'true', 'null']
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def pivot(
    stream: Stream,
    on: str,
    index: str | Sequence[str] | None,
    values: str | Sequence[str] | None,
    aggregate_function: PivotAgg,
    on_columns: Sequence[Any] | None,
    separator: str,
) -> Stream:
    """One row per ``index`` value and one column per value of ``on`` (and ``values`` column):
    the ``aggregate_function`` of the ``values`` of the rows with that index and ``on``
    value (null where there is none, or, as Polars gives them, 0 for ``sum`` and ``len``;
    ``sum`` of nulls is 0 too). The columns are the ``on_columns`` given, else the
    values of ``on`` in the order they first appear (the stream is run once to find them, so
    it must be bounded). Columns are named after the value (:func:`pivot_name`), prefixed by
    the values column and ``separator`` when there are several values columns.

    Planned as a group-by on the index and ``on`` (the aggregate), then a group-by on the
    index taking each ``on`` value's aggregate into its column.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"day": [1, 1, 2], "sym": ["A", "B", "A"], "px": [1.0, 2.0, 3.0]})
    >>> pivot(s, "sym", "day", "px", "sum", None, "_").sort("day").collect().to_pydict()
    {'day': [1, 2], 'A': [1.0, 3.0], 'B': [2.0, 0.0]}
    """
    if aggregate_function not in _PIVOT_AGGS:
        raise PlanError(
            f"pivot(aggregate_function={aggregate_function!r}): use one of {', '.join(_PIVOT_AGGS)}"
        )
    if not isinstance(on, str):
        raise PlanError(f"pivot(on=...) takes one column name, got {on!r}")
    _column_list(stream, on, "pivot")
    keys = _column_list(stream, index, "pivot")
    measured = _column_list(stream, values, "pivot")
    if index is None:
        keys = [n for n in stream.columns if n != on and n not in measured]
    if values is None:
        measured = [n for n in stream.columns if n != on and n not in keys]
    if not measured:
        raise PlanError("pivot() has no values column: name one with values=...")
    if on in keys or on in measured:
        raise PlanError(f"pivot(on={on!r}) is also an index or values column; pick another")
    if on_columns is None:
        if not stream.bounded:
            raise PlanError(
                "pivot() makes one column per value of on=, and this stream is unbounded: its "
                "values are never all known. Pass on_columns=[...], or pivot a bounded part "
                "(head(n), a window's output)"
            )
        on_columns = pc.unique(stream.select(on).collect().column(0)).to_pylist()
    temporary = [f"__pivot_{i}" for i in range(len(measured))]
    grouped = stream.group_by(*keys, on).agg(
        *[
            _aggregate(aggregate_function, v).alias(t)
            for v, t in zip(measured, temporary, strict=True)
        ]
    )
    columns = []
    for value, column in zip(measured, temporary, strict=True):
        for item in on_columns:
            match = col(on).is_null() if item is None else col(on) == lit(item)
            name = pivot_name(item)
            if len(measured) > 1:
                name = f"{value}{separator}{name}"
            cell = when(match).then(col(column)).max()
            if aggregate_function in _ZERO_WHEN_EMPTY:
                cell = cell.fill_null(0)
            columns.append(cell.alias(name))
    return grouped.group_by(*keys).agg(*columns) if keys else grouped.agg(*columns)


def _aggregate(name: str, column: str) -> Expr:
    if name == "len":
        return count()
    aggregate: Expr = getattr(col(column), name)()
    return aggregate
