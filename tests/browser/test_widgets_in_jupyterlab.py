"""The notebook widgets in a real JupyterLab, in headless Chromium: the plan widget of the
fintech pipeline (operators drawn, details on click, the view toggle, readable in the dark
theme, static HTML saved in the notebook), and job widgets following real jobs on a
``LocalCluster`` started in the notebook's kernel (rows rising to the final count, Cancel).

What the widgets should show is computed in the kernel from the plan objects, or by DuckDB,
and printed by the notebook; the tests read it from the page and compare it with what the
widgets draw.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import nbformat
import psutil
import pytest
from playwright.sync_api import Locator
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import Lab, save_screenshot

pytestmark = pytest.mark.slow

PLAN_NOTEBOOK = [
    """\
import json
import sabot_lab as sl
from sabot_lab.examples.datasets import quotes, securities
from sabot_lab.examples.demo import fintech_pipeline
from sabot_lab.physical import plan_stages
from sabot_lab.logical import OperatorType, fused_members

pipeline = fintech_pipeline(
    sl.from_arrow(quotes(10_000, n_securities=1_000)), sl.from_arrow(securities(1_000))
)
plan = pipeline.optimize()


def operators(graph):
    return sum(
        len(fused_members(n)) if n.operator_type == OperatorType.FUSED else 1
        for n in graph.nodes.values()
    )


