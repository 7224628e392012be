"""The plan widget: the layered layout's properties, the views' JSON against the plan objects
(logical graph, optimized graph and its rewrite trace, physical stages), the static SVG, the
ESM's syntax, and live numbers while a real LocalCluster job runs."""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.errors import SabotError
from sabot_lab.examples.datasets import quotes, securities
from sabot_lab.examples.demo import fintech_pipeline
from sabot_lab.examples.nexmark_queries import QUERIES
from sabot_lab.explain import describe_operator
from sabot_lab.logical import OperatorType, fused_members
from sabot_lab.notebook.plan_layout import Box, layered_layout
from sabot_lab.notebook.plan_svg import plan_svg
from sabot_lab.notebook.plan_views import VIEWS
from sabot_lab.notebook.plan_widget import PlanWidget
from sabot_lab.optimizer import estimate_rows
from sabot_lab.physical import plan_stages
from tests.support.reference import duckdb_table

PARTITIONS = 3
ESM = Path(sl.__file__).parent / "notebook" / "static" / "plan.js"


def _fintech() -> sl.Stream:
    return fintech_pipeline(
        sl.from_arrow(quotes(2_000, n_securities=40, seed=3)), sl.from_arrow(securities(40))
    )


def _pushdown() -> sl.Stream:
    """A filter on the left side's column written after a join: the optimizer moves it."""
    q, s = sl.from_arrow(quotes(500, n_securities=20, seed=5)), sl.from_arrow(securities(20))
    joined = q.join(s, left_on="security_id", right_on="id")
    return joined.filter(col("price") > 50).select("sector", "price").sort("price").head(10)


def _union() -> sl.Stream:
    a = sl.from_pydict({"k": [1, 2, 3], "v": [1.0, 2.0, 3.0]})
    b = sl.from_pydict({"k": [3, 4], "v": [5.0, 6.0]}).with_columns(v=col("v") * 2)
    return a.union(b).filter(col("k") > 1).distinct()


PLANS: dict[str, Callable[[], sl.Stream]] = {
    "fintech": _fintech,
    "pushdown": _pushdown,
    "union": _union,
    **{
        f"nexmark_{name}": (lambda q=q: q(sl.nexmark(events=5_000, event_rate=1_000, seed=1)))
        for name, q in QUERIES.items()
    },
}


@pytest.fixture(scope="module", params=list(PLANS))
def stream(request: pytest.FixtureRequest) -> sl.Stream:
    return PLANS[request.param]()


@pytest.fixture(scope="module")
def widget(stream: sl.Stream) -> PlanWidget:
    return PlanWidget(stream, PARTITIONS)


@pytest.fixture(scope="module")
def views(widget: PlanWidget) -> dict[str, dict[str, Any]]:
    return widget.views


def _box(item: dict[str, Any]) -> Box:
    return Box(item["x"], item["y"], item["w"], item["h"])


# -- layout properties ------------------------------------------------------------------


@pytest.mark.parametrize("name", VIEWS)
def test_edges_go_down_and_boxes_do_not_overlap(views: dict[str, Any], name: str) -> None:
    view = views[name]
    nodes = {n["id"]: n for n in view["nodes"]}
    assert len(nodes) == len(view["nodes"])
    for edge in view["edges"]:
        source, target = nodes[edge["source"]], nodes[edge["target"]]
        assert source["layer"] <= target["layer"]
        assert _box(source).bottom < _box(target).y  # downward, in layer order
        assert tuple(edge["points"][0]) == pytest.approx(_box(source).bottom_center, abs=0.11)
        assert tuple(edge["points"][-1]) == pytest.approx(_box(target).top_center, abs=0.11)
        assert all(
            y0 <= y1 for (_, y0), (_, y1) in zip(edge["points"], edge["points"][1:], strict=False)
        )
    boxes = [_box(n) for n in view["nodes"]]
    for i, a in enumerate(boxes):
        assert a.x >= 0 and a.y >= 0 and a.right <= view["width"] + 0.1
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)


