"""What a ``%%sabot`` cell does before its query runs, without IPython: split the magic's line
into options and the ``result <<`` target, fill ``{{name}}`` placeholders from the notebook's
variables, and pick the tables the query names among them.

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
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from sqlglot import exp

from sabot_lab.errors import SQLError, closest_match
from sabot_lab.sql.context import Context, find_name
from sabot_lab.sql.parse import parse, position
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


def tables_in(query: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The notebook variables a query reads as tables, by the names the query uses (found
    ignoring case, as SQL names are). ``WITH`` queries are not looked up.

    Raises :class:`~sabot_lab.errors.SQLError` at a table the notebook does not define, with
    the closest name and the tables it has, or for a syntax error.

    >>> import pyarrow as pa
    >>> tables_in("SELECT * FROM qoutes", {"quotes": pa.table({"x": [1]}), "n": 3})
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SQLError: line 1, column 15: the notebook has no table 'qoutes'. Did you mean 'quotes'? Tables in the notebook: quotes
      SELECT * FROM qoutes
                    ^
    """
    tree = parse(query)
    local = {cte.alias.lower() for cte in tree.find_all(exp.CTE)}
    found: dict[str, Any] = {}
    for node in tree.find_all(exp.Table):
        name = node.name
        if not name or name.lower() in local or name in found:
            continue
        variable = find_name(name, namespace)
        if variable is None:
            tables = sorted(
                n for n, v in namespace.items() if not n.startswith("_") and is_table(v)
            )
            hint = closest_match(name, tables)
            suggestion = f". Did you mean '{hint}'?" if hint else "."
            listing = ", ".join(tables) or "(none yet)"
            message = (
                f"the notebook has no table '{name}'{suggestion} Tables in the notebook: {listing}"
            )
            raise Context(query, {}).error(message, node)
        found[name] = namespace[variable]
    return found
