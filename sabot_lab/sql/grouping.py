"""``GROUP BY`` and aggregates: the group keys (columns, expressions, ``GROUP BY 1``, ``SELECT``
aliases, window bounds), the aggregates a query uses, and the grouped stream
(:meth:`~sabot_lab.stream.Stream.group_by`, :meth:`~sabot_lab.stream.Stream.agg`, or
:meth:`~sabot_lab.stream.Stream.window` for a window table function).

A :class:`Grouping` is also the :class:`~sabot_lab.sql.expressions.Scope` of ``SELECT``,
``HAVING`` and ``ORDER BY`` in a grouped query: a group key stands for itself, an aggregate
for its result column, and any other column is an error.

>>> import sabot_lab as sl
>>> from sabot_lab.sql.context import Context
>>> from sabot_lab.sql.expressions import translate
>>> from sabot_lab.sql.parse import parse
>>> from sabot_lab.sql.relation import Relation
>>> ctx = Context("SELECT k, SUM(x) + 1 FROM t GROUP BY k", {})
>>> select = parse(ctx.text)
>>> g = Grouping(Relation.of(sl.from_pydict({"k": ["a", "a"], "x": [1, 2]})), select.args["group"], select.expressions, ctx)
>>> out = translate(select.expressions[1], g)
>>> g.build(select).select(out.alias("s")).collect().to_pydict()
{'s': [4]}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from sabot_lab.errors import SQLError
from sabot_lab.expr import Expr, col, count
from sabot_lab.expr.nodes import Column
from sabot_lab.sql.context import Context
from sabot_lab.sql.expressions import (
    RowScope,
    aggregate,
    as_written,
    contains_aggregate,
    sql_text,
    translate,
)
from sabot_lab.sql.relation import Relation
from sabot_lab.sql.window_tables import WINDOW_BOUNDS
from sabot_lab.stream import Stream

__all__ = ["Grouping", "substitute_aliases"]


def substitute_aliases(node: exp.Expr, items: Sequence[exp.Expr], relation: Relation) -> exp.Expr:
    """``node`` with each bare name that is no column of ``relation`` but a ``SELECT`` alias
    replaced by the aliased expression (``GROUP BY``/``HAVING`` may use aliases).

    >>> import sabot_lab as sl
    >>> from sabot_lab.sql.parse import parse
    >>> select = parse("SELECT x + 1 AS y FROM t HAVING y > 2")
    >>> substitute_aliases(select.args["having"].this, select.expressions, Relation.of(sl.from_pydict({"x": [1]}))).sql()
    'x + 1 > 2'
    """
    aliases = {i.alias.lower(): i.this for i in items if isinstance(i, exp.Alias)}

    def swap(part: exp.Expr) -> exp.Expr:
        if (
            isinstance(part, exp.Column)
            and not part.table
            and part.name.lower() in aliases
            and not relation.find(part.name)
        ):
            return aliases[part.name.lower()].copy()
        return part

    return node.transform(swap)


class Grouping:
    """The groups of a query: keys from ``group`` (None: one group of all rows), and the
    aggregates registered while its ``SELECT``, ``HAVING`` and ``ORDER BY`` are translated."""

    def __init__(
        self, relation: Relation, group: exp.Group | None, items: Sequence[exp.Expr], ctx: Context
    ) -> None:
        self.ctx = ctx
        self.source = relation
        self.keys: list[str] = []
        self.expression_keys: list[tuple[Expr, str]] = []
        self.window_keys: list[str] = []
        self.aggregates: dict[Any, tuple[str, Expr]] = {}
        self.group = group
        nodes = list(group.expressions) if group is not None else []
        if group is not None and group.args.get(
            "all"
        ):  # GROUP BY ALL: the items without aggregates
            nodes = [i for i in items if not contains_aggregate(i) and not i.find(exp.Star)]
        for node in nodes:
            self._add_key(self._key_node(node, items), node)
        if self.expression_keys:
            computed = [e.alias(name) for e, name in self.expression_keys]
            with ctx.building(group, "GROUP BY"):
                stream = relation.stream.with_columns(*computed)
            relation = Relation(stream, relation.bindings, relation.window)
        self.relation = relation
        self._rows = RowScope(relation, ctx, "GROUP BY")
        self._check_window()

    # -- keys ------------------------------------------------------------------------
    def _key_node(self, node: exp.Expr, items: Sequence[exp.Expr]) -> exp.Expr:
        if isinstance(node, exp.Literal) and node.is_int:
            position = int(node.this)
            if not 1 <= position <= len(items) or isinstance(items[position - 1], exp.Star):
                raise self.ctx.error(
                    f"GROUP BY {position} names no column of the SELECT list (it has {len(items)})",
                    node,
                )
            node = items[position - 1]
        if isinstance(node, exp.Alias):
            return node.this
        return substitute_aliases(node, items, self.source)

    def _add_key(self, node: exp.Expr, at: exp.Expr) -> None:
        if contains_aggregate(node):
            raise self.ctx.error(f"GROUP BY cannot hold the aggregate {as_written(node)}", at)
        if isinstance(node, exp.Column) and not self._struct_field(node):
            binding = self.source.resolve(node, self.ctx)
            if binding.column is None:
                self.window_keys.append(binding.name)
                return
        expr = translate(node, RowScope(self.source, self.ctx, "GROUP BY"))
        if isinstance(expr, Column):
            name = expr.param("name")
        else:
            known = [n for e, n in self.expression_keys if e.equals(expr)]
            if known:
                return
            name = self.ctx.fresh("key", self.source.stream.columns)
            self.expression_keys.append((expr, name))
        if name not in self.keys:
            self.keys.append(name)

    def _struct_field(self, node: exp.Column) -> bool:
        """Whether ``node`` (``s.f``) is a field of a struct column rather than a column."""
        if not node.table:
            return False
        qualifiers = {q.lower() for q in self.source.qualifiers()}
        return node.table.lower() not in qualifiers or bool(node.args.get("db"))

    def _check_window(self) -> None:
        window = self.relation.window
        if window is None:
            return
        kind = window.node.kind
        if sorted(set(self.window_keys)) != sorted(WINDOW_BOUNDS):
            raise self.ctx.error(
                f"the rows of {kind}(...) are aggregated per window: "
                "GROUP BY window_start, window_end (and any other keys)",
                self.group or window.node,
            )
        if window.spec.kind == "session" and set(window.partition) != set(self.keys):
            raise self.ctx.error(
                f"SESSION windows are kept per key: PARTITION BY {', '.join(window.partition) or '(nothing)'} "
                f"must name the same columns as the other GROUP BY keys ({', '.join(self.keys) or 'none'})",
                window.node,
            )

    # -- the scope of SELECT, HAVING and ORDER BY ----------------------------------------
    def column(self, node: exp.Column) -> Expr:
        """A group key (or a window bound); an error for any other column."""
        binding = self.source.resolve(node, self.ctx)
        if binding.column is None:
            return col(binding.name)
        if binding.column in self.keys:
            return col(binding.column)
        raise self.ctx.error(
            f"column '{sql_text(node)}' must appear in GROUP BY or be used in an aggregate "
            f"function such as SUM({sql_text(node)}) or MIN({sql_text(node)})",
            node,
        )

    def replace(self, node: exp.Expr) -> Expr | None:
        """The result column of an aggregate or of a grouped expression."""
        if isinstance(node, exp.AggFunc | exp.WithinGroup):
            rows = RowScope(self.relation, self.ctx, f"the argument of {as_written(node)}")
            expr = aggregate(node, rows)
            with self.ctx.building(node, as_written(node)):
                expr.output_field(self.relation.stream.schema)
            name, _ = self.aggregates.setdefault(
                expr.key(), (self.ctx.fresh("agg", self.relation.stream.columns), expr)
            )
            return col(name)
        if self.expression_keys and not isinstance(node, exp.Column | exp.Literal):
            if contains_aggregate(node):
                return None
            try:
                expr = translate(node, self._rows)
            except SQLError:
                return None  # it reads an ungrouped column: its parts tell which
            for key, name in self.expression_keys:
                if key.equals(expr):
                    return col(name)
        return None

    # -- the grouped stream ------------------------------------------------------------
    def build(self, node: exp.Expr) -> Stream:
        """The stream of one row per group: keys (window bounds), then the aggregates."""
        aggs = [expr.alias(name) for name, expr in self.aggregates.values()]
        if not aggs and not self.keys:
            aggs = [count().alias(self.ctx.fresh("agg", self.relation.stream.columns))]
        stream = self.relation.stream
        with self.ctx.building(self.group or node, "GROUP BY"):
            window = self.relation.window
            if window is not None:
                windowed = stream.window(window.spec)
                if self.keys:
                    grouped = windowed.group_by(*self.keys).agg(*aggs)
                else:
                    grouped = windowed.agg(*aggs)
                if window.starts_every is None:
                    return grouped
                start = col(WINDOW_BOUNDS[0]).dt.truncate(window.starts_every)
                return grouped.with_columns(start.alias(WINDOW_BOUNDS[0]))
            if self.keys:
                return stream.group_by(*self.keys).agg(*aggs)
            return stream.agg(*aggs)
