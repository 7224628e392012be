"""Results as people read them: a ``pyarrow.Table`` as a text table with column names and
types (shaped like Polars' repr) and as an HTML table for notebooks, the preview
:meth:`Stream.show <sabot_lab.stream.Stream.show>` displays, and the notebook formatter that
shows every ``pyarrow.Table`` (a ``collect()`` result) that way.

Long tables show their first and last rows around a ``…`` row; a preview of a longer stream
ends with a ``…`` row; long values are cut with ``…``; strings are quoted, nulls are ``null``.

May import: pyarrow and the standard library.

>>> import pyarrow as pa
>>> print(TablePreview(pa.table({"sym": ["A", None], "px": [1.5, 20.0]})))
shape: (2, 2)
┌────────┬────────┐
│ sym    ┆ px     │
│ ---    ┆ ---    │
│ string ┆ double │
╞════════╪════════╡
│ "A"    ┆ 1.5    │
│ null   ┆ 20.0   │
└────────┴────────┘
"""

from __future__ import annotations

import html
import sys
from typing import Any

import pyarrow as pa

__all__ = ["MAX_CELL", "TablePreview", "display", "register_table_formatter", "table_html"]

MAX_CELL = 30
"""The most characters a cell shows; longer values are cut, ending with ``…``."""

_MORE = "…"


class TablePreview:
    """``table`` for reading: at most ``max_rows`` rows (None: all), the first and last
    ones around a ``…`` row when it has more; ``more``: ``table`` holds only the first rows
    of a longer result (then a ``…`` row ends it and its shape says so); ``caption``: the line
    above the table, its shape by default.

    >>> import pyarrow as pa
    >>> print(TablePreview(pa.table({"n": range(5)}), max_rows=2))
    shape: (5, 1)
    ┌───────┐
    │ n     │
    │ ---   │
    │ int64 │
    ╞═══════╡
    │ 0     │
    │ …     │
    │ 4     │
    └───────┘
    """

    def __init__(
        self,
        table: pa.Table,
        max_rows: int | None = 10,
        more: bool = False,
        caption: str | None = None,
    ) -> None:
        self.table = table
        self.max_rows = max_rows
        self.more = more
        self.caption = caption if caption is not None else self._shape()

    def _shape(self) -> str:
        rows = f"more than {self.table.num_rows:,}" if self.more else f"{self.table.num_rows:,}"
        return f"shape: ({rows}, {self.table.num_columns})"

    def header(self) -> tuple[list[str], list[str]]:
        """The column names and their types.

        >>> import pyarrow as pa
        >>> TablePreview(pa.table({"x": [1]})).header()
        (['x'], ['int64'])
        """
        return list(self.table.column_names), [str(f.type) for f in self.table.schema]

    def rows(self) -> list[list[str] | None]:
        """The cells of the rows shown, None where rows are left out (the ``…`` row).

        >>> import pyarrow as pa
        >>> TablePreview(pa.table({"s": ["x" * 40]}), more=True).rows()
        [['"xxxxxxxxxxxxxxxxxxxxxxxxxxxx…'], None]
        """
        n = self.table.num_rows
        if self.max_rows is None or n <= self.max_rows:
            out: list[list[str] | None] = [*_cells(self.table)]
        else:
            last = self.max_rows // 2
            first = self.max_rows - last
            out = [*_cells(self.table.slice(0, first)), None]
            out += _cells(self.table.slice(n - last, last)) if last else []
        return [*out, None] if self.more else out

    def text(self) -> str:
        """The table drawn with box characters, under its caption."""
        names, types = self.header()
        rows = self.rows()
        widths = [
            max(3, len(name), len(dtype), *(len(r[i]) for r in rows if r is not None))
            for i, (name, dtype) in enumerate(zip(names, types, strict=True))
        ]

        def line(cells: list[str]) -> str:
            return "│ " + " ┆ ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " │"

        def rule(left: str, fill: str, cross: str, right: str) -> str:
            return left + cross.join(fill * (w + 2) for w in widths) + right

        if not widths:
            return f"{self.caption}\n┌┐\n└┘"
        return "\n".join(
            [
                self.caption,
                rule("┌", "─", "┬", "┐"),
                line(names),
                line(["---"] * len(names)),
                line(types),
                rule("╞", "═", "╪", "╡"),
                *(line([_MORE] * len(names) if r is None else r) for r in rows),
                rule("└", "─", "┴", "┘"),
            ]
        )

    def html(self) -> str:
        """The table as HTML (escaped): a header of names over their types, then the rows."""
        head = "".join(
            f'<th>{html.escape(n)}<br><small class="sabot-dtype">{html.escape(t)}</small></th>'
            for n, t in zip(*self.header(), strict=True)
        )
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(c)}</td>"
                for c in ([_MORE] * self.table.num_columns if r is None else r)
            )
            + "</tr>"
            for r in self.rows()
        )
        return (
            f'<div class="sabot-table"><small>{html.escape(self.caption)}</small>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
            "</table></div>"
        )

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return self.html()


def _cells(table: pa.Table) -> list[list[str]]:
    return [[_cell(v) for v in row.values()] for row in table.to_pylist()]


def _cell(value: Any) -> str:
    text = "null" if value is None else f'"{value}"' if isinstance(value, str) else str(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + _MORE


def table_html(table: pa.Table) -> str:
    """``table`` as a notebook shows it (its first and last rows).

    >>> import pyarrow as pa
    >>> table_html(pa.table({"<b>": ["<i>&"]}))  # doctest: +NORMALIZE_WHITESPACE
    '<div class="sabot-table"><small>shape: (1, 1)</small><table><thead><tr><th>&lt;b&gt;<br><small class="sabot-dtype">string</small></th></tr></thead><tbody><tr><td>&quot;&lt;i&gt;&amp;&quot;</td></tr></tbody></table></div>'
    """
    return TablePreview(table).html()


def _ipython() -> Any:
    """The running IPython shell, or None (IPython is never imported here)."""
    module = sys.modules.get("IPython")
    return None if module is None else module.get_ipython()


def display(preview: TablePreview) -> None:
    """Show ``preview``: displayed by IPython (HTML in a notebook), else printed.

    >>> import pyarrow as pa
    >>> display(TablePreview(pa.table({"x": [1]}), caption="one row"))
    one row
    ┌───────┐
    │ x     │
    │ ---   │
    │ int64 │
    ╞═══════╡
    │ 1     │
    └───────┘
    """
    if _ipython() is None:
        print(preview)
        return
    from IPython.display import display as ipython_display

    ipython_display(preview)


def register_table_formatter() -> None:
    """In IPython, show every ``pyarrow.Table`` as an HTML :class:`TablePreview`, unless a
    formatter for it is registered already (the user's own stays). Outside IPython, nothing.

    >>> register_table_formatter()  # not in IPython: does nothing
    """
    ipython = _ipython()
    if ipython is None:
        return
    formatter = ipython.display_formatter.formatters["text/html"]
    try:
        formatter.lookup_by_type(pa.Table)
    except KeyError:
        formatter.for_type(pa.Table, table_html)
