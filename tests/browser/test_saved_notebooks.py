"""Saved notebooks in a real JupyterLab, in headless Chromium: a notebook that showed a plan, a
job and a cluster, saved and reopened, shows the three from the snapshots the outputs carry
(the widgets' models are gone with the kernel that made them), with a fresh kernel and with
none; the snapshots hold none of the cluster's tokens. What they should show is computed by
the kernel before the notebook is saved and compared with what the page draws.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator

import nbformat
import pytest
from playwright.sync_api import Browser

from tests.browser.conftest import Lab, LabServer, save_screenshot

pytestmark = pytest.mark.slow

PLAN_MIME = "application/vnd.sabot.plan+json"
JOB_MIME = "application/vnd.sabot.job+json"
CLUSTER_MIME = "application/vnd.sabot.cluster+json"

NOTEBOOK = [
    """\
import json, pathlib
import sabot_lab as sl
cluster = sl.LocalCluster(agents=1, slots=1)
secrets = [cluster.token, cluster.read_token, cluster.cluster_auth.token, cluster.dashboard_link]
_ = pathlib.Path("secrets.json").write_text(json.dumps(secrets))  # not in the notebook""",
    """\
quotes = sl.from_pydict({"sym": ["a", "b", "c", "a"], "px": [1.0, 5.0, 7.0, 9.0]})
dear = quotes.filter(sl.col("px") > 4).group_by("sym").agg(top=sl.col("px").max())
plan = dear.show_plan()
plan""",
    """\
job = dear.submit(cluster, name="dear quotes")
print(json.dumps({
    "job": job.id,
    "rows": job.result().num_rows,
    "nodes": [n["id"] for n in plan.views["optimized"]["nodes"]],
    "agents": cluster.agent_uris,
}))""",
    "job",
    "cluster",
    "cluster.close()",
]


@pytest.fixture(scope="module")
def saved(open_notebook: Callable[[str, list[str]], Lab]) -> Iterator[tuple[Lab, dict]]:
    """The notebook run in JupyterLab up to its views, saved, then its cluster closed; what
    its kernel computed."""
    lab = open_notebook("saved.ipynb", NOTEBOOK)
    for index in range(5):
        lab.run_cell(index)
    expected = json.loads(lab.stdout(2))
    lab.cell(3).locator(".sabot-job .sabot-job-state", has_text="FINISHED").wait_for(timeout=60_000)
    lab.cell(4).locator(".sabot-cluster .sabot-agent").first.wait_for(timeout=60_000)
    lab.execute("docmanager:save")
    lab.run_cell(5)
    yield lab, expected


def reopen(browser: Browser, server: LabServer, name: str) -> Lab:
    """``name`` opened in a page of its own (with a new kernel)."""
    context = browser.new_context(viewport={"width": 1200, "height": 1150})
    page = context.new_page()
    page.set_default_timeout(30_000)
    lab = Lab(page, server)
    lab.open(name)
    return lab


def check_views(lab: Lab, expected: dict, screenshot: str | None = None) -> None:
    """The snapshots of the plan, the job and the cluster are drawn as the kernel saw them
    (a screenshot of the notebook as it opened saved to ``screenshot``)."""
    plan = lab.cell(1).locator(".jp-SabotSnapshot .sabot-plan")
    plan.locator(".sabot-plan-svg .sabot-node").first.wait_for()
    drawn = plan.locator(".sabot-plan-svg .sabot-node").all()
    assert [n.get_attribute("data-node-id") for n in drawn] == expected["nodes"]

    job = lab.cell(3).locator(".jp-SabotSnapshot .sabot-job")
    assert job.get_attribute("data-job-id") == expected["job"]
    assert job.locator(".sabot-job-state").inner_text() == "FINISHED"
    assert int(job.locator(".sabot-job-rows").inner_text()) == expected["rows"]
    assert not job.locator(".sabot-job-cancel").is_visible()

    cluster = lab.cell(4).locator(".jp-SabotSnapshot .sabot-cluster")
    agents = cluster.locator(".sabot-agent").all()
    assert [a.get_attribute("data-agent") for a in agents] == expected["agents"]
    assert cluster.locator(".sabot-cluster-link").count() == 0
    page_text = lab.page.locator(".jp-NotebookPanel").inner_text()
    assert "Error displaying widget" not in page_text
    if screenshot:
        save_screenshot(lab.page.locator(".jp-NotebookPanel"), screenshot, screenshot)
    plan.locator('button.sabot-view-button[data-view="logical"]').click()  # the toggle works
    plan.locator('.sabot-plan-svg[data-view="logical"]').wait_for()


def test_a_saved_notebook_reopened_shows_its_plan_job_and_cluster(
    saved: tuple[Lab, dict], browser: Browser
) -> None:
    lab, expected = saved
    server = lab.server
    notebook = nbformat.read(server.root / "saved.ipynb", as_version=4)
    outputs = {i: notebook.cells[i].outputs for i in (1, 3, 4)}
    for index, mime in ((1, PLAN_MIME), (3, JOB_MIME), (4, CLUSTER_MIME)):
        (shown,) = [
            o for o in outputs[index] if o.output_type in ("display_data", "execute_result")
        ]
        assert mime in shown.data and "text/html" in shown.data
        assert shown.data[mime]["version"] == 1
    assert "link" not in outputs[4][0].data[CLUSTER_MIME]["state"]
    saved_text = (server.root / "saved.ipynb").read_text()
    for secret in json.loads((server.root / "secrets.json").read_text()):
        assert secret not in saved_text

    shutil.copy(server.root / "saved.ipynb", server.root / "reopened.ipynb")
    reopened = reopen(browser, server, "reopened.ipynb")  # a new kernel: the models are gone
    try:
        check_views(reopened, expected)
        # no kernel at all: the kernel shut down, the notebook read again from its file
        reopened.page.evaluate(
            """async () => {
                const panel = window.jupyterapp.shell.currentWidget;
                await panel.sessionContext.shutdown();
                await panel.context.revert();
            }"""
        )
        reopened.page.wait_for_function(
            "() => !window.jupyterapp.shell.currentWidget.sessionContext.session"
        )
        check_views(reopened, expected, "lab_reopened_notebook.png")
    finally:
        reopened.page.context.close()
