"""Subqueries in expressions, decorrelated into joins as the query is translated: the plan
holds only joins, aggregates and filters, never a query run once per row.

:func:`correlate` finds how a subquery refers to the query around it: equalities
``inner = outer`` (its correlation keys) and other conditions reading outer columns. Then one
rule per construct:

- :func:`scalar_value`: ``(SELECT agg ...)`` uncorrelated is a one-row relation cross joined
  in (zero rows: NULL; more than one: an error, as DuckDB's); correlated by equalities, the
  subquery grouped by its keys and LEFT joined on them (an empty group's ``COUNT`` is 0).
- :func:`exists_join`: ``[NOT] EXISTS`` is a semi (anti) join on the keys; other correlated
  conditions are checked on the pairs of outer rows (numbered) and inner rows with equal keys.
- :func:`in_join` / :func:`not_in_join`: ``x IN (SELECT y ...)`` is a semi join on the keys and
  ``x = y``; ``NOT IN`` an anti join that also counts the subquery's rows and nulls per key,
  as SQL's three-valued logic needs (a NULL in the subquery: no row passes).
- :func:`exists_mark` / :func:`in_mark`: the same as a boolean column from a LEFT join, for
  ``EXISTS`` and ``IN`` under ``OR``/``NOT`` or in ``SELECT``.

:func:`filter_subqueries` (``WHERE``), :func:`row_subqueries` (``SELECT`` of rows) and
:func:`grouped_subqueries` (``SELECT``/``HAVING`` of groups) apply them.

May import the other :mod:`sabot_lab.sql` modules (the query translation lazily: it imports
this module), :mod:`sabot_lab.expr` and :mod:`sabot_lab.stream`.

>>> import sabot_lab as sl
>>> t = sl.from_pydict({"k": [1, 2, 3], "x": [10, 20, 30]})
>>> u = sl.from_pydict({"k": [1, 1, 3], "y": [5, 7, 40]})
>>> sl.sql("SELECT k, (SELECT MAX(y) FROM u WHERE u.k = t.k) AS top FROM t "
...        "WHERE EXISTS (SELECT * FROM u WHERE u.k = t.k AND u.y < t.x) ORDER BY k",
...        t=t, u=u).collect().to_pydict()
{'k': [1], 'top': [7]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from sabot_lab.errors import ComputeError
from sabot_lab.expr import Expr, col, count, lit, when
from sabot_lab.sql.context import Context
from sabot_lab.sql.expressions import RowScope, contains_aggregate, output_name, translate
from sabot_lab.sql.joins import conjuncts, filtered, key_column
from sabot_lab.sql.relation import Binding, Relation
from sabot_lab.stream import Stream

__all__ = [
    "Correlation",
    "correlate",
    "exists_join",
    "exists_mark",
    "filter_subqueries",
    "grouped_subqueries",
    "has_subquery",
    "in_join",
    "in_mark",
    "not_in_join",
    "row_subqueries",
    "scalar_value",
]

TOO_MANY_ROWS = "More than one row returned by a subquery used as an expression"


def has_subquery(node: exp.Expr) -> bool:
    """True if a subquery (scalar, ``EXISTS``, ``IN (SELECT ...)``) appears in ``node``.

    >>> from sabot_lab.sql.parse import parse
    >>> [has_subquery(e) for e in parse("SELECT a, (SELECT 1) FROM t").expressions]
    [False, True]
    """
    return any(_is_subquery(n) for n in node.walk())


def _is_subquery(node: exp.Expr) -> bool:
    if isinstance(node, exp.In):
        return node.args.get("query") is not None
    return isinstance(node, exp.Subquery | exp.Exists)


def _targets(node: exp.Expr) -> list[exp.Expr]:
    """The outermost subqueries in ``node``."""
    return [n for n in node.walk(prune=_is_subquery) if _is_subquery(n)]


def _own_columns(node: exp.Expr) -> list[exp.Column]:
    """The column references of ``node`` outside the subqueries nested in it."""
    nested = (exp.Subquery, exp.Query, exp.Exists)
    found = node.walk(prune=lambda n: n is not node and isinstance(n, nested))
    return [n for n in found if isinstance(n, exp.Column) and not isinstance(n.this, exp.Star)]


def _strip(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


# ----------------------------------------------------------------------------- correlation


@dataclass(frozen=True)
class Correlation:
    """A subquery and how it refers to the query around it: ``query`` is the subquery without
    its correlated conditions (the original node when uncorrelated); ``outer_keys[i] =
    inner_keys[i]`` are its equality correlations; ``residual`` its other conditions reading
    outer columns. ``inner`` names the subquery's ``FROM`` columns, ``outer`` the outer
    query's."""

    query: exp.Expr
    outer_keys: tuple[exp.Expr, ...]
    inner_keys: tuple[exp.Expr, ...]
    residual: tuple[exp.Expr, ...]
    inner: Relation | None
    outer: Relation

    @property
    def correlated(self) -> bool:
        """True if the subquery reads columns of the outer query."""
        return bool(self.outer_keys or self.residual)

    def is_outer(self, column: exp.Column) -> bool:
        """True if ``column`` names a column of the outer query (SQL looks inside first)."""
        qualifier = column.table or None
        if self.inner is None or self.inner.find(column.name, qualifier):
            return False
        return bool(self.outer.find(column.name, qualifier))


