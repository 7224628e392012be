"""``%%sabot`` cells in a real JupyterLab, in headless Chromium: their query is highlighted as
SQL (CodeMirror's SQL token classes), a Python cell's text is not, a cell becomes SQL as its
first line becomes ``%%sabot``; Tab completes the columns of a table the kernel holds, its name
and SQL keywords; readable in the dark theme.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.browser.conftest import Lab, save_screenshot

pytestmark = pytest.mark.slow

NOTEBOOK = [
    """\
%load_ext sabot_lab
import sabot_lab as sl
quotes = sl.from_pydict({"sector": ["tech", "energy"], "price": [10.0, 20.0], "venue": ["x", "y"]})""",
    "%%sabot by_sector <<\nSELECT sector, SUM(price) AS total FROM quotes GROUP BY sector",
    'sql = "SELECT sector FROM quotes"  # a Python string',
    "%%sabot\nSELECT pri FROM quotes WHERE quotes.ven",
]

TOKENS = """(index) => {
    const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];
    const content = cell.node.querySelector(".cm-content");
    return {
        language: content.dataset.language,
        tokens: [...content.querySelectorAll("span")].map((s) => [s.textContent, s.className]),
    };
}"""


def tokens(lab: Lab, index: int) -> tuple[str, dict[str, str]]:
    """The language of cell ``index``'s editor and the token class of each word drawn."""
    found = lab.page.evaluate(TOKENS, index)
    return found["language"], {text: cls for text, cls in found["tokens"]}


def completions(lab: Lab, index: int, line: int, column: int) -> list[str]:
    """What Tab offers in cell ``index`` with the cursor at ``line``, ``column``."""
    lab.page.evaluate(
        """([index, line, column]) => {
            const notebook = window.jupyterapp.shell.currentWidget.content;
            notebook.activeCellIndex = index;
            notebook.mode = "edit";
            notebook.activeCell.editor.setCursorPosition({ line, column });
            notebook.activeCell.editor.focus();
        }""",
        [index, line, column],
    )
    lab.execute("completer:invoke-notebook")
    items = lab.page.locator(".jp-Completer .jp-Completer-item")
    items.first.wait_for()
    offered = [str(i.get_attribute("data-value")) for i in items.all()]
    lab.page.keyboard.press("Escape")
    lab.page.locator(".jp-Completer").wait_for(state="hidden")
    return offered


@pytest.fixture(scope="module")
def sql_notebook(open_notebook: Callable[[str, list[str]], Lab]) -> Lab:
    lab = open_notebook("sql_cells.ipynb", NOTEBOOK)
    lab.run_cell(0)
    return lab


def test_sabot_cells_are_highlighted_as_sql_and_python_cells_are_not(sql_notebook: Lab) -> None:
    lab = sql_notebook
    lab.page.wait_for_function(
        """() => window.jupyterapp.shell.currentWidget.content.widgets[1].node
            .querySelector('.cm-content[data-language="sql"] .tok-keyword')"""
    )
    language, sql = tokens(lab, 1)
    assert language == "sql"
    for keyword in ("SELECT", "AS", "FROM", "GROUP", "BY"):
        assert "tok-keyword" in sql.get(keyword, "").split(), (keyword, sql)
    language, python = tokens(lab, 2)
    assert language == "python"
    assert "tok-keyword" not in python.get("SELECT", "").split()  # a word inside a string
    assert "tok-string" in python['"SELECT sector FROM quotes"'].split()

    lab.page.evaluate(  # the Python cell becomes a %%sabot cell, then Python again
        """() => window.jupyterapp.shell.currentWidget.content.widgets[2].model.sharedModel
            .setSource("%%sabot\\nSELECT sector FROM quotes")"""
    )
    lab.page.wait_for_function(
        """() => window.jupyterapp.shell.currentWidget.content.widgets[2].node
            .querySelector('.cm-content[data-language="sql"] .tok-keyword')"""
    )
    assert "tok-keyword" in tokens(lab, 2)[1]["SELECT"].split()
    lab.page.evaluate(
        """() => window.jupyterapp.shell.currentWidget.content.widgets[2].model.sharedModel
            .setSource('sql = "SELECT sector FROM quotes"')"""
    )
    lab.page.wait_for_function(
        """() => window.jupyterapp.shell.currentWidget.content.widgets[2].node
            .querySelector('.cm-content').dataset.language === "python\""""
    )

    editor = lab.cell(1).locator(".jp-InputArea-editor")
    try:
        lab.set_theme("JupyterLab Dark")
        keyword = lab.cell(1).locator(".tok-keyword", has_text="SELECT").first
        colour = keyword.evaluate("(el) => getComputedStyle(el).color")
        background = editor.evaluate("(el) => getComputedStyle(el).backgroundColor")
        assert colour != background
        save_screenshot(lab.cell(1), "lab_sql_cell_dark.png")
    finally:
        lab.set_theme("JupyterLab Light")
    lab.run_cell(1)  # the highlighted cell still runs as the magic
    assert lab.cell(1).locator(".sabot-table, table").first.is_visible()


def test_tab_completes_columns_tables_and_keywords_from_the_kernel(sql_notebook: Lab) -> None:
    lab = sql_notebook
    assert "price" in completions(lab, 3, 1, len("SELECT pri"))
    assert completions(lab, 3, 1, len("SELECT pri FROM quotes WHERE quotes.ven")) == [
        "quotes.venue"
    ]
    lab.page.evaluate(
        """() => window.jupyterapp.shell.currentWidget.content.widgets[3].model.sharedModel
            .setSource("%%sabot\\nSELECT price FROM quo GRO")"""
    )
    assert completions(lab, 3, 1, len("SELECT price FROM quo")) == ["quotes"]
    assert completions(lab, 3, 1, len("SELECT price FROM quo GRO")) == ["GROUP"]
