"""Every notebook in notebooks/ runs top to bottom in a real kernel, with checked outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


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


@pytest.mark.slow
def test_quickstart_notebook() -> None:
    notebook = run_notebook("01_quickstart.ipynb")
    text = "\n".join(cell_text(c) for c in notebook.cells if c.cell_type == "code")
    assert "matches DuckDB: True" in text
    assert "pipelines (operators fused per batch)" in text
    assert "inner_join" in text
    assert "rows above 490:" in text
    assert "column 'pricee' not found. Did you mean 'price'?" in text
    assert "log_price" in text and "buy" in text


@pytest.mark.slow
def test_nexmark_notebook() -> None:
    notebook = run_notebook("nexmark.ipynb")
    text = "\n".join(cell_text(c) for c in notebook.cells if c.cell_type == "code")
    assert "late rows: 0" in text
    assert "matches DuckDB: True" in text
    assert "window_start" in text and "sliding_window" in text
    assert "late: [{'t': datetime.datetime(2026, 1, 1, 0, 0, 3), 'user': 'a'}]" in text
    assert text.count("bids: 920000") == 3  # 10 s at 100,000 events a second, 46 in 50 bids
    for name in ("q0", "q5", "q11"):
        assert f"\n{name} " in text or text.startswith(f"{name} ")