def correlate(node: exp.Expr, outer: Relation, ctx: Context) -> Correlation:
    """How the subquery ``node`` refers to the columns of ``outer``; a
    :class:`~sabot_lab.errors.SQLError` where it does so other than in its ``WHERE``.

    >>> import sabot_lab as sl
    >>> from sabot_lab.sql.parse import parse
    >>> ctx = Context("SELECT * FROM t WHERE EXISTS (SELECT * FROM u WHERE u.k = t.k AND u.y > t.x)", {"u": sl.from_pydict({"k": [1], "y": [2]})})
    >>> outer = Relation.of(sl.from_pydict({"k": [1], "x": [2]}), "t")
    >>> c = correlate(parse(ctx.text).find(exp.Exists).this, outer, ctx)
    >>> [k.sql() for k in c.outer_keys], [k.sql() for k in c.inner_keys], [r.sql() for r in c.residual]
    (['t.k'], ['u.k'], ['u.y > t.x'])
    """
    query = node.this if isinstance(node, exp.Subquery) else node
    uncorrelated = Correlation(node, (), (), (), None, outer)
    if not isinstance(query, exp.Select) or query.args.get("from_") is None:
        return uncorrelated
    joins = query.args.get("joins") or []
    if any(isinstance(j.this, exp.Unnest) for j in joins):
        return uncorrelated
    from sabot_lab.sql.select import table_relation  # it imports this module

    parts = [table_relation(i, ctx) for i in [query.args["from_"].this, *(j.this for j in joins)]]
    inner = Relation(parts[0].stream, tuple(b for p in parts for b in p.bindings))
    probe = replace(uncorrelated, inner=inner)
    for key, value in query.args.items():
        for part in value if isinstance(value, list) else [value]:
            if key == "where" or not isinstance(part, exp.Expr):
                continue
            outside = [c for c in _own_columns(part) if probe.is_outer(c)]
            if outside:
                raise ctx.unsupported(
                    f"a subquery reading the outer column {outside[0].sql()} outside its WHERE",
                    outside[0],
                )
    _check_nested(query, probe, ctx)
    where = query.args.get("where")
    local, outer_keys, inner_keys, residual = [], [], [], []
    for condition in conjuncts(where.this if where is not None else None):
        if not any(probe.is_outer(c) for c in _own_columns(condition)):
            local.append(condition)
            continue
        pair = _key_pair(condition, probe)
        if pair is None:
            residual.append(condition)
        else:
            outer_keys.append(pair[0])
            inner_keys.append(pair[1])
    if not outer_keys and not residual:
        return uncorrelated
    if query.args.get("limit") is not None or query.args.get("offset") is not None:
        raise ctx.unsupported("LIMIT or OFFSET in a correlated subquery", query)
    decorrelated = query.copy()
    decorrelated.set("where", exp.Where(this=exp.and_(*local)) if local else None)
    decorrelated.set("order", None)
    return Correlation(
        decorrelated, tuple(outer_keys), tuple(inner_keys), tuple(residual), inner, outer
    )


def _check_nested(query: exp.Select, probe: Correlation, ctx: Context) -> None:
    """An error for a subquery nested in ``query`` that reads a column of the outer query
    by a table name no ``FROM`` inside ``query`` defines (two levels out)."""
    own = {id(c) for c in _own_columns(query)}
    names = {t.alias_or_name.lower() for t in query.find_all(exp.Table, exp.Subquery)}
    for column in query.find_all(exp.Column):
        qualifier = column.table.lower()
        if id(column) in own or not qualifier or qualifier in names:
            continue
        if probe.is_outer(column):
            raise ctx.unsupported(
                f"a subquery inside a subquery reading the outer column {column.sql()} "
                "(only the query right around a subquery)",
                column,
            )


