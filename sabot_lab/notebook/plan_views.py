"""The three views of a plan as plain JSON, laid out: logical (as written), optimized (after
the rewrite rules, fused pipelines drawn as groups of their operators) and physical (stages of
tasks and the exchanges between them).

A view is ``{"name", "title", "width", "height", "nodes", "edges", "groups"}``. A node has
``id`` (the operator id), ``label``, ``sublabel``, ``kind`` (its colour: source, transform,
join, aggregate, order, sink, exchange), ``x``, ``y``, ``w``, ``h``, ``group`` and ``details``
(schema, expressions, parameters, estimated rows, and the optimizer rules that produced,
rewrote or replaced it). An edge has ``id``, ``source``, ``target``, estimated ``rows`` (the
source's output) and its drawing (``points``, ``path``, ``label_x``, ``label_y``). A group (a
fused pipeline, a stage) has ``id``, ``kind``, ``label``, its box and its ``members``.

>>> import sabot_lab as sl
>>> s = sl.from_pydict({"k": ["a", "b"], "x": [1, 2]}).filter(sl.col("x") > 1).select("k")
>>> views = plan_views(s, partitions=2)
>>> [n["label"] for n in views["logical"]["nodes"]]
['source', 'filter', 'select']
>>> [g["kind"] for g in views["optimized"]["groups"]], views["optimized"]["groups"][0]["members"]
(['fused'], ['filter_...', 'select_...'])
>>> [g["label"] for g in views["physical"]["groups"]]
['stage 0 · 2 tasks', 'fused: filter → select']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from sabot_lab.config import get_config
from sabot_lab.explain import describe_operator
from sabot_lab.expr import Expr
from sabot_lab.logical import (
    Aggregate,
    AsofJoin,
    Distinct,
    Filter,
    FlatMap,
    Fused,
    HashJoin,
    IntervalJoin,
    JobGraph,
    Limit,
    Map,
    PhaseTable,
    Project,
    RowIndex,
    Sort,
    Source,
    SourceSpec,
    StreamOperatorNode,
    SymmetricJoin,
    TopN,
    Union,
    Watermark,
    Window,
    WindowFunctions,
    fused_members,
)
from sabot_lab.notebook.plan_layout import GROUP_HEADER, Layout, edge_path, layered_layout
from sabot_lab.notebook.table_view import quantity
from sabot_lab.optimizer import OptimizedPlan, RewriteTrace, Statistics, estimate
from sabot_lab.optimizer.trace import format_rows
from sabot_lab.physical import ExchangeSource, PhysicalPlan, Stage, plan_stages

if TYPE_CHECKING:
    from sabot_lab.stream import Stream

__all__ = [
    "KIND_COLORS",
    "NEUTRAL_COLOR",
    "NODE_KINDS",
    "VIEWS",
    "expand_fused",
    "logical_view",
    "node_kind",
    "optimized_view",
    "physical_view",
    "plan_views",
    "rule_attribution",
    "shorten",
    "source_brief",
]

VIEWS = ("logical", "optimized", "physical")
"""The views of a plan, in the order the widget offers them."""

NODE_KINDS: PhaseTable[str] = PhaseTable(
    "plan views (colour family)",
    {
        Source: "source",
        Filter: "transform",
        Map: "transform",
        FlatMap: "transform",
        Project: "transform",
        Watermark: "transform",
        Fused: "transform",
        Union: "transform",
        HashJoin: "join",
        IntervalJoin: "join",
        SymmetricJoin: "join",
        AsofJoin: "join",
        Aggregate: "aggregate",
        Distinct: "aggregate",
        Window: "aggregate",
        WindowFunctions: "aggregate",
        TopN: "order",
        Sort: "order",
        Limit: "order",
        RowIndex: "order",
    },
)
"""The colour family of each operator class."""

KIND_COLORS = {
    "source": "#4e79a7",
    "transform": "#59a14f",
    "join": "#b07aa1",
    "aggregate": "#f28e2b",
    "order": "#b6992d",
    "sink": "#e15759",
    "exchange": "#76b7b2",
}
"""The colour of each operator kind, in every rendering (mid-tone: readable on light and
dark backgrounds as a stroke, and as a translucent fill under text in the theme's colour)."""
NEUTRAL_COLOR = "#8c8c8c"
"""Edges and stages."""
STAGE_HEADER = 42.0
"""Height of a stage's title area: its name, and two lines of live numbers while a job runs."""
NODE_HEIGHT = 42.0
MIN_NODE_WIDTH = 96.0
MAX_NODE_WIDTH = 300.0
EDGE_LABEL_WIDTH = 130.0
"""Room right of an edge's label point for its text (a live one, ``12K rows · 4K rows/s``,
is longer than the estimate the layout was made with)."""
SUBLABEL_CHARS = 46
"""Characters of an operator's arguments a box is made wide enough for (at most
:data:`MAX_NODE_WIDTH`); the widget shortens a longer text to fit, and the details panel
has it all."""


def node_kind(node: StreamOperatorNode) -> str:
    """The colour family of an operator: source, transform (filter/project/map), join,
    aggregate (group-by, windows, distinct), order (sort/limit), sink, or exchange (a stage
    reading another stage's rows).

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"x": [1]}).sort("x")
    >>> node_kind(s.graph.node(s.node_id))
    'order'
    """
    if isinstance(node.op, Source) and isinstance(node.op.source, ExchangeSource):
        return "exchange"
    return NODE_KINDS[node.op]


def expand_fused(graph: JobGraph) -> tuple[JobGraph, dict[str, list[str]]]:
    """``graph`` with every fused operator replaced by the chain of its members, and the
    member ids of each fused operator.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"x": [1]}).filter(sl.col("x") > 0).with_columns(y=sl.col("x"))
    >>> expanded, fused = expand_fused(s.optimize().graph)
    >>> [n.name for n in expanded.topological_sort()], len(fused)
    (['source', 'filter', 'with_columns'], 1)
    """
    last: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    nodes: list[StreamOperatorNode] = []
    for node in graph.topological_sort():
        upstream = tuple(last.get(u, u) for u in node.upstream)
        if not isinstance(node.op, Fused):
            nodes.append(node.replace(upstream=upstream, downstream=()))
            continue
        chain = fused_members(node)
        for member in chain:
            nodes.append(member.replace(upstream=upstream, downstream=()))
            upstream = (member.operator_id,)
        last[node.operator_id] = chain[-1].operator_id
        members[node.operator_id] = [m.operator_id for m in chain]
    return JobGraph.from_upstream(graph.job_name, nodes), members


def rule_attribution(trace: RewriteTrace) -> dict[str, list[dict[str, Any]]]:
    """For every operator id the trace names, the rule applications that name it, in order:
    ``role`` is ``produced`` (the rule made it), ``rewrote`` (changed it in place) or
    ``replaced`` (the rule removed, moved or fused it into ``after``).

    >>> trace = RewriteTrace()
    >>> trace.record("fuse_operators", ["filter_1", "select_2"], ["fused_3"], "one pass")
    >>> [(a["step"], a["role"]) for a in rule_attribution(trace)["filter_1"]]
    [(1, 'replaced')]
    >>> rule_attribution(trace)["fused_3"][0]["role"]
    'produced'
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for step, a in enumerate(trace, start=1):
        for op_id in dict.fromkeys((*a.nodes_before, *a.nodes_after)):
            before, after = op_id in a.nodes_before, op_id in a.nodes_after
            role = "rewrote" if before and after else "produced" if after else "replaced"
            out.setdefault(op_id, []).append(
                {
                    "step": step,
                    "rule": a.rule,
                    "role": role,
                    "reason": a.reason,
                    "before": list(a.nodes_before),
                    "after": list(a.nodes_after),
                }
            )
    return out


def plan_views(
    stream: Stream, partitions: int | None = None, plan: OptimizedPlan | None = None
) -> dict[str, dict[str, Any]]:
    """The logical, optimized and physical views of ``stream``'s plan (``plan``: its
    optimized plan, if already made). The physical view cuts the plan as a cluster would
    with ``partitions`` tasks per stage (default: the configured ``threads``)."""
    plan = plan or stream.optimize()
    attribution = rule_attribution(plan.trace)
    return {
        "logical": logical_view(
            stream.graph.subgraph(stream.node_id), plan.statistics, attribution
        ),
        "optimized": optimized_view(plan, attribution),
        "physical": physical_view(plan, partitions or get_config().engine.threads, attribution),
    }


def logical_view(
    graph: JobGraph,
    statistics: Mapping[str, Statistics] | None = None,
    attribution: Mapping[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The plan as written: one node per operator of ``graph``.

    >>> import sabot_lab as sl
    >>> view = logical_view(sl.from_pydict({"x": [1, 2]}).head(1).graph)
    >>> [(e["source"].split("_")[0], e["target"].split("_")[0], e["rows"]) for e in view["edges"]]
    [('source', 'limit', 2.0)]
    """
    builder = _ViewBuilder("logical", attribution or {})
    builder.add_graph(graph, estimate(graph, statistics))
    return builder.build("plan as written")


