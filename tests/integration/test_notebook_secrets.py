"""A notebook that starts a LocalCluster, shows it, its widget, a job and its status page link,
run in a real kernel and saved with its widget state: the saved file, and the cluster's logs,
hold no token (the kernel writes the cluster's token to a file outside the notebook, to
compare); its links carry one-time codes only."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def notebook_of(token_file: Path, workdir: Path) -> nbformat.NotebookNode:
    cells = [
        "import asyncio, pathlib\nimport sabot_lab as sl\n"
        f"cluster = sl.LocalCluster(agents=1, slots=1, workdir={str(workdir)!r})",
        "cluster",
        "widget = cluster.widget()\nwidget",
        "job = sl.from_pydict({'x': [1, 2, 3]}).submit(cluster, name='three')\n"
        "job.wait(timeout=60)\njob",
        "while not (widget.link and widget.agents):\n    await asyncio.sleep(0.05)\n"
        "widget.send_state()  # its live state, as a browser has it, in this cell's messages\n"
        "print(repr(cluster), widget.link, widget.static_text())",
        "cluster.dashboard_link",
        "from IPython.display import HTML\nHTML(cluster._repr_html_())",
        "print(job.info())",
        f"pathlib.Path({str(token_file)!r}).write_text(cluster.token)\ncluster.close()",
    ]
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])


def test_a_saved_notebook_holds_no_token(tmp_path: Path) -> None:
    token_file, workdir, saved = tmp_path / "token", tmp_path / "cluster", tmp_path / "saved.ipynb"
    notebook = notebook_of(token_file, workdir)
    NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
        store_widget_state=True,
    ).execute()
    nbformat.write(notebook, saved)

    token = token_file.read_text()
    assert len(token) >= 22
    text = saved.read_text()
    assert WIDGET_STATE in text and '"link": "http://127.0.0.1:' in text  # the widgets' state
    assert "three" in text and "FINISHED" in text and "sabot-cluster-link" in text
    assert token not in text
    assert "/login?code=" in text  # the links shown carry one-time codes
    for log in workdir.glob("*.log"):
        assert token not in log.read_text(), log.name