@pytest.mark.parametrize("name", VIEWS)
def test_groups_hold_exactly_their_members(views: dict[str, Any], name: str) -> None:
    view = views[name]
    nodes = {n["id"]: n for n in view["nodes"]}
    groups = {g["id"]: g for g in view["groups"]}

    def leaves(group_id: str) -> set[str]:
        out: set[str] = set()
        for m in groups[group_id]["members"]:
            out |= leaves(m) if m in groups else {m}
        return out

    for gid, group in groups.items():
        inside = leaves(gid)
        box = _box(group)
        for node_id, node in nodes.items():
            if node_id in inside:
                assert box.contains(_box(node)), (gid, node_id)
                assert node["group"] == gid or node["group"] in groups
            else:
                assert not box.overlaps(_box(node)), (gid, node_id)
    top = [g for g in groups.values() if not any(g["id"] in o["members"] for o in groups.values())]
    for i, a in enumerate(top):
        for b in top[i + 1 :]:
            assert not _box(a).overlaps(_box(b))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 14).flatmap(
        lambda n: st.tuples(
            st.lists(st.tuples(st.integers(40, 200), st.integers(20, 60)), min_size=n, max_size=n),
            st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))),
        )
    )
)
def test_layout_of_any_dag(graph: tuple[list[tuple[int, int]], set[tuple[int, int]]]) -> None:
    sizes_list, pairs = graph
    sizes = {f"n{i}": (float(w), float(h)) for i, (w, h) in enumerate(sizes_list)}
    edges = sorted((f"n{a}", f"n{b}") for a, b in pairs if a < b)
    layout = layered_layout(sizes, edges)
    assert set(layout.nodes) == set(sizes)
    for u, v in edges:
        assert layout.layers[u] < layout.layers[v]
        assert layout.nodes[u].bottom < layout.nodes[v].y
    boxes = list(layout.nodes.values())
    for i, a in enumerate(boxes):
        assert (a.w, a.h) in sizes.values()
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)
    for route in layout.edges:  # edges passing through a layer keep off its boxes
        for x, y in route.points[1:-1]:
            assert not any(b.x < x < b.right and b.y < y < b.bottom for b in boxes)


def test_a_group_that_would_make_a_cycle_is_refused() -> None:
    sizes = {k: (50.0, 20.0) for k in "abc"}
    with pytest.raises(SabotError, match="cycle"):
        layered_layout(sizes, [("a", "b"), ("b", "c")], {"g": ["a", "c"]})


# -- the views against the plan objects -----------------------------------------------------


def test_logical_view_is_the_plan_as_written(stream: sl.Stream, views: dict[str, Any]) -> None:
    graph = stream.graph.subgraph(stream.node_id)
    view = views["logical"]
    nodes = {n["id"]: n for n in view["nodes"]}
    assert set(nodes) == set(graph.nodes)
    assert {(e["source"], e["target"]) for e in view["edges"]} == {
        (u, n.operator_id) for n in graph for u in n.upstream
    }
    rows = estimate_rows(graph)
    for edge in view["edges"]:
        assert edge["rows"] == rows[edge["source"]]
    for op in graph:
        details = nodes[op.operator_id]["details"]
        assert details["schema"] == [[f.name, str(f.type)] for f in op.output_schema]
        assert details["description"] == describe_operator(op)
        assert details["operator"] == op.operator_type.value
    assert view["groups"] == []