def optimized_view(
    plan: OptimizedPlan, attribution: Mapping[str, list[dict[str, Any]]] | None = None
) -> dict[str, Any]:
    """The optimized plan: fused operators drawn as a group of their members.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"x": [1, 2]}).filter(sl.col("x") > 1).with_columns(y=sl.col("x"))
    >>> view = optimized_view(s.optimize())
    >>> len(view["nodes"]), [len(g["members"]) for g in view["groups"]]
    (3, [2])
    """
    builder = _ViewBuilder("optimized", attribution or rule_attribution(plan.trace))
    expanded, fused = expand_fused(plan.graph)
    builder.add_graph(expanded, estimate(expanded, plan.statistics))
    builder.add_fused(fused, plan.graph)
    return builder.build(f"after {quantity(len(plan.trace), 'rewrite')}")


def physical_view(
    plan: OptimizedPlan,
    partitions: int,
    attribution: Mapping[str, list[dict[str, Any]]] | None = None,
    physical: PhysicalPlan | None = None,
) -> dict[str, Any]:
    """The optimized plan cut into stages of ``partitions`` tasks
    (:func:`~sabot_lab.physical.plan_stages`), or the ``physical`` plan a job runs (the
    JobManager's choices, made on what it knows of the data): each stage a group, each
    exchange an edge from the producing operator to an ``exchange`` node of the consuming
    stage.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"k": [1, 2], "x": [3, 4]}).group_by("k").agg(sl.col("x").sum())
    >>> view = physical_view(s.optimize(), 2)
    >>> [g["label"] for g in view["groups"]]  # two groups: merged in one task
    ['stage 0 · 2 tasks', 'stage 1 · 1 task']
    >>> [e["label"] for e in view["edges"] if e["exchange"]]
    ['x1: single']
    """
    physical = physical or plan_stages(plan.graph, partitions, plan.estimated_rows)
    builder = _ViewBuilder("physical", attribution or rule_attribution(plan.trace))
    stats: dict[str, Statistics] = dict(plan.statistics)
    last: dict[str, str] = {}  # a fused operator -> its last member
    for stage in physical.stages:
        expanded, fused = expand_fused(stage.graph)
        last.update({f: ids[-1] for f, ids in fused.items()})
        known = dict(plan.statistics)
        for x_id in stage.reads:
            producer = physical.exchanges[x_id].node_id
            known[f"read_{x_id}"] = stats[last.get(producer, producer)]
        stats.update(estimate(expanded, known))
        builder.add_graph(expanded, stats, stage.stage_id)
        builder.add_fused(fused, stage.graph)
        builder.add_stage(stage, expanded, fused)
    for x in physical.exchanges.values():
        producer = last.get(x.node_id, x.node_id)
        keys = f" on [{', '.join(x.keys)}]" if x.keys else ""
        builder.add_edge(
            producer,
            f"read_{x.exchange_id}",
            stats[producer].rows,
            edge_id=x.exchange_id,
            label=f"{x.exchange_id}: {x.kind}{keys}",
        )
    return builder.build(_stage_summary(physical))


