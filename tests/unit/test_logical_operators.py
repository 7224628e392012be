"""Typed logical operators: fields checked on construction, the node facade, JSON round trips,
and every phase table covering every operator class."""

from __future__ import annotations

import json
import sys

import pyarrow as pa
import pytest

import sabot_lab as sl
import sabot_lab.engine.executor  # the phase tables register as their modules load
import sabot_lab.notebook.plan_views
import sabot_lab.optimizer
import sabot_lab.physical.planner
from sabot_lab import col
from sabot_lab.errors import PlanError
from sabot_lab.logical import (
    Filter,
    GroupBy,
    HashJoin,
    JobGraph,
    Limit,
    OperatorType,
    PhaseTable,
    Sort,
    StreamOperatorNode,
    Watermark,
    operator_class,
    operator_classes,
)

PHASES = {
    "lowering to the engine",
    "per-batch steps",
    "physical planning (exchanges)",
    "statistics",
    "push_down_filters",
    "push_down_limits",
    "push_down_projections (input columns)",
    "push_down_projections (rebuild)",
    "simplify_predicates",
    "plan views (colour family)",
    "physical planning (partitioning kept)",
}


def test_every_phase_table_covers_every_operator_class() -> None:
    tables = {
        table.phase: table
        for name, module in list(sys.modules.items())
        if name.startswith("sabot_lab")
        for table in vars(module).values()
        if isinstance(table, PhaseTable)
    }
    assert tables.keys() >= PHASES
    missing = {t.phase: [c.__name__ for c in t.missing()] for t in tables.values() if t.missing()}
    assert missing == {}, f"operator classes without an entry or an opt-out: {missing}"


def test_every_kind_has_one_class() -> None:
    # a sink is the job's output, taken off the plan before any phase: not among the classes
    # plans run
    assert [*(c.kind for c in operator_classes()), OperatorType.SINK] == list(OperatorType)
    assert operator_class("group_by") is GroupBy
    assert operator_class("sink").job_output


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Filter(predicate="x > 1"), "predicate must be an expression"),
        (lambda: Limit(n=-1), "n must be a non-negative int"),
        (lambda: Sort(by=[col("x")], descending=[]), "1 keys but 0 descending flags"),
        (lambda: GroupBy(keys=[], aggs=[col("x").sum()]), "at least one key"),
        (lambda: Watermark(column="t", delay=0, keep="all"), "keep must be"),
        (
            lambda: HashJoin(how="outer", left_on=["a"], right_on=["b"], right_payload=[]),
            "how must be one of",
        ),
    ],
)
def test_fields_are_checked_on_construction(make, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        make()


def test_unknown_parameters_are_refused() -> None:
    with pytest.raises(PlanError, match="a limit operator takes n, offset; got rows"):
        StreamOperatorNode("l", OperatorType.LIMIT, "limit", parameters={"rows": 1})


def test_facade_properties_come_from_the_operator() -> None:
    s = sl.from_pydict({"k": [1, 1], "v": [2, 3]}).distinct()
    node = s.graph.node(s.node_id)
    assert (node.stateful, node.key_by, node.parameters) == (True, ("k", "v"), {})
    with pytest.raises(PlanError, match="keyed by"):
        StreamOperatorNode(
            "g",
            OperatorType.GROUP_BY,
            parameters={"keys": ["k"], "aggs": [col("v").sum()]},
            key_by=("v",),
        )


def test_schema_is_computed_where_the_fields_give_it() -> None:
    s = sl.from_pydict({"x": [1, 2]}).select(y=col("x") * 2.5).filter(col("y") > 1).limit(1)
    for node in s.graph.topological_sort():
        inputs = [s.graph.node(u).output_schema for u in node.upstream]
        assert node.op.schema(inputs).equals(node.output_schema)


def test_later_phase_fields_round_trip() -> None:
    s = sl.from_pydict({"k": ["a", "b"], "x": [1, 2]}).sort("x").limit(1).select("k")
    graph = s.optimize().graph
    again = JobGraph.from_json(json.dumps(graph.to_dict()))
    assert again.to_dict() == graph.to_dict()
    (sort,) = [n for n in again if isinstance(n.op, Sort)]
    assert sort.op.top_n == 1
    assert sl.Stream(again, s.node_id).collect().equals(pa.table({"k": ["a"]}))
