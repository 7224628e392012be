"""A ``pyarrow.Table`` as a notebook shows it: an HTML table of its first rows with their
types, under the table's size (the whole table stays available as :attr:`TableView.table`);
drawn by :class:`~sabot_lab.table_preview.TablePreview`.

>>> import pyarrow as pa
>>> view = TableView(pa.table({"sector": ["tech", "energy", None], "n": [3, 1, 2]}), limit=2)
>>> print(view)
3 rows, 2 columns (first 2 shown)
┌──────────┬───────┐
│ sector   ┆ n     │
│ ---      ┆ ---   │
│ string   ┆ int64 │
╞══════════╪═══════╡
│ "tech"   ┆ 3     │
│ "energy" ┆ 1     │
└──────────┴───────┘
>>> view._repr_html_().count("<tr>")  # the header, two rows
3
"""

from __future__ import annotations

import pyarrow as pa

from sabot_lab.table_preview import TablePreview

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

    def _preview(self) -> TablePreview:
        return TablePreview(self.shown, max_rows=None, caption=self.caption())

    def _repr_html_(self) -> str:
        return self._preview().html()

    def __repr__(self) -> str:
        return self._preview().text()


def quantity(n: int, word: str) -> str:
    """``n`` and ``word``, plural unless ``n`` is one.

    >>> quantity(1, "stage"), quantity(3, "task")
    ('1 stage', '3 tasks')
    """
    return f"{n} {word if n == 1 else word + 's'}"