def test_optimized_view_expands_fused_operators(widget: PlanWidget, views: dict[str, Any]) -> None:
    plan = widget.plan
    view = views["optimized"]
    nodes = {n["id"]: n for n in view["nodes"]}
    fused = {
        n.operator_id: [m.operator_id for m in fused_members(n)]
        for n in plan.graph
        if n.operator_type == OperatorType.FUSED
    }
    assert len(nodes) == sum(len(fused_members(n)) for n in plan.graph)
    assert {g["id"]: g["members"] for g in view["groups"]} == fused
    assert all(g["kind"] == "fused" for g in view["groups"])
    exit_of = {ids[-1]: fid for fid, ids in fused.items()}
    entry_of = {ids[0]: fid for fid, ids in fused.items()}
    plan_edges = {(u, n.operator_id) for n in plan.graph for u in n.upstream}
    inside = {(a, b) for ids in fused.values() for a, b in itertools.pairwise(ids)}
    drawn = {(e["source"], e["target"]) for e in view["edges"]}
    # drawn edges between operators are the plan's edges with fused ends at their members
    assert {(exit_of.get(u, u), entry_of.get(v, v)) for u, v in drawn - inside} == plan_edges
    assert drawn >= inside
    for edge in view["edges"]:
        source = exit_of.get(edge["source"], edge["source"])
        if (edge["source"], edge["target"]) not in inside:
            assert edge["rows"] == pytest.approx(plan.estimated_rows[source])
    for op in plan.graph:
        for member in fused_members(op):
            assert nodes[member.operator_id]["details"]["schema"] == [
                [f.name, str(f.type)] for f in member.output_schema
            ]


def test_physical_view_shows_stages_and_exchanges(
    widget: PlanWidget, views: dict[str, Any]
) -> None:
    plan = widget.plan
    physical = plan_stages(plan.graph, PARTITIONS, plan.estimated_rows)
    view = views["physical"]
    stages = {g["details"]["stage"]: g for g in view["groups"] if g["kind"] == "stage"}
    assert sorted(stages) == [s.stage_id for s in physical.stages]
    nodes = {n["id"]: n for n in view["nodes"]}
    for stage in physical.stages:
        group = stages[stage.stage_id]
        assert group["details"]["partitions"] == stage.partitions
        assert group["label"] == (
            f"stage {stage.stage_id} · {stage.partitions} task{'s' if stage.partitions > 1 else ''}"
        )
        members = {m.operator_id for n in stage.graph for m in fused_members(n)}
        in_stage = {i for i, n in nodes.items() if n["details"]["stage"] == stage.stage_id}
        assert in_stage == members
    assert len(nodes) == sum(len(fused_members(n)) for s in physical.stages for n in s.graph)
    exchanges = {e["id"]: e for e in view["edges"] if e["exchange"]}
    assert set(exchanges) == set(physical.exchanges)
    for x in physical.exchanges.values():
        edge = exchanges[x.exchange_id]
        assert edge["target"] == f"read_{x.exchange_id}"
        assert nodes[edge["source"]]["details"]["stage"] == x.producer
        assert nodes[edge["target"]]["details"]["stage"] == x.consumer
        assert edge["label"].startswith(f"{x.exchange_id}: {x.kind}")
    assert f"{len(physical.tasks())} tasks" in view["title"]


def test_rules_are_attributed_from_the_rewrite_trace(widget: PlanWidget) -> None:
    trace = list(widget.plan.trace)
    for name in VIEWS:
        view = widget.views[name]
        items = {n["id"]: n for n in view["nodes"]} | {g["id"]: g for g in view["groups"]}
        for item_id, item in items.items():
            expected = []
            for step, a in enumerate(trace, start=1):
                before, after = item_id in a.nodes_before, item_id in a.nodes_after
                if before or after:
                    role = "rewrote" if before and after else "produced" if after else "replaced"
                    expected.append((step, a.rule, role, a.reason))
            rules = item["details"].get("rules", [])
            assert [(r["step"], r["rule"], r["role"], r["reason"]) for r in rules] == expected


def test_a_pushed_down_filter_names_its_rule() -> None:
    stream = _pushdown()
    widget = PlanWidget(stream)
    trace = list(widget.plan.trace)
    moved = [a for a in trace if a.rule == "push_down_filters"]
    assert moved, "the filter on price moves below the join"
    optimized = {n["id"]: n for n in widget.views["optimized"]["nodes"]}
    logical = {n["id"]: n for n in widget.views["logical"]["nodes"]}
    (original,) = moved[0].nodes_before
    step = trace.index(moved[0]) + 1
    assert original not in optimized
    replaced = [r for r in logical[original]["details"]["rules"] if r["step"] == step]
    assert [(r["rule"], r["role"]) for r in replaced] == [("push_down_filters", "replaced")]
    created = [i for i in moved[0].nodes_after if i != original]
    for node_id in created:
        first = optimized[node_id]["details"]["rules"][0]
        assert (first["step"], first["rule"], first["role"]) == (
            step,
            "push_down_filters",
            "produced",
        )
        assert first["reason"] == moved[0].reason
        assert optimized[node_id]["details"]["expressions"]["predicate"]
    for fused in (a for a in trace if a.rule == "fuse_operators"):
        group = next(g for g in widget.views["optimized"]["groups"] if g["id"] in fused.nodes_after)
        assert group["details"]["rules"][0]["role"] == "produced"


