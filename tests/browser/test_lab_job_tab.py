"""The job tab and the sidebar's Savepoint and "New local cluster" in a real JupyterLab, in
headless Chromium: a running streaming job's tab (opened from its row in the sidebar) draws its
physical plan and charts and keeps updating; Savepoint keeps a savepoint a new job starts from;
"Use in notebook" puts ``job = cluster.job("…")`` into the notebook, which runs; after a kernel
restart the job is still listed and its tab shows the figures ``job.info()`` reads; a local
cluster started from the sidebar runs a job a notebook submits to it, and Stop removes it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.client.local_registry import attach, local_clusters
from tests.browser.conftest import Lab, LabServer, save_screenshot

pytestmark = pytest.mark.slow

CLUSTER = "job-tab-test"
NOTEBOOK = [
    f"""\
import json
import sabot_lab as sl
cluster = sl.LocalCluster(agents=2, slots=1, keep_alive=True, name="{CLUSTER}")
print(cluster.name)""",
    """\
numbers = sl.from_generator(lambda i: {"n": list(range(50 * i, 50 * i + 50))}, 2000)
job = numbers.filter(sl.col("n") % 2 == 0).submit(cluster, name="endless", checkpoint_interval=0.5)
print(job.id)""",
    """\
table = sl.from_pydict({"x": list(range(3000))})
bounded = table.filter(sl.col("x") % 3 == 0).submit(cluster, name="bounded")
print(bounded.id, bounded.result().num_rows)""",
    "",
]


@pytest.fixture
def registry(lab_server: LabServer) -> Iterator[Path]:
    """The lab's registry of local clusters, for this process too; the cluster the notebook
    keeps alive is stopped at the end."""
    xdg = lab_server.root.parent / "xdg"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_RUNTIME_DIR", str(xdg))
        try:
            yield xdg
        finally:
            for info in local_clusters():
                info.attach().close()


def sidebar(lab: Lab) -> Locator:
    """Show the Sabot sidebar (open or not)."""
    lab.page.evaluate("() => window.jupyterapp.shell.activateById('sabot-sidebar')")
    panel = lab.page.locator("#sabot-sidebar")
    panel.wait_for(state="visible")
    return panel


def job_tab(lab: Lab, job_id: str) -> Locator:
    return lab.page.locator(f'.jp-SabotJobTab[id$="-{job_id}"]')


def tab_detail(lab: Lab, job_id: str) -> dict[str, Any]:
    """The last reading the job's tab shows (its JSON, from the server extension)."""
    detail = lab.page.evaluate(
        """(id) => {
            const tab = [...window.jupyterapp.shell.widgets('main')]
                .find(w => w.id && w.id.endsWith('-' + id));
            return JSON.stringify(tab.detail);
        }""",
        job_id,
    )
    return dict(json.loads(detail))


def set_cell(lab: Lab, index: int, source: str) -> None:
    lab.page.evaluate(
        """([index, source]) => {
            const notebook = window.jupyterapp.shell.currentWidget.content;
            notebook.widgets[index].model.sharedModel.setSource(source);
        }""",
        [index, source],
    )


def show_notebook(lab: Lab) -> None:
    """Make the notebook the main area's current widget again."""
    lab.page.evaluate(
        """() => {
            const app = window.jupyterapp;
            const panel = [...app.shell.widgets('main')].find(w => w.hasClass('jp-NotebookPanel'));
            app.shell.activateById(panel.id);
        }"""
    )
    lab.page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.hasClass('jp-NotebookPanel')"
    )


def cell_source(lab: Lab, index: int) -> str:
    return str(
        lab.page.evaluate(
            """(index) => window.jupyterapp.shell.currentWidget.content
                .widgets[index].model.sharedModel.getSource()""",
            index,
        )
    )


def chart_points(tab: Locator, name: str) -> int:
    return int(tab.locator(f".jp-SabotJobTab-{name}").get_attribute("data-points") or 0)