def _key_pair(condition: exp.Expr, probe: Correlation) -> tuple[exp.Expr, exp.Expr] | None:
    """(outer side, inner side) of an equality between outer and inner columns, else None."""
    if not isinstance(condition, exp.EQ) or has_subquery(condition):
        return None

    def side(node: exp.Expr) -> str | None:
        kinds = {probe.is_outer(c) for c in _own_columns(node)}
        return None if len(kinds) != 1 else ("outer" if kinds == {True} else "inner")

    sides = side(condition.this), side(condition.expression)
    if sides == ("outer", "inner"):
        return condition.this, condition.expression
    if sides == ("inner", "outer"):
        return condition.expression, condition.this
    return None


# ----------------------------------------------------------------------------- helpers


def _query(node: exp.Expr, ctx: Context) -> Stream:
    from sabot_lab.sql.select import query_relation  # it imports this module

    return query_relation(node, ctx).stream


def _rewritten(
    corr: Correlation, items: Sequence[exp.Expr], ctx: Context, *, group: bool = False,
    distinct: bool = False,
) -> tuple[Stream, list[str]]:  # fmt: skip
    """The decorrelated subquery returning ``items`` (under new names, returned too), grouped
    by its inner keys with ``group``, its rows distinct with ``distinct``."""
    taken = corr.outer.stream.columns
    names = [ctx.fresh("sub", taken) for _ in items]
    query = corr.query.copy()
    query.set("expressions", [exp.alias_(i.copy(), n) for i, n in zip(items, names, strict=True)])
    if group:
        existing = query.args.get("group")
        keys = [k.copy() for k in corr.inner_keys]
        query.set(
            "group", exp.Group(expressions=[*keys, *(existing.expressions if existing else [])])
        )
    if distinct:
        query.set("distinct", exp.Distinct())
    return _query(query, ctx), names


def _only_item(corr: Correlation, node: exp.Expr, what: str, ctx: Context) -> exp.Expr:
    """The one column a correlated subquery returns."""
    query = corr.query
    items = query.expressions if isinstance(query, exp.Select) else []
    star = bool(items) and (
        isinstance(items[0], exp.Star)
        or (isinstance(items[0], exp.Column) and isinstance(items[0].this, exp.Star))
    )
    if len(items) != 1 or star:
        raise ctx.error(f"{what} needs a query of one column; this one has {len(items)}", node)
    item = items[0]
    return item.this if isinstance(item, exp.Alias) else item


def _one_column(stream: Stream, node: exp.Expr, what: str, ctx: Context) -> str:
    if len(stream.columns) != 1:
        raise ctx.error(
            f"{what} needs a query of one column; this one has {len(stream.columns)}", node
        )
    return stream.columns[0]


def _aggregated(query: exp.Expr) -> bool:
    """True for a ``SELECT`` of aggregates over all its rows: it returns exactly one row."""
    return (
        isinstance(query, exp.Select)
        and query.args.get("group") is None
        and query.args.get("having") is None
        and any(contains_aggregate(i) for i in query.expressions)
    )


def _outer_keys(relation: Relation, corr: Correlation, ctx: Context) -> tuple[Relation, list[str]]:
    """``relation`` with its correlation key columns (expressions computed), and their names."""
    keys = []
    for node in corr.outer_keys:
        relation, key = key_column(relation, node, ctx)
        keys.append(key)
    return relation, keys


def _bound(relation: Relation, stream: Stream, name: str) -> tuple[Relation, exp.Expr]:
    """``relation`` over ``stream``, which has the new column ``name``, and a reference to it
    (its own qualifier, hidden from ``*``)."""
    binding = Binding(name, name, name, star=False)
    return Relation(stream, (*relation.bindings, binding), relation.window), exp.column(name, name)


