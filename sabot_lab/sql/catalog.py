"""The tables and views a SQL script can name: the tables given as Python objects (streams,
Arrow tables, pandas DataFrames), the tables ``CREATE TABLE ... WITH ('connector' = ...)``
defined (:mod:`sabot_lab.sql.connector_tables`: read from their connector when a query reads
them, written by ``INSERT INTO``) and the views ``CREATE VIEW`` defined, each kept as its query
(a view is translated each time a query reads it, as DuckDB binds views). Names match ignoring
case, as SQL identifiers do.

May import: :mod:`sabot_lab.stream` and the errors; not ``sqlglot`` (a catalog is made before
the first query loads the SQL front end).

>>> import sabot_lab as sl
>>> catalog = Catalog({"Quotes": sl.from_pydict({"px": [1.0]})})
>>> catalog.find("quotes"), catalog.names()
('Quotes', ['Quotes'])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from sabot_lab.errors import PlanError
from sabot_lab.stream import Stream, from_arrow, from_pandas

if TYPE_CHECKING:
    from sqlglot import exp

    from sabot_lab.sql.connector_tables import ConnectorTable

__all__ = ["Catalog", "View", "as_stream"]


def as_stream(name: str, value: Any) -> Stream:
    """A table given to SQL as a :class:`~sabot_lab.stream.Stream`: a stream as it is, a pyarrow
    Table, RecordBatch or RecordBatchReader, or a pandas DataFrame.

    >>> import pyarrow as pa
    >>> as_stream("t", pa.table({"x": [1]})).columns
    ['x']
    >>> as_stream("rows", [1, 2])
    Traceback (most recent call last):
    ...
    sabot_lab.errors.PlanError: table 'rows' is a list; pass a Stream, a pyarrow Table or RecordBatch, or a pandas DataFrame
    """
    if isinstance(value, Stream):
        return value
    if isinstance(value, pa.Table | pa.RecordBatch | pa.RecordBatchReader):
        return from_arrow(value)
    if type(value).__module__.split(".")[0] == "pandas" and hasattr(value, "columns"):
        return from_pandas(value)
    raise PlanError(
        f"table '{name}' is a {type(value).__name__}; pass a Stream, a pyarrow Table or "
        "RecordBatch, or a pandas DataFrame"
    )


@dataclass(frozen=True)
class View:
    """A view: its ``name``, its ``query`` (a syntax tree) and that query as ``sql`` text, the
    column ``names`` written after its name (``CREATE VIEW v (a, b) AS ...`` renames the first
    columns), and the ``text`` of the script that defined it, where errors in its query
    point."""

    name: str
    query: exp.Expr
    sql: str
    names: tuple[str, ...]
    text: str


class Catalog:
    """The tables (as streams), the connector tables and the views of a SQL script or session,
    by name.

    >>> import sabot_lab as sl
    >>> catalog = Catalog()
    >>> catalog.register("t", sl.from_pydict({"x": [1]}))
    >>> catalog.unregister("T")
    >>> catalog.names()
    []
    """

    def __init__(self, tables: Mapping[str, Any] | None = None) -> None:
        self.tables: dict[str, Stream] = {}
        self.views: dict[str, View] = {}
        self.connectors: dict[str, ConnectorTable] = {}  # CREATE TABLE ... WITH (...)
        self.functions: dict[str, Any] = {}  # user functions by name, beside the registered
        for name, value in (tables or {}).items():
            self.register(name, value)

    def find(self, name: str) -> str | None:
        """The table's or view's name as registered: the same spelling, else the only one equal
        ignoring case; None if there is none."""
        names = [*self.tables, *self.connectors, *self.views]
        if name in names:
            return name
        folded = [n for n in names if n.lower() == name.lower()]
        return folded[0] if len(folded) == 1 else None

    def names(self) -> list[str]:
        """The names of the tables and views, sorted."""
        return sorted([*self.tables, *self.connectors, *self.views])

    def register(self, name: str, value: Any) -> None:
        """Make ``value`` (see :func:`as_stream`) the table ``name``, in place of any table or
        view of that name."""
        stream = as_stream(name, value)
        self.unregister(name)
        self.tables[name] = stream

    def unregister(self, name: str) -> None:
        """Forget the table or view ``name`` (nothing if there is none)."""
        found = self.find(name)
        self.tables.pop(found or name, None)
        self.connectors.pop(found or name, None)
        self.views.pop(found or name, None)
