"""``JOIN`` clauses onto :meth:`~sabot_lab.stream.Stream.join`: ``[INNER] JOIN``, ``LEFT
[OUTER] JOIN``, ``RIGHT [OUTER] JOIN`` (a left join with the sides swapped, the columns in
SQL's order), ``FULL [OUTER] JOIN``, ``SEMI JOIN``, ``ANTI JOIN`` with ``ON`` (equalities
between the sides, plus conditions on the joined table; for inner joins any condition) or
``USING``; ``FROM a, b`` and ``CROSS JOIN`` take their equalities from ``WHERE``; an inner
join without any equality between the sides (``CROSS JOIN``, ``FROM a, b``, ``JOIN ... ON
a.x < b.y``) is a cross join filtered by its conditions. Inner joins of streams that carry
event time, or of an unbounded right side, are interval, window or symmetric hash joins
(:mod:`~sabot_lab.sql.stream_joins`).

The joined relation keeps every name of both sides: a right column whose name the left side
already has is renamed in the stream, and the right side's key columns (which the join
drops) read as the left keys (inner joins) or as a copy kept for the purpose (left joins, where
they are null on rows without a match); a full join keeps them. The name of a ``USING`` key
of a full join means the key of either side, the one not null (``COALESCE``).

>>> import sabot_lab as sl
>>> from sabot_lab.sql.context import Context
>>> from sabot_lab.sql.parse import parse
>>> ctx = Context("SELECT * FROM q JOIN s ON q.sid = s.id", {})
>>> q = Relation.of(sl.from_pydict({"sid": [1, 2], "px": [5, 6]}), "q")
>>> s = Relation.of(sl.from_pydict({"id": [1], "px": [7]}), "s")
>>> joined, _ = join_relations(q, parse(ctx.text).args["joins"][0], s, [], ctx)
>>> [(b.qualifier, b.name, b.column) for b in joined.bindings]
[('q', 'sid', 'sid'), ('q', 'px', 'px'), ('s', 'id', 'sid'), ('s', 'px', '_px0')]
>>> joined.stream.collect().to_pydict()
{'sid': [1], 'px': [5], '_px0': [7]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from sqlglot import exp

from sabot_lab.errors import PlanError, SQLError
from sabot_lab.expr import Expr, col
from sabot_lab.expr.nodes import Column
from sabot_lab.optimizer.or_factoring import factor_branches
from sabot_lab.sql.context import Context
from sabot_lab.sql.expressions import RowScope, sql_text, translate
from sabot_lab.sql.relation import Binding, Relation
from sabot_lab.sql.stream_joins import refusal, time_bounded_join
from sabot_lab.stream import JoinHow, Stream

__all__ = ["conjuncts", "filtered", "is_listed", "join_listed", "join_relations", "key_column"]


def conjuncts(node: exp.Expr | None) -> list[exp.Expr]:
    """The conditions joined by ``AND`` at the top of ``node``, with the conditions every
    branch of an ``OR`` repeats taken out of it (so that an equality there joins the sides).

    >>> from sabot_lab.sql.parse import parse
    >>> [c.sql() for c in conjuncts(parse("SELECT 1 FROM t WHERE (a = 1 AND b) AND c").args["where"].this)]
    ['a = 1', 'b', 'c']
    >>> where = "(k = j AND a = 1 AND b = 2) OR (k = j AND (a = 3 OR b = 4)) OR (b = 5 AND j = k)"
    >>> [c.sql() for c in conjuncts(parse(f"SELECT 1 FROM t WHERE {where}").args["where"].this)]
    ['k = j', '(a = 1 AND b = 2) OR (a = 3 OR b = 4) OR b = 5']
    """
    if node is None:
        return []
    if isinstance(node, exp.Paren):
        return conjuncts(node.this)
    if isinstance(node, exp.And):
        return [*conjuncts(node.this), *conjuncts(node.expression)]
    if isinstance(node, exp.Or):
        common, rests = factor_branches([conjuncts(b) for b in _disjuncts(node)], _same)
        if not common:
            return [node]
        if rests is None:
            return common
        return [*common, *conjuncts(exp.or_(*(exp.and_(*rest) for rest in rests)))]
    return [node]


def _same(a: exp.Expr, b: exp.Expr) -> bool:
    """Equal conditions, ``x = y`` and ``y = x`` too."""
    if a == b:
        return True
    mirrored = isinstance(a, exp.EQ) and isinstance(b, exp.EQ)
    return mirrored and a.this == b.expression and a.expression == b.this


def _disjuncts(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.Paren):
        return _disjuncts(node.this)
    if isinstance(node, exp.Or):
        return [*_disjuncts(node.this), *_disjuncts(node.expression)]
    return [node]


def filtered(
    relation: Relation, conditions: Sequence[exp.Expr], ctx: Context, clause: str
) -> Relation:
    """``relation`` keeping the rows where every condition is true."""
    if not conditions:
        return relation
    rows = RowScope(relation, ctx, clause)
    predicates = [translate(condition, rows) for condition in conditions]
    try:
        return replace(relation, stream=relation.stream.filter(*predicates))
    except PlanError:  # the error at the condition as written: the first one refused
        for condition, predicate in zip(conditions, predicates, strict=True):
            with ctx.building(condition, clause):
                relation.stream.filter(predicate)
        raise


JOIN_KINDS: dict[tuple[str, str], JoinHow | Literal["right"]] = {
    **{(side, kind): "semi" for side in ("", "LEFT") for kind in ("SEMI",)},
    **{(side, kind): "anti" for side in ("", "LEFT") for kind in ("ANTI",)},
    **{("LEFT", kind): "left" for kind in ("", "OUTER")},
    **{("RIGHT", kind): "right" for kind in ("", "OUTER")},
    **{("FULL", kind): "full" for kind in ("", "OUTER")},
    **{("", kind): "inner" for kind in ("", "INNER", "CROSS")},
}
"""The join each (side, kind) of a SQL ``JOIN`` is; a right join is planned as the swapped
left join."""


def _join_kind(node: exp.Join, ctx: Context) -> JoinHow | Literal["right"]:
    side, kind, method = node.side.upper(), node.kind.upper(), node.method.upper()
    if method:
        raise ctx.unsupported(f"{method} JOIN", node)
    how = JOIN_KINDS.get((side, kind))
    if how is None:
        raise ctx.unsupported(f"{' '.join(filter(None, (side, kind)))} JOIN", node)
    return how


def _sides(
    node: exp.Expr, left: Relation, right: Relation, ctx: Context, strict: bool = True
) -> set[str] | None:
    """Which sides the columns of ``node`` come from; None (or, ``strict``, an error) if one
    is on neither side."""
    found: set[str] = set()
    for column in node.find_all(exp.Column):
        in_left = bool(left.find(column.name, column.table or None))
        in_right = bool(right.find(column.name, column.table or None))
        if in_left == in_right:
            if not strict and not in_left:
                return None
            Relation(left.stream, left.bindings + right.bindings).resolve(column, ctx)
        found.add("left" if in_left else "right")
    return found


def key_column(relation: Relation, node: exp.Expr, ctx: Context) -> tuple[Relation, str]:
    """The column holding a join key (computed into a new column if it is an expression).

    >>> import sabot_lab as sl
    >>> from sabot_lab.sql.parse import parse
    >>> ctx = Context("SELECT x + 1 FROM t", {})
    >>> _, name = key_column(Relation.of(sl.from_pydict({"x": [1]})), parse(ctx.text).expressions[0], ctx)
    >>> name
    '_key0'
    """
    expr = translate(node, RowScope(relation, ctx, "ON"))
    if isinstance(expr, Column):
        return relation, str(expr.param("name"))
    name = ctx.fresh("key", relation.stream.columns)
    with ctx.building(node, "ON"):
        stream = relation.stream.with_columns(expr.alias(name))
    return replace(relation, stream=stream), name


def _key_pairs(
    conditions: Sequence[exp.Expr], left: Relation, right: Relation, ctx: Context, strict: bool
) -> tuple[list[tuple[exp.Expr, exp.Expr]], list[exp.Expr]]:
    """The ``left = right`` equalities among ``conditions``, and the other conditions."""
    pairs, others = [], []
    for condition in conditions:
        if isinstance(condition, exp.EQ):
            sides = (
                _sides(condition.this, left, right, ctx, strict),
                _sides(condition.expression, left, right, ctx, strict),
            )
            if sides == ({"left"}, {"right"}):
                pairs.append((condition.this, condition.expression))
                continue
            if sides == ({"right"}, {"left"}):
                pairs.append((condition.expression, condition.this))
                continue
        others.append(condition)
    return pairs, others


def _using_pairs(
    node: exp.Join, left: Relation, right: Relation, ctx: Context
) -> list[tuple[exp.Expr, exp.Expr]]:
    pairs: list[tuple[exp.Expr, exp.Expr]] = []
    for identifier in node.args["using"]:
        name = identifier.name
        for side, relation in (("left", left), ("right", right)):
            if len(relation.find(name)) != 1:
                raise ctx.error(
                    f"USING ({name}): the {side} side has {len(relation.find(name))} columns "
                    f"named '{name}'; it needs exactly one",
                    identifier,
                )
        pairs.append((exp.column(name), exp.column(name)))
    return pairs


def join_relations(
    left: Relation, node: exp.Join, right: Relation, where: Sequence[exp.Expr], ctx: Context
) -> tuple[Relation, list[exp.Expr]]:
    """Join ``right`` to ``left`` as the ``JOIN`` clause ``node`` says; returns the joined
    relation and the ``WHERE`` conditions left (a join without ``ON`` takes its equalities
    from ``where``). A right join is the left join of the swapped sides."""
    label = _join_kind(node, ctx)
    swapped = label == "right"
    how: JoinHow = "left" if label == "right" else label
    if swapped:
        left, right = right, left
    if left.window is not None or right.window is not None:
        raise ctx.error(
            "a window table function's rows must be grouped (GROUP BY window_start, "
            "window_end) before they are joined; join the grouped query",
            node,
        )
    shared = {q.lower() for q in left.qualifiers()} & {q.lower() for q in right.qualifiers()}
    if shared:
        raise ctx.error(
            f"the name '{sorted(shared)[0]}' stands for two tables in FROM; give one an alias",
            node,
        )
    version = node.this.args.get("version") if isinstance(node.this, exp.Table) else None
    if version is not None:
        _lookup_join(version, right if swapped else left, left if swapped else right, ctx)
    remaining = list(where)
    using = node.args.get("using")
    others: list[exp.Expr]
    if using:
        pairs, others = _using_pairs(node, left, right, ctx), []
    elif node.args.get("on") is not None:
        pairs, others = _key_pairs(conjuncts(node.args["on"]), left, right, ctx, strict=True)
    else:
        pairs, remaining = _key_pairs(where, left, right, ctx, strict=False)
        others = []
    if not pairs and how != "inner":
        raise _missing_equality(label, others, left, right, node, ctx)
    if others and how == "full":
        raise ctx.unsupported(
            f"the condition {sql_text(others[0])} in the ON of a FULL JOIN (it takes "
            "equalities between the sides; filter the sides in subqueries)",
            others[0],
        )
    right_filters = [c for c in others if _sides(c, left, right, ctx) == {"right"}]
    post_filters = [c for c in others if not any(c is r for r in right_filters)]
    if post_filters and how != "inner":
        raise ctx.unsupported(
            f"the condition {sql_text(post_filters[0])} in the ON of a {label.upper()} JOIN "
            "(it takes equalities between the sides and conditions on the joined table)",
            post_filters[0],
        )
    right = filtered(right, right_filters, ctx, "ON")
    left_keys, right_keys = [], []
    for left_node, right_node in pairs:
        left, left_key = key_column(left, left_node, ctx)
        right, right_key = key_column(right, right_node, ctx)
        left_keys.append(left_key)
        right_keys.append(right_key)
    right, right_keys = _right_payload(left, right, how, left_keys, right_keys, ctx)
    with ctx.building(node, f"{label.upper()} JOIN"):
        timed = None
        if pairs and how == "inner":  # an interval or window join, when time bounds it
            equal = [exp.EQ(this=a.copy(), expression=b.copy()) for a, b in pairs]
            conditions = [*equal, *others, *remaining]
            timed = time_bounded_join(left, right, left_keys, right_keys, conditions, ctx)
        if timed is not None:
            stream = timed
        elif pairs:
            stream = left.stream.join(right.stream, left_on=left_keys, right_on=right_keys, how=how)
        elif not (left.stream.bounded or right.stream.bounded):
            raise refusal(ctx, node)
        else:
            stream = left.stream.join(right.stream, how="cross")
    bindings = left.bindings
    if how in ("inner", "left", "full"):
        hidden = {i.name.lower() for i in using or ()}
        joined = tuple(
            replace(b, star=False) if b.name.lower() in hidden else b for b in right.bindings
        )
        if how == "full" and hidden:
            stream, bindings = _coalesced_keys(stream, left.bindings, joined, hidden, ctx)
        bindings = (
            _right_join_order(joined, left.bindings, hidden) if swapped else bindings + joined
        )
    return filtered(Relation(stream, bindings), post_filters, ctx, "ON"), remaining


def _lookup_join(version: exp.Expr, probe: Relation, table: Relation, ctx: Context) -> None:
    """Check ``JOIN t FOR SYSTEM_TIME AS OF probe.time``: a lookup join into a table whose
    rows do not change while the query runs, which is then the join as written; its time is
    a column of the probing side. A table that changes with event time (a stream with a
    watermark, or one without end) is refused, naming what does that join."""
    time = version.args.get("expression")
    if str(version.args.get("kind", "")).upper() != "AS OF" or not isinstance(time, exp.Column):
        raise ctx.unsupported(
            f"{version.sql()} (write FOR SYSTEM_TIME AS OF <a time column of the other side>)",
            version,
        )
    if time.table and time.table.lower() not in {q.lower() for q in probe.qualifiers()}:
        raise ctx.error(
            f"FOR SYSTEM_TIME AS OF takes a time column of the side that probes the table "
            f"({', '.join(probe.qualifiers())}), got {time.sql()}",
            time,
        )
    probe.resolve(time, ctx)  # an unknown column is an error naming the available ones
    stream = table.stream
    if not stream.bounded or stream.graph.event_time(stream.node_id) is not None:
        raise ctx.unsupported(
            "a temporal join (FOR SYSTEM_TIME AS OF) into a table that changes with event time "
            "(the version of each key as of each row's time: Stream.join_asof(other, on=time, "
            "by=keys) does that in Python)",
            version,
        )


def _missing_equality(
    label: str, conditions: Sequence[exp.Expr], left: Relation, right: Relation, node: exp.Join,
    ctx: Context,
) -> SQLError:  # fmt: skip
    """The error for a join other than inner without an equality between its sides: where an
    equality between them stands inside an ``OR`` that not every branch repeats, that is the
    cause named."""
    for condition in conditions:
        for equality in condition.find_all(exp.EQ):
            if not _inside_or(equality, condition):
                continue
            sides = (
                _sides(equality.this, left, right, ctx, strict=False),
                _sides(equality.expression, left, right, ctx, strict=False),
            )
            if sides in (({"left"}, {"right"}), ({"right"}, {"left"})):
                return ctx.error(
                    f"the {label} join's equality {sql_text(equality)} is inside an OR whose "
                    f"other branches do not all repeat it, so it cannot be the join's key; a "
                    f"{label} join needs an equality between its two sides that holds for every "
                    "pair it joins: write it once, outside the OR (ON a.k = b.k AND (... OR ...))",
                    equality,
                )
    return ctx.error(
        f"the {label} join needs an equality between its two sides (ON a.id = b.id or "
        "USING (id)); only an inner join may have none (a cross join, filtered by its ON)",
        node,
    )


def _inside_or(node: exp.Expr, top: exp.Expr) -> bool:
    """True if an ``OR`` stands between ``node`` and ``top`` (its ancestor), or is ``top``."""
    parent = node.parent
    while parent is not None:
        if isinstance(parent, exp.Or):
            return True
        if parent is top:
            return False
        parent = parent.parent
    return False


def is_listed(node: exp.Join) -> bool:
    """True for a table of a ``FROM a, b`` list or of a ``CROSS JOIN`` (an inner join
    without ``ON`` or ``USING``, not ``UNNEST``): it joins on the ``WHERE`` equalities, in any
    order."""
    plain = not (node.side or node.method or node.args.get("on") or node.args.get("using"))
    return (
        plain
        and node.kind.upper() in ("", "INNER", "CROSS")
        and not isinstance(node.this, exp.Unnest)
    )


def join_listed(
    left: Relation, items: Sequence[tuple[exp.Join, Relation]], where: Sequence[exp.Expr],
    ctx: Context,
) -> tuple[Relation, list[exp.Expr]]:  # fmt: skip
    """Join the items of a ``FROM`` list (or of ``CROSS JOIN``) to ``left``, each next the
    first one that a ``WHERE`` equality joins to those already joined, so that no cross product
    is made where keys exist, whatever the order written (the optimizer then orders the joins
    by their cost); returns the relation, its names in the order written, and the ``WHERE``
    conditions left.

    >>> import sabot_lab as sl
    >>> from sabot_lab.sql.parse import parse
    >>> text = "SELECT * FROM a, b, c WHERE a.x = c.x AND c.y = b.y"
    >>> ctx, node = Context(text, {}), parse(text)
    >>> tables = {n: Relation.of(sl.from_pydict({c: [1] for c in cs}), n) for n, cs in [("a", "x"), ("b", "y"), ("c", "xy")]}
    >>> items = [(j, tables[j.this.name]) for j in node.args["joins"]]
    >>> joined, rest = join_listed(tables["a"], items, conjuncts(node.args["where"].this), ctx)
    >>> [f"{b.qualifier}.{b.name}" for b in joined.bindings], rest
    (['a.x', 'b.y', 'c.x', 'c.y'], [])
    >>> print(joined.stream.explain(optimized=False))  # doctest: +ELLIPSIS
    [P...] inner_join left_on=[y] right_on=[y]  #hash_join_...
      [P...] inner_join left_on=[x] right_on=[x]  #hash_join_...
    ...
    """
    pending = list(items)
    start = len(left.bindings)
    taken: list[tuple[exp.Join, Relation]] = []
    remaining = list(where)
    while pending:
        item = next((i for i in pending if _joins(remaining, left, i[1], ctx)), pending[0])
        pending.remove(item)
        taken.append(item)
        left, remaining = join_relations(left, item[0], item[1], remaining, ctx)
    chunks: dict[int, tuple[Binding, ...]] = {}
    position = start
    for node, relation in taken:  # each join appends the bindings of its right side
        chunks[id(node)] = left.bindings[position : position + len(relation.bindings)]
        position += len(relation.bindings)
    written = [b for node, _ in items for b in chunks[id(node)]]
    return replace(left, bindings=(*left.bindings[:start], *written)), remaining


def _joins(where: Sequence[exp.Expr], left: Relation, right: Relation, ctx: Context) -> bool:
    """True if some condition of ``where`` is an equality between ``left`` and ``right``."""
    return bool(_key_pairs(where, left, right, ctx, strict=False)[0])


def _coalesced_keys(
    stream: Stream, left: Sequence[Binding], right: Sequence[Binding], using: set[str],
    ctx: Context,
) -> tuple[Stream, tuple[Binding, ...]]:  # fmt: skip
    """The left bindings of ``a FULL JOIN b USING (k)``: ``k`` alone is the key of either side
    (``COALESCE(a.k, b.k)``, in a new column where ``a.k`` stood); ``a.k`` keeps ``a``'s."""
    right_keys = {b.name.lower(): b.column for b in right if b.name.lower() in using}
    shown: list[Binding] = []
    columns: list[Expr] = []
    for binding in left:
        if binding.star and binding.name.lower() in using:
            column = ctx.fresh(binding.name, stream.columns)
            key = col(binding.column or "").fill_null(col(right_keys[binding.name.lower()] or ""))
            columns.append(key.alias(column))
            shown += [Binding(None, binding.name, column), replace(binding, star=False)]
        else:
            shown.append(binding)
    with ctx.building(None, "FULL JOIN ... USING"):
        return stream.with_columns(*columns), tuple(shown)


