"""``Stream.show(n)`` and how results look: a text table with names and types in terminals,
escaped HTML in notebooks, and pyarrow Tables shown as HTML once sabot_lab is imported in
IPython (unless the user has a formatter of their own)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator

import pyarrow as pa
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import sabot_lab as sl
from sabot_lab.table_preview import TablePreview, register_table_formatter

QUOTES = {
    "sym": ["AAPL", None, "a very long company name that goes on and on", "MSFT"],
    "px": [1.5, None, 3.25, 4.0],
    "at": [dt.datetime(2026, 1, 2, 3, 4, 5)] * 4,
}


def test_show_prints_names_types_rows_and_an_ellipsis_row_when_the_stream_has_more(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sl.from_pydict(QUOTES).show(3)
    assert capsys.readouterr().out == (
        "shape: (more than 3, 3)\n"
        "┌────────────────────────────────┬────────┬─────────────────────┐\n"
        "│ sym                            ┆ px     ┆ at                  │\n"
        "│ ---                            ┆ ---    ┆ ---                 │\n"
        "│ string                         ┆ double ┆ timestamp[us]       │\n"
        "╞════════════════════════════════╪════════╪═════════════════════╡\n"
        '│ "AAPL"                         ┆ 1.5    ┆ 2026-01-02 03:04:05 │\n'
        "│ null                           ┆ null   ┆ 2026-01-02 03:04:05 │\n"
        '│ "a very long company name tha… ┆ 3.25   ┆ 2026-01-02 03:04:05 │\n'
        "│ …                              ┆ …      ┆ …                   │\n"
        "└────────────────────────────────┴────────┴─────────────────────┘\n"
    )


def test_show_of_a_whole_stream_gives_its_shape(capsys: pytest.CaptureFixture[str]) -> None:
    sl.from_pydict({"n": [1, 2]}).show()
    assert capsys.readouterr().out.splitlines()[0] == "shape: (2, 1)"


def test_show_reads_only_what_it_shows_of_an_unbounded_stream(
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls: list[int] = []

    def ticks(i: int) -> dict[str, list[int]]:
        calls.append(i)
        return {"i": [i]}

    sl.from_generator(ticks).show(2)
    assert capsys.readouterr().out.splitlines()[0] == "shape: (more than 2, 1)"
    assert max(calls) <= 3  # schema, 3 rows (at most one batch read ahead)


def test_long_tables_show_their_first_and_last_rows() -> None:
    text = str(TablePreview(pa.table({"n": list(range(100))}), max_rows=4))
    rows = [line.split("│")[1].strip() for line in text.splitlines()[6:-1]]
    assert rows == ["0", "1", "…", "98", "99"]
    assert text.splitlines()[0] == "shape: (100, 1)"


def test_html_escapes_names_types_and_values() -> None:
    table = pa.table({"<script>": ["</td><b>x & y</b>", None]})
    html = TablePreview(table, more=True).html()
    assert "<script>" not in html and "<b>" not in html
    assert '<th>&lt;script&gt;<br><small class="sabot-dtype">string</small></th>' in html
    assert "<td>&quot;&lt;/td&gt;&lt;b&gt;x &amp; y&lt;/b&gt;&quot;</td>" in html
    assert html.count("<tr>") == 4  # header, two rows, the … row
    assert "<small>shape: (more than 2, 1)</small>" in html


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    formatter = shell.display_formatter.formatters["text/html"]
    before = formatter.type_printers.get(pa.Table)
    formatter.type_printers.pop(pa.Table, None)
    yield shell
    formatter.type_printers.pop(pa.Table, None)
    if before is not None:
        formatter.for_type(pa.Table, before)


def test_results_show_as_html_tables_in_ipython(shell: InteractiveShell) -> None:
    register_table_formatter()
    html = shell.display_formatter.formatters["text/html"](sl.from_pydict(QUOTES).collect())
    assert html == TablePreview(pa.table(QUOTES)).html()


def test_a_formatter_of_the_users_own_stays(shell: InteractiveShell) -> None:
    formatter = shell.display_formatter.formatters["text/html"]
    formatter.for_type(pa.Table, lambda table: "mine")
    register_table_formatter()
    assert formatter(pa.table({"x": [1]})) == "mine"


def test_show_in_a_notebook_displays_html(shell: InteractiveShell) -> None:
    with capture_output() as captured:
        sl.from_pydict({"a&b": [1, 2]}).show(1)
    (output,) = captured.outputs
    assert output.data["text/html"] == TablePreview(pa.table({"a&b": [1]}), more=True).html()


@pytest.mark.slow  # starts a Python process
def test_importing_sabot_lab_in_ipython_registers_the_table_formatter() -> None:
    script = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "import pyarrow as pa, sabot_lab\n"
        "print(shell.display_formatter.formatters['text/html'](pa.table({'x': [1]})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=os.environ, timeout=120
    )
    assert done.stdout.strip() == TablePreview(pa.table({"x": [1]})).html(), done.stderr


def test_show_refuses_a_negative_row_count() -> None:
    with pytest.raises(sl.PlanError, match=r"show\(\) takes a number of rows of 0 or more, got -1"):
        sl.from_pydict({"n": [1]}).show(-1)
