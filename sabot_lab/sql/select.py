"""Queries onto streams: ``SELECT [DISTINCT] ... FROM ... [JOIN ...] WHERE ... GROUP BY ...
HAVING ... ORDER BY ... LIMIT ... OFFSET ...``, ``WITH`` queries, ``UNION [ALL]``, ``EXCEPT``,
``INTERSECT``, subqueries in ``FROM`` and ``UNNEST`` (:mod:`sabot_lab.sql.unnest`). Each clause becomes the
:class:`~sabot_lab.stream.Stream` verb that does the same (``filter``, ``join``,
``group_by().agg()``, ``select``, ``distinct``, ``sort``, ``limit``, ``union``), so the
optimizer sees the whole query.

>>> import sabot_lab as sl
>>> from sabot_lab.sql.context import Context
>>> from sabot_lab.sql.parse import parse
>>> t = sl.from_pydict({"k": ["a", "b", "a"], "x": [1, 2, 3]})
>>> ctx = Context("SELECT k, SUM(x) AS s FROM t GROUP BY k ORDER BY s DESC", {"t": t})
>>> query_relation(parse(ctx.text), ctx).stream.collect().to_pydict()
{'k': ['a', 'b'], 's': [4, 2]}
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlglot import exp

from sabot_lab.expr import Expr, col, lit
from sabot_lab.expr.nodes import Column
from sabot_lab.sql.aggregate_filters import lower_aggregate_filters
from sabot_lab.sql.context import Context, find_name
from sabot_lab.sql.expressions import (
    RowScope,
    Scope,
    contains_aggregate,
    output_name,
    translate,
)
from sabot_lab.sql.group_windows import lower_group_windows
from sabot_lab.sql.grouping import Grouping, substitute_aliases
from sabot_lab.sql.joins import conjuncts, filtered, is_listed, join_listed, join_relations
from sabot_lab.sql.parse import WindowFunction, written
from sabot_lab.sql.relation import Relation
from sabot_lab.sql.subqueries import (
    filter_subqueries,
    grouped_subqueries,
    has_subquery,
    row_subqueries,
)
from sabot_lab.sql.unnest import unnest_join, unnest_selected
from sabot_lab.sql.window_tables import window_relation
from sabot_lab.stream import Stream

__all__ = ["query_relation", "table_relation", "unique_names"]

_SELECT_CLAUSES = {
    "expressions", "from_", "joins", "where", "group", "having", "order", "limit", "offset",
    "distinct", "with_", "qualify", "windows",
}  # fmt: skip
_SET_CLAUSES = {"this", "expression", "distinct", "with_", "order", "limit", "offset"}


@dataclass(frozen=True)
class Output:
    """A column of a query's result: its name, its expression and where it was written."""

    name: str
    expr: Expr
    node: exp.Expr


@dataclass(frozen=True)
class SortKey:
    """An ``ORDER BY`` key: the output (or helper) column it sorts by, and how."""

    name: str
    descending: bool
    nulls_first: bool


def query_relation(node: exp.Expr, ctx: Context) -> Relation:
    """The result of a query (``SELECT``, ``UNION``, a query in parentheses) as a relation
    whose columns are named by the query's output names."""
    with_ = node.args.get("with_")
    if with_ is not None:
        ctx = _with_queries(with_, ctx)
    if isinstance(node, exp.Select):
        return _select(lower_aggregate_filters(lower_group_windows(node, ctx), ctx), ctx)
    if isinstance(node, exp.Except | exp.Intersect):
        return _except_intersect(node, ctx)
    if isinstance(node, exp.Union):
        return _union(node, ctx)
    if isinstance(node, exp.Subquery):
        return _ordered(node, query_relation(node.this, ctx).stream, ctx)
    raise ctx.unsupported(f"the {node.key.upper()} statement (sl.sql() runs queries)", node)


def _check_clauses(node: exp.Expr, allowed: set[str], ctx: Context, prefix: str = "") -> None:
    for key, value in node.args.items():
        if value and key not in allowed:
            raise ctx.unsupported(f"{prefix}{key.rstrip('_').upper().replace('_', ' ')}", node)


def _with_queries(node: exp.With, ctx: Context) -> Context:
    if node.args.get("recursive"):
        raise ctx.unsupported("WITH RECURSIVE", node)
    for cte in node.expressions:
        stream = query_relation(cte.this, ctx).stream
        names = [c.name for c in cte.args["alias"].columns] if cte.args.get("alias") else []
        if len(names) > len(stream.columns):
            raise ctx.error(
                f"{cte.alias} names {len(names)} columns but its query has {len(stream.columns)}",
                cte,
            )
        if names:
            stream = stream.rename(dict(zip(stream.columns, names, strict=False)))
        ctx = ctx.with_tables({cte.alias: stream})
    return ctx