def test_a_jobs_tab_follows_it_live_and_after_a_kernel_restart(
    open_notebook: Callable[[str, list[str]], Lab], registry: Path
) -> None:
    lab = open_notebook("job_tab.ipynb", NOTEBOOK)
    lab.run_cell(0)
    lab.run_cell(1)
    job_id = lab.stdout(1).strip()
    panel = sidebar(lab)
    section = panel.locator(".jp-SabotCluster", has_text=CLUSTER)
    row = section.locator(".jp-SabotJob", has_text=job_id)
    row.locator(".jp-SabotJob-state", has_text="RUNNING").wait_for(timeout=60_000)

    row.locator(".jp-SabotJob-name").click()  # opens the job's tab
    tab = job_tab(lab, job_id)
    tab.locator(".jp-SabotJobTab-plan svg .sabot-node").first.wait_for(timeout=60_000)
    assert tab.locator(".jp-SabotJobTab-state").inner_text() == "RUNNING"
    lab.page.wait_for_function(  # the charts fill, the plan's numbers move
        """(id) => {
            const tab = document.querySelector(`.jp-SabotJobTab[id$="-${id}"]`);
            return Number(tab.querySelector('.jp-SabotJobTab-throughput').dataset.points) >= 3;
        }""",
        arg=job_id,
        timeout=60_000,
    )
    before = (chart_points(tab, "throughput"), tab.locator(".sabot-node-live").all_text_contents())
    lab.page.wait_for_function(
        """([id, points]) => {
            const tab = document.querySelector(`.jp-SabotJobTab[id$="-${id}"]`);
            return Number(tab.querySelector('.jp-SabotJobTab-throughput').dataset.points) > points;
        }""",
        arg=[job_id, before[0]],
        timeout=60_000,
    )
    tab.locator(".jp-SabotJobTab-plan .sabot-node-live").first.wait_for()
    assert tab.locator(".sabot-node-live").all_text_contents() != before[1]
    assert "rows/s" in tab.locator(".jp-SabotJobTab-throughput .jp-SabotChart-value").inner_text()
    assert tab.locator(".jp-SabotJobTab-backpressure svg").count() == 1
    save_screenshot(tab, "lab_job_tab.png", "lab_job_tab.png")

    # Savepoint from the sidebar: a new job starts from it (checked with the client API)
    sidebar(lab)
    row.locator(".jp-SabotJob-savepoint").click()
    kept = row.locator(".jp-SabotJob-savepointPath", has_text="savepoint: /")
    kept.wait_for(timeout=90_000)
    path = kept.inner_text().removeprefix("savepoint: ")
    cluster = attach(CLUSTER)
    numbers = sl.from_generator(lambda i: {"n": list(range(50 * i, 50 * i + 50))}, 2000)
    resumed = numbers.filter(col("n") % 2 == 0).submit(
        cluster, name="resumed", checkpoint_interval=0.5, from_savepoint=path
    )
    assert resumed.status() in ("PENDING", "SCHEDULED", "RUNNING")
    resumed.cancel()

    # "Use in notebook" puts the line into the notebook's empty active cell, and it runs
    show_notebook(lab)
    lab.page.evaluate(
        "() => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = 3; }"
    )
    row.locator(".jp-SabotJob-name").click()  # back to the job's tab
    tab.locator(".jp-SabotJobTab-use").click()
    tab.locator(".jp-SabotJobTab-note", has_text="Inserted into job_tab.ipynb").wait_for()
    show_notebook(lab)
    assert cell_source(lab, 3) == f'job = cluster.job("{job_id}")'
    set_cell(lab, 3, cell_source(lab, 3) + "\nprint(job.status())")
    lab.run_cell(3)
    assert lab.stdout(3).strip() == "RUNNING"
    cluster.job(job_id).cancel()

    # a bounded job; the kernel restarts; its tab shows the figures the client reads
    show_notebook(lab)
    lab.run_cell(2)
    bounded_id, rows = lab.stdout(2).split()
    lab.page.evaluate(
        "async () => { await window.jupyterapp.shell.currentWidget.sessionContext.session"
        ".kernel.restart(); }"
    )
    lab.page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
        " === 'idle'",
        timeout=60_000,
    )
    panel = sidebar(lab)
    done = panel.locator(".jp-SabotJob", has_text=bounded_id)
    done.locator(".jp-SabotJob-state", has_text="FINISHED").wait_for(timeout=60_000)
    done.locator(".jp-SabotJob-name").click()
    finished = job_tab(lab, bounded_id)
    finished.locator(".jp-SabotJobTab-state", has_text="FINISHED").wait_for(timeout=60_000)
    finished.locator(".jp-SabotJobTab-plan svg .sabot-node-live").first.wait_for()
    shown = tab_detail(lab, bounded_id)
    info, metrics = cluster.job(bounded_id).info(), cluster.job(bounded_id).metrics()
    assert (shown["state"], shown["rows"], int(rows)) == (info["state"], int(rows), 1000)
    assert shown["tasks"] == shown["tasks_done"] == info["planned_tasks"]
    assert (shown["created_at"], shown["finished_at"]) == (info["created_at"], info["finished_at"])
    assert shown["busy_s"] == metrics["busy_s"]
    figure = finished.locator(".jp-SabotJobTab-rows .jp-SabotJobTab-figureValue").inner_text()
    assert figure == f"{int(rows):,}"
    tasks = f"{info['planned_tasks']}/{info['planned_tasks']}"
    assert finished.locator(".jp-SabotJobTab-tasks .jp-SabotJobTab-figureValue").inner_text() == (
        tasks
    )
    assert os.environ["XDG_RUNTIME_DIR"] == str(registry)


def test_a_local_cluster_started_from_the_sidebar_runs_a_notebooks_job_and_stops(
    open_notebook: Callable[[str, list[str]], Lab], registry: Path
) -> None:
    lab = open_notebook("new_cluster.ipynb", [""])
    panel = sidebar(lab)
    panel.locator(".jp-SabotSidebar-new").click()
    section = panel.locator(".jp-SabotCluster", has_text="jupyter-")
    section.wait_for(timeout=90_000)
    name = section.locator(".jp-SabotCluster-name").inner_text()
    assert section.locator(".jp-SabotAgent").count() >= 1
    set_cell(
        lab,
        0,
        f"import sabot_lab as sl\ncluster = sl.LocalCluster.attach({name!r})\n"
        'job = sl.from_pydict({"x": [1, 2, 3]}).filter(sl.col("x") > 1).submit(cluster)\n'
        "print(job.id, job.result().num_rows)",
    )
    lab.run_cell(0)
    job_id, rows = lab.stdout(0).split()
    assert rows == "2"
    row = section.locator(".jp-SabotJob", has_text=job_id)
    row.locator(".jp-SabotJob-state", has_text="FINISHED").wait_for(timeout=60_000)
    processes = attach(name).record.processes
    assert all(p.running() for p in processes)

    section.locator(".jp-SabotCluster-stop").click()
    lab.page.locator(".jp-Dialog button.jp-mod-warn").click()
    section.wait_for(state="detached", timeout=60_000)
    assert not any(p.running() for p in processes)
    assert name not in {info.name for info in local_clusters()}
