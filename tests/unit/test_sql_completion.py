"""Completion in ``%%sabot`` cells through IPython's own completer (as a kernel answers
JupyterLab's Tab): the notebook's tables, the columns of the tables a cell names (their
schemas read independently, from the objects themselves), ``table.column`` and SQL keywords;
Python cells keep Python's completion."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pyarrow as pa
import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.interactiveshell import InteractiveShell

import sabot_lab as sl


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "sabot_lab")
    ip.user_ns.update(
        quotes=sl.from_pydict({"sector": ["tech"], "price": [1.0], "px_open": [2.0]}),
        venues=pa.table({"venue_id": [1], "venue_name": ["x"]}),
        fees=pd.DataFrame({"fee_bps": [3], "venue_id": [1]}),
        limit=10,
    )
    yield ip
    for name in ("quotes", "venues", "fees", "limit"):
        ip.user_ns.pop(name, None)


def complete(ip: InteractiveShell, cell: str) -> set[tuple[str, str]]:
    """What the completer offers at the ``|`` in ``cell``: (text, type) pairs."""
    cursor = cell.index("|")
    with provisionalcompleter():
        found = ip.Completer.completions(cell.replace("|", ""), cursor)
        return {(c.text, c.type) for c in found}


def test_columns_of_the_tables_a_cell_names(shell: InteractiveShell) -> None:
    assert complete(shell, "%%sabot\nSELECT pr| FROM quotes") == {("price", "column")}
    assert complete(shell, "%%sabot\nSELECT P| FROM quotes") == {
        ("price", "column"),
        ("px_open", "column"),
        ("PARTITION", "keyword"),
    }
    cell = "%%sabot out <<\nSELECT venue| FROM venues JOIN fees USING (venue_id)"
    assert complete(shell, cell) == {
        ("venue_id", "column"),
        ("venue_name", "column"),
        ("venues", "table"),
    }
    assert complete(shell, "%%sabot\nSELECT fe| FROM fees") == {
        ("fee_bps", "column"),
        ("fees", "table"),
    }


def test_table_dot_column_tables_and_keywords(shell: InteractiveShell) -> None:
    assert complete(shell, "%%sabot\nSELECT quotes.s| FROM quotes") == {("quotes.sector", "column")}
    assert complete(shell, "%%sabot\nSELECT * FROM ven|") == {("venues", "table")}
    assert complete(shell, "%%sabot\nSELECT * FROM quotes GRO|") == {("GROUP", "keyword")}
    assert complete(shell, "%%sabot\nselect * from quotes wher|") == {("where", "keyword")}
    assert complete(shell, "%%sabot\nSELECT * FROM nowhere.x|") == set()
    assert "limit" not in [t for t, _ in complete(shell, "%%sabot\nSELECT * FROM li|")]


def test_python_cells_and_the_magic_line_keep_pythons_completion(shell: InteractiveShell) -> None:
    python = complete(shell, "x = quo|")
    assert ("quotes", "instance") in python and all(k != "keyword" for _, k in python)
    assert "GROUP" not in [t for t, _ in complete(shell, "GRO|")]
    assert all(k != "column" for _, k in complete(shell, "%%sabot ven|"))


def test_loading_the_extension_again_keeps_one_matcher(shell: InteractiveShell) -> None:
    shell.run_line_magic("reload_ext", "sabot_lab")
    identifiers = [getattr(m, "matcher_identifier", "") for m in shell.Completer.custom_matchers]
    assert identifiers.count("sabot_lab.sql") == 1
