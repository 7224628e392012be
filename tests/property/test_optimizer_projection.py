"""Projection pushdown: unit tests on plan shape and a differential test (optimized == unoptimized)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab.logical import OperatorType
from sabot_lab.optimizer import PlanOptimizer, RewriteTrace, push_down_projections
from tests.support.strategies import keyed_tables


def sources_of(graph: sl.JobGraph) -> list[sl.StreamOperatorNode]:
    return [n for n in graph if n.operator_type == OperatorType.SOURCE]


def test_source_reads_only_needed_columns() -> None:
    s = (
        sl.from_pydict({"a": [1, 2], "b": [3, 4], "c": ["x", "y"]})
        .filter(sl.col("a") > 1)
        .select("c")
    )
    trace = RewriteTrace()
    graph = push_down_projections(s.graph, trace)
    (source,) = sources_of(graph)
    assert source.parameters["columns"] == ["a", "c"]
    assert source.schema.names == ["a", "c"]
    # the projection above the filter already drops the predicate column: nothing is added
    assert [n.operator_type for n in graph.topological_sort()] == [
        OperatorType.SOURCE,
        OperatorType.FILTER,
        OperatorType.SELECT,
    ]
    # below a group_by, a projection right after the filter drops it
    g = sl.from_pydict({"a": [1, 2], "b": [3, 4], "c": ["x", "y"]}).filter(sl.col("a") > 1)
    g = g.group_by("c").agg(n=sl.count())
    kinds = [
        n.operator_type for n in push_down_projections(g.graph, RewriteTrace()).topological_sort()
    ]
    assert kinds[:3] == [OperatorType.SOURCE, OperatorType.FILTER, OperatorType.SELECT], kinds
    assert "read 2 of 3 columns (drops b)" in trace.render()
    # the input graph is unchanged (rules are pure)
    assert sources_of(s.graph)[0].parameters.get("columns") is None


def test_join_carries_only_needed_columns() -> None:
    left = sl.from_pydict({"k": [1, 2], "x": [1.0, 2.0], "unused": ["a", "b"]})
    right = sl.from_pydict({"id": [1, 2], "name": ["p", "q"], "junk": [0, 0]})
    s = left.join(right, left_on="k", right_on="id").select("x", "name")
    graph = PlanOptimizer().optimize(s.graph).graph
    join = next(n for n in graph if n.operator_type == OperatorType.HASH_JOIN)
    assert join.parameters["right_payload"] == ["name"]
    assert join.parameters["left_payload"] == ["x"]
    assert join.schema.names == ["x", "name"]
    assert {tuple(n.parameters["columns"]) for n in sources_of(graph)} == {
        ("k", "x"),
        ("id", "name"),
    }
    assert s.collect().to_pydict() == s.collect(optimize=False).to_pydict()


def test_unused_aggregates_are_dropped_but_rows_kept() -> None:
    s = sl.from_pydict({"k": [1, 1, 2], "x": [1, 2, 3]})
    grouped = s.group_by("k").agg(total=sl.col("x").sum(), n=sl.count()).select("k")
    graph = PlanOptimizer().optimize(grouped.graph).graph
    agg = next(n for n in graph if n.operator_type == OperatorType.GROUP_BY)
    assert [a.output_name() for a in agg.parameters["aggs"]] == []
    assert sorted(grouped.collect()["k"].to_pylist()) == [1, 2]
    # a global aggregate keeps one aggregate so its single row survives
    only_rows = s.agg(n=sl.count()).select(sl.lit(1).alias("one"))
    assert only_rows.collect().to_pydict() == {"one": [1]}


def test_whole_row_operators_keep_their_input() -> None:
    s = sl.from_pydict({"a": [1, 1], "b": [2, 3]})
    distinct = s.distinct().select("a")
    assert distinct.collect().num_rows == 2  # (1,2) and (1,3) stay distinct
    udf = s.map_batches(lambda b: b.append_column("n", pc.add(b["a"], b["b"]))).select("n")
    assert udf.collect().to_pydict() == {"n": [3, 4]}
    (source,) = sources_of(PlanOptimizer().optimize(udf.graph).graph)
    assert "columns" not in source.parameters


def test_parquet_reads_only_needed_columns(tmp_path: pytest.TempPathFactory) -> None:
    path = f"{tmp_path}/t.parquet"
    pq.write_table(
        pa.table({"a": list(range(100)), "b": [str(i) for i in range(100)], "c": [1.0] * 100}), path
    )
    s = sl.from_parquet(path).filter(sl.col("a") < 10).select("b")
    (source,) = sources_of(s.optimize().graph)
    # the filter runs inside the scan, so its column is not even carried
    assert source.parameters["columns"] == ["b"]
    assert source.parameters["predicate"].equals(sl.col("a") < 10)
    spec = source.parameters["source"]
    batches = list(spec.scan(1024, source.parameters["columns"], source.parameters["predicate"]))
    assert all(b.schema.names == ["b"] for b in batches)
    assert spec.last_scan.columns == ["b"]
    assert s.collect().to_pydict() == {"b": [str(i) for i in range(10)]}


def test_each_union_input_keeps_the_unions_columns_even_when_its_source_keeps_more() -> None:
    """The source also feeds a filter on ``k``, so it keeps ``k``; the union's first input
    gets a select without it, and every input of the union has the union's columns."""
    table = pa.table({"k": [1, None, 3], "g": ["a", "b", "a"], "x": [1.0, 2.0, 3.0]})
    source = sl.from_arrow(table)
    stream = source.union(source.filter(sl.col("k").is_not_null())).select("g")
    trace = RewriteTrace()
    graph = push_down_projections(stream.graph, trace)
    (union,) = [n for n in graph if n.operator_type == OperatorType.UNION]
    assert [graph.node(u).output_schema.names for u in union.upstream] == [["g"], ["g"]]
    assert [s.output_schema.names for s in sources_of(graph)] == [["k", "g"]]
    assert any("keep the union's 1 of 2 columns of input 0" in str(r) for r in trace)
    rows = sl.Stream(graph, stream.node_id).collect()
    assert rows.column_names == ["g"] and rows["g"].to_pylist() == ["a", "b", "a", "a", "a"]


