"""The rows a SQL clause sees: a stream and the names its columns go by (``t.price`` or
``price``), with the errors for names that match no column or several.

>>> import sabot_lab as sl
>>> from sabot_lab.sql.context import Context
>>> from sabot_lab.sql.parse import parse
>>> ctx = Context("SELECT q.pricee FROM quotes q", {})
>>> quotes = Relation.of(sl.from_pydict({"price": [1.0], "size": [2]}), "q")
>>> quotes.resolve(parse(ctx.text).find(exp.Column), ctx)
Traceback (most recent call last):
...
sabot_lab.errors.SQLError: line 1, column 8: column 'pricee' not found in q. Did you mean 'price'? Available columns: price, size
  SELECT q.pricee FROM quotes q
         ^
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlglot import exp

from sabot_lab.errors import column_not_found
from sabot_lab.sql.context import Context, find_name
from sabot_lab.sql.parse import WindowFunction
from sabot_lab.stream import Stream
from sabot_lab.window_specs import WindowSpec

__all__ = ["Binding", "Relation", "WindowInput"]


@dataclass(frozen=True)
class Binding:
    """A name a query can use for a column: ``qualifier.name`` (the table's alias) or just
    ``name`` when ``star`` (also listed by ``*``); ``column`` is the stream column holding it,
    None for a window bound known only once the windows are grouped."""

    qualifier: str | None
    name: str
    column: str | None
    star: bool = True


@dataclass(frozen=True)
class WindowInput:
    """The window table function a relation comes from, applied when its rows are grouped;
    ``starts_every``: the grouped windows' ``window_start`` is rounded down to a multiple of
    this duration (a ``CUMULATE`` window, lowered onto tumbling windows of its step)."""

    spec: WindowSpec
    partition: tuple[str, ...]
    node: WindowFunction
    starts_every: str | None = None


@dataclass(frozen=True)
class Relation:
    """A stream with the names of its columns (the FROM clause so far, or a query's result).

    >>> import sabot_lab as sl
    >>> r = Relation.of(sl.from_pydict({"x": [1]}), "t")
    >>> [(b.qualifier, b.name, b.column) for b in r.bindings]
    [('t', 'x', 'x')]
    """

    stream: Stream
    bindings: tuple[Binding, ...]
    window: WindowInput | None = None

    @staticmethod
    def of(stream: Stream, qualifier: str | None = None) -> Relation:
        """Every column of ``stream`` under its own name and ``qualifier``."""
        return Relation(stream, tuple(Binding(qualifier, n, n) for n in stream.columns))

    def requalified(
        self, alias: str | None, names: Sequence[str] = (), node: exp.Expr | None = None,
        ctx: Context | None = None,
    ) -> Relation:  # fmt: skip
        """The visible columns under one ``alias`` (``FROM (...) AS alias(names)``), renamed
        by position to ``names`` if given.

        >>> import sabot_lab as sl
        >>> r = Relation.of(sl.from_pydict({"x": [1], "y": [2]}), "t").requalified("u", ["a"])
        >>> [(b.qualifier, b.name) for b in r.bindings]
        [('u', 'a'), ('u', 'y')]
        """
        visible = [b for b in self.bindings if b.star]
        if len(names) > len(visible) and ctx is not None:
            raise ctx.error(
                f"{alias} names {len(names)} columns but has {len(visible)}; list at most "
                f"{len(visible)} names",
                node,
            )
        renamed = [*names, *(b.name for b in visible[len(names) :])]
        bindings = tuple(
            replace(b, qualifier=alias, name=n) for b, n in zip(visible, renamed, strict=True)
        )
        return replace(self, bindings=bindings)

    def qualifiers(self) -> list[str]:
        """The table names and aliases in scope, in order."""
        return list(dict.fromkeys(b.qualifier for b in self.bindings if b.qualifier))

    def star(self, qualifier: str | None, node: exp.Expr, ctx: Context) -> list[Binding]:
        """The columns ``*`` (or ``qualifier.*``) lists."""
        if qualifier is None:
            return [b for b in self.bindings if b.star]
        found = self._qualifier(qualifier, node, ctx)
        return [b for b in self.bindings if b.qualifier == found]

    def find(self, name: str, qualifier: str | None = None) -> list[Binding]:
        """The bindings ``qualifier.name`` (or a visible ``name``) can mean, without errors."""
        if qualifier is None:
            candidates = [b for b in self.bindings if b.star]
        else:
            found = find_name(qualifier, self.qualifiers())
            candidates = [b for b in self.bindings if found and b.qualifier == found]
        exact = [b for b in candidates if b.name == name]
        matches = exact or [b for b in candidates if b.name.lower() == name.lower()]
        return list({(b.column, b.name): b for b in matches}.values())

    def resolve(self, node: exp.Column, ctx: Context) -> Binding:
        """The binding a column reference means; an error naming the fault and the fix."""
        qualifier = node.table or None
        if qualifier is not None:
            qualifier = self._qualifier(qualifier, node, ctx)
        matches = self.find(node.name, qualifier)
        if len(matches) == 1:
            return matches[0]
        if matches:
            tables = ", ".join(f"{b.qualifier}.{b.name}" for b in matches)
            raise ctx.error(
                f"column reference '{node.name}' is ambiguous: it could be {tables}; qualify it",
                node,
            )
        if qualifier is None:
            available = [b.name for b in self.bindings if b.star]
        else:
            available = [b.name for b in self.bindings if b.qualifier == qualifier]
        where = f" in {qualifier}" if qualifier else ""
        message = str(column_not_found(node.name, list(dict.fromkeys(available))))
        raise ctx.error(message.replace(" not found.", f" not found{where}.", 1), node)

    def _qualifier(self, qualifier: str, node: exp.Expr, ctx: Context) -> str:
        found = find_name(qualifier, self.qualifiers())
        if found is None:
            listing = ", ".join(self.qualifiers()) or "(none)"
            raise ctx.error(
                f"unknown table or alias '{qualifier}'; this query reads {listing}", node
            )
        return found