# ----------------------------------------------------------------------------- FROM


def table_relation(node: exp.Expr, ctx: Context) -> Relation:
    """One item of ``FROM`` or ``JOIN``: a table, a window table function, a subquery."""
    alias = node.alias or None
    alias_node = node.args.get("alias")
    names = [c.name for c in alias_node.columns] if alias_node is not None else []
    if isinstance(node, exp.Subquery):
        relation = query_relation(node.this, ctx).requalified(alias)
    elif isinstance(node, exp.Table):
        call = node.this
        if isinstance(call, exp.Anonymous) and call.name.upper() == "TABLE":
            call = call.expressions[0] if len(call.expressions) == 1 else call
        if isinstance(call, WindowFunction):
            if names:
                raise ctx.unsupported("column names after a window table function's alias", node)
            return window_relation(call, alias, ctx)
        if not isinstance(call, exp.Identifier):
            raise ctx.unsupported(f"the table function {written(call) or call.sql()}", node)
        relation = Relation.of(ctx.table(node), alias or node.name)
    else:
        raise ctx.unsupported(f"{node.sql()} in FROM", node)
    return relation.requalified(alias, names, node, ctx) if names else relation


def _from(select: exp.Select, ctx: Context) -> Relation:
    """The ``FROM`` clause with its joins, filtered by ``WHERE``."""
    from_ = select.args.get("from_")
    if from_ is None:
        raise ctx.unsupported("a SELECT without FROM", select)
    where = select.args.get("where")
    conditions: list[exp.Expr] = []
    nested: list[exp.Expr] = []  # conditions holding subqueries, applied after the joins
    for condition in conjuncts(where.this if where is not None else None):
        (nested if has_subquery(condition) else conditions).append(condition)
    relation = table_relation(from_.this, ctx)
    joins = list(select.args.get("joins") or [])
    while joins:
        join = joins.pop(0)
        if isinstance(join.this, exp.Unnest):
            relation = unnest_join(relation, join, ctx)
        elif is_listed(join):  # the run of FROM-list items: joined in an order keys connect
            run = [join]
            while joins and is_listed(joins[0]):
                run.append(joins.pop(0))
            items = [(j, table_relation(j.this, ctx)) for j in run]
            relation, conditions = join_listed(relation, items, conditions, ctx)
        else:
            relation, conditions = join_relations(
                relation, join, table_relation(join.this, ctx), conditions, ctx
            )
    return filter_subqueries(filtered(relation, conditions, ctx, "WHERE"), nested, ctx)


# ----------------------------------------------------------------------------- SELECT


def _select(select: exp.Select, ctx: Context) -> Relation:
    _check_clauses(select, _SELECT_CLAUSES, ctx)
    distinct = select.args.get("distinct")
    if distinct is not None and distinct.args.get("on") is not None:
        raise ctx.unsupported("DISTINCT ON", distinct)
    if not select.expressions:
        raise ctx.error("SELECT needs at least one column", select)
    relation = _from(select, ctx)
    group, having = select.args.get("group"), select.args.get("having")
    unnested = next(select.find_all(exp.Explode), None)
    if unnested is not None and (group is not None or having is not None):
        raise ctx.unsupported("UNNEST in a grouped query (unnest in a subquery first)", unnested)
    select, relation = unnest_selected(select, relation, ctx)
    items = select.expressions
    order = select.args.get("order")
    sort_nodes = [o.this for o in order.expressions] if order is not None else []
    grouped = group is not None or having is not None
    grouped = grouped or any(contains_aggregate(n) for n in [*items, *sort_nodes])
    condition_node = having.this if having is not None else None
    values: list[Stream] = []  # one-row subquery results, joined with the groups
    if grouped:
        relation, items, condition_node, values = grouped_subqueries(
            relation, items, condition_node, ctx
        )
    else:
        relation, items = row_subqueries(relation, items, ctx)
    scope: Scope
    if grouped:
        if group is not None:
            _check_clauses(group, {"expressions", "all"}, ctx, "GROUP BY ")
            if not group.expressions and not group.args.get("all"):
                raise ctx.error("incomplete GROUP BY: name the keys", group)
        grouping = Grouping(relation, group, items, ctx)
        scope = grouping
    elif relation.window is not None:
        raise ctx.error(
            f"the rows of {relation.window.node.kind}(...) are aggregated per window: "
            "GROUP BY window_start, window_end (and any other keys)",
            relation.window.node,
        )
    else:
        scope = RowScope(relation, ctx, "SELECT")
    outputs = _outputs(items, relation, scope, grouped, ctx)
    condition = None
    if condition_node is not None:
        condition = translate(substitute_aliases(condition_node, items, relation), scope)
    keys, helpers = _sort_keys(order, outputs, scope, distinct is not None, ctx)
    qualify = select.args.get("qualify")
    if qualify is not None and grouped:
        raise ctx.unsupported(
            "QUALIFY in a grouped query (group in a subquery, then QUALIFY the outer query)",
            qualify,
        )
    if qualify is not None:  # a helper column the rows are filtered on
        taken = [*(o.name for o in outputs), *(h.name for h in helpers)]
        condition_qualify = translate(substitute_aliases(qualify.this, items, relation), scope)
        helpers.insert(0, Output(ctx.fresh("qualify", taken), condition_qualify, qualify))
    base = relation.stream
    if grouped:
        base = grouping.build(select)
        for value in values:
            with ctx.building(select, "a subquery"):
                base = base.join(value, how="cross")
        if condition is not None:
            with ctx.building(having, "HAVING"):
                base = base.filter(condition)
    stream = _arrange(
        base, outputs, helpers, keys, distinct is not None, select, ctx, qualify is not None
    )
    return Relation.of(stream)


