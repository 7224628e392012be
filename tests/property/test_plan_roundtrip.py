"""JobGraph and Expr survive ``to_dict``/``from_dict`` through JSON: same data, same results."""

from __future__ import annotations

import json
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.logical import OperatorType
from tests.support.expression_cases import AGGREGATES, CASES
from tests.support.reference import assert_same_rows
from tests.support.strategies import tables
from tests.support.user_functions import UDFS


def add_flag(batch: pa.RecordBatch) -> pa.RecordBatch:
    return batch.append_column("flag", pc.greater(batch["j"], 0))


def _step(name: str, fn: Callable[[sl.Stream, pa.Table], sl.Stream]) -> tuple[str, Callable]:
    return name, fn


# Steps that keep the columns i, j, f, s, b, t (extra columns may appear) so any order composes.
STEPS = [
    _step("filter", lambda s, o: s.filter(col("i") > 0, col("s").str.contains("a") | col("b"))),
    _step("with_columns", lambda s, o: s.with_columns(j=col("j") * 2 + col("i").fill_null(1))),
    _step("case", lambda s, o: s.with_columns(f=sl.when(col("b")).then(col("f")).otherwise(-1.0))),
    _step("map_batches", lambda s, o: s.map_batches(add_flag).select(*"ijfsbt")),
    _step("lambda_udf", lambda s, o: s.map_batches(lambda b: b, schema=s.schema)),
    _step("flat_map", lambda s, o: s.flat_map(lambda r: [r, r], schema=s.schema)),
    _step("semi_join", lambda s, o: s.join(sl.from_arrow(o), on="i", how="semi")),
    _step(
        "left_join",
        lambda s, o: s.join(sl.from_arrow(o).select("i", "j"), on="i", how="left").select(
            *"ijfsbt"
        ),
    ),
    _step("union", lambda s, o: s.union(o)),
    _step(
        "sort_limit", lambda s, o: s.sort(["j", "f"], descending=[True, False]).limit(15, offset=1)
    ),
    _step(
        "over",
        lambda s, o: s.with_columns(
            j=col("j").sum().over("s", order_by="i", frame=("range", None, 0)),
            i=sl.dense_rank().over("b", order_by="f", descending=True),
        ),
    ),
    _step("rename_back", lambda s, o: s.rename({"s": "name"}).rename({"name": "s"})),
    _step("truncate", lambda s, o: s.with_columns(t=col("t").dt.truncate("1h"))),
    _step("scalar_udf", lambda s, o: s.with_columns(f=UDFS["price"](col("f"), col("i")))),
    _step("cast", lambda s, o: s.with_columns(i=col("f").cast("int64") % 7)),
    _step(
        "row_index",
        lambda s, o: s.with_row_index("rn", offset=3).filter(col("rn") > 4).select(*"ijfsbt"),
    ),
]
ENDINGS = [
    _step("none", lambda s, o: s),
    _step(
        "group_by",
        lambda s, o: s.group_by("s").agg(col("j").sum(), col("f").mean().alias("m"), n=sl.count()),
    ),
    _step(
        "agg",
        lambda s, o: s.agg(col("t").max(), col("s").n_unique(), col("j").first().alias("first")),
    ),
    _step("distinct", lambda s, o: s.select("i", "b").distinct()),
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=tables(),
    other=tables(),
    steps=st.lists(st.sampled_from(STEPS), max_size=5),
    ending=st.sampled_from(ENDINGS),
)
def test_graph_round_trips_through_json_and_runs_the_same(
    table: pa.Table, other: pa.Table, steps: list, ending: tuple
) -> None:
    stream = sl.from_arrow(table)
    for _, step in [*steps, ending]:
        stream = step(stream, other)
    text = stream.graph.to_json()
    rebuilt = sl.JobGraph.from_json(text)
    assert json.loads(rebuilt.to_json()) == json.loads(text)
    for before, after in zip(
        stream.graph.topological_sort(), rebuilt.topological_sort(), strict=True
    ):
        assert after.operator_id == before.operator_id
        assert after.operator_type == before.operator_type
        assert after.upstream == before.upstream and after.downstream == before.downstream
        assert after.output_schema.equals(before.output_schema)
        assert (after.stateful, after.key_by, after.parallelism) == (
            before.stateful,
            before.key_by,
            before.parallelism,
        )
    again = sl.Stream(rebuilt, stream.node_id)
    sorted_output = any(name == "sort_limit" for name, _ in steps) and ending[0] == "none"
    assert_same_rows(again.collect(), stream.collect(), ordered=sorted_output)


@pytest.mark.parametrize(
    "make", [c[1] for c in CASES + AGGREGATES], ids=[c[0] for c in CASES + AGGREGATES]
)
def test_every_expression_round_trips(make: Callable[[], sl.Expr]) -> None:
    expr = make().alias("out")
    rebuilt = sl.Expr.from_dict(json.loads(json.dumps(expr.to_dict())))
    assert rebuilt.equals(expr)
    assert repr(rebuilt) == repr(expr)
    assert rebuilt.to_sql() == expr.to_sql()


def test_from_dict_rejects_broken_graphs() -> None:
    data = sl.from_pydict({"x": [1]}).filter(col("x") > 0).graph.to_dict()
    data["nodes"][1]["upstream"] = ["no_such_operator"]
    with pytest.raises(sl.PlanError, match="no_such_operator"):
        sl.JobGraph.from_dict(data)
    with pytest.raises(sl.PlanError, match="'nodes'"):
        sl.JobGraph.from_dict({"name": "x"})


def test_node_fields_round_trip() -> None:
    node = sl.StreamOperatorNode(
        "agg_1",
        OperatorType.GROUP_BY,
        "group_by",
        parameters={"keys": ["k"], "aggs": [col("v").sum()]},
        parallelism=4,
        stateful=True,
        key_by=("k",),
        schema=pa.schema([("k", pa.string()), ("v", pa.int64())]),
    )
    rebuilt = sl.StreamOperatorNode.from_dict(json.loads(json.dumps(node.to_dict())))
    assert rebuilt.to_dict() == node.to_dict()
    assert rebuilt.schema.equals(node.schema)
    assert rebuilt.parameters["aggs"][0].equals(col("v").sum())