def _at_most_one_row(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch of (value, row count) rows, or an error where a count is more than one."""
    counts = batch.column(batch.num_columns - 1)
    if len(counts) and (pc.max(counts).as_py() or 0) > 1:
        raise ComputeError(TOO_MANY_ROWS)
    return batch


def _checked(values: Stream, keys: Sequence[str], value: str, ctx: Context) -> Stream:
    """One row per key (one row without keys) with the ``value`` of the key's only row (null
    if none); an error at run time where a key has several."""
    n = ctx.fresh("rows", values.columns)
    aggs = [col(value).first().alias(value), count().alias(n)]
    grouped = values.group_by(*keys).agg(*aggs) if keys else values.agg(*aggs)
    return grouped.map_batches(_at_most_one_row, schema=grouped.schema).drop(n)


def _single_value(node: exp.Subquery, name: str, ctx: Context) -> Stream:
    """The one-row stream of an uncorrelated scalar subquery's value, as column ``name``."""
    values = _query(node, ctx)
    value = _one_column(values, node, "a scalar subquery", ctx)
    if not _aggregated(node.this):
        values = _checked(values, [], value, ctx)
    return values.select(col(value).alias(name))


def _found(node: exp.Exists, name: str, ctx: Context) -> Stream:
    """The one-row stream of an uncorrelated ``EXISTS``, as the boolean column ``name``."""
    n = ctx.fresh("rows", [name])
    found = _query(node.this, ctx).limit(1).agg(count().alias(n))
    return found.select((col(n) > 0).alias(name))


# ----------------------------------------------------------------------------- scalar


def scalar_value(relation: Relation, node: exp.Subquery, ctx: Context) -> tuple[Relation, exp.Expr]:
    """``relation`` joined with the value of the scalar subquery ``node``, and a column
    reference to put where ``node`` stood.

    Uncorrelated: its one row cross joined. Correlated by equalities: grouped by the inner
    keys and LEFT joined on them; where no inner row matches, an aggregate query's value is
    that of its aggregates over no rows (``COUNT`` 0, the others NULL).

    >>> import sabot_lab as sl
    >>> t = sl.from_pydict({"k": [1, 2]})
    >>> u = sl.from_pydict({"k": [1, 1]})
    >>> sl.sql("SELECT k, (SELECT COUNT(*) FROM u WHERE u.k = t.k) AS n FROM t ORDER BY k",
    ...        t=t, u=u).collect().to_pydict()
    {'k': [1, 2], 'n': [2, 0]}
    """
    corr = correlate(node, relation, ctx)
    if corr.residual:
        raise ctx.unsupported(
            f"a scalar subquery correlated by the condition {corr.residual[0].sql()} (only by "
            "equalities inner = outer)",
            corr.residual[0],
        )
    name = ctx.fresh("value", relation.stream.columns)
    if not corr.correlated:
        with ctx.building(node, "a scalar subquery"):
            stream = relation.stream.join(_single_value(node, name, ctx), how="cross")
        return _bound(relation, stream, name)
    item = _only_item(corr, node, "a scalar subquery", ctx)
    query = corr.query
    if isinstance(query, exp.Select) and query.args.get("having") is not None:
        raise ctx.unsupported("HAVING in a correlated scalar subquery", query)
    relation, outer_keys = _outer_keys(relation, corr, ctx)
    aggregated = _aggregated(query)
    empty = _empty_value(item, relation, ctx) if aggregated else None
    extra = [exp.true()] if empty is not None else []
    values, names = _rewritten(corr, [*corr.inner_keys, item, *extra], ctx, group=aggregated)
    keys, value = names[: len(outer_keys)], names[len(outer_keys)]
    if not aggregated:
        values = _checked(values, keys, value, ctx)
    with ctx.building(node, "a scalar subquery"):
        stream = relation.stream.join(values, left_on=outer_keys, right_on=keys, how="left")
        result = col(value)
        if empty is not None:
            result = when(col(names[-1]).is_null()).then(empty).otherwise(result)
        stream = stream.with_columns(result.alias(name)).drop(names[len(keys) :])
    return _bound(relation, stream, name)


_STRICT = (exp.Null, exp.Literal, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Neg, exp.Paren, exp.Cast)
"""Expressions that are NULL where a part is: a value built of only these, from aggregates
that are NULL over no rows, is NULL there too."""


def _empty_value(item: exp.Expr, relation: Relation, ctx: Context) -> Expr | None:
    """The value of an aggregate ``item`` over no rows (``COUNT`` 0, the other aggregates
    NULL), or None when that is NULL."""

    def blank(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Count):
            return exp.Literal.number(0)
        if isinstance(node, exp.AggFunc):
            return exp.Null()
        return node

    empty = item.copy().transform(blank)
    parts = list(empty.walk())
    if all(isinstance(n, _STRICT) for n in parts) and any(isinstance(n, exp.Null) for n in parts):
        return None
    return translate(empty, RowScope(Relation(relation.stream, ()), ctx, "SELECT"))