stages = plan_stages(plan.graph, 2, plan.estimated_rows).stages
join = next(n for n in plan.graph.nodes.values() if n.operator_type == OperatorType.HASH_JOIN)
print(json.dumps({
    "logical": len(pipeline.graph.subgraph(pipeline.node_id).nodes),
    "optimized": operators(plan.graph),
    "physical": sum(operators(s.graph) for s in stages),
    "stages": len(stages),
    "join": join.operator_id,
    "join_schema": [[f.name, str(f.type)] for f in join.schema],
}))""",
    "pipeline.show_plan(partitions=2)",
]


@pytest.fixture(scope="module")
def plan_notebook(open_notebook: Callable[[str, list[str]], Lab]) -> tuple[Lab, dict[str, Any]]:
    """The plan notebook open and run, and what its kernel computed from the plan."""
    lab = open_notebook("plan.ipynb", PLAN_NOTEBOOK)
    lab.run_cell(0)
    lab.run_cell(1)
    return lab, json.loads(lab.stdout(0))


def node_ids(lab: Lab) -> list[str]:
    nodes = lab.cell(1).locator(".sabot-plan-svg .sabot-node")
    return [str(n.get_attribute("data-node-id")) for n in nodes.all()]


def show_view(lab: Lab, name: str) -> None:
    lab.cell(1).locator(f'button.sabot-view-button[data-view="{name}"]').click()
    lab.cell(1).locator(f'.sabot-plan-svg[data-view="{name}"]').wait_for()


def test_plan_widget_draws_every_operator_and_shows_details(
    plan_notebook: tuple[Lab, dict[str, Any]],
) -> None:
    lab, expected = plan_notebook
    widget = lab.cell(1).locator(".sabot-plan")
    widget.locator('.sabot-plan-svg[data-view="optimized"] .sabot-node').first.wait_for()
    optimized = node_ids(lab)
    assert len(optimized) == expected["optimized"]

    widget.locator(f'.sabot-node[data-node-id="{expected["join"]}"]').click()
    schema = widget.locator(".sabot-details .sabot-details-schema")
    schema.wait_for()
    assert widget.locator(".sabot-details-id").inner_text() == expected["join"]
    rows = [r.locator("td").all_inner_texts() for r in schema.locator("tr").all()]
    assert rows == expected["join_schema"]
    save_screenshot(widget, "plan_widget.png", "plan_widget.png")

    show_view(lab, "logical")
    logical = node_ids(lab)
    assert len(logical) == expected["logical"]
    show_view(lab, "physical")
    physical = node_ids(lab)
    assert len(physical) == expected["physical"]
    stages = widget.locator('.sabot-plan-svg .sabot-group[data-kind="stage"]')
    assert stages.count() == expected["stages"]
    assert set(logical) != set(optimized) and set(physical) != set(optimized)
    show_view(lab, "optimized")
    assert node_ids(lab) == optimized


COLOURS = """(root) => {
    const rgba = (el, property, opacity) => {
        const style = getComputedStyle(el);
        return [style[property], Number(opacity ? style[opacity] : 1)];
    };
    const backdrop = (el) => {
        for (; el; el = el.parentElement) {
            const colour = getComputedStyle(el).backgroundColor;
            if (!/rgba\\(.*, 0\\)$/.test(colour) && colour !== "transparent") return colour;
        }
        return "rgb(255, 255, 255)";
    };
    return {
        background: backdrop(root.querySelector(".sabot-plan-canvas")),
        nodes: [...root.querySelectorAll(".sabot-plan-svg .sabot-node")].map((g) => ({
            id: g.dataset.nodeId,
            box: rgba(g.querySelector(".sabot-node-box"), "fill", "fillOpacity"),
            label: rgba(g.querySelector(".sabot-node-label"), "fill", "fillOpacity"),
            sublabel: rgba(g.querySelector(".sabot-node-sublabel"), "fill", "fillOpacity"),
        })),
    };
}"""

RGB = tuple[float, float, float]


def parse_colour(css: str) -> tuple[RGB, float]:
    """``rgb(r, g, b)`` or ``rgba(r, g, b, a)`` as (0..255 channels, alpha)."""
    values = [float(v) for v in re.findall(r"[\d.]+", css)]
    assert len(values) in (3, 4), f"not an sRGB colour: {css}"
    return (values[0], values[1], values[2]), values[3] if len(values) == 4 else 1.0


def over(colour: tuple[str, float], backdrop: RGB) -> RGB:
    """``colour`` (CSS colour, opacity) painted over ``backdrop``."""
    rgb, alpha = parse_colour(colour[0])
    a = alpha * colour[1]
    return (
        rgb[0] * a + backdrop[0] * (1 - a),
        rgb[1] * a + backdrop[1] * (1 - a),
        rgb[2] * a + backdrop[2] * (1 - a),
    )


def luminance(rgb: RGB) -> float:
    """WCAG 2 relative luminance."""

    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_contrasts(lab: Lab) -> tuple[RGB, dict[str, tuple[float, float]]]:
    """The plan canvas's background, and for each operator the contrast of its label and of
    its sublabel against the box they are written on."""
    measured = lab.cell(1).locator(".sabot-plan").evaluate(COLOURS)
    background = over((measured["background"], 1.0), (255.0, 255.0, 255.0))
    out = {}
    for node in measured["nodes"]:
        box = over(node["box"], background)
        label, sublabel = over(node["label"], box), over(node["sublabel"], box)
        out[node["id"]] = (contrast(label, box), contrast(sublabel, box))
    return background, out


def test_plan_widget_text_is_readable_in_light_and_dark_themes(
    plan_notebook: tuple[Lab, dict[str, Any]],
) -> None:
    lab, expected = plan_notebook
    show_view(lab, "optimized")
    widget = lab.cell(1).locator(".sabot-plan")
    light_background, light = text_contrasts(lab)
    try:
        lab.set_theme("JupyterLab Dark")
        dark_background, dark = text_contrasts(lab)
        save_screenshot(widget, "plan_widget_dark.png")
    finally:
        lab.set_theme("JupyterLab Light")
    assert luminance(light_background) > 0.8 and luminance(dark_background) < 0.05
    for contrasts in (light, dark):
        assert len(contrasts) == expected["optimized"]
        assert min(label for label, _ in contrasts.values()) >= 4.5, contrasts
        assert min(sublabel for _, sublabel in contrasts.values()) >= 3, contrasts


def test_saved_notebook_keeps_the_plan_as_static_html(
    plan_notebook: tuple[Lab, dict[str, Any]],
) -> None:
    lab, expected = plan_notebook
    lab.execute("docmanager:save")
    saved = nbformat.read(lab.server.root / "plan.ipynb", as_version=4)
    (output,) = [o for o in saved.cells[1].outputs if o.output_type == "display_data"]
    assert "application/vnd.jupyter.widget-view+json" in output.data
    html = output.data["text/html"]
    assert html.count('class="sabot-node"') == expected["optimized"]

    page = lab.page.context.new_page()  # a page without JupyterLab, as nbviewer shows it
    try:
        page.set_content(f"<!doctype html><html><body>{html}</body></html>")
        nodes = page.locator("svg .sabot-node")
        static_ids = [n.get_attribute("data-node-id") for n in nodes.all()]
        assert static_ids == node_ids(lab)  # the widget's optimized view, same layout
        for node in nodes.all():
            box = node.bounding_box()
            assert box is not None and box["width"] > 50 and box["height"] > 20
        save_screenshot(page.locator(".sabot-plan-static"), "plan_static.png")
    finally:
        page.close()


JOB_NOTEBOOK = [
    """\
