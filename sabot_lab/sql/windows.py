"""Window functions in SQL: ``f(...) OVER (PARTITION BY ... ORDER BY ... ROWS|RANGE ...)``
becomes :meth:`Expr.over <sabot_lab.expr.Expr.over>` of the function's expression, with
SQL's default frame made explicit (a range frame over a timestamp, ``RANGE BETWEEN
INTERVAL '10' SECOND PRECEDING AND CURRENT ROW``, counts its offsets in microseconds) (with ``ORDER BY``: up to the current row's last peer;
without: the whole partition). A window named in the query's ``WINDOW w AS (...)`` clause
(``OVER w``, ``OVER (w ROWS ...)``) is written out first. ``QUALIFY`` is a filter on the
selected window columns (:mod:`sabot_lab.sql.select`).

May import: the expressions and the SQL translation around it (:mod:`sabot_lab.sql.expressions`
imports this module's rule when it translates).

>>> import sabot_lab as sl
>>> t = sl.from_pydict({"k": ["a", "a", "b"], "x": [1, 2, 5]})
>>> sl.sql("SELECT k, x, SUM(x) OVER (PARTITION BY k ORDER BY x) AS s FROM t ORDER BY x", t=t).collect().to_pydict()
{'k': ['a', 'a', 'b'], 'x': [1, 2, 5], 's': [1, 3, 5]}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from sabot_lab.expr import Expr
from sabot_lab.expr.windows import (
    cume_dist,
    dense_rank,
    nth_value,
    ntile,
    percent_rank,
    rank,
    row_number,
)
from sabot_lab.sql.window_tables import interval
from sabot_lab.window_specs import duration_us

if TYPE_CHECKING:
    from sabot_lab.sql.expressions import Scope

__all__ = ["window_expression"]

_RANKS: dict[type[exp.Expr], Callable[[], Expr]] = {
    exp.RowNumber: row_number,
    exp.Rank: rank,
    exp.DenseRank: dense_rank,
    exp.PercentRank: percent_rank,
    exp.CumeDist: cume_dist,
}


def window_expression(node: exp.Window, scope: Scope) -> Expr:
    """The expression of a window function call (``node``), its values read in ``scope``.

    >>> import sabot_lab as sl
    >>> t = sl.from_pydict({"t": [3, 1, 2]})
    >>> sl.sql("SELECT t, LAG(t, 1, 0) OVER (ORDER BY t) AS p FROM t ORDER BY t", t=t).collect().to_pydict()
    {'t': [1, 2, 3], 'p': [0, 1, 2]}
    """
    from sabot_lab.sql.expressions import RowScope, translate  # it dispatches to this rule

    ctx = scope.ctx
    if not isinstance(scope, RowScope):
        raise ctx.unsupported(
            "a window function in a grouped query (group in a subquery, then use the window "
            "function in the outer query)",
            node,
        )
    node = _named(node, scope)
    order = node.args.get("order")
    keys = order.expressions if order is not None else []
    frame = _frame(node, bool(keys), scope)
    function = _function(node.this, scope)
    return function.over(
        [translate(p, scope) for p in node.args.get("partition_by") or []],
        order_by=[translate(k.this, scope) for k in keys],
        descending=[bool(k.args.get("desc")) for k in keys],
        nulls_last=[not k.args.get("nulls_first") for k in keys],
        frame=frame,
    )


def _named(node: exp.Window, scope: Scope) -> exp.Window:
    """``node`` with the window it names (``OVER w``, or ``OVER (w ROWS ...)`` adding a frame
    or an order) written out from the query's ``WINDOW w AS (...)`` clause.

    >>> import sabot_lab as sl
    >>> t = sl.from_pydict({"k": [1, 1, 2], "x": [1, 2, 5]})
    >>> q = "SELECT SUM(x) OVER w AS s FROM t WINDOW w AS (PARTITION BY k ORDER BY x) ORDER BY x"
    >>> sl.sql(q, t=t).collect().to_pydict()
    {'s': [1, 3, 5]}
    """
    alias = node.args.get("alias")
    if alias is None:
        return node
    select = node.find_ancestor(exp.Select)
    named = {w.this.name.lower(): w for w in (select.args.get("windows") or [])} if select else {}
    base = named.get(alias.name.lower())
    if base is None:
        raise scope.ctx.error(
            f"the window {alias.name} is not defined: add WINDOW {alias.name} AS (PARTITION BY "
            "... ORDER BY ...) after the query's FROM, WHERE and GROUP BY",
            node,
        )
    if base is not node:
        base = _named(base, scope)  # (a named window may build on another)
    if node.args.get("partition_by"):
        raise scope.ctx.error(f"OVER ({alias.name} PARTITION BY ...) cannot partition again", node)
    return exp.Window(
        this=node.this,
        partition_by=base.args.get("partition_by"),
        order=node.args.get("order") or base.args.get("order"),
        spec=node.args.get("spec") or base.args.get("spec"),
    )


def _function(node: exp.Expr, scope: Scope) -> Expr:
    from sabot_lab.sql.expressions import aggregate, as_written, translate  # it dispatches here

    ctx = scope.ctx
    if isinstance(node, exp.IgnoreNulls | exp.RespectNulls):
        raise ctx.unsupported("IGNORE NULLS and RESPECT NULLS in window functions", node)
    ranking = _RANKS.get(type(node))
    if ranking is not None:
        return ranking()
    if isinstance(node, exp.Ntile):
        return ntile(_constant(node.this, node, scope))
    if isinstance(node, exp.Lag | exp.Lead):
        offset = (
            1 if node.args.get("offset") is None else _constant(node.args["offset"], node, scope, 0)
        )
        default = node.args.get("default")
        value = translate(node.this, scope)
        fill = None if default is None else translate(default, scope)
        return value.shift(offset if isinstance(node, exp.Lag) else -offset, fill_value=fill)
    if isinstance(node, exp.FirstValue):
        return translate(node.this, scope).first()
    if isinstance(node, exp.LastValue):
        return translate(node.this, scope).last()
    if isinstance(node, exp.NthValue):
        return nth_value(
            translate(node.this, scope), _constant(node.args.get("offset"), node, scope)
        )
    if isinstance(node, exp.Sum | exp.Avg | exp.Min | exp.Max | exp.Count):
        return aggregate(node, scope)
    raise ctx.unsupported(f"the window function {as_written(node)}", node)


def _constant(value: exp.Expr | None, where: exp.Expr, scope: Scope, least: int = 1) -> int:
    from sabot_lab.sql.expressions import as_written  # it dispatches to this module's rule

    if not (isinstance(value, exp.Literal) and value.is_int and int(value.this) >= least):
        raise scope.ctx.unsupported(
            f"{as_written(where)} with an argument that is not a whole number of {least} or more",
            where,
        )
    return int(value.this)


def _frame(node: exp.Window, ordered: bool, scope: Scope) -> tuple[str, Any, Any] | None:
    """The frame written in ``node``, or SQL's default one."""
    spec = node.args.get("spec")
    if spec is None:
        return ("range", None, 0) if ordered else None
    if spec.args.get("exclude"):
        raise scope.ctx.unsupported("EXCLUDE in a window frame", spec)
    kind = str(spec.args.get("kind") or "").lower()
    start = _bound(spec.args.get("start"), spec.args.get("start_side"), spec, scope)
    end = _bound(spec.args.get("end") or "CURRENT ROW", spec.args.get("end_side"), spec, scope)
    if kind not in ("rows", "range"):
        raise scope.ctx.unsupported(f"{kind.upper()} window frames", spec)
    return (kind, start, end)


def _bound(value: Any, side: Any, spec: exp.Expr, scope: Scope) -> int | None:
    """A frame bound as an offset from the current row (None: unbounded)."""
    if isinstance(value, str):
        text = value.upper()
        if text == "UNBOUNDED":
            return None
        if text == "CURRENT ROW":
            return 0
    sign = -1 if str(side).lower() == "preceding" else 1
    if isinstance(value, exp.Literal) and value.is_int:
        return sign * int(value.this)
    if isinstance(value, exp.Interval):  # of a range frame over a timestamp: microseconds
        return sign * duration_us(interval(value, scope.ctx))
    raise scope.ctx.unsupported(
        f"the window frame bound {value!s} (a whole number of rows, or an INTERVAL)", spec
    )