def test_explain_trace_shows_rewrites() -> None:
    s = sl.from_pydict({"a": [1], "b": [2]}).select("b")
    text = s.explain(trace=True)
    assert "optimizer trace:" in text and "push_down_projections" in text
    assert "columns=[b]" in text
    assert "columns=" not in s.explain(optimized=False)


# --------------------------------------------------------------------------- differential


@st.composite
def pipelines(draw: st.DrawFn) -> sl.Stream:
    """A random pipeline over the four columns, ending in a projection that drops some of them."""
    s = sl.from_arrow(draw(keyed_tables(max_rows=25)))
    for i in range(draw(st.integers(1, 5))):
        names = s.columns
        step = draw(
            st.sampled_from(
                [
                    "filter",
                    "with_columns",
                    "join",
                    "semi",
                    "group_by",
                    "sort",
                    "limit",
                    "union",
                    "distinct",
                    "udf",
                    "left",
                ]
            )
        )
        if step == "filter" and "x" in names:
            s = s.filter(sl.col("x") > draw(st.integers(-50, 50)))
        elif step == "with_columns" and "x" in names:
            s = s.with_columns(
                (sl.col("x") * 2).alias("x2"), sl.lit(draw(st.integers(0, 9))).alias("c")
            )
        elif step in ("join", "semi", "left") and "k" in names:
            other = sl.from_arrow(draw(keyed_tables(max_rows=25))).select(
                "k", sl.col("g").alias("og"), sl.col("y").alias("oy")
            )
            how = {
                "join": "inner",
                "semi": draw(st.sampled_from(["semi", "anti"])),
                "left": "left",
            }[step]
            s = s.join(other, on="k", how=how, suffix=f"_r{i}")
        elif step == "group_by" and "g" in names and "x" in names:
            s = s.group_by("g").agg(sx=sl.col("x").sum(), n=sl.count(), mx=sl.col("x").max())
        elif step == "sort":
            s = s.sort(names[0], descending=draw(st.booleans()))
        elif step == "limit":
            s = s.sort(names).limit(draw(st.integers(0, 10)))
        elif step == "union":
            s = s.union(s.filter(sl.col(names[0]).is_not_null()))
        elif step == "distinct":
            s = s.distinct()
        elif step == "udf" and "rows" not in names:
            s = s.map_batches(count_values)
    keep = draw(st.lists(st.sampled_from(s.columns), min_size=1, unique=True))
    return s.select(*keep)


def count_values(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A UDF that reads whole rows: the number of non-null cells in each (so the columns
    below it must not be pruned)."""
    counts = pa.array(np.zeros(batch.num_rows, dtype=np.int64))
    for column in batch.columns:
        counts = pc.add(counts, pc.cast(pc.is_valid(column), pa.int64()))
    return batch.append_column("rows", counts)


def multiset(table: pa.Table) -> list[tuple[object, ...]]:
    rows = [tuple(r.values()) for r in table.to_pylist()]
    return sorted(
        rows, key=lambda r: tuple((v is None, str(type(v)), v if v is not None else 0) for v in r)
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pipelines())
def test_projection_pushdown_never_changes_results(stream: sl.Stream) -> None:
    optimized = stream.collect()
    plain = stream.collect(optimize=False)
    assert optimized.schema == plain.schema
    assert multiset(optimized) == multiset(plain)
