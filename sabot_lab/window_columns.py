"""The plans of window expressions (``Expr.over``) in a :class:`~sabot_lab.stream.Stream`'s
``select``, ``with_columns`` and ``filter``: each window expression is computed first, as a
hidden column of a :class:`~sabot_lab.logical.WindowFunctions` operator (on a stream that
never ends, an :class:`~sabot_lab.logical.OverWindow` where the windows follow event time:
:mod:`sabot_lab.logical.over_windows`), and the verb then reads that column in its place.

May import: the plan and expressions; not :mod:`sabot_lab.stream` at run time (it imports
this module), whose streams it extends through their methods.

>>> import sabot_lab as sl
>>> s = sl.from_pydict({"k": ["a", "a", "b"], "x": [1, 3, 5]})
>>> s.filter(sl.col("x") == sl.col("x").max().over("k")).collect().to_pydict()
{'k': ['a', 'b'], 'x': [3, 5]}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sabot_lab.expr import Expr, col
from sabot_lab.expr.nodes import Over, WindowFunction
from sabot_lab.logical import Project
from sabot_lab.logical.over_windows import window_operator

if TYPE_CHECKING:
    from sabot_lab.stream import Stream

__all__ = ["filter_windows", "project_windows"]


def project_windows(stream: Stream, items: Sequence[Expr], verb: str) -> Stream:
    """``stream`` with the columns ``items`` (some with window expressions), as ``verb``
    (``select``, ``with_columns``) computes them.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"k": ["a", "a", "b"], "x": [1, 3, 5]})
    >>> project_windows(s, [sl.col("x").sum().over("k")], "select").collect().to_pydict()
    {'x': [4, 4, 5]}
    """
    windowed, lifted = _lift(stream, items)
    return windowed._extend(Project(exprs=lifted), verb)


def filter_windows(stream: Stream, predicate: Expr) -> Stream:
    """The rows of ``stream`` where ``predicate`` (with window expressions) holds (SQL's
    ``QUALIFY``).

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"t": [3, 1, 2]})
    >>> filter_windows(s, sl.row_number().over(order_by="t") <= 2).collect().to_pydict()
    {'t': [1, 2]}
    """
    windowed, (lifted,) = _lift(stream, [predicate])
    return windowed.filter(lifted).select(*stream.columns)


def _lift(stream: Stream, items: Sequence[Expr]) -> tuple[Stream, list[Expr]]:
    """``stream`` with a hidden column per distinct window expression of ``items``, and
    ``items`` reading those columns instead (under their own output names)."""
    taken = set(stream.columns) | {e.output_name() for e in items}
    columns: dict[tuple[object, ...], str] = {}
    exprs: list[Expr] = []

    def lift(node: Expr) -> Expr:
        if isinstance(node, WindowFunction):  # outside over(): over all rows
            node = node.over()
        if isinstance(node, Over):
            key = node.key()
            if key not in columns:
                name = _fresh(taken)
                columns[key] = name
                exprs.append(node.alias(name))
            return col(columns[key])
        if not node.args or not node.is_window():
            return node
        return node.with_args([lift(a) for a in node.args])

    lifted = []
    for item in items:
        out = lift(item)
        lifted.append(
            out if out.output_name() == item.output_name() else out.alias(item.output_name())
        )
    return stream._extend(window_operator(stream.graph, stream.node_id, exprs), "over"), lifted


def _fresh(taken: set[str]) -> str:
    n = 0
    while f"__over{n}" in taken:
        n += 1
    taken.add(f"__over{n}")
    return f"__over{n}"