# ----------------------------------------------------------------------------- EXISTS


def _exists_keys(corr: Correlation, node: exp.Expr, ctx: Context) -> None:
    if _aggregated(corr.query):
        raise ctx.unsupported("EXISTS over a correlated query of aggregates", node)


def exists_join(relation: Relation, node: exp.Exists, anti: bool, ctx: Context) -> Relation:
    """``relation`` keeping the rows where ``[NOT] EXISTS (node)`` holds: a semi (anti) join
    on the correlation keys; with other correlated conditions, the rows numbered, the pairs
    of a row and inner rows with its keys filtered by them, and the rows semi (anti) joined
    with the row numbers of the pairs left.

    >>> import sabot_lab as sl
    >>> t = sl.from_pydict({"k": [1, 2, None]})
    >>> u = sl.from_pydict({"k": [1, None]})
    >>> sl.sql("SELECT k FROM t WHERE NOT EXISTS (SELECT * FROM u WHERE u.k = t.k) ORDER BY k",
    ...        t=t, u=u).collect().to_pydict()
    {'k': [2, None]}
    """
    corr = correlate(node.this, relation, ctx)
    if not corr.correlated:
        relation, mark = exists_mark(relation, node, ctx)
        return filtered(relation, [exp.Not(this=mark) if anti else mark], ctx, "WHERE")
    _exists_keys(corr, node, ctx)
    if not corr.outer_keys:
        raise ctx.unsupported(
            f"EXISTS correlated only by the condition {corr.residual[0].sql()} (it needs an "
            "equality inner = outer too)",
            corr.residual[0],
        )
    return _keyed_join(relation, corr, [], "anti" if anti else "semi", node, ctx)


def _keyed_join(
    relation: Relation, corr: Correlation, pairs: Sequence[tuple[exp.Expr, exp.Expr]],
    how: str, node: exp.Expr, ctx: Context,
) -> Relation:  # fmt: skip
    """``relation`` semi or anti joined with the decorrelated subquery on its keys and the
    (outer, inner) ``pairs``, its residual conditions checked on the pairs of rows."""
    corr = replace(
        corr,
        outer_keys=(*corr.outer_keys, *(o for o, _ in pairs)),
        inner_keys=(*corr.inner_keys, *(i for _, i in pairs)),
    )
    if corr.residual:
        return _residual_join(relation, corr, how, node, ctx)
    relation, outer_keys = _outer_keys(relation, corr, ctx)
    values, keys = _rewritten(corr, corr.inner_keys, ctx)
    with ctx.building(node, "a subquery"):
        stream = relation.stream.join(values, left_on=outer_keys, right_on=keys, how=how)  # type: ignore[arg-type]
    return replace(relation, stream=stream)


def _residual_join(
    relation: Relation, corr: Correlation, how: str, node: exp.Expr, ctx: Context
) -> Relation:
    row = ctx.fresh("row", relation.stream.columns)
    numbered = replace(relation, stream=relation.stream.with_row_index(row))
    numbered, outer_keys = _outer_keys(numbered, corr, ctx)
    qualifier = ctx.fresh("inner", numbered.stream.columns)
    read: dict[str, exp.Column] = {}
    conditions = [c.copy() for c in corr.residual]
    for condition in conditions:
        for column in _own_columns(condition):
            if not corr.is_outer(column):
                read.setdefault(column.sql(), column.copy())
    values, names = _rewritten(corr, [*corr.inner_keys, *read.values()], ctx)
    keys, columns = names[: len(outer_keys)], dict(zip(read, names[len(outer_keys) :], strict=True))
    for condition in conditions:
        for column in _own_columns(condition):
            if column.sql() in columns and not corr.is_outer(column):
                column.replace(exp.column(columns[column.sql()], qualifier))
    bindings = tuple(Binding(qualifier, n, n, star=False) for n in columns.values())
    with ctx.building(node, "a subquery"):
        joined = numbered.stream.join(values, left_on=outer_keys, right_on=keys, how="inner")
    pairs = filtered(Relation(joined, numbered.bindings + bindings), conditions, ctx, "WHERE")
    with ctx.building(node, "a subquery"):
        stream = numbered.stream.join(pairs.stream.select(row), on=row, how=how).drop(row)  # type: ignore[arg-type]
    return replace(relation, stream=stream)


