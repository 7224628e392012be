"""What a ``%%sabot`` cell does before its query runs, without IPython: split the magic's line
into options and the ``result <<`` target, fill ``{{name}}`` placeholders from the notebook's
variables, and pick the tables the script names (or its views read) among them.

>>> import pyarrow as pa
>>> ns = {"quotes": pa.table({"px": [5, 50, 500]}), "low": 10}
>>> query = expand_template("SELECT px FROM quotes WHERE px > {{ low }}", ns)
>>> query
'SELECT px FROM quotes WHERE px > 10'
>>> sorted(tables_in(query, ns))
['quotes']
>>> split_target("--explain top <<")
('--explain', 'top', '')
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

import pyarrow as pa
from sqlglot import exp

from sabot_lab.errors import SQLError, closest_match
from sabot_lab.sql.context import Context, find_name
from sabot_lab.sql.parse import parse, parse_script, position
from sabot_lab.stream import Stream

__all__ = ["expand_template", "is_table", "split_target", "tables_in"]

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_TARGET = re.compile(r"(?:^|\s)([A-Za-z_]\w*)\s*<<(.*)$", re.DOTALL)


def split_target(line: str) -> tuple[str, str | None, str]:
    """Split a ``%%sabot`` line into its options, the variable named before ``<<`` (None
    without one) and any query text after ``<<``.

    >>> split_target("--cluster c2")
    ('--cluster c2', None, '')
    >>> split_target("out << SELECT 1")
    ('', 'out', 'SELECT 1')
    """
    found = _TARGET.search(line)
    if found is None:
        return line.strip(), None, ""
    return line[: found.start()].strip(), found.group(1), found.group(2).strip()


def expand_template(query: str, namespace: Mapping[str, Any]) -> str:
    """``query`` with each ``{{name}}`` replaced by ``str()`` of the variable ``name`` in
    ``namespace``. Only names are read, nothing is evaluated; a string goes in as it is, so
    quote it in the SQL (``'{{ticker}}'``).

    Raises :class:`~sabot_lab.errors.SQLError` at the placeholder when it holds anything but
    a name, or a name the notebook does not define.

    >>> expand_template("SELECT * FROM t WHERE px > {{lo + 1}}", {"lo": 1})
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SQLError: line 1, column 28: {{lo + 1}} is not a variable name: a placeholder holds one name, as in {{lo}}
      SELECT * FROM t WHERE px > {{lo + 1}}
                                ^
    >>> expand_template("SELECT {{hi}}", {"hi_": 1})
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SQLError: line 1, column 8: {{hi}}: the notebook has no variable 'hi'. Did you mean 'hi_'? Define it in a cell before this one
      SELECT {{hi}}
             ^
    """

    def fill(found: re.Match[str]) -> str:
        name = found.group(1).strip()
        line, column = position(query, found.start())
        if not name.isidentifier():
            raise SQLError(
                f"{found.group(0)} is not a variable name: a placeholder holds one name, as in "
                f"{{{{{_first_name(name)}}}}}",
                line,
                column,
                query,
            )
        if name not in namespace:
            hint = closest_match(name, [n for n in namespace if not n.startswith("_")])
            suggestion = f" Did you mean '{hint}'?" if hint else ""
            raise SQLError(
                f"{found.group(0)}: the notebook has no variable '{name}'.{suggestion} "
                "Define it in a cell before this one",
                line,
                column,
                query,
            )
        return str(namespace[name])

    return _PLACEHOLDER.sub(fill, query)


def _first_name(text: str) -> str:
    found = re.search(r"[A-Za-z_]\w*", text)
    return found.group(0) if found else "name"


def is_table(value: Any) -> bool:
    """Whether ``value`` can be a table of ``sl.sql``: a Stream, an Arrow table, record batch
    or reader, or a pandas DataFrame.

    >>> import sabot_lab as sl
    >>> is_table(sl.from_pydict({"x": [1]})), is_table([1, 2])
    (True, False)
    """
    if isinstance(value, Stream | pa.Table | pa.RecordBatch | pa.RecordBatchReader):
        return True
    return type(value).__module__.split(".")[0] == "pandas" and hasattr(value, "columns")


def tables_in(
    query: str,
    namespace: Mapping[str, Any],
    views: Mapping[str, str] | None = None,
    known: Collection[str] = (),
) -> dict[str, Any]:
    """The notebook variables a script reads as tables, by the names its queries use (found
    ignoring case, as SQL names are): ``WITH`` queries are not looked up, nor the ``views``
    (name → SQL, as :meth:`~sabot_lab.SQLContext.views` gives), the ``known`` names (the
    SQL context's tables) and the views and tables the script creates (``INSERT INTO``'s
    table is one of those); the tables those views read are, where the notebook has them.

    Raises :class:`~sabot_lab.errors.SQLError` at a table the notebook does not define, with
    the closest name and the tables it has, or for a syntax error.

    >>> import pyarrow as pa
    >>> ns = {"quotes": pa.table({"x": [1]}), "secs": pa.table({"y": [1]}), "n": 3}
    >>> sorted(tables_in("CREATE VIEW v AS SELECT * FROM quotes; SELECT * FROM v, w", ns, {"w": "SELECT * FROM secs"}))
    ['quotes', 'secs']
    >>> tables_in("SELECT * FROM qoutes", ns)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SQLError: line 1, column 15: the notebook has no table 'qoutes'. Did you mean 'quotes'? Tables in the notebook: quotes, secs
      SELECT * FROM qoutes
                    ^
    """
    views = views or {}
    statements = parse_script(query)
    defined = {name.lower() for name in [*views, *known]} | {
        _created(s).lower() for s in statements if _created(s)
    }
    found: dict[str, Any] = {}
    for node in _tables_read(statements, defined):
        variable = find_name(node.name, namespace)
        if variable is None:
            raise Context(query, {}).error(_no_table(node.name, namespace), node)
        found[node.name] = namespace[variable]
    for node in _tables_read([parse(sql) for sql in views.values()], defined):
        variable = find_name(node.name, namespace)
        if variable is not None and is_table(namespace[variable]):
            found.setdefault(node.name, namespace[variable])
    return found


def _created(statement: exp.Expr) -> str:
    """The name of the view or table a ``CREATE VIEW`` or ``CREATE TABLE`` statement creates
    ("" for other statements)."""
    kind = str(statement.args.get("kind") or "").upper()
    if not isinstance(statement, exp.Create) or kind not in ("VIEW", "TABLE"):
        return ""
    target = statement.this
    return str((target.this if isinstance(target, exp.Schema) else target).name)


def _tables_read(statements: list[exp.Expr], views: set[str]) -> list[exp.Table]:
    """The table references of the statements' queries that name neither a view nor a
    ``WITH`` query."""
    tables = []
    for statement in statements:
        query = (
            statement.expression if isinstance(statement, exp.Create | exp.Insert) else statement
        )
        if isinstance(statement, exp.Drop) or query is None:
            continue
        local = {cte.alias.lower() for cte in query.find_all(exp.CTE)}
        for node in query.find_all(exp.Table):
            if node.name and node.name.lower() not in local | views:
                tables.append(node)
    return tables


def _no_table(name: str, namespace: Mapping[str, Any]) -> str:
    tables = sorted(n for n, v in namespace.items() if not n.startswith("_") and is_table(v))
    hint = closest_match(name, tables)
    suggestion = f". Did you mean '{hint}'?" if hint else "."
    listing = ", ".join(tables) or "(none yet)"
    return f"the notebook has no table '{name}'{suggestion} Tables in the notebook: {listing}"
