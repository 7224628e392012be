"""A ``pyarrow.Table`` as a notebook shows it: an HTML table of its first rows, with the
table's size underneath (the whole table stays available as :attr:`TableView.table`).

>>> import pyarrow as pa
>>> view = TableView(pa.table({"sector": ["tech", "energy", None], "n": [3, 1, 2]}), limit=2)
>>> print(view)
sector | n
-------+--
tech   | 3
energy | 1
3 rows, 2 columns (first 2 shown)
>>> view._repr_html_().count("<tr>")
3
"""

from __future__ import annotations

import html
from typing import Any

import pyarrow as pa

__all__ = ["TableView"]


class TableView:
    """The first ``limit`` rows of ``table`` as HTML and text (``limit`` 0: all of them).

    >>> import pyarrow as pa
    >>> TableView(pa.table({"x": [1, 2, 3]}), limit=0).shown.num_rows
    3
    """

    def __init__(self, table: pa.Table, limit: int = 10) -> None:
        self.table = table
        """The whole table."""
        self.limit = limit
        """How many rows are shown; 0 shows them all."""

    @property
    def shown(self) -> pa.Table:
        """The rows shown."""
        return self.table if self.limit <= 0 else self.table.slice(0, self.limit)

    def caption(self) -> str:
        """The table's size, and how many of its rows are shown.

        >>> import pyarrow as pa
        >>> TableView(pa.table({"x": [1]})).caption()
        '1 row, 1 column'
        """
        rows, columns = self.table.num_rows, self.table.num_columns
        text = f"{quantity(rows, 'row')}, {quantity(columns, 'column')}"
        if self.shown.num_rows < rows:
            text += f" (first {self.shown.num_rows} shown)"
        return text

    def _cells(self) -> list[list[str]]:
        return [[_cell(v) for v in row.values()] for row in self.shown.to_pylist()]

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(name)}</th>" for name in self.table.column_names)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
            for row in self._cells()
        )
        return (
            f'<table class="sabot-table"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table><small>{html.escape(self.caption())}</small>"
        )

    def __repr__(self) -> str:
        rows = [self.table.column_names, *self._cells()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
        if widths:
            lines.insert(1, "-+-".join("-" * w for w in widths))
        return "\n".join(line.rstrip() for line in [*lines, self.caption()])


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def quantity(n: int, word: str) -> str:
    """``n`` and ``word``, plural unless ``n`` is one.

    >>> quantity(1, "stage"), quantity(3, "task")
    ('1 stage', '3 tasks')
    """
    return f"{n} {word if n == 1 else word + 's'}"