def _outputs(
    items: Sequence[exp.Expr], relation: Relation, scope: Scope, grouped: bool, ctx: Context
) -> list[Output]:
    outputs: list[Output] = []
    for node in items:
        star = node if isinstance(node, exp.Star) else None
        if isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
            star = node.this
        if star is None:
            outputs.append(Output(output_name(node), translate(node, scope), node))
            continue
        if any(star.args.values()):
            raise ctx.unsupported("* with EXCLUDE, REPLACE or RENAME", node)
        if grouped:
            raise ctx.error("SELECT * in a grouped query: list the group keys and aggregates", node)
        qualifier = node.table if isinstance(node, exp.Column) else None
        for binding in relation.star(qualifier or None, node, ctx):
            outputs.append(Output(binding.name, col(str(binding.column)), node))
    return [
        replace(o, name=n)
        for o, n in zip(outputs, unique_names([o.name for o in outputs]), strict=True)
    ]


def unique_names(names: Sequence[str]) -> list[str]:
    """Result column names made unique as DuckDB does: a repeated name gets ``_1``, ``_2``…

    >>> unique_names(["i", "s", "i", "s", "i_1", "X", "x"])
    ['i', 's', 'i_1', 's_1', 'i_1_1', 'X', 'x_1']
    """
    used: set[str] = set()
    counts: dict[str, int] = {}
    unique = []
    for name in names:
        candidate = name
        while candidate.lower() in used:
            counts[name.lower()] = counts.get(name.lower(), 0) + 1
            candidate = f"{name}_{counts[name.lower()]}"
        used.add(candidate.lower())
        unique.append(candidate)
    return unique


def _sort_keys(
    order: exp.Order | None, outputs: Sequence[Output], scope: Scope, distinct: bool,
    ctx: Context,
) -> tuple[list[SortKey], list[Output]]:  # fmt: skip
    """The ``ORDER BY`` keys as output columns, and the helper columns computed for keys that
    are not in the result (an output position, an output name, or any expression)."""
    keys: list[SortKey] = []
    helpers: list[Output] = []
    names = [o.name for o in outputs]
    for ordered in order.expressions if order is not None else []:
        node = ordered.this
        if isinstance(node, exp.Literal) and node.is_int:
            position = int(node.this)
            if not 1 <= position <= len(outputs):
                raise ctx.error(f"ORDER BY {position}: the result has {len(outputs)} columns", node)
            name = names[position - 1]
        elif isinstance(node, exp.Column) and not node.table and find_name(node.name, names):
            name = str(find_name(node.name, names))
        else:
            expr = translate(node, scope)
            same = [o.name for o in [*outputs, *helpers] if o.expr.equals(expr)]
            if same:
                name = same[0]
            elif distinct:
                raise ctx.error(
                    "with SELECT DISTINCT, ORDER BY can only use the selected columns", node
                )
            else:
                taken = [*names, *(h.name for h in helpers)]
                name = ctx.fresh("order", taken)
                helpers.append(Output(name, expr, node))
        keys.append(
            SortKey(name, bool(ordered.args.get("desc")), bool(ordered.args.get("nulls_first")))
        )
    return keys, helpers


def _limits(node: exp.Expr, ctx: Context) -> tuple[int | None, int]:
    """``LIMIT`` and ``OFFSET`` as numbers (no limit: None)."""

    def number(clause: exp.Expr | None, what: str) -> int | None:
        if clause is None:
            return None
        value = clause.expression
        if not (isinstance(value, exp.Literal) and value.is_int and int(value.this) >= 0):
            raise ctx.error(f"{what} takes a whole number of rows, got {value.sql()}", value)
        return int(value.this)

    limit = number(node.args.get("limit"), "LIMIT")
    return limit, number(node.args.get("offset"), "OFFSET") or 0