def exists_mark(relation: Relation, node: exp.Exists, ctx: Context) -> tuple[Relation, exp.Expr]:
    """``relation`` with a column true where ``EXISTS (node)`` holds, and a reference to it.

    >>> import sabot_lab as sl
    >>> t = sl.from_pydict({"k": [1, 2]})
    >>> u = sl.from_pydict({"k": [1]})
    >>> sl.sql("SELECT k, EXISTS (SELECT * FROM u WHERE u.k = t.k) AS e FROM t ORDER BY k",
    ...        t=t, u=u).collect().to_pydict()
    {'k': [1, 2], 'e': [True, False]}
    """
    corr = correlate(node.this, relation, ctx)
    name = ctx.fresh("exists", relation.stream.columns)
    if corr.residual:
        raise ctx.unsupported(
            f"EXISTS correlated by the condition {corr.residual[0].sql()} outside a WHERE "
            "condition joined by AND (elsewhere only equalities inner = outer)",
            corr.residual[0],
        )
    if not corr.correlated:
        with ctx.building(node, "EXISTS"):
            stream = relation.stream.join(_found(node, name, ctx), how="cross")
        return _bound(relation, stream, name)
    _exists_keys(corr, node, ctx)
    relation, outer_keys = _outer_keys(relation, corr, ctx)
    values, names = _rewritten(corr, [*corr.inner_keys, exp.true()], ctx, distinct=True)
    with ctx.building(node, "EXISTS"):
        stream = relation.stream.join(values, left_on=outer_keys, right_on=names[:-1], how="left")
        stream = stream.with_columns(col(names[-1]).is_not_null().alias(name)).drop(names[-1])
    return _bound(relation, stream, name)


# ----------------------------------------------------------------------------- IN


def _in_values(relation: Relation, node: exp.In, ctx: Context) -> tuple[Correlation, exp.Expr]:
    """The correlation of ``x IN (SELECT y ...)`` and its inner value ``y``."""
    query = node.args["query"]
    corr = correlate(query, relation, ctx)
    if not corr.correlated:
        return corr, query
    return corr, _only_item(corr, query, "IN (SELECT ...)", ctx)


def _uncorrelated_values(corr: Correlation, node: exp.In, ctx: Context) -> tuple[Stream, str]:
    query = node.args["query"]
    values = _query(query.this if isinstance(query, exp.Subquery) else query, ctx)
    return values, _one_column(values, query, "IN (SELECT ...)", ctx)


def in_join(relation: Relation, node: exp.In, ctx: Context) -> Relation:
    """``relation`` keeping the rows where ``x IN (SELECT y ...)`` holds: a semi join on the
    correlation keys and ``x = y`` (a null never matches, and the row drops out, as in SQL).

    >>> import sabot_lab as sl
    >>> t = sl.from_pydict({"x": [1, 2, None]})
    >>> sl.sql("SELECT x FROM t WHERE x IN (SELECT x FROM t WHERE x > 1)", t=t).collect().to_pydict()
    {'x': [2]}
    """
    corr, item = _in_values(relation, node, ctx)
    if corr.correlated:
        return _keyed_join(relation, corr, [(node.this, item)], "semi", node, ctx)
    values, value = _uncorrelated_values(corr, node, ctx)
    relation, key = key_column(relation, node.this, ctx)
    with ctx.building(node, "IN (SELECT ...)"):
        stream = relation.stream.join(values, left_on=key, right_on=value, how="semi")
    return replace(relation, stream=stream)


def _value_counts(
    relation: Relation, node: exp.In, ctx: Context, where: str
) -> tuple[Relation, str, str, str, Stream, list[str], list[str], str]:
    """For ``x [NOT] IN (SELECT y ...)``: ``relation`` LEFT joined with the number of rows and
    of non-null ``y`` per correlation key (cross joined without keys), the names of ``x`` and
    the two counts, the subquery's (keys, y) rows, the outer and inner key names and ``y``."""
    corr, item = _in_values(relation, node, ctx)
    if corr.residual:
        raise ctx.unsupported(
            f"{where} correlated by the condition {corr.residual[0].sql()} (only by "
            "equalities inner = outer)",
            corr.residual[0],
        )
    if corr.correlated:
        relation, outer_keys = _outer_keys(relation, corr, ctx)
        values, names = _rewritten(corr, [*corr.inner_keys, item], ctx)
        keys, value = names[:-1], names[-1]
    else:
        values, value = _uncorrelated_values(corr, node, ctx)
        outer_keys, keys = [], []
    relation, x = key_column(relation, node.this, ctx)
    rows, filled = ctx.fresh("rows", values.columns), ctx.fresh("values", values.columns)
    aggs = [count().alias(rows), col(value).count().alias(filled)]
    with ctx.building(node, "IN (SELECT ...)"):
        if keys:
            counts = values.group_by(*keys).agg(*aggs)
            stream = relation.stream.join(counts, left_on=outer_keys, right_on=keys, how="left")
        else:
            stream = relation.stream.join(values.agg(*aggs), how="cross")
    relation = replace(relation, stream=stream)
    return relation, x, rows, filled, values, outer_keys, keys, value