def _read_whole(stage: Stage) -> str:
    """What the description of ``stage`` adds for the sources every task reads whole."""
    if not stage.whole or stage.partitions == 1:
        return ""
    return f" (each reads all of {', '.join(stage.whole)})"


def _stage_summary(physical: PhysicalPlan) -> str:
    counts = zip(
        (len(physical.stages), len(physical.tasks()), len(physical.exchanges)),
        ("stage", "task", "exchange"),
        strict=True,
    )
    return ", ".join(quantity(n, word) for n, word in counts)


@dataclass
class _ViewBuilder:
    """Collects nodes, edges and groups of one view, then lays them out."""

    name: str
    attribution: Mapping[str, list[dict[str, Any]]]
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[dict[str, Any]] = field(default_factory=list)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_graph(
        self, graph: JobGraph, rows: Mapping[str, Statistics], stage: int | None = None
    ) -> None:
        """A node per operator and an edge per input, with estimated rows."""
        for node in graph.topological_sort():
            rules = self.attribution.get(node.operator_id, [])
            own = rows[node.operator_id].rows
            self.nodes[node.operator_id] = _node_json(node, own, rules, stage)
            for upstream in node.upstream:
                self.add_edge(upstream, node.operator_id, rows[upstream].rows)

    def add_edge(
        self,
        source: str,
        target: str,
        rows: float | None,
        edge_id: str | None = None,
        label: str | None = None,
    ) -> None:
        """An edge carrying an estimated ``rows``; exchanges have their own id and label."""
        self.edges.append(
            {
                "id": edge_id or f"{source}->{target}",
                "source": source,
                "target": target,
                "rows": rows,
                "rows_text": f"~{format_rows(rows)} rows" if rows is not None else "",
                "exchange": edge_id is not None,
                "label": label or "",
            }
        )

    def add_fused(self, fused: Mapping[str, list[str]], graph: JobGraph) -> None:
        """A group per fused operator of ``graph``, holding its members."""
        for fused_id, members in fused.items():
            node = graph.node(fused_id)
            names = " → ".join(self.nodes[m]["label"] for m in members)
            self.groups[fused_id] = {
                "id": fused_id,
                "kind": "fused",
                "label": f"fused: {names}",
                "color": KIND_COLORS["transform"],
                "header": GROUP_HEADER,
                "members": list(members),
                "details": {
                    "id": fused_id,
                    "description": "operators run back to back on each batch, in one pass",
                    "schema": _schema(node.schema),
                    "rules": self.attribution.get(fused_id, []),
                },
            }
            for m in members:
                self.nodes[m]["group"] = fused_id
                self.nodes[m]["details"]["fused_into"] = fused_id

    def add_stage(self, stage: Stage, graph: JobGraph, fused: Mapping[str, list[str]]) -> None:
        """A group holding a stage's operators (its fused groups nested in it)."""
        in_fused = {m for ids in fused.values() for m in ids}
        members = [n for n in graph.nodes if n not in in_fused] + list(fused)
        gid = f"stage_{stage.stage_id}"
        tasks = quantity(stage.partitions, "task")
        self.groups[gid] = {
            "id": gid,
            "kind": "stage",
            "label": f"stage {stage.stage_id} · {tasks}",
            "color": NEUTRAL_COLOR,
            "header": STAGE_HEADER,
            "members": members,
            "details": {
                "id": gid,
                "stage": stage.stage_id,
                "partitions": stage.partitions,
                "reads": list(stage.reads),
                "writes": list(stage.writes),
                "output_nodes": [n.operator_id for n in graph.sinks()],
                "description": f"runs as {tasks}, each on one split of the inputs"
                + _read_whole(stage),
            },
        }
        for n in graph.nodes:
            if n not in in_fused:
                self.nodes[n]["group"] = gid

    def build(self, summary: str) -> dict[str, Any]:
        """Lay out and return the view's JSON."""
        sizes = {i: (n["w"], n["h"]) for i, n in self.nodes.items()}
        layout = layered_layout(
            sizes,
            [(e["source"], e["target"]) for e in self.edges],
            {g: v["members"] for g, v in self.groups.items()},
            {g: v["header"] for g, v in self.groups.items()},
        )
        return _positioned(self.name, summary, self.nodes, self.edges, self.groups, layout)