def _arrange(
    base: Stream, outputs: Sequence[Output], helpers: Sequence[Output], keys: Sequence[SortKey],
    distinct: bool, node: exp.Expr, ctx: Context, qualify: bool = False,
) -> Stream:  # fmt: skip
    """Project the outputs (and helpers), then QUALIFY (on the first helper, when
    ``qualify``), DISTINCT, ORDER BY, LIMIT/OFFSET, and drop the helpers."""
    columns = [*outputs, *helpers]
    for output in columns:
        with ctx.building(output.node, "SELECT"):
            output.expr.output_field(base.schema)
    exprs = [
        o.expr
        if isinstance(o.expr, Column) and o.expr.param("name") == o.name
        else o.expr.alias(o.name)
        for o in columns
    ]
    identity = (
        all(isinstance(e, Column) for e in exprs) and [o.name for o in columns] == base.columns
    )
    stream = base if identity else base.select(*exprs)
    if qualify:
        with ctx.building(helpers[0].node, "QUALIFY"):
            stream = stream.filter(col(helpers[0].name))
    if distinct:
        stream = stream.distinct()
    if keys:
        by: list[Expr] = []
        descending: list[bool] = []
        for key in keys:
            if key.nulls_first:
                by.append(col(key.name).is_not_null())
                descending.append(False)
            by.append(col(key.name))
            descending.append(key.descending)
        stream = stream.sort(by, descending=descending)
    limit, offset = _limits(node, ctx)
    if limit is not None or offset:
        every = sys.maxsize - offset  # no LIMIT: all rows after the offset (the sum fits 64 bits)
        stream = stream.limit(every if limit is None else limit, offset)
    if helpers:
        stream = stream.select(*(o.name for o in outputs))
    return stream


# ----------------------------------------------------------------------------- set operations


def _ordered(node: exp.Expr, stream: Stream, ctx: Context) -> Relation:
    """A query's result with the ``ORDER BY`` and ``LIMIT`` written after it (on a ``UNION``
    or a query in parentheses)."""
    outputs = [Output(name, col(name), node) for name in stream.columns]
    scope = RowScope(Relation.of(stream), ctx, "ORDER BY")
    keys, helpers = _sort_keys(node.args.get("order"), outputs, scope, False, ctx)
    return Relation.of(_arrange(stream, outputs, helpers, keys, False, node, ctx))


def _set_inputs(node: exp.SetOperation, ctx: Context) -> tuple[Stream, Stream]:
    """The two queries of a set operation, the right one's columns named as the left one's
    (SQL matches them by position)."""
    _check_clauses(node, _SET_CLAUSES, ctx)
    left = query_relation(node.this, ctx).stream
    right = query_relation(node.expression, ctx).stream
    if len(left.columns) != len(right.columns):
        raise ctx.error(
            f"{node.key.upper()} inputs have {len(left.columns)} and {len(right.columns)} "
            "columns; they need the same number",
            node.expression,
        )
    if right.columns != left.columns:
        right = right.select(
            *(col(r).alias(n) for r, n in zip(right.columns, left.columns, strict=True))
        )
    return left, right


def _union(node: exp.Union, ctx: Context) -> Relation:
    left, right = _set_inputs(node, ctx)
    with ctx.building(node, "UNION"):
        stream = left.union(right)
    if node.args.get("distinct"):
        stream = stream.distinct()
    return _ordered(node, stream, ctx)


def _except_intersect(node: exp.Except | exp.Intersect, ctx: Context) -> Relation:
    """``EXCEPT`` / ``INTERSECT``: the distinct rows of the left query found in the right one
    not at all / too. Both inputs, tagged 0 and 1, are grouped by every column, since grouping
    (unlike join keys) treats nulls as equal, as set operations do."""
    kind = node.key.upper()
    if not node.args.get("distinct"):
        raise ctx.unsupported(f"{kind} ALL (only {kind} of distinct rows)", node)
    left, right = _set_inputs(node, ctx)
    names = left.columns
    side, first, last = (ctx.fresh(stem, names) for stem in ("side", "first", "last"))
    with ctx.building(node, kind):
        tagged = left.with_columns(lit(0).alias(side)).union(right.with_columns(lit(1).alias(side)))
        groups = tagged.group_by(*names).agg(
            col(side).min().alias(first), col(side).max().alias(last)
        )
        keep = col(last) == 0 if kind == "EXCEPT" else col(first) < col(last)
        stream = groups.filter(keep).select(*names)
    return _ordered(node, stream, ctx)
