"""``UNNEST`` onto :meth:`~sabot_lab.stream.Stream.explode`, as DuckDB reads it: in the
``SELECT`` list (``SELECT k, UNNEST(tags) AS tag FROM t``: a row per element, the other
columns repeated) and as a table joined to the rows it comes from (``FROM t CROSS JOIN
UNNEST(t.tags) AS u(tag)``). Rows whose list is null or empty give no row, as in DuckDB.

The list is computed into a helper column, exploded, and the ``UNNEST`` reads as that column.

>>> import sabot_lab as sl
>>> t = sl.from_pydict({"k": ["a", "b", "c"], "tags": [["x", "y"], [], None]})
>>> sl.sql("SELECT k, UNNEST(tags) AS tag FROM t", t=t).collect().to_pydict()
{'k': ['a', 'a'], 'tag': ['x', 'y']}
>>> sl.sql("SELECT k, tag FROM t CROSS JOIN UNNEST(t.tags) AS u(tag)", t=t).collect().to_pydict()
{'k': ['a', 'a'], 'tag': ['x', 'y']}
"""

from __future__ import annotations

from dataclasses import replace

from sqlglot import exp

from sabot_lab.sql.context import Context
from sabot_lab.sql.expressions import RowScope, output_name, translate
from sabot_lab.sql.relation import Binding, Relation

__all__ = ["unnest_join", "unnest_selected"]


def _exploded(
    relation: Relation, node: exp.Expr, ctx: Context, clause: str
) -> tuple[Relation, str]:
    """``relation`` with the list ``node`` computes exploded into a new column, and its name."""
    if relation.window is not None:
        raise ctx.unsupported("UNNEST of a window table function's rows", node)
    expr = translate(node, RowScope(relation, ctx, clause))
    name = ctx.fresh("unnest", relation.stream.columns)
    with ctx.building(node, clause):
        stream = relation.stream.with_columns(expr.alias(name)).explode(name, keep_nulls=False)
    return replace(relation, stream=stream), name


def unnest_selected(
    select: exp.Select, relation: Relation, ctx: Context
) -> tuple[exp.Select, Relation]:
    """``select`` with its ``UNNEST(list)`` (at most one in the ``SELECT`` list) replaced by
    a column of the returned relation: ``relation`` with the list exploded into it.

    >>> import sabot_lab as sl
    >>> from sabot_lab.sql.parse import parse
    >>> ctx = Context("SELECT UNNEST(xs) FROM t", {})
    >>> select = parse(ctx.text)
    >>> rows = Relation.of(sl.from_pydict({"xs": [[1, 2]]}), "t")
    >>> select, rows = unnest_selected(select, rows, ctx)
    >>> select.sql(), rows.stream.collect().to_pydict()
    ('SELECT _unnest0._unnest0 AS "UNNEST(xs)" FROM t', {'xs': [[1, 2], [1, 2]], '_unnest0': [1, 2]})
    """
    calls = [call for item in select.expressions for call in item.find_all(exp.Explode)]
    if not calls:
        return select, relation
    if len(calls) > 1:
        raise ctx.unsupported("more than one UNNEST in a SELECT list", calls[1])
    (call,) = calls
    relation, name = _exploded(relation, call.this, ctx, "UNNEST")
    hidden = Binding(name, name, name, star=False)  # named by itself alone, not listed by *
    relation = replace(relation, bindings=(*relation.bindings, hidden))
    select = select.copy()
    items = []
    for item in select.expressions:
        found = next(item.find_all(exp.Explode), None)
        if found is None:
            items.append(item)
            continue
        label = output_name(item)
        if found is item:
            items.append(exp.alias_(exp.column(name, table=name), label, quoted=True))
            continue
        found.replace(exp.column(name, table=name))
        items.append(item if isinstance(item, exp.Alias) else exp.alias_(item, label, quoted=True))
    select.set("expressions", items)
    return select, relation


def unnest_join(relation: Relation, node: exp.Join, ctx: Context) -> Relation:
    """``relation`` joined to ``UNNEST(list) [AS alias(name)]`` (a cross join, as ``FROM t,
    UNNEST(...)`` is): a row per element of the row's list, the element named ``name``
    (default ``unnest``), also as ``alias.name``."""
    call = node.this
    assert isinstance(call, exp.Unnest)
    if node.side or node.args.get("on") is not None or node.args.get("using"):
        raise ctx.unsupported("a JOIN UNNEST with ON, USING or a side (use CROSS JOIN)", node)
    if len(call.expressions) != 1 or call.args.get("offset"):
        raise ctx.unsupported("UNNEST of several lists or WITH ORDINALITY", call)
    relation, column = _exploded(relation, call.expressions[0], ctx, "CROSS JOIN UNNEST")
    alias = call.args.get("alias")
    qualifier = alias.name if alias is not None and alias.name else None
    names = alias.columns if alias is not None else []
    name = names[0].name if names else "unnest"
    binding = Binding(qualifier, name, column)
    return replace(relation, bindings=(*relation.bindings, binding))
