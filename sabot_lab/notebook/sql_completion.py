"""Completion in ``%%sabot`` cells: the notebook's tables, their columns and SQL keywords, for
the kernel's completer (JupyterLab asks it as the user presses Tab).

:func:`sql_completions` is the completion itself, without IPython; :func:`sabot_cell_matcher`
wraps it as an IPython completion matcher, which ``%load_ext sabot_lab`` registers: in a
``%%sabot`` cell it answers alone (no Python names), in other cells it says nothing.

>>> import pyarrow as pa
>>> ns = {"quotes": pa.table({"price": [1.0], "sector": ["tech"]}), "n": 3}
>>> sql_completions("%%sabot\\nSELECT pr", ns)
[('price', 'column')]
>>> sql_completions("%%sabot\\nSELECT price FROM qu", ns)
[('quotes', 'table')]
>>> sql_completions("%%sabot\\nSELECT * FROM quotes WHERE quotes.se", ns)
[('quotes.sector', 'column')]
>>> sql_completions("%%sabot\\nSELECT * FROM quotes GRO", ns)
[('GROUP', 'keyword')]
>>> sql_completions("x = qu", ns)
[]

May import: sabot_lab.notebook.sql_cell and what it imports; IPython (in
:func:`sabot_cell_matcher` only).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from sabot_lab.notebook.sql_cell import is_table

__all__ = ["KEYWORDS", "columns_of", "sabot_cell_matcher", "sql_completions"]

KEYWORDS = (
    "SELECT", "FROM", "WHERE", "GROUP", "BY", "ORDER", "HAVING", "LIMIT", "OFFSET", "JOIN",
    "LEFT", "RIGHT", "INNER", "OUTER", "FULL", "CROSS", "ON", "USING", "AS", "AND", "OR", "NOT",
    "IN", "IS", "NULL", "DISTINCT", "CASE", "WHEN", "THEN", "ELSE", "END", "UNION", "ALL",
    "EXCEPT", "INTERSECT", "WITH", "CREATE", "VIEW", "DROP", "ASC", "DESC", "BETWEEN", "LIKE",
    "CAST", "OVER", "PARTITION", "WINDOW", "EXISTS", "TRUE", "FALSE", "COUNT", "SUM", "AVG",
    "MIN", "MAX",
)  # fmt: skip
"""The SQL keywords (and common aggregates) offered in ``%%sabot`` cells."""

_MAGIC = re.compile(r"%%sabot(\s|$)")
_TOKEN = re.compile(r"[A-Za-z_][\w.]*$")
_WORD = re.compile(r"[A-Za-z_]\w*")
_AFTER_TABLE = re.compile(r"\b(FROM|JOIN)\s+$", re.IGNORECASE)


def columns_of(table: Any) -> list[str]:
    """The column names of a notebook table (a Stream, an Arrow table, record batch or
    reader, a pandas DataFrame).

    >>> import sabot_lab as sl
    >>> columns_of(sl.from_pydict({"x": [1], "y": [2]}))
    ['x', 'y']
    """
    schema = getattr(table, "schema", None)
    names = getattr(schema, "names", None)
    if names is None:
        names = getattr(table, "columns", [])
    return [str(name) for name in names]


def sql_completions(
    cell: str, namespace: Mapping[str, Any], cursor: int | None = None
) -> list[tuple[str, str]]:
    """What completes the word before ``cursor`` (default: the end) of a ``%%sabot`` cell,
    as (text, kind) pairs, kind ``column``, ``table`` or ``keyword``: columns of the tables
    the cell names (of all the notebook's tables while it names none; ``table.`` + column
    after a table's name and a dot), the notebook's tables, then keywords (in the case
    typed); right after ``FROM`` or ``JOIN``, tables only. Nothing outside a ``%%sabot``
    cell's query."""
    cursor = len(cell) if cursor is None else cursor
    before = cell[:cursor]
    if not _MAGIC.match(cell) or "\n" not in before:
        return []
    typed = _typed(before)
    tables = {
        name: value
        for name, value in namespace.items()
        if not name.startswith("_") and is_table(value)
    }
    by_lower = {name.lower(): name for name in tables}
    if "." in typed:
        prefix, _, start = typed.rpartition(".")
        table = by_lower.get(prefix.lower())
        if table is None:
            return []
        return [(f"{prefix}.{c}", "column") for c in columns_of(tables[table]) if _starts(c, start)]
    found = [(name, "table") for name in sorted(tables) if _starts(name, typed)]
    if _AFTER_TABLE.search(before[: len(before) - len(typed)]):
        return found  # a table's place: tables only
    named = {by_lower[w.lower()] for w in _WORD.findall(cell) if w.lower() in by_lower}
    named = named or set(tables)  # none named yet: any table's
    columns = sorted({c for name in named for c in columns_of(tables[name]) if _starts(c, typed)})
    found = [(c, "column") for c in columns] + found
    if typed:
        lower = typed.islower()
        found += [(k.lower() if lower else k, "keyword") for k in KEYWORDS if _starts(k, typed)]
    return found


def _typed(before: str) -> str:
    """The word (or ``table.word``) the text before the cursor ends with."""
    found = _TOKEN.search(before)
    return found.group(0) if found else ""


def _starts(name: str, typed: str) -> bool:
    return name.lower().startswith(typed.lower())


def sabot_cell_matcher(shell: Any) -> Callable[[Any], Any]:
    """An IPython completion matcher (API v2) answering in ``%%sabot`` cells with
    :func:`sql_completions` over the variables of ``shell`` (an IPython shell), alone.

    >>> from IPython.core.completer import provisionalcompleter
    >>> from IPython.core.interactiveshell import InteractiveShell
    >>> import pyarrow as pa
    >>> shell = InteractiveShell.instance()
    >>> shell.Completer.custom_matchers.append(sabot_cell_matcher(shell))
    >>> shell.user_ns["trades"] = pa.table({"venue_id": [1]})
    >>> cell = "%%sabot\\nSELECT venue FROM trades"
    >>> with provisionalcompleter():
    ...     [c.text for c in shell.Completer.completions(cell, len("%%sabot\\nSELECT venue"))]
    ['venue_id']
    >>> _ = shell.Completer.custom_matchers.pop(); del shell.user_ns["trades"]
    """
    from IPython.core.completer import SimpleCompletion, context_matcher

    @context_matcher(identifier="sabot_lab.sql")
    def matcher(context: Any) -> dict[str, Any]:
        if not _MAGIC.match(context.full_text) or context.cursor_line == 0:
            return {"completions": []}
        lines = context.full_text.split("\n")
        cursor = sum(len(line) + 1 for line in lines[: context.cursor_line])
        cursor += context.cursor_position
        found = sql_completions(context.full_text, shell.user_ns, cursor)
        return {
            "completions": [SimpleCompletion(text, type=kind) for text, kind in found],
            "matched_fragment": _typed(context.full_text[:cursor]),
            "suppress": True,
        }

    return matcher
