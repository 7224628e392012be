"""Every notebook in notebooks/ runs top to bottom in a real kernel, with checked outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run_notebook(name: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    return notebook


def cell_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if "text" in output:
            parts.append(output["text"])
        for key in ("text/plain", "text/html"):
            if key in output.get("data", {}):
                parts.append(output["data"][key])
    return "\n".join(parts)


def code_text(notebook: nbformat.NotebookNode) -> str:
    """The text output of every code cell, in order."""
    return "\n".join(cell_text(c) for c in notebook.cells if c.cell_type == "code")


@pytest.mark.slow
def test_quickstart_notebook() -> None:
    notebook = run_notebook("01_quickstart.ipynb")
    text = code_text(notebook)
    assert "matches DuckDB: True" in text
    assert "pipelines (operators fused per batch)" in text
    assert "inner_join" in text
    assert "rows above 490:" in text
    assert "column 'pricee' not found. Did you mean 'price'?" in text
    assert "log_price" in text and "buy" in text


@pytest.mark.slow
def test_nexmark_notebook() -> None:
    notebook = run_notebook("nexmark.ipynb")
    text = code_text(notebook)
    assert "late rows: 0" in text
    assert "matches DuckDB: True" in text
    assert "window_start" in text and "sliding_window" in text
    assert "late: [{'t': datetime.datetime(2026, 1, 1, 0, 0, 3), 'user': 'a'}]" in text
    assert text.count("bids: 920000") == 3  # 10 s at 100,000 events a second, 46 in 50 bids
    for name in ("q0", "q5", "q11"):
        assert f"\n{name} " in text or text.startswith(f"{name} ")


@pytest.mark.slow
def test_user_functions_notebook() -> None:
    text = code_text(run_notebook("05_user_functions.ipynb"))
    assert "same answers: True; compiled is" in text
    faster = int(text.split("compiled is ")[1].split("x faster")[0])
    assert faster >= 20  # per-row Python is far slower, even on a loaded machine
    assert "cannot compile user function 'smoothed' for (float64)" in text
    assert "line 3 of the function: `return statistics.mean([price, 100.0])`" in text
    assert "compile=False" in text and "fees" in text


SNAPSHOTS = {f"application/vnd.sabot.{kind}+json" for kind in ("plan", "job", "cluster")}


def code_cell(notebook: nbformat.NotebookNode, start: str) -> nbformat.NotebookNode:
    """The first code cell whose source starts with ``start``."""
    return next(c for c in notebook.cells if c.cell_type == "code" and c.source.startswith(start))


def widget_html(cell: nbformat.NotebookNode) -> str:
    """The static HTML of the widgets a cell shows (each output must carry a widget's snapshot:
    a batch run shows no widget view)."""
    shown = [o for o in cell.outputs if SNAPSHOTS & set(o.get("data", {}))]
    assert shown, f"no widget in {cell.source[:40]!r}"
    return "\n".join(o["data"]["text/html"] for o in shown)


@pytest.mark.slow
def test_fintech_enrichment_notebook() -> None:
    notebook = run_notebook("02_fintech_enrichment.ipynb")
    text = code_text(notebook)
    assert "by sector matches DuckDB: True" in text
    assert "unknown listings match DuckDB: True" in text
    assert "push_filters_into_sources" in text and "read 3 of 6 columns" in text
    plan = widget_html(code_cell(notebook, "plan = by_sector.show_plan()"))
    assert plan.count('class="sabot-node"') >= 5  # two scans, the join, the aggregate, the sort


@pytest.mark.slow
def test_local_cluster_notebook() -> None:
    notebook = run_notebook("03_local_cluster.ipynb")
    text = code_text(notebook)
    assert "killed the agent at grpc://127.0.0.1:" in text
    assert "state: FINISHED\nattempts: 2\nagents: ['ACTIVE', 'FAILED']" in text
    assert "matches DuckDB: True" in text and "second run matches: True" in text
    assert "sabot-cluster" in widget_html(code_cell(notebook, "import asyncio"))
    assert "sabot-job-state" in widget_html(code_cell(notebook, "import time"))


@pytest.mark.slow
def test_sql_magics_notebook() -> None:
    notebook = run_notebook("04_sql_magics.ipynb")
    text = code_text(notebook)
    assert "by sector matches DuckDB: True" in text
    assert "hourly windows match DuckDB: True" in text
    assert "cluster result matches DuckDB: True" in text
    assert "sabot-node" in widget_html(code_cell(notebook, "%%sabot by_sector <<"))
    explain = code_cell(notebook, "%%sabot --save expensive --explain")
    assert [o.output_type for o in explain.outputs] == ["display_data"]  # the plan, no result
    assert "sabot-node" in widget_html(explain)
    top = code_cell(notebook, "%%sabot top <<")
    assert [o.output_type for o in top.outputs] == ["execute_result"]  # showplan off
    assert top.outputs[0]["data"]["text/html"].count("<tr>") == 1 + 3  # displaylimit 3
    assert "rows stored: 5" in text
    [error] = code_cell(notebook, "%%sabot\nSELECT pricee").outputs
    assert (error.output_type, error.ename) == ("error", "SQLError")
    assert len(error.traceback) == 1 and "Did you mean 'price'?" in error.traceback[0]
    assert "FINISHED" in cell_text(code_cell(notebook, "%sabot jobs"))
    assert "cluster 'cluster' is down" in text


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_run_all_reaches_every_cell(name: str) -> None:
    """JupyterLab's Run All stops at the first error, whatever the cell's tags: a cell that
    raises on purpose (tagged ``raises-exception``) comes after every other code cell."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    raising = [i for i, c in enumerate(code) if "raises-exception" in c.metadata.get("tags", [])]
    assert all(i == len(code) - 1 for i in raising), f"{name}: code cells after a raising cell"