def _positioned(
    name: str,
    summary: str,
    nodes: Mapping[str, dict[str, Any]],
    edges: Sequence[dict[str, Any]],
    groups: Mapping[str, dict[str, Any]],
    layout: Layout,
) -> dict[str, Any]:
    out_nodes = []
    for node_id, node in nodes.items():
        box = layout.nodes[node_id]
        out_nodes.append({**node, "x": _r(box.x), "y": _r(box.y), "layer": layout.layers[node_id]})
    out_edges = []
    for edge, route in zip(edges, layout.edges, strict=True):
        lx, ly = route.label_point
        out_edges.append(
            {
                **edge,
                "points": [[_r(x), _r(y)] for x, y in route.points],
                "path": edge_path(route.points),
                "label_x": _r(lx),
                "label_y": _r(ly),
            }
        )
    out_groups = []
    for gid, group in groups.items():
        box = layout.groups[gid]
        out_groups.append({**group, "x": _r(box.x), "y": _r(box.y), "w": _r(box.w), "h": _r(box.h)})
    # nested groups after their parents, so they are drawn on top
    out_groups.sort(key=lambda g: g["kind"] == "fused")
    return {
        "name": name,
        "title": f"{name} plan: {quantity(len(out_nodes), 'operator')}, {summary}",
        "width": _r(max([layout.width, *(e["label_x"] + EDGE_LABEL_WIDTH for e in out_edges)])),
        "height": _r(layout.height),
        "nodes": out_nodes,
        "edges": out_edges,
        "groups": out_groups,
    }