# -- static rendering ------------------------------------------------------------------------


@pytest.mark.parametrize("name", VIEWS)
def test_static_svg_has_one_element_per_operator(views: dict[str, Any], name: str) -> None:
    svg = ET.fromstring(plan_svg(views[name]))
    ns = "{http://www.w3.org/2000/svg}"
    drawn = [g.get("data-node-id") for g in svg.iter(f"{ns}g") if g.get("class") == "sabot-node"]
    assert drawn == [n["id"] for n in views[name]["nodes"]]
    edges = [g for g in svg.iter(f"{ns}g") if g.get("class") == "sabot-edge"]
    assert len(edges) == len(views[name]["edges"])


def test_a_stream_displays_its_plan_without_a_kernel() -> None:
    stream = _fintech()
    page = stream._repr_html_()
    bundle, metadata = stream._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"} and metadata == {}
    fused_ids = re.compile(r"fused_\d+")  # each optimization names its fused operators anew
    assert fused_ids.sub("fused", bundle["text/plain"]) == fused_ids.sub("fused", repr(stream))
    operators = sum(len(fused_members(n)) for n in stream.optimize().graph)  # ids may differ
    for html in (page, bundle["text/html"]):
        assert html.count('<g class="sabot-node"') == operators
        assert "plan as text" in html and "pipelines (operators fused per batch)" in html


def test_the_widget_syncs_plain_json_and_a_valid_view() -> None:
    widget = _union().show_plan(partitions=2)
    state = widget.get_state()
    assert set(state["views"]) == set(VIEWS) and state["view"] == "optimized"
    assert (
        "physical" in widget.views and "2 tasks" in widget.views["physical"]["groups"][0]["label"]
    )
    widget.view = "physical"
    assert "sabot-group" in widget.static_html()
    with pytest.raises(SabotError, match="no view 'costs'"):
        widget.view = "costs"


def test_following_needs_a_running_event_loop() -> None:
    with pytest.raises(SabotError, match="running asyncio event loop"):
        _union().show_plan().follow(object())  # type: ignore[arg-type]