def not_in_join(relation: Relation, node: exp.In, ctx: Context) -> Relation:
    """``relation`` keeping the rows where ``x NOT IN (SELECT y ...)`` is true: an anti join
    on the keys and ``x = y``, then, by the counts of the subquery's rows and non-null ``y``
    (per key), the rows where it has none or where ``x`` is not null and no ``y`` is.

    >>> import sabot_lab as sl
    >>> t = sl.from_pydict({"x": [1, 2, None]})
    >>> u = sl.from_pydict({"y": [1, None]})
    >>> sl.sql("SELECT x FROM t WHERE x NOT IN (SELECT y FROM u WHERE y > 0)", t=t, u=u).collect().to_pydict()
    {'x': [2]}
    >>> sl.sql("SELECT x FROM t WHERE x NOT IN (SELECT y FROM u)", t=t, u=u).collect().num_rows
    0
    """
    relation, x, rows, filled, values, outer_keys, keys, value = _value_counts(
        relation, node, ctx, "NOT IN (SELECT ...)"
    )
    none = col(rows).is_null() | (col(rows) == 0)
    keep = none | (col(x).is_not_null() & (col(filled) == col(rows)))
    with ctx.building(node, "NOT IN (SELECT ...)"):
        stream = relation.stream.join(
            values, left_on=[*outer_keys, x], right_on=[*keys, value], how="anti"
        )
        stream = stream.filter(keep).drop(rows, filled)
    return replace(relation, stream=stream)


def in_mark(relation: Relation, node: exp.In, ctx: Context) -> tuple[Relation, exp.Expr]:
    """``relation`` with the value of ``x IN (SELECT y ...)`` (true, false or NULL as SQL has
    it), and a reference to it: a LEFT join with the subquery's distinct (keys, y), and the
    counts of its rows and non-null ``y``.

    >>> import sabot_lab as sl
    >>> t = sl.from_pydict({"x": [1, 2, None]})
    >>> u = sl.from_pydict({"y": [1, None]})
    >>> sl.sql("SELECT x, x IN (SELECT y FROM u) AS i FROM t", t=t, u=u).collect().to_pydict()["i"]
    [True, None, None]
    """
    relation, x, rows, filled, values, outer_keys, keys, value = _value_counts(
        relation, node, ctx, "IN (SELECT ...) under OR or NOT, or in SELECT,"
    )
    found, name = ctx.fresh("found", values.columns), ctx.fresh("in", relation.stream.columns)
    mark = (
        when(col(found).is_not_null()).then(lit(True))
        .when(col(rows).is_null() | (col(rows) == 0)).then(lit(False))
        .when(col(x).is_null() | (col(filled) < col(rows))).then(lit(None, "bool"))
        .otherwise(lit(False))
    )  # fmt: skip
    with ctx.building(node, "IN (SELECT ...)"):
        matches = values.distinct().with_columns(lit(True).alias(found))
        stream = relation.stream.join(
            matches, left_on=[*outer_keys, x], right_on=[*keys, value], how="left"
        )
        stream = stream.with_columns(mark.alias(name)).drop(rows, filled, found)
    return _bound(relation, stream, name)


# ----------------------------------------------------------------------------- clauses


def with_subqueries(relation: Relation, node: exp.Expr, ctx: Context) -> tuple[Relation, exp.Expr]:
    """``relation`` joined with the value of each subquery in ``node``, and ``node`` with
    references to those values in their places."""
    node = node.copy()
    for target in _targets(node):
        if isinstance(target, exp.Exists):
            relation, reference = exists_mark(relation, target, ctx)
        elif isinstance(target, exp.In):
            relation, reference = in_mark(relation, target, ctx)
        else:
            assert isinstance(target, exp.Subquery)
            relation, reference = scalar_value(relation, target, ctx)
        if target is node:
            return relation, reference
        target.replace(reference)
    return relation, node