def _r(value: float) -> float:
    return round(value, 1)


def _node_json(
    node: StreamOperatorNode,
    rows: float | None,
    rules: list[dict[str, Any]],
    stage: int | None,
) -> dict[str, Any]:
    kind = node_kind(node)
    description = describe_operator(node)
    if kind == "exchange":
        assert isinstance(node.op, Source)
        label, description = node.op.source.describe(), "rows from another stage"
    else:
        label = node.name
    sublabel = source_brief(node.op, node.name) if isinstance(node.op, Source) else description
    width = max(len(label) * 7.4, min(len(sublabel), SUBLABEL_CHARS) * 6.3) + 24
    expressions, parameters = _parameters(node.parameters)
    return {
        "id": node.operator_id,
        "label": label,
        "sublabel": sublabel,
        "kind": kind,
        "color": KIND_COLORS.get(kind, NEUTRAL_COLOR),
        "w": round(min(MAX_NODE_WIDTH, max(MIN_NODE_WIDTH, width)), 1),
        "h": NODE_HEIGHT,
        "group": None,
        "details": {
            "id": node.operator_id,
            "operator": node.operator_type.value,
            "name": node.name,
            "description": description,
            "schema": _schema(node.schema),
            "expressions": expressions,
            "parameters": parameters,
            "estimated_rows": rows,
            "stateful": node.stateful,
            "key_by": list(node.key_by),
            "parallelism": node.parallelism,
            "stage": stage,
            "fused_into": None,
            "rules": rules,
        },
    }


def _schema(schema: pa.Schema | None) -> list[list[str]]:
    return [[f.name, str(f.type)] for f in schema] if schema is not None else []


def _parameters(params: Mapping[str, Any]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Expression-valued parameters (as source text) apart from the others (as short text)."""
    expressions: dict[str, list[str]] = {}
    others: dict[str, str] = {}
    for key, value in params.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        if items and all(isinstance(v, Expr) for v in items):
            expressions[key] = [repr(v) for v in items]
        elif value is not None:
            others[key] = shorten(_text(value), 200)
    return expressions, others


def _text(value: Any) -> str:
    if isinstance(value, SourceSpec):
        return value.describe()
    if isinstance(value, pa.Schema):
        return ", ".join(f"{f.name} {f.type}" for f in value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if callable(value):
        return getattr(value, "__qualname__", repr(value))
    return repr(value) if not isinstance(value, str) else value


_PATH = re.compile(r"\S*/([^\s/]+)")


def source_brief(op: Source, name: str = "") -> str:
    """What a source's box says: its files by name (not their directories) and the filter
    pushed into it (its columns and the rest are in the details).

    >>> import pathlib, tempfile, pyarrow as pa, pyarrow.parquet as pq, sabot_lab as sl
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "december.parquet"
    >>> pq.write_table(pa.table({"px": [1.0, 2.0]}), path)
    >>> s = sl.from_parquet(path).filter(sl.col("px") > 1)
    >>> node = s.optimize().graph.sources()[0]
    >>> source_brief(node.op, node.name)
    'parquet december.parquet · (col("px") > 1)'
    """
    text = _PATH.sub(r"\1", str(op.source.describe()))
    if name and text.startswith(f"{name} "):
        text = text[len(name) + 1 :]
    return text if op.predicate is None else f"{text} · {op.predicate!r}"


def shorten(text: str, limit: int = SUBLABEL_CHARS) -> str:
    """``text`` cut to ``limit`` characters, its end replaced by "…" when cut (what a static
    rendering shows in a box; the widget measures its text instead).

    >>> shorten("parquet december.parquet", 12)
    'parquet dec…'
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"
