"""Every logical operator's ``schema(inputs)`` is the schema of the batches the engine
outputs for it: small streams over columns with nulls (int, float, string, timestamp,
dictionary) run in-process, and each operator's own output batches, as they leave it (before
the executor materializes them to the plan's schema), are compared with its ``schema()``.
Only the engine's internal dictionary encodings (of a column the schema gives unencoded,
undone before rows leave the engine) may differ."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.logical import (
    Aggregate,
    HashJoin,
    JobGraph,
    Map,
    Operator,
    StreamOperatorNode,
    operator_classes,
)
from sabot_lab.physical.planner import split_aggregates
from tests.support.schemas import checked_operators


def at(minute: int) -> dt.datetime:
    return dt.datetime(2026, 1, 1) + dt.timedelta(minutes=minute)


ROWS = pa.table(
    {
        "k": pa.array([1, 2, 1, None, 3, 2], pa.int32()),
        "x": [1.5, None, 2.5, 4.0, 0.5, 3.0],
        "s": ["a", None, "b", "a", "c", "b"],
        "t": pa.array([at(1), at(5), None, at(61), at(62), at(30)], pa.timestamp("ms")),
        "d": pa.array(["p", "q", None, "p", "q", "p"]).dictionary_encode(),
    }
)
OTHER = pa.table(
    {
        "k": pa.array([1, 2, 2, None], pa.int64()),
        "x": ["one", "two", None, "none"],
        "y": pa.array(["u", None, "v", "u"]).dictionary_encode(),
        "t": pa.array([at(0), at(4), at(29), at(60)], pa.timestamp("ms")),
    }
)


def rows() -> sl.Stream:
    return sl.from_arrow(ROWS)


def other() -> sl.Stream:
    return sl.from_arrow(OTHER)


def plain() -> sl.Stream:
    """The rows without their dictionary column (which full and as-of joins do not take)."""
    return rows().select("k", "x", "s", "t")


def chunks(i: int) -> pa.Table | None:
    """ROWS twice, as a generator the plan cannot know ends (a running aggregate)."""
    return ROWS if i < 2 else None


AGGS = {
    "n": sl.count(),
    "total": col("x").sum(),
    "m": col("k").mean(),
    "lo": col("s").min(),
    "hi": col("t").max(),
    "first_d": col("d").first(),
    "kinds": col("s").n_unique(),
    "ratio": col("x").sum() / sl.count(),
}
RUNNING_AGGS = AGGS  # n_unique too: a running distinct count

CASES: dict[str, Callable[[], sl.Stream]] = {
    "filter": lambda: rows().filter(col("x") > 1),
    "select": lambda: rows().select("d", "s", y=col("x") * col("k"), h=col("t").dt.hour()),
    "map_batches": lambda: rows().map_batches(lambda b: b.select(["k", "d"])),
    "fused chain": lambda: (
        rows().map_batches(lambda b: b).filter(col("x") > 1).select("d", y=col("x") * 2)
    ),
    "flat_map": lambda: rows().flat_map(
        lambda r: [{"s": r["s"], "n": 1}] * 2, schema={"s": "string", "n": "int32"}
    ),
    "inner join": lambda: rows().join(other(), on="k"),
    "left join": lambda: rows().join(other(), on="k", how="left", suffix="_o"),
    "semi join": lambda: rows().join(other(), on="k", how="semi"),
    "anti join": lambda: rows().join(other(), on="k", how="anti"),
    "full join": lambda: plain().join(other().select("k", "x"), on="k", how="full"),
    "join on a string": lambda: rows().join(other().select(s="x", z="y"), on="s", how="left"),
    "interval join": lambda: rows().join_interval(
        other().with_columns(k=col("k").cast("int32")), on="k", time="t", lower="-10m", upper="10m"
    ),
    "symmetric join": lambda: sl.sql(  # a join of two unbounded streams, as SQL plans it
        "SELECT * FROM r JOIN o ON r.k = o.k AND o.t <= r.t + INTERVAL '1' HOUR",
        r=sl.from_generator(chunks).with_watermark("t", "1h"),
        o=sl.from_generator(lambda i: OTHER if i < 2 else None).with_watermark("t", "1h"),
    ),
    "as-of join": lambda: plain().join_asof(
        other().with_columns(k=col("k").cast("int32")), on="t", by="k", tolerance="30m"
    ),
    "agg": lambda: rows().agg(**AGGS),
    "group_by": lambda: rows().group_by("s").agg(**AGGS),
    "group_by on a dictionary": lambda: rows().group_by("d", "k").agg(**AGGS),
    "running group_by": lambda: sl.from_generator(chunks).group_by("d").agg(**RUNNING_AGGS),
    "distinct": lambda: rows().distinct(),
    "tumbling windows": lambda: (
        rows()
        .with_watermark("t", "1m")
        .window(sl.tumbling("30m", on="t"))
        .group_by("s")
        .agg(**AGGS)
    ),
    "sliding windows": lambda: (
        rows().window(sl.sliding("1h", "30m", on="t")).group_by("d").agg(**AGGS)
    ),
    "session windows": lambda: rows().window(sl.session("10m", on="t")).agg(**AGGS),
    "windows grouped by their bounds": lambda: (
        sl.from_generator(chunks)
        .with_watermark("t", "1m")
        .window(sl.sliding("1h", "30m", on="t"))
        .group_by("d")
        .agg(n=sl.count(), lo=col("s").min())
        .group_by("window_end", "window_start")
        .agg(
            top=col("n").max(),
            m=col("n").mean(),
            lo=col("lo").min(),
            first_d=col("d").first(),
            ratio=col("n").sum() / sl.count(),
        )
    ),
    "late rows": lambda: rows().with_watermark("t", "0s").late(),
    "union": lambda: (
        rows()
        .select("k", "x", "s")
        .union(other().select(s="x", x=col("t").dt.minute().cast("float32"), k="k"))
    ),
    "sort": lambda: rows().sort(["s", "x"], descending=[True, False]),
    "limit": lambda: rows().limit(3, offset=1),
    "row index": lambda: rows().with_row_index("i", offset=2),
    "cross join": lambda: rows().join_where(other(), col("t") > col("t_right")),
    "unpivot": lambda: rows().unpivot(["s", "d"], index="k"),
    "top-N": lambda: sl.from_generator(chunks).top_k(2, by=["x", "s"], over="d", name="rn"),
    "top-N per window": lambda: (
        sl.from_generator(chunks)
        .with_watermark("t", "1m")
        .window(sl.tumbling("30m", on="t"))
        .group_by("s")
        .agg(n=sl.count())
        .top_k(1, by="n", over=["window_start", "window_end"])
    ),
    "window functions": lambda: rows().with_columns(
        w=col("x").sum().over("d", order_by="t", frame=("range", None, 0)),
        r=sl.rank().over("k", order_by="s", descending=True),
        f=col("d").first().over("s", order_by=["t", "k"]),
        p=col("t").shift(1).over(order_by="x"),
        q=col("k").rank("average").over("s"),
        v=col("x").mean().over("k", order_by="x", frame=("range", -1, 1)),
    ),
    "window functions over event time": lambda: (
        sl.from_generator(lambda i: None if i else ROWS, schema=ROWS.schema)
        .with_watermark("t", "1h")
        .with_columns(
            w=col("x").sum().over("d", order_by="t", frame=("range", None, 0)),
            a=col("x").mean().over("k", order_by="t", frame=("rows", -2, 0)),
            r=sl.dense_rank().over("s", order_by="t"),
            p=col("s").shift(1).over("k", order_by="t"),
            n=col("k").count().over(order_by="t", frame=("rows", None, 0)),
        )
    ),
}
PHASES = ("as written", "optimized", "aggregates split")


def plan_of(case: str, phase: str) -> tuple[JobGraph, str]:
    """The plan of a case, as written, optimized, or optimized with its aggregates split in
    phases (as the physical planner splits them); and its output operator."""
    stream = CASES[case]()
    if phase == "as written":
        return stream.graph, stream.node_id
    plan = stream.optimize()
    if phase == "optimized":
        return plan.graph, plan.output
    return split_aggregates(plan.graph), plan.output


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("phase", PHASES)
def test_the_schema_of_each_operator_is_that_of_the_batches_the_engine_outputs(
    case: str, phase: str
) -> None:
    assert checked_operators(*plan_of(case, phase))


def test_every_operator_class_is_checked_against_the_engine() -> None:
    checked = {
        type(op)
        for case in CASES
        for phase in PHASES
        for op in checked_operators(*plan_of(case, phase))
    }
    opted_out = {Map}  # a user function gives its schema
    assert [c.__name__ for c in operator_classes() if c not in checked | opted_out] == []


def test_the_final_phase_of_a_split_aggregate_has_the_aggregates_schema() -> None:
    stream = rows().group_by("s").agg(**AGGS)
    split = split_aggregates(stream.graph)
    final = split.node(stream.node_id)
    assert isinstance(final.op, Aggregate) and final.op.phase == "final"
    assert final.op.schema([split.node(final.upstream[0]).output_schema]) == stream.schema


def test_every_operator_class_computes_its_schema_or_opts_out() -> None:
    """A class without its own ``schema`` fails; one whose schema a user function decides
    overrides it to return None (saying why in its docstring)."""
    inherited = [c.__name__ for c in operator_classes() if c.schema is Operator.schema]
    assert inherited == []
    assert Map(fn=len).schema([ROWS.schema]) is None


def test_an_optimized_join_keeps_the_names_of_its_right_columns() -> None:
    """The projection rule prunes the left column the right one was renamed after; the join
    keeps the suffixed name."""
    stream = rows().join(other(), on="k").select("k", "x_right")
    plan = stream.optimize()
    (join,) = [n for n in plan.graph if isinstance(n.op, HashJoin)]
    assert "x" not in plan.graph.node(join.upstream[0]).output_schema.names
    assert join.op.payload_names == ["x_right"]
    again = JobGraph.from_json(plan.graph.to_json())
    assert again.node(join.operator_id).op.payload_names == ["x_right"]
    assert checked_operators(again, plan.output)
    assert sl.Stream(again, plan.output).collect().column_names == ["k", "x_right"]


def test_a_flat_map_carries_its_schema_through_json() -> None:
    stream = CASES["flat_map"]()
    again = JobGraph.from_json(stream.graph.to_json())
    node = again.node(stream.node_id)
    assert node.op.schema([ROWS.schema]) == pa.schema([("s", pa.string()), ("n", pa.int32())])
    assert sl.Stream(again, stream.node_id).collect().equals(stream.collect())


def test_union_of_incompatible_types_names_them() -> None:
    with pytest.raises(sl.SchemaError, match="incompatible column types"):
        rows().select("k").union(other().select(k="x").select(k=col("k").is_null()))


def test_a_node_keeps_the_operators_schema() -> None:
    s = rows().join(other(), on="k", how="left")
    node: StreamOperatorNode = s.graph.node(s.node_id)
    inputs = [s.graph.node(u).output_schema for u in node.upstream]
    assert node.op.schema(inputs) == node.output_schema
