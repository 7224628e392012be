"""SQL scripts: statements separated by semicolons, run in order against a
:class:`~sabot_lab.sql.catalog.Catalog`. A query gives a stream (the script's result is its
last query's); ``CREATE [OR REPLACE] [TEMP] VIEW [IF NOT EXISTS] name [(columns)] AS query``
and ``DROP VIEW [IF EXISTS] name`` change the catalog's views, with DuckDB's rules:

- a view is bound when a query reads it (a view of a view sees the other's current
  definition, and reading a view whose table or view was dropped is an error), and checked
  when it is created: an unknown table or column is an error at ``CREATE``;
- a view cannot take a table's name (``CREATE [OR REPLACE] VIEW`` over a table is an error),
  nor an existing view's without ``OR REPLACE`` (or ``IF NOT EXISTS``, which keeps the old one);
- ``DROP VIEW`` of a table, or of a missing view without ``IF EXISTS``, is an error;
- a view that reads itself, directly or through others, is an error.

Flink SQL's ``CREATE TABLE ... WITH ('connector' = ...)``, ``DROP TABLE`` and ``CREATE
FUNCTION`` (:mod:`sabot_lab.sql.ddl`) and ``INSERT INTO`` (:mod:`sabot_lab.sql.insert`) run
too. Errors point at their line and column in the whole script. ``CREATE TABLE ... AS`` and
other statements are refused, naming the statement.

May import: the rest of :mod:`sabot_lab.sql`, ``sqlglot``.

>>> import sabot_lab as sl
>>> from sabot_lab.sql.catalog import Catalog
>>> catalog = Catalog({"t": sl.from_pydict({"k": ["a", "b", "a"], "x": [1, 2, 3]})})
>>> stream = run_script(
...     "CREATE VIEW totals (key, total) AS SELECT k, SUM(x) FROM t GROUP BY k;\\n"
...     "SELECT * FROM totals ORDER BY key;", catalog)
>>> stream.collect().to_pydict(), catalog.names()
({'key': ['a', 'b'], 'total': [4, 2]}, ['t', 'totals'])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from sqlglot import exp

from sabot_lab.expr import col
from sabot_lab.sql.catalog import Catalog, View
from sabot_lab.sql.context import Context
from sabot_lab.sql.ddl import create_function, create_table, drop_table
from sabot_lab.sql.insert import insert_into
from sabot_lab.sql.parse import SabotDialect, parse_script
from sabot_lab.sql.select import query_relation, unique_names
from sabot_lab.stream import Stream

if TYPE_CHECKING:
    from sabot_lab.client import Cluster, Job

__all__ = ["CatalogTables", "run_script"]

_VIEW_FLAGS = {"this", "kind", "replace", "expression", "exists", "properties"}
_DROP_FLAGS = {"tables", "kind", "exists"}


class CatalogTables(Mapping[str, Stream]):
    """A catalog's tables and views as the streams a query reads: a view's stream is built
    from its query when a query first reads it, against the catalog as it is then.

    >>> import sabot_lab as sl
    >>> catalog = Catalog({"t": sl.from_pydict({"x": [1, 2]})})
    >>> run_script("CREATE VIEW big AS SELECT x FROM t WHERE x > 1", catalog)
    >>> CatalogTables(catalog)["big"].collect().to_pydict()
    {'x': [2]}
    """

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self.functions = catalog.functions
        self._built: dict[str, Stream] = {}
        self._binding: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return iter([*self._catalog.tables, *self._catalog.connectors, *self._catalog.views])

    def __len__(self) -> int:
        catalog = self._catalog
        return len(catalog.tables) + len(catalog.connectors) + len(catalog.views)

    def __getitem__(self, name: str) -> Stream:
        if name in self._catalog.tables:
            return self._catalog.tables[name]
        if name in self._catalog.connectors:  # read from its connector, once per script
            if name not in self._built:
                self._built[name] = self._catalog.connectors[name].source(self.functions)
            return self._built[name]
        view = self._catalog.views[name]
        if name not in self._built:
            if name in self._binding:
                raise self._recursion(name)
            self._binding.append(name)
            try:
                self._built[name] = _view_stream(view, self)
            finally:
                self._binding.pop()
        return self._built[name]

    def _recursion(self, name: str) -> Exception:
        """The error for a view that reads itself, at the reference that closes the loop."""
        reader = self._catalog.views[self._binding[-1]]
        loop = " → ".join([*self._binding[self._binding.index(name) :], name])
        node = next(
            (t for t in reader.query.find_all(exp.Table) if t.name.lower() == name.lower()),
            None,
        )
        return Context(reader.text, {}).error(
            f"view '{name}' reads itself ({loop}): a view cannot be defined by itself", node
        )


def _view_stream(view: View, tables: CatalogTables) -> Stream:
    """A view's query as a stream, its columns renamed to the names listed after the view's."""
    ctx = Context(view.text, tables, tables.functions)
    stream = query_relation(view.query, ctx).stream
    if len(view.names) > len(stream.columns):
        raise ctx.error(
            f"view '{view.name}' names {len(view.names)} columns but its query has "
            f"{len(stream.columns)}; list at most {len(stream.columns)} names",
            view.query.parent,
        )
    names = unique_names([*view.names, *stream.columns[len(view.names) :]])
    if names == stream.columns:
        return stream
    return stream.select(*(col(c).alias(n) for c, n in zip(stream.columns, names, strict=True)))


def run_script(
    script: str,
    catalog: Catalog,
    cluster: Cluster | None = None,
    checkpoint_interval: float | None = None,
    partitions: int | None = None,
    *,
    inserts: bool = True,
) -> Stream | Job | int | None:
    """Run a script's statements in order against ``catalog``: the result of its last query
    (a stream) or ``INSERT INTO`` (rows written, or the job on ``cluster``: see
    :mod:`sabot_lab.sql.insert`), None if it has neither. ``inserts=False`` refuses
    ``INSERT INTO`` (``sl.sql()`` returns a query's stream)."""
    result: Stream | Job | int | None = None
    for statement in parse_script(script):
        ctx = Context(script, CatalogTables(catalog), catalog.functions)
        kind = str(statement.args.get("kind") or "").upper()
        if isinstance(statement, exp.Query | exp.Subquery):
            result = query_relation(statement, ctx).stream
        elif isinstance(statement, exp.Insert):
            if not inserts:
                raise ctx.error(
                    "sl.sql() returns a query's stream; run INSERT INTO with "
                    "sl.SQLContext().execute(script) (or execute(script, cluster=...))",
                    statement,
                )
            result = insert_into(statement, catalog, ctx, cluster, checkpoint_interval, partitions)
        elif isinstance(statement, exp.Create) and kind == "VIEW":
            _create_view(statement, catalog, ctx)
        elif isinstance(statement, exp.Drop) and kind == "VIEW":
            _drop_view(statement, catalog, ctx)
        elif isinstance(statement, exp.Create) and isinstance(statement.expression, exp.Query):
            raise ctx.error(
                f"CREATE {statement.kind} ... AS is not supported by sl.sql(), which keeps no "
                "results: CREATE VIEW name AS ... names a query that runs where it is read",
                statement,
            )
        elif isinstance(statement, exp.Create) and kind == "TABLE":
            create_table(statement, catalog, ctx)
        elif isinstance(statement, exp.Drop) and kind == "TABLE":
            drop_table(statement, catalog, ctx)
        elif isinstance(statement, exp.Create) and kind == "FUNCTION":
            create_function(statement, catalog, ctx)
        else:
            what = " ".join([statement.key.upper(), kind])
            raise ctx.unsupported(
                f"the {what.strip()} statement (scripts run queries, INSERT INTO, CREATE VIEW, "
                "CREATE TABLE ... WITH, CREATE FUNCTION and DROP VIEW/TABLE)",
                statement,
            )
    return result


def _check_flags(node: exp.Expr, allowed: set[str], ctx: Context) -> None:
    for key, value in node.args.items():
        if value and key not in allowed:
            raise ctx.unsupported(f"{key.upper().replace('_', ' ')} in {node.key.upper()}", node)


def _create_view(node: exp.Create, catalog: Catalog, ctx: Context) -> None:
    _check_flags(node, _VIEW_FLAGS, ctx)
    properties = node.args.get("properties")
    others = [
        p
        for p in (properties.expressions if properties is not None else [])
        if not isinstance(p, exp.TemporaryProperty)  # all views live as long as their catalog
    ]
    if others:
        raise ctx.unsupported(f"{others[0].sql()} in CREATE VIEW", node)
    target = node.this
    table = target.this if isinstance(target, exp.Schema) else target
    names = tuple(c.name for c in target.expressions) if isinstance(target, exp.Schema) else ()
    if not isinstance(table, exp.Table) or table.args.get("db") or table.args.get("catalog"):
        raise ctx.unsupported(f"the view name {target.sql()!r}", node)
    name = table.name
    existing = catalog.find(name)
    if existing in catalog.tables or existing in catalog.connectors:
        raise ctx.error(
            f"a table named '{existing}' exists: a view cannot take its name; choose another",
            table,
        )
    if existing is not None and not node.args.get("replace"):
        if node.args.get("exists"):  # IF NOT EXISTS keeps the view there is
            return
        raise ctx.error(
            f"view '{existing}' already exists: CREATE OR REPLACE VIEW redefines it, "
            "DROP VIEW removes it",
            table,
        )
    if existing is not None:
        name = existing
    view = View(name, node.expression, node.expression.sql(dialect=SabotDialect), names, ctx.text)
    before = catalog.views.get(name)
    catalog.views[name] = view
    try:
        CatalogTables(catalog)[name]  # the query is checked now, with the view in place
    except BaseException:
        if before is None:
            del catalog.views[name]
        else:
            catalog.views[name] = before
        raise


def _drop_view(node: exp.Drop, catalog: Catalog, ctx: Context) -> None:
    _check_flags(node, _DROP_FLAGS, ctx)
    for table in node.args.get("tables") or []:
        found = catalog.find(table.name)
        if found in catalog.tables or found in catalog.connectors:
            raise ctx.error(
                f"'{found}' is a table, not a view: DROP VIEW removes views only", table
            )
        if found is None:
            if node.args.get("exists"):
                continue
            listing = ", ".join(sorted(catalog.views)) or "(none)"
            raise ctx.error(f"there is no view '{table.name}'. Views: {listing}", table)
        del catalog.views[found]