import json
import os
import time
import duckdb
import pyarrow as pa
import sabot_lab as sl

cluster = sl.LocalCluster(agents=2, heartbeat_interval=0.5)
processes = [cluster.jobmanager_process, *cluster.agent_processes]
print(json.dumps({"agents": len(cluster.agents()), "pids": [p.pid for p in processes]}))""",
    """\
BATCHES, ROWS = 24, 500
GATE = os.path.abspath("slow-filter.release")  # the second half waits for this file


def slow_batches(gate=GATE):
    for i in range(BATCHES):
        time.sleep(0.2)
        while i == 1 and not os.path.exists(gate + ".more"):  # the rest of the first half
            time.sleep(0.05)
        while i >= BATCHES // 2 and not os.path.exists(gate):
            time.sleep(0.05)
        yield pa.record_batch({"x": pa.array(range(i * ROWS, (i + 1) * ROWS))})


expected = duckdb.sql(f"SELECT count(*) FROM range({BATCHES * ROWS}) t(x) WHERE x % 3 = 0")
print(json.dumps({"rows": expected.fetchall()[0][0]}))
job = sl.from_iterable(slow_batches, schema={"x": "int64"}).filter(sl.col("x") % 3 == 0)
job = job.submit(cluster, name="slow filter")
job""",
    """\
windows = (
    sl.nexmark(events=None, event_rate=10_000, seed=7).bids
    .with_watermark("dateTime", max_delay="1s")
    .window(sl.tumbling("1s", on="dateTime"))
    .group_by("auction")
    .agg(bids=sl.count())
)
endless = windows.submit(cluster, name="endless windows")
endless""",
    "print(endless.status())",
    """\
PLAN_GATE = os.path.abspath("followed-filter.release")
followed = sl.from_iterable(lambda: slow_batches(PLAN_GATE), schema={"x": "int64"})
followed = followed.filter(sl.col("x") % 3 == 0)
plan = followed.show_plan(job=followed.submit(cluster, name="followed filter"))
plan""",
    """\
kinds = {n["id"]: n["details"]["operator"] for n in plan.views["physical"]["nodes"]}
print(json.dumps({
    "state": plan.live["state"],
    "texts": {i: v["text"] for i, v in plan.live["nodes"].items()},
    "rows_out": {kinds[i]: v["rows_out"] for i, v in plan.live["nodes"].items()},
}))""",
    """WAIT_GATE = os.path.abspath("waited-filter.release")
waited = sl.from_iterable(lambda: slow_batches(WAIT_GATE), schema={"x": "int64"})
waited = waited.submit(cluster, name="waited filter")
waited""",
    "waited_rows = waited.result().num_rows",
    "cluster",
    "cluster.close()",
    """\
