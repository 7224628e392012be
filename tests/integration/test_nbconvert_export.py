"""``jupyter nbconvert --execute --to html`` of a notebook that shows a plan, for real: the
exported page shows the plan's static SVG and its text (offline, no widget code to load), and
the executed notebook's output keeps the plan's snapshot for JupyterLab."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import sabot_lab as sl
from sabot_lab.notebook.plan_widget import plan_text

PIPELINE = (
    'sl.from_pydict({"sym": ["a", "b", "a"], "px": [1.0, 5.0, 9.0]}).filter(sl.col("px") > 4)'
)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PLAN_MIME = "application/vnd.sabot.plan+json"


@pytest.mark.slow
def test_nbconvert_execute_exports_the_static_plan(tmp_path: Path) -> None:
    cells = [f"import sabot_lab as sl\nstream = {PIPELINE}", "stream.show_plan()", "stream"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    source = tmp_path / "plan.ipynb"
    nbformat.write(notebook, source)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for to in ("html", "notebook"):
        exported = subprocess.run(
            [sys.executable, "-m", "jupyter", "nbconvert", "--execute", f"--to={to}",
             "--ExecutePreprocessor.kernel_name=python3", f"--output-dir={tmp_path / to}",
             str(source)],
            env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert exported.returncode == 0, exported.stderr[-4000:]

    stream = eval(PIPELINE, {"sl": sl})  # the same pipeline here: what its plan should show
    # operator ids count up per process: compare their kinds (source, filter, ...)
    operators = [n.operator_id.rsplit("_", 1)[0] for n in stream.optimize().graph.nodes.values()]
    page = (tmp_path / "html" / "plan.html").read_text()
    view = f'<script type="{WIDGET_VIEW}">'
    assert view not in page  # no output is a widget to draw with code from a CDN
    assert page.count('<g class="sabot-node"') == 2 * len(operators)  # both cells' plans
    for operator in operators:
        assert f'data-node-id="{operator}_' in page
    text = plan_text(stream.optimize())
    assert text.splitlines()[-1].strip() in page

    executed = nbformat.read(tmp_path / "notebook" / "plan.ipynb", as_version=4)
    (shown,) = executed.cells[1].outputs
    assert WIDGET_VIEW not in shown.data and PLAN_MIME in shown.data
    views = shown.data[PLAN_MIME]["state"]["views"]
    drawn = [n["id"].rsplit("_", 1)[0] for n in views["optimized"]["nodes"]]
    assert drawn == operators