def _right_join_order(
    first: Sequence[Binding], second: Sequence[Binding], using: set[str]
) -> tuple[Binding, ...]:
    """The names of ``a RIGHT JOIN b`` in SQL's order, ``a``'s then ``b``'s, from the bindings
    of the swapped join: a ``USING`` key shows ``b``'s value where ``a``'s column stood, as
    DuckDB lists it."""
    keys = {b.name.lower(): b for b in second if b.star and b.name.lower() in using}
    shown: list[Binding] = []
    for binding in first:
        key = keys.get(binding.name.lower())
        if key is not None and key not in shown:
            shown.append(key)
        shown.append(binding)
    return (*shown, *(b for b in second if b not in shown))


def _right_payload(
    left: Relation, right: Relation, how: str, left_keys: list[str], right_keys: list[str],
    ctx: Context,
) -> tuple[Relation, list[str]]:  # fmt: skip
    """The right side with the columns the join keeps named apart from the left side's, and
    its bindings pointing at the columns the joined stream will have; its keys' new names."""
    if how not in ("inner", "left", "full"):
        return right, right_keys
    taken = [*left.stream.columns, *right.stream.columns]
    moved: dict[str, str] = {}
    stream = right.stream
    if how == "inner":  # equal keys: the left ones stand for the right ones
        moved = {r: lk for lk, r in zip(left_keys, right_keys, strict=True)}
    elif how == "left":  # null where nothing matched: keep a copy of the right keys
        used = {b.column for b in right.bindings}
        moved = {r: ctx.fresh(r, taken) for r in dict.fromkeys(right_keys) if r in used}
        with ctx.building(None, "LEFT JOIN"):
            stream = stream.with_columns(*[col(r).alias(c) for r, c in moved.items()])
    renamed = {
        c: ctx.fresh(c, taken)
        for c in stream.columns
        if (c not in right_keys or how == "full") and c in left.stream.columns
    }
    if renamed:
        stream = stream.rename(renamed)
    bindings = tuple(
        Binding(
            b.qualifier,
            b.name,
            moved.get(b.column or "") or renamed.get(b.column or "", b.column),
            b.star,
        )
        for b in right.bindings
    )
    return Relation(stream, bindings), [renamed.get(k, k) for k in right_keys]