import sys, threading, traceback
from sabot_lab.notebook import live
print("jobs:", [(j["name"], j["state"]) for j in cluster.jobs()])
print("followers:", [(f.started, f.shown, f.done) for f in live._followers])
for thread in threading.enumerate():
    print(f"--- {thread.name}")
    traceback.print_stack(sys._current_frames().get(thread.ident), file=sys.stdout)""",
]
CLOSE = 9  # the index of the cell closing the cluster
DIAGNOSE = 10  # the index of the cell printing the kernel's jobs, followers and threads


@pytest.fixture(scope="module")
def job_notebook(open_notebook: Callable[[str, list[str]], Lab]) -> Iterator[Lab]:
    """The job notebook open, its cluster started in the kernel and closed at the end (its
    processes are killed if the kernel could not close it)."""
    lab = open_notebook("jobs.ipynb", JOB_NOTEBOOK)
    lab.run_cell(0)
    started = json.loads(lab.stdout(0))
    assert started["agents"] == 2
    try:
        yield lab
        lab.run_cell(CLOSE)
    finally:
        for pid in started["pids"]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process = psutil.Process(pid)
                if "sabot_lab.cli" in process.cmdline():
                    process.kill()


BATCHES_ROWS = 24 * 500  # the rows of slow_batches()


def job_rows(widget: Locator) -> int:
    return int(widget.locator(".sabot-job-rows").inner_text().replace(",", ""))


def wait_running(lab: Lab, cell: int, after: int = 0) -> None:
    """Wait until the job widget of ``cell`` shows its job RUNNING with more than ``after``
    rows; failing, say what it shows instead."""
    running = """(el, after) => {
        const state = el.querySelector(".sabot-job-state").textContent;
        const rows = Number(el.querySelector(".sabot-job-rows").textContent.replace(/,/g, ""));
        return state === "RUNNING" && rows > after;
    }"""
    try:
        # a notebook's first jobs: its agents load the engine for them (60 s, as other jobs')
        lab.wait_in_cell(cell, ".sabot-job", running, after)
    except PlaywrightTimeoutError:
        shown = lab.cell(cell).inner_text()
        lab.run_cell(DIAGNOSE)
        pytest.fail(
            f"the job widget never showed RUNNING past {after} rows: {shown}\n"
            f"the kernel:\n{lab.stdout(DIAGNOSE)}"
        )


def test_job_widget_counts_rows_while_the_job_runs(job_notebook: Lab) -> None:
    lab = job_notebook
    lab.run_cell(1)
    expected = json.loads(lab.stdout(1))["rows"]
    widget = lab.cell(1).locator(".sabot-job")
    widget.wait_for()
    wait_running(lab, 1)
    first = job_rows(widget)  # the first batch's: the next wait for a file the test makes
    (lab.server.root / "slow-filter.release.more").touch()
    wait_running(lab, 1, first)
    second = job_rows(widget)
    save_screenshot(widget, "job_widget.png", "job_widget.png")
    assert 0 < first < second < expected
    (lab.server.root / "slow-filter.release").touch()  # the job may now read its second half
    widget.locator(".sabot-job-state", has_text="FINISHED").wait_for(timeout=60_000)
    assert job_rows(widget) == expected
    assert widget.locator(".sabot-job-cancel").is_disabled()
    save_screenshot(widget, "job_widget_finished.png")


def test_job_widget_cancel_button_cancels_an_endless_job(job_notebook: Lab) -> None:
    lab = job_notebook
    lab.run_cell(2)
    widget = lab.cell(2).locator(".sabot-job")
    widget.wait_for()
    wait_running(lab, 2)
    cancel = widget.locator(".sabot-job-cancel")
    assert cancel.is_enabled()
    cancel.click()
    widget.locator(".sabot-job-state", has_text="CANCELLED").wait_for(timeout=60_000)
    save_screenshot(widget, "job_widget_cancelled.png")
    lab.run_cell(3)
    assert lab.stdout(3).strip() == "CANCELLED"  # the JobManager's own word


def test_plan_widget_shows_each_operators_live_rows(job_notebook: Lab) -> None:
    lab = job_notebook
    lab.run_cell(4)
    widget = lab.cell(4).locator(".sabot-plan")
    widget.locator('.sabot-plan-svg[data-view="physical"]').wait_for()
    rows_out = """(el) => {
        const state = el.querySelector(".sabot-live-status").dataset.state;
        const scan = el.querySelector('.sabot-node[data-kind="source"] .sabot-node-live');
        return state === "RUNNING" && scan !== null && scan.textContent.includes("out")
            && el.querySelector('.sabot-node[data-kind="transform"] .sabot-node-live') !== null;
    }"""
    lab.wait_in_cell(4, ".sabot-plan", rows_out)
    while_running = live_texts(widget)
    save_screenshot(widget, "plan_widget_live.png", "plan_widget_live.png")
    for release in ("followed-filter.release.more", "followed-filter.release"):
        (lab.server.root / release).touch()
    widget.locator('.sabot-live-status[data-state="FINISHED"]').wait_for(timeout=60_000)
    lab.run_cell(5)
    kernel = json.loads(lab.stdout(5))
    assert kernel["state"] == "FINISHED"
    assert live_texts(widget) == kernel["texts"]  # every operator drawn with its own numbers
    assert while_running != kernel["texts"]
    expected = json.loads(lab.stdout(1))["rows"]
    assert kernel["rows_out"]["source"] == 24 * 500 and kernel["rows_out"]["filter"] == expected


def test_job_widget_moves_while_a_cell_waits_in_job_result(job_notebook: Lab) -> None:
    lab = job_notebook
    lab.run_cell(6)
    widget = lab.cell(6).locator(".sabot-job")
    widget.locator(".sabot-job-state", has_text="RUNNING").wait_for(timeout=60_000)
    lab.start_cell(7)  # blocks the kernel until the job ends
    lab.cell(7).locator(".jp-InputPrompt", has_text="[*]").wait_for()
    rising = """(el, after) => Number(
        el.querySelector(".sabot-job-rows").textContent.replace(/,/g, "")) > after"""
    first = job_rows(widget)  # at most the first batch's: the next wait for a file
    (lab.server.root / "waited-filter.release.more").touch()
    lab.wait_in_cell(6, ".sabot-job", rising, first)
    assert lab.cell(7).locator(".jp-InputPrompt").inner_text().strip() == "[*]:"  # still busy
    (lab.server.root / "waited-filter.release").touch()
    widget.locator(".sabot-job-state", has_text="FINISHED").wait_for(timeout=60_000)
    assert job_rows(widget) == BATCHES_ROWS


def test_a_closed_cluster_says_closed_and_disables_its_buttons(job_notebook: Lab) -> None:
    lab = job_notebook
    lab.run_cell(8)
    widget = lab.cell(8).locator(".sabot-cluster")
    widget.locator(".sabot-agent").first.wait_for(timeout=60_000)
    assert widget.locator(".sabot-scale-up").is_enabled()
    lab.run_cell(CLOSE)
    widget.locator(".sabot-cluster-notice", has_text="closed").wait_for(timeout=60_000)
    assert widget.locator(".sabot-scale-up").is_disabled()
    assert widget.locator(".sabot-scale-down").is_disabled()
    assert "does not answer" not in widget.inner_text()


def live_texts(widget: Locator) -> dict[str, str]:
    """The live line of every operator drawn with one, by operator id."""
    nodes = widget.locator(".sabot-plan-svg .sabot-node").all()
    return {
        str(n.get_attribute("data-node-id")): str(n.locator(".sabot-node-live").text_content())
        for n in nodes
        if n.locator(".sabot-node-live").count()
    }


WIDE_PLAN_NOTEBOOK = [
    """\