@pytest.mark.slow  # runs node
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_esm_is_valid_javascript(tmp_path: Path) -> None:
    copy = tmp_path / "plan.mjs"
    copy.write_text(ESM.read_text())
    check = subprocess.run(["node", "--check", str(copy)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


# -- live numbers from a real cluster ------------------------------------------------------


@pytest.mark.slow  # a LocalCluster
def test_follow_shows_live_numbers_of_a_cluster_job(tmp_path: Path) -> None:
    n = 24_000
    table = pa.table({"k": [i % 97 for i in range(n)], "x": list(range(n))})

    def pause(batch: pa.RecordBatch) -> pa.RecordBatch:
        time.sleep(0.04)
        return batch

    stream = (
        sl.from_iterable(table.to_batches(max_chunksize=1_000), schema=table.schema)
        .filter(col("x") % 3 != 0)
        .map_batches(pause, schema=table.schema)
        .group_by("k")
        .agg(total=col("x").sum())
    )
    updates: list[tuple[float, dict[str, Any]]] = []

    async def run(cluster: sl.LocalCluster) -> tuple[PlanWidget, sl.Job, Any]:
        job = stream.submit(cluster)
        widget = stream.show_plan(job=job)
        widget.observe(lambda c: updates.append((time.monotonic(), c["new"])), names="live")
        (task,) = widget.loop_tasks
        assert task.get_loop() is asyncio.get_running_loop()
        snapshot = await task
        await asyncio.sleep(0.6)  # nothing more after the end
        return widget, job, snapshot

    with sl.LocalCluster(agents=1, slots=2, heartbeat_interval=0.2, workdir=tmp_path) as cluster:
        widget, job, snapshot = asyncio.run(run(cluster))
        tasks, metrics, result = job.tasks(), job.metrics(), job.result()

    live = widget.live
    assert snapshot.state == live["state"] == "FINISHED" and live["ended"]
    assert not widget.loop_tasks
    times = [t for t, _ in updates]
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    # ~250 ms apart (polls start that far apart; a slow poll's update may come just before
    # the next one's, on a loaded machine)
    assert len(gaps) >= 2 and gaps[len(gaps) // 2] >= 0.2
    assert any(u["state"] == "RUNNING" and u["stages"] for _, u in updates)
    assert updates[-1][1] == live and sum(u["ended"] for _, u in updates) == 1
    expected = duckdb_table("SELECT count(DISTINCT k) AS n FROM t", t=table)["n"][0].as_py()
    assert result.num_rows == live["rows_out"] == expected
    assert widget.view == "physical"
    stage_tasks: dict[int, int] = defaultdict(int)
    for t in tasks:
        stage_tasks[t["stage"]] += 1
    for stage, numbers in live["stages"].items():
        assert numbers["rows_out"] == metrics["stages"][stage]["rows_out"]
        assert sum(numbers["tasks"].values()) == stage_tasks[int(stage)]
        assert numbers["done"] and numbers["rows_per_s"] is not None
    groups = {
        g["details"]["stage"]: g for g in widget.views["physical"]["groups"] if g["kind"] == "stage"
    }
    assert sorted(groups) == sorted(stage_tasks)
    for stage, count in stage_tasks.items():
        assert groups[stage]["details"]["partitions"] == count
    (exchange,) = [e for e in widget.views["physical"]["edges"] if e["exchange"]]
    assert live["edges"][exchange["id"]]["rows"] == metrics["stages"]["0"]["rows_out"]
    html = widget.static_html()
    assert "FINISHED" in html and all(line in html for line in live["stages"]["0"]["lines"])
    # each operator's own rows, against DuckDB and the tasks' totals
    physical = widget.views["physical"]
    by_kind: dict[str, str] = {}  # the first operator of each kind: the scan, not the exchange
    for node in physical["nodes"]:
        by_kind.setdefault(node["details"]["operator"], node["id"])
    nodes = live["nodes"]
    kept = duckdb_table("SELECT count(*) AS n FROM t WHERE x % 3 <> 0", t=table)["n"][0].as_py()
    assert nodes[by_kind["source"]]["rows_out"] == n and nodes[by_kind["source"]]["rows_in"] is None
    assert nodes[by_kind["filter"]]["rows_in"] == n and nodes[by_kind["filter"]]["rows_out"] is None
    assert "one pass" in nodes[by_kind["filter"]]["text"]  # fused with the map: one pass
    assert nodes[by_kind["map"]]["rows_out"] == kept
    exchange_read = nodes[exchange["target"]]
    assert (
        exchange_read["rows_in"] == exchange_read["rows_out"] == metrics["stages"]["0"]["rows_out"]
    )
    assert nodes[exchange["source"]]["rows_out"] == metrics["stages"]["0"]["rows_out"]
    assert nodes[live_final_node(physical)]["rows_out"] == expected
    for edge in physical["edges"]:
        if edge["source"] == by_kind["filter"]:  # inside the fused chain: no count of its own
            assert edge["id"] not in live["edges"]
        else:
            assert live["edges"][edge["id"]]["rows"] == nodes[edge["source"]]["rows_out"]
    for numbers in nodes.values():
        assert numbers["text"] in html
    growing = [u["nodes"][by_kind["source"]]["rows_out"] for _, u in updates if u["nodes"]]
    assert any(0 < rows < n for rows in growing) and growing == sorted(growing)


def live_final_node(view: dict[str, Any]) -> str:
    """The operator whose rows are the job's result: the one no edge leaves."""
    sources = {e["source"] for e in view["edges"]}
    (final,) = [n["id"] for n in view["nodes"] if n["id"] not in sources]
    return final
