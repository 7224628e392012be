"""Physical plans: stages split at exchanges, run task by task, give the in-process answer."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.physical import plan_stages, run_local
from sabot_lab.plan import JobGraph
from tests.reference import assert_same_rows
from tests.test_optimizer_differential import plans
from tests.test_optimizer_join_order import join_trees


def run(graph: JobGraph, partitions: int, broadcast: bool) -> pa.Table:
    from sabot_lab.optimizer import estimate_rows

    rows = estimate_rows(graph) if broadcast else {}
    physical = plan_stages(graph, partitions, rows)
    schema = graph.sinks()[0].output_schema
    return pa.Table.from_batches(list(run_local(physical)), schema=schema)


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(plans(), st.integers(1, 4), st.booleans())
def test_staged_plans_give_the_in_process_answer(
    plan: tuple[sl.Stream, bool], partitions: int, broadcast: bool
) -> None:
    stream, ordered = plan
    optimized = stream.optimize().graph
    assert_same_rows(run(optimized, partitions, broadcast), stream.collect(), ordered=ordered)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(join_trees(), st.integers(2, 4), st.booleans())
def test_staged_join_trees_give_the_in_process_answer(
    stream: sl.Stream, partitions: int, broadcast: bool
) -> None:
    assert_same_rows(run(stream.optimize().graph, partitions, broadcast), stream.collect())


def test_shuffle_join_and_group_by_stages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    facts = pa.table({"k": [i % 50 for i in range(1_000)], "x": list(range(1_000))})
    pq.write_table(facts, tmp_path / "f.parquet", row_group_size=100)
    dims = sl.from_pydict({"k": list(range(50)), "g": [f"g{i % 7}" for i in range(50)]})
    s = (
        sl.from_parquet(tmp_path / "f.parquet")
        .join(dims, on="k")
        .group_by("g")
        .agg(total=col("x").sum(), n=sl.count())
        .sort("g")
    )
    physical = plan_stages(s.optimize().graph, 3)  # no estimates: the join shuffles both sides
    kinds = sorted(x.kind for x in physical.exchanges.values())
    assert kinds == ["hash", "hash", "hash", "single"], physical.render()
    assert [st.partitions for st in physical.stages][-1] == 1
    result = pa.Table.from_batches(list(run_local(physical)))
    assert_same_rows(result, s.collect(), ordered=True)