import pathlib, tempfile
import pyarrow as pa, pyarrow.parquet as pq
import sabot_lab as sl

root = pathlib.Path(tempfile.mkdtemp())
desks = []
for desk in range(6):
    path = root / f"trades_desk_{desk}_2026_december.parquet"
    pq.write_table(pa.table({"px": [1.0, 2.0, 3.0], "qty": [1, 5, 9]}), path)
    desks.append(sl.from_parquet(path).filter(sl.col("qty") > desk))
wide = desks[0].union(*desks[1:]).group_by("qty").agg(total=sl.col("px").sum())""",
    "wide.show_plan()",
]

LAYOUT = """(root) => {
    const box = (el) => el.getBoundingClientRect();
    const canvas = root.querySelector(".sabot-plan-canvas");
    const svg = root.querySelector(".sabot-plan-svg");
    const cut = [];
    for (const node of root.querySelectorAll(".sabot-plan-svg .sabot-node")) {
        const frame = box(node.querySelector(".sabot-node-box"));
        for (const text of node.querySelectorAll("text")) {
            if (!text.textContent) continue;
            const t = box(text);
            if (t.left < frame.left - 0.5 || t.right > frame.right + 0.5) cut.push(text.textContent);
        }
    }
    const details = root.querySelector(".sabot-details");
    return {
        widget: box(root).width, canvas: box(canvas).width, svg: box(svg).width,
        scrolls: canvas.scrollWidth > canvas.clientWidth + 1,
        details: details.hidden ? 0 : box(details).width,
        cut,
        sources: [...root.querySelectorAll('.sabot-node[data-kind="source"]')].map(
            (n) => [n.querySelector(".sabot-node-sublabel").textContent,
                    (n.querySelector(".sabot-node-sublabel title") || {}).textContent || ""]),
        keys: [...root.querySelectorAll(".sabot-details td:first-child")].map(
            (td) => getComputedStyle(td).whiteSpace),
    };
}"""


def test_plan_layout_fits_a_wide_plan_in_a_common_window(
    open_notebook: Callable[[str, list[str]], Lab],
) -> None:
    """At 1000 px the graph has the output's width (no details column reserved), a wide
    plan is fitted (zoom buttons change it), no text leaves its box, a source names its file
    and its pushed filter, and a details key never breaks."""
    lab = open_notebook("wide_plan.ipynb", WIDE_PLAN_NOTEBOOK)
    lab.page.set_viewport_size({"width": 1000, "height": 900})
    lab.run_cell(0)
    lab.run_cell(1)
    widget = lab.cell(1).locator(".sabot-plan")
    widget.locator(".sabot-plan-svg .sabot-node").first.wait_for()

    def zoom() -> float:
        return float(widget.locator(".sabot-plan-svg").get_attribute("data-zoom") or 0)

    layout = widget.evaluate(LAYOUT)
    assert layout["details"] == 0 and layout["canvas"] > 0.95 * layout["widget"], layout
    assert 0.6 <= zoom() < 1  # as small as is readable; the rest scrolls
    assert layout["cut"] == [], layout["cut"]
    assert len(layout["sources"]) == 6
    for shown, whole in layout["sources"]:
        said = whole or shown  # a shortened label has the whole text as its tooltip
        assert "trades_desk_" in said and "december.parquet" in said and "qty" in said, said
        assert "/tmp" not in said

    widget.locator(".sabot-zoom-fit").click()
    fitted = widget.evaluate(LAYOUT)
    assert not fitted["scrolls"] and fitted["svg"] <= fitted["canvas"], fitted
    assert fitted["cut"] == [], fitted["cut"]
    widget.locator(".sabot-zoom-reset").click()
    assert zoom() == 1 and widget.evaluate(LAYOUT)["scrolls"]  # actual size: wider
    widget.locator(".sabot-zoom-in").click()
    assert zoom() == 1.25

    widget.locator(".sabot-plan-svg .sabot-node").first.click()
    widget.locator(".sabot-details .sabot-details-schema").wait_for()
    opened = widget.evaluate(LAYOUT)
    assert 0 < opened["details"] <= 320 and set(opened["keys"]) == {"nowrap"}, opened
    assert opened["canvas"] > 0.95 * opened["widget"]  # no room beside it: it goes below
    save_screenshot(widget, "plan_wide.png")
    widget.locator(".sabot-details-close").click()
    assert widget.evaluate(LAYOUT)["details"] == 0
