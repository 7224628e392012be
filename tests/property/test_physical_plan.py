"""Physical plans: stages split at exchanges, run task by task, give the in-process answer."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.logical import JobGraph
from sabot_lab.physical import MERGED_IN_ONE_TASK, PhysicalPlan, plan_stages, run_local
from tests.support.plans import join_trees, plans
from tests.support.reference import assert_same_rows, duckdb_table


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
    # keys mostly unique, so the facts are not grouped before the join (aggregate_before_joins)
    facts = pa.table({"k": [i % 700 for i in range(1_000)], "x": list(range(1_000))})
    pq.write_table(facts, tmp_path / "f.parquet", row_group_size=100)
    dims = sl.from_pydict({"k": list(range(700)), "g": [f"g{i % 7}" for i in range(700)]})
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


def shuffles(physical: PhysicalPlan) -> list[str]:
    return sorted(f"{x.kind} {','.join(x.keys)}".strip() for x in physical.exchanges.values())


def test_input_hash_partitioned_on_the_keys_is_not_shuffled_again(tmp_path: Path) -> None:
    # k repeats, so aggregate_before_joins groups the facts by k before the join on k
    facts = pa.table({"k": [i % 50 for i in range(1_000)], "x": list(range(1_000))})
    dims = pa.table({"k": list(range(50)), "g": [f"g{i % 7}" for i in range(50)]})
    pq.write_table(facts, tmp_path / "f.parquet", row_group_size=100)
    f, d = sl.from_parquet(tmp_path / "f.parquet"), sl.from_arrow(dims)
    by_k = f.group_by("k").agg(total=col("x").sum())
    cases = [
        (  # the optimizer's group-by on k feeds the join on k: k is hashed once per side
            f.join(d, on="k").group_by("g").agg(total=col("x").sum(), n=sl.count()).sort("g"),
            "SELECT g, SUM(x) AS total, COUNT(*) AS n FROM f JOIN d USING (k) GROUP BY g",
            ["hash g", "hash k", "hash k", "single"],
        ),
        (  # renamed, still partitioned; the join's output feeds a group-by on j and g in place
            by_k.rename({"k": "j"})
            .join(d.rename({"k": "j"}), on="j")
            .group_by("j", "g")
            .agg(n=sl.count(), total=col("total").max()),
            "SELECT k AS j, g, COUNT(*) AS n, MAX(total) AS total FROM "
            "(SELECT k, SUM(x) AS total FROM f GROUP BY k) JOIN d USING (k) GROUP BY k, g",
            ["hash j", "hash k"],
        ),
        (  # the group-by runs as 2 tasks, the join as 3: the join's input is hashed again
            by_k.with_parallelism(2).join(d, on="k"),
            "SELECT k, SUM(x) AS total, g FROM f JOIN d USING (k) GROUP BY k, g",
            ["hash k", "hash k", "hash k"],
        ),
    ]
    for stream, sql, expected in cases:
        physical = plan_stages(stream.optimize().graph, 3)  # no estimates: both sides hashed
        assert shuffles(physical) == expected, physical.render()
        result = pa.Table.from_batches(list(run_local(physical)), schema=stream.schema)
        assert_same_rows(result, duckdb_table(sql, f=facts, d=dims))


AGG_SQL = (
    "SUM(x) AS s, AVG(x) AS m, MIN(x) AS lo, MAX(x) AS hi, COUNT(x) AS c, COUNT(*) AS n, "
    "COUNT(DISTINCT x) AS u, SUM(x) / COUNT(*) AS ratio"
)


def every_aggregate() -> dict[str, sl.Expr]:
    x = col("x")
    return {
        "s": x.sum(),
        "m": x.mean(),
        "lo": x.min(),
        "hi": x.max(),
        "c": x.count(),
        "n": sl.count(),
        "u": x.n_unique(),
        "ratio": x.sum() / sl.count(),
    }


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(st.none() | st.integers(0, 5), st.none() | st.integers(-50, 50)), max_size=60
    ),
    st.integers(2, 4),
    st.booleans(),
)
def test_aggregates_split_in_two_phases_equal_duckdb(
    rows: list[tuple[int | None, int | None]], partitions: int, grouped: bool
) -> None:
    table = pa.table(
        {"g": [r[0] for r in rows], "x": [r[1] for r in rows]},
        schema=pa.schema([("g", pa.int64()), ("x", pa.int64())]),
    )
    source = sl.from_arrow(table)
    stream = (
        source.group_by("g").agg(**every_aggregate())
        if grouped
        else source.agg(**every_aggregate())
    )
    sql = f"SELECT {'g, ' if grouped else ''}{AGG_SQL} FROM t {'GROUP BY g' if grouped else ''}"
    expected = duckdb_table(sql, t=table)
    physical = plan_stages(stream.optimize().graph, partitions)
    assert any(n.parameters.get("phase") == "partial" for s in physical.stages for n in s.graph)
    batches = run_local(physical, sl.Config(batch_size=7, threads=1))  # several per task
    assert_same_rows(pa.Table.from_batches(list(batches), schema=stream.schema), expected)


def test_operator_parallelism_sets_its_stage_tasks() -> None:
    table = pa.table({"k": [i % 7 for i in range(1000)], "x": list(range(1000))})
    stream = (
        sl.from_arrow(table)
        .with_parallelism(3)
        .group_by("k")
        .agg(total=col("x").sum())
        .with_parallelism(2)
    )
    physical = plan_stages(stream.optimize().graph, partitions=4)
    assert [s.partitions for s in physical.stages] == [3, 2]
    expected = duckdb_table("SELECT k, SUM(x) AS total FROM t GROUP BY k", t=table)
    assert_same_rows(pa.Table.from_batches(list(run_local(physical))), expected)
    with pytest.raises(sl.PlanError, match="at least 1"):
        sl.from_arrow(table).with_parallelism(0)


@pytest.mark.parametrize("broadcast", [False, True])
@pytest.mark.parametrize(
    ("build", "sql"),
    [
        (
            lambda t, r: t.union(t.group_by("k").agg(x=col("x").sum())),
            "SELECT k, x FROM t UNION ALL SELECT k, SUM(x) FROM t GROUP BY k",
        ),
        (
            lambda t, r: t.join(r, on="k", how="full"),
            "SELECT t.*, r.k AS k_right, r.y FROM t FULL JOIN r ON t.k = r.k",
        ),
        (
            lambda t, r: t.join(t.group_by("k").agg(n=sl.count()), on="k", how="full").union(
                t.with_columns(k_right=col("k"), n=col("x") * 0)
            ),
            "SELECT t.*, g.k AS k_right, g.n FROM t FULL JOIN "
            "(SELECT k, COUNT(*) AS n FROM t GROUP BY k) g ON t.k = g.k "
            "UNION ALL SELECT k, x, k, 0 FROM t",
        ),
    ],
    ids=["union_of_a_group_by", "full_join", "full_join_with_itself_grouped"],
)
def test_branches_that_meet_past_an_exchange_get_stages_that_do_not_wait_for_each_other(
    build,
    sql,
    broadcast: bool,  # type: ignore[no-untyped-def]
) -> None:
    t = pa.table({"k": [i % 13 for i in range(300)], "x": list(range(300))})
    r = pa.table({"k": list(range(5, 25)), "y": [f"y{i}" for i in range(20)]})
    stream = build(sl.from_arrow(t), sl.from_arrow(r))
    expected = duckdb_table(sql, t=t, r=r)
    for partitions in (1, 3):
        assert_same_rows(run(stream.optimize().graph, partitions, broadcast), expected)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.tuples(st.integers(0, 60), st.integers(-50, 50)), min_size=50, max_size=300),
    st.integers(1, 40),
    st.integers(2, 4),
)
def test_a_build_side_read_whole_by_every_task_gives_the_broadcast_answer(
    tmp_path_factory: pytest.TempPathFactory,
    facts: list[tuple[int, int]],
    dims_rows: int,
    partitions: int,
) -> None:
    workdir = tmp_path_factory.mktemp("whole")
    fact_table = pa.table({"k": [f[0] for f in facts], "x": [f[1] for f in facts]},
                          schema=pa.schema([("k", pa.int64()), ("x", pa.int64())]))  # fmt: skip
    dims = pa.table({"k": list(range(dims_rows)), "g": [f"g{i % 3}" for i in range(dims_rows)]})
    pq.write_table(fact_table, workdir / "f.parquet", row_group_size=50)
    pq.write_table(dims, workdir / "d.parquet")
    stream = sl.from_parquet(workdir / "f.parquet").join(
        sl.from_parquet(workdir / "d.parquet"), on="k"
    )
    optimized = stream.optimize()
    physical = plan_stages(optimized.graph, partitions, optimized.estimated_rows)
    assert shuffles(physical) == [] and len(physical.stages) == 1, physical.render()
    assert physical.stages[0].partitions == partitions and len(physical.stages[0].whole) == 1
    assert "(whole)" in physical.render()
    expected = duckdb_table("SELECT * FROM f JOIN d USING (k)", f=fact_table, d=dims)
    got = pa.Table.from_batches(list(run_local(physical)), schema=stream.schema)
    assert_same_rows(got, expected)
    assert_same_rows(run(optimized.graph, partitions, broadcast=False), expected)


def test_a_build_side_is_broadcast_when_it_may_change_or_feeds_more_than_the_join(
    tmp_path: Path,
) -> None:
    facts = pa.table({"k": list(range(1_000)), "x": list(range(1_000))})
    dims = pa.table({"k": list(range(100)), "g": [f"g{i % 3}" for i in range(100)]})
    pq.write_table(facts, tmp_path / "f.parquet")
    pq.write_table(dims, tmp_path / "d.parquet")
    f, d = sl.from_parquet(tmp_path / "f.parquet"), sl.from_parquet(tmp_path / "d.parquet")
    in_memory = f.join(sl.from_arrow(dims), on="k")  # no fingerprint: it may be another table
    twice = f.join(d, on="k").union(d.with_columns(x=col("k")).select("k", "x", "g"))
    for stream in (in_memory, twice):
        optimized = stream.optimize()
        physical = plan_stages(optimized.graph, 3, optimized.estimated_rows)
        assert "broadcast" in shuffles(physical) and not any(s.whole for s in physical.stages)
        got = pa.Table.from_batches(list(run_local(physical)), schema=stream.schema)
        assert_same_rows(got, stream.collect())


@pytest.mark.parametrize("groups", [5, MERGED_IN_ONE_TASK // 4 + 1])
def test_few_partial_aggregates_are_merged_in_one_task_with_what_follows(groups: int) -> None:
    table = pa.table({"g": [i % groups for i in range(3 * groups)], "x": list(range(3 * groups))})
    stream = sl.from_arrow(table).group_by("g").agg(total=col("x").sum()).sort("total")
    optimized = stream.optimize()
    physical = plan_stages(optimized.graph, 4, optimized.estimated_rows)
    if groups * 4 <= MERGED_IN_ONE_TASK:  # partials to one task, which merges them and sorts
        assert shuffles(physical) == ["single"], physical.render()
        assert [s.partitions for s in physical.stages] == [4, 1]
    else:
        assert shuffles(physical) == ["hash g", "single"], physical.render()
        assert [s.partitions for s in physical.stages] == [4, 4, 1]
    wide = plan_stages(optimized.graph, 4)  # no estimates: hashed on the keys
    assert shuffles(wide) == ["hash g", "single"], wide.render()
    expected = duckdb_table("SELECT g, sum(x) AS total FROM t GROUP BY g ORDER BY total", t=table)
    for plan in (physical, wide):
        got = pa.Table.from_batches(list(run_local(plan)), schema=stream.schema)
        assert_same_rows(got, expected, ordered=True)
