"""What a SQL translation carries along: the query text (to point errors at their place), the
tables in scope (the caller's and the ``WITH`` queries'), and names for helper columns.

>>> import sabot_lab as sl
>>> from sabot_lab.sql.parse import parse
>>> ctx = Context("SELECT * FROM qoutes", {"quotes": sl.from_pydict({"x": [1]})})
>>> ctx.table(parse(ctx.text).find(exp.Table))
Traceback (most recent call last):
...
sabot_lab.errors.SQLError: line 1, column 15: unknown table 'qoutes'. Did you mean 'quotes'? Available tables: quotes
  SELECT * FROM qoutes
                ^
"""

from __future__ import annotations

import itertools
from collections import ChainMap
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, cast

from sqlglot import exp

from sabot_lab.errors import PlanError, SQLError, closest_match
from sabot_lab.sql.parse import position
from sabot_lab.stream import Stream

__all__ = ["Context", "find_name"]


def find_name(name: str, names: Iterable[str]) -> str | None:
    """``name`` among ``names``: the same spelling, else the only one equal ignoring case (SQL
    identifiers are case-insensitive).

    >>> find_name("Price", ["price", "size"]), find_name("x", ["X", "x"]), find_name("p", ["q"])
    ('price', 'x', None)
    """
    names = list(names)
    if name in names:
        return name
    folded = [n for n in names if n.lower() == name.lower()]
    return folded[0] if len(folded) == 1 else None


@dataclass(frozen=True)
class Context:
    """The query text, the tables a query can name, the user functions it can call besides the
    registered ones (:mod:`sabot_lab.sql.functions`), and a counter for helper column names."""

    text: str
    tables: Mapping[str, Stream]
    functions: Mapping[str, Any] = field(default_factory=dict)
    _counter: Iterator[int] = field(default_factory=itertools.count, compare=False)

    def error(self, message: str, node: exp.Expr | None = None) -> SQLError:
        """A :class:`~sabot_lab.errors.SQLError` pointing at where ``node`` starts.

        >>> from sabot_lab.sql.parse import parse
        >>> ctx = Context("SELECT a\\nFROM t", {})
        >>> ctx.error("no", parse(ctx.text).find(exp.Table)).line
        2
        """
        parts = node.walk() if node is not None else ()
        starts = [part.meta["start"] for part in parts if "start" in part.meta]
        if not starts:
            return SQLError(message, query=self.text)
        line, column = position(self.text, min(starts))
        return SQLError(message, line, column, self.text)

    def unsupported(self, what: str, node: exp.Expr | None = None) -> SQLError:
        """The error for a construct sl.sql() does not translate.

        >>> print(Context("SELECT 1", {}).unsupported("QUALIFY"))
        QUALIFY is not supported by sl.sql()
        """
        return self.error(f"{what} is not supported by sl.sql()", node)

    @contextmanager
    def building(self, node: exp.Expr | None, clause: str) -> Iterator[None]:
        """Turn a :class:`~sabot_lab.errors.PlanError` raised while building ``clause`` into a
        :class:`~sabot_lab.errors.SQLError` at ``node``.

        >>> import sabot_lab as sl
        >>> with Context("SELECT 1", {}).building(None, "WHERE"):
        ...     sl.from_pydict({"x": ["a"]}).filter(sl.col("x") > 1)
        Traceback (most recent call last):
        ...
        sabot_lab.errors.SQLError: WHERE: cannot evaluate (col("x") > 1): '>' does not accept (string, int64)
        """
        try:
            yield
        except SQLError:
            raise
        except PlanError as err:
            raise self.error(f"{clause}: {err}", node) from err

    def fresh(self, stem: str, taken: Iterable[str]) -> str:
        """A column name for a helper column, not among ``taken``.

        >>> Context("", {}).fresh("key", ["_key0"])
        '_key1'
        """
        names = set(taken)
        while True:
            name = f"_{stem}{next(self._counter)}"
            if name not in names:
                return name

    def with_tables(self, tables: Mapping[str, Stream]) -> Context:
        """This context with more tables in scope (a ``WITH`` query's), hiding same names.

        >>> import sabot_lab as sl
        >>> sorted(Context("", {"a": sl.from_pydict({"x": [1]})}).with_tables({"b": sl.from_pydict({"y": [1]})}).tables)
        ['a', 'b']
        """
        outer = cast(MutableMapping[str, Stream], self.tables)  # a ChainMap writes to its first
        return replace(self, tables=ChainMap(dict(tables), outer))  # and builds no view here

    def table(self, node: exp.Table) -> Stream:
        """The stream a table reference names; an error naming the available tables if none."""
        if node.args.get("db") or node.args.get("catalog"):
            raise self.unsupported(f"the qualified table name {node.sql()!r}", node)
        found = find_name(node.name, self.tables)
        if found is None:
            hint = closest_match(node.name, self.tables)
            suggestion = f". Did you mean '{hint}'?" if hint else "."
            listing = ", ".join(sorted(self.tables)) or "(none: pass tables as keywords)"
            raise self.error(
                f"unknown table '{node.name}'{suggestion} Available tables: {listing}", node
            )
        return self.tables[found]