def filter_subqueries(relation: Relation, conditions: Sequence[exp.Expr], ctx: Context) -> Relation:
    """``relation`` keeping the rows where each of the ``WHERE`` conditions (joined by
    ``AND``, holding subqueries) is true: ``[NOT] EXISTS`` and ``[NOT] IN`` as semi and anti
    joins, other conditions filtered on the values joined in."""
    for condition in conditions:
        inner, negated = _strip(condition), False
        if isinstance(inner, exp.Not):
            inner, negated = _strip(inner.this), True
        if isinstance(inner, exp.Exists):
            relation = exists_join(relation, inner, negated, ctx)
        elif isinstance(inner, exp.In) and inner.args.get("query") is not None:
            relation = (not_in_join if negated else in_join)(relation, inner, ctx)
        else:
            relation, replaced = with_subqueries(relation, condition, ctx)
            relation = filtered(relation, [replaced], ctx, "WHERE")
    return relation


def _named(item: exp.Expr, replaced: exp.Expr) -> exp.Expr:
    """A ``SELECT`` item rewritten, keeping the output name of the original."""
    if isinstance(replaced, exp.Alias):
        return replaced
    return exp.alias_(replaced, output_name(item), quoted=True)


def row_subqueries(
    relation: Relation, items: Sequence[exp.Expr], ctx: Context
) -> tuple[Relation, list[exp.Expr]]:
    """``relation`` joined with the values of the subqueries in the ``SELECT`` ``items`` (of a
    query without grouping), and the items reading them."""
    rewritten = []
    for item in items:
        if has_subquery(item):
            relation, replaced = with_subqueries(relation, item, ctx)
            item = _named(item, replaced)
        rewritten.append(item)
    return relation, rewritten


def grouped_subqueries(
    relation: Relation, items: Sequence[exp.Expr], having: exp.Expr | None, ctx: Context
) -> tuple[Relation, list[exp.Expr], exp.Expr | None, list[Stream]]:
    """For a grouped query: the relation with names for the values of the uncorrelated scalar
    and ``EXISTS`` subqueries in its ``SELECT`` ``items`` and its ``HAVING`` condition, the
    items and condition reading them, and the one-row streams to cross join with the groups.

    >>> import sabot_lab as sl
    >>> t = sl.from_pydict({"k": ["a", "a", "b"], "x": [1, 2, 5]})
    >>> sl.sql("SELECT k, SUM(x) AS s FROM t GROUP BY k HAVING SUM(x) >= (SELECT MAX(x) FROM t)",
    ...        t=t).collect().to_pydict()
    {'k': ['b'], 's': [5]}
    """
    values: list[Stream] = []
    rewritten = []
    for item in items:
        if has_subquery(item):
            relation, replaced = _deferred(relation, item, values, ctx)
            item = _named(item, replaced)
        rewritten.append(item)
    if having is not None and has_subquery(having):
        relation, having = _deferred(relation, having, values, ctx)
    return relation, rewritten, having, values


def _deferred(
    relation: Relation, node: exp.Expr, values: list[Stream], ctx: Context
) -> tuple[Relation, exp.Expr]:
    """``node`` reading names for the values of its subqueries, known after grouping (their
    one-row streams added to ``values``), and the relation with those names."""
    node = node.copy()
    for target in _targets(node):
        corr = correlate(target.this, relation, ctx) if not isinstance(target, exp.In) else None
        if corr is None or corr.correlated or target.find_ancestor(exp.AggFunc):
            raise ctx.unsupported(
                "a correlated subquery, or IN (SELECT ...), in the SELECT or HAVING of a "
                "grouped query (only uncorrelated scalar subqueries and EXISTS there)",
                target,
            )
        name = ctx.fresh("value", relation.stream.columns)
        if isinstance(target, exp.Exists):
            values.append(_found(target, name, ctx))
        elif isinstance(target, exp.Subquery):
            values.append(_single_value(target, name, ctx))
        binding = Binding(name, name, None, star=False)  # a column of the groups
        relation = replace(relation, bindings=(*relation.bindings, binding))
        reference = exp.column(name, name)
        if target is node:
            return relation, reference
        target.replace(reference)
    return relation, node
