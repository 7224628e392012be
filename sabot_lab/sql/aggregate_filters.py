"""Aggregates with a ``FILTER (WHERE condition)`` clause, as the aggregates of a ``CASE``.

``SUM(x) FILTER (WHERE c)`` is ``SUM(CASE WHEN c THEN x END)``: the rows where ``c`` is not
true add nulls, which an aggregate skips; ``COUNT(*) FILTER (WHERE c)`` counts
``CASE WHEN c THEN 1 END``. The same inside ``DISTINCT`` and under ``OVER``.

>>> from sabot_lab.sql.context import Context
>>> from sabot_lab.sql.parse import parse
>>> text = "SELECT COUNT(*) FILTER (WHERE x > 1) AS n, SUM(DISTINCT x) FILTER (WHERE y) FROM t"
>>> [e.sql() for e in lower_aggregate_filters(parse(text), Context(text, {})).expressions]
['COUNT(CASE WHEN x > 1 THEN 1 END) AS n', 'SUM(DISTINCT CASE WHEN y THEN x END)']
"""

from __future__ import annotations

from sqlglot import exp

from sabot_lab.sql.context import Context

__all__ = ["lower_aggregate_filters"]


def lower_aggregate_filters(select: exp.Select, ctx: Context) -> exp.Select:
    """``select`` with every ``aggregate FILTER (WHERE ...)`` written as a ``CASE``."""
    if select.find(exp.Filter) is None:
        return select
    lowered = select.transform(lambda node: _unfiltered(node, ctx))
    assert isinstance(lowered, exp.Select)  # only nodes within it are replaced
    return lowered


def _unfiltered(node: exp.Expr, ctx: Context) -> exp.Expr:
    if not isinstance(node, exp.Filter):
        return node
    call, where = node.this, node.expression
    if not isinstance(call, exp.AggFunc):
        raise ctx.error("FILTER (WHERE ...) follows an aggregate such as SUM(x)", node)
    call = call.copy()
    distinct = call.this if isinstance(call.this, exp.Distinct) else None
    holder = distinct if distinct is not None else call
    values = holder.expressions if distinct is not None else [call.this]
    if len(values) != 1:
        raise ctx.unsupported("FILTER (WHERE ...) on an aggregate of several arguments", node)
    value = values[0]
    if value is None or isinstance(value, exp.Star):
        value = exp.Literal.number(1)
    case = exp.Case(ifs=[exp.If(this=where.this.copy(), true=value.copy())])
    if distinct is not None:
        distinct.set("expressions", [case])
    else:
        call.set("this", case)
    return call
