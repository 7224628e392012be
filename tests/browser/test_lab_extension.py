"""sabot-lab's JupyterLab extension in a real JupyterLab, in headless Chromium: the Sabot
sidebar lists the LocalCluster a notebook started, its agents and its running unbounded job,
as the kernel itself reports them; Cancel in the sidebar cancels the job while the kernel is
busy waiting on it (the waiting cell then prints CANCELLED); the sidebar follows the dark theme.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator

from tests.browser.conftest import Lab, save_screenshot

pytestmark = pytest.mark.slow

NOTEBOOK = [
    """\
import json
import sabot_lab as sl
cluster = sl.LocalCluster(agents=2, slots=1)
print(json.dumps({"name": cluster.name, "uri": cluster.uri, "agents": cluster.agent_uris}))""",
    """\
numbers = sl.from_generator(lambda i: {"n": list(range(50 * i, 50 * i + 50))}, 2000)
job = numbers.filter(sl.col("n") % 2 == 0).submit(cluster, name="endless")
print(job.id)""",
    "print(job.wait())",
    "print(job.status()); cluster.close()",
]


def sidebar(lab: Lab) -> Locator:
    """Open the Sabot sidebar by its tab in the left bar."""
    lab.page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="sabot-sidebar"]').click()
    panel = lab.page.locator("#sabot-sidebar")
    panel.wait_for(state="visible")
    return panel


def luminance(locator: Locator) -> float:
    """The relative brightness (0 black, 1 white) of ``locator``'s background colour."""
    rgb = locator.evaluate(
        """(el) => getComputedStyle(el).backgroundColor.match(/\\d+(\\.\\d+)?/g).map(Number)"""
    )
    return float(0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255


def test_the_sidebar_lists_the_notebooks_cluster_and_cancels_its_job_while_the_kernel_waits(
    open_notebook: Callable[[str, list[str]], Lab],
) -> None:
    lab = open_notebook("sidebar.ipynb", NOTEBOOK)
    lab.run_cell(0)
    started = json.loads(lab.stdout(0))
    lab.run_cell(1)
    job_id = lab.stdout(1).strip()

    panel = sidebar(lab)
    section = panel.locator(".jp-SabotCluster", has_text=started["name"])
    section.wait_for()
    assert section.locator(".jp-SabotCluster-uri").inner_text() == started["uri"]
    agents = section.locator(".jp-SabotAgent")
    agents.nth(len(started["agents"]) - 1).wait_for()
    shown = {
        a.removeprefix("grpc://") for a in agents.locator(".jp-SabotAgent-uri").all_inner_texts()
    }
    assert shown == {uri.removeprefix("grpc://") for uri in started["agents"]}
    assert set(agents.locator(".jp-SabotAgent-state").all_inner_texts()) <= {"ACTIVE", "BUSY"}
    assert agents.locator(".jp-SabotAgent-slots").all_inner_texts()[0].endswith("/1 slots")

    job = section.locator(".jp-SabotJob", has_text=job_id)
    job.locator(".jp-SabotJob-state", has_text="RUNNING").wait_for()
    assert "endless" in job.locator(".jp-SabotJob-name").inner_text()
    lab.page.wait_for_function(  # rows rise while the job runs, with a rate
        """(id) => {
            const row = [...document.querySelectorAll('#sabot-sidebar .jp-SabotJob')]
                .find(r => r.textContent.includes(id));
            const rows = row && row.querySelector('.jp-SabotJob-rows').textContent;
            const rate = row && row.querySelector('.jp-SabotJob-rate').textContent;
            return rows && rows !== '0 rows' && rate && rate.endsWith('/s');
        }""",
        arg=job_id,
    )
    save_screenshot(panel, "lab_sidebar.png", "lab_sidebar.png")

    # the kernel blocks in job.wait(): the sidebar cancels through the server extension
    lab.page.evaluate(
        """() => {
            const app = window.jupyterapp;
            const notebook = app.shell.currentWidget.content;
            notebook.activeCellIndex = 2;
            notebook.deselectAll();
            void app.commands.execute("notebook:run-cell");
        }"""
    )
    lab.page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'busy'"
    )
    job.locator(".jp-SabotJob-cancel").click()
    lab.cell(2).locator('[data-mime-type="application/vnd.jupyter.stdout"]').wait_for(
        timeout=60_000
    )
    assert lab.stdout(2).strip() == "CANCELLED"
    job.locator(".jp-SabotJob-state", has_text="CANCELLED").wait_for()
    assert job.locator(".jp-SabotJob-cancel").is_disabled()

    light = luminance(panel)
    lab.set_theme("JupyterLab Dark")
    try:
        assert light > 0.8 and luminance(panel) < 0.3
        save_screenshot(panel, "lab_sidebar_dark.png")
    finally:
        lab.set_theme("JupyterLab Light")

    lab.run_cell(3)
    assert lab.stdout(3).strip() == "CANCELLED"
    section.wait_for(state="detached", timeout=60_000)  # a closed cluster leaves the sidebar
