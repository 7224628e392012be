"""Each optimizer rule on hand-built plans: the structure it produces, and the same results."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.engine import Executor
from sabot_lab.examples.datasets import quotes, securities
from sabot_lab.logical import JobGraph, OperatorType
from sabot_lab.optimizer import (
    DEFAULT_RULES,
    RewriteTrace,
    estimate_rows,
    fuse_operators,
    push_down_filters,
    push_down_limits,
    push_filters_into_sources,
    simplify_predicates,
)
from sabot_lab.optimizer.statistics import source_statistics
from tests.support.reference import assert_same_rows

T = sl.from_pydict({"k": [1, 2, 3, None], "x": [10, 20, 30, 40], "g": ["a", "b", None, "a"]})
R = sl.from_pydict({"k": [1, 3, 5], "name": ["one", "three", "five"], "x": [0, 0, 0]})


def shape(graph: JobGraph) -> list[str]:
    return [n.operator_type.value for n in graph.topological_sort()]


def same_results(stream: sl.Stream) -> None:
    assert_same_rows(stream.collect(), stream.collect(optimize=False))


def test_simplify_merges_bounds_and_drops_true_conjuncts() -> None:
    s = T.filter((col("x") >= 10) & (col("x") > 15) & sl.lit(True) & (col("x") < 100))
    g = simplify_predicates(s.graph, trace := RewriteTrace())
    (f,) = [n for n in g if n.operator_type == OperatorType.FILTER]
    assert f.parameters["predicate"].equals((col("x") > 15) & (col("x") < 100))
    assert "→" in trace.render()
    same_results(s)


def test_simplify_turns_a_contradiction_into_an_empty_source() -> None:
    s = T.with_columns(y=col("x") * 2).filter((col("x") > 30) & (col("x") < 20)).select("y")
    g = simplify_predicates(s.graph, RewriteTrace())
    assert shape(g) == ["source", "select"]  # the original source and with_columns are gone
    assert s.collect().num_rows == 0
    same_results(s)


def test_simplify_removes_an_always_true_filter_and_folds_constants() -> None:
    s = T.filter(sl.lit(2) > 1).select(z=col("x") + sl.lit(2) * 3)
    g = simplify_predicates(s.graph, RewriteTrace())
    assert shape(g) == ["source", "select"]
    (select,) = [n for n in g if n.operator_type == OperatorType.SELECT]
    assert select.parameters["exprs"][0].equals((col("x") + 6).alias("z"))
    same_results(s)


def test_filter_moves_below_select_rewriting_computed_columns() -> None:
    s = T.with_columns(y=col("x") * 2).filter(col("y") > 30)
    g = push_down_filters(s.graph, RewriteTrace())
    assert shape(g) == ["source", "filter", "select"]
    (f,) = [n for n in g if n.operator_type == OperatorType.FILTER]
    assert f.parameters["predicate"].equals(col("x") * 2 > 30)
    same_results(s)


def test_filter_goes_to_the_matching_side_of_an_inner_join() -> None:
    s = T.join(R, on="k").filter(
        (col("g") == "a") & (col("name") != "five") & (col("x_right") == 0)
    )
    g = push_down_filters(s.graph, RewriteTrace())
    join = next(n for n in g if n.operator_type == OperatorType.HASH_JOIN)
    left, right = (g.node(u) for u in join.upstream)
    assert left.operator_type == right.operator_type == OperatorType.FILTER
    assert left.parameters["predicate"].equals(col("g") == "a")
    # the suffixed output column is renamed back to the right input's name
    assert right.parameters["predicate"].equals((col("name") != "five") & (col("x") == 0))
    same_results(s)


def test_filter_on_the_null_extended_side_of_a_left_join_stays_above() -> None:
    s = T.join(R, on="k", how="left").filter(col("name").is_null() & (col("x") > 15))
    g = push_down_filters(s.graph, RewriteTrace())
    top = next(n for n in g if not n.downstream)
    assert top.operator_type == OperatorType.FILTER
    assert top.parameters["predicate"].equals(col("name").is_null())
    same_results(s)


def add_one(batch: pa.RecordBatch) -> pa.RecordBatch:
    return batch.set_column(1, "x", pc.add(batch["x"], 1))


def test_filters_stop_at_opaque_udfs_but_pass_declared_columns() -> None:
    opaque = T.map_batches(add_one).filter(col("x") > 20)
    assert shape(push_down_filters(opaque.graph, RewriteTrace()))[-1] == "filter"
    same_results(opaque)
    declared = T.map_batches(add_one, preserves=["k", "g"]).filter(
        (col("g") == "a") & (col("x") > 20)
    )
    g = push_down_filters(declared.graph, RewriteTrace())
    assert shape(g) == ["source", "filter", "map", "filter"]
    same_results(declared)


def test_filters_do_not_pass_limits_and_pass_group_by_only_on_keys() -> None:
    limited = T.head(2).filter(col("x") > 15)
    assert shape(push_down_filters(limited.graph, RewriteTrace())) == ["source", "limit", "filter"]
    grouped = T.group_by("g").agg(n=sl.count()).filter((col("g") == "a") & (col("n") > 1))
    g = push_down_filters(grouped.graph, RewriteTrace())
    assert shape(g) == ["source", "filter", "group_by", "filter"]
    same_results(limited)
    same_results(grouped)


def test_filters_pass_a_watermark_only_on_rows_in_its_time_order() -> None:
    """Below a watermark when the source's times never decrease (no row is late, whichever
    rows are kept): into the Nexmark generator; above it over rows in any order, where the
    rows filtered out move the watermark that makes others late."""
    events = sl.nexmark(events=2_000, event_rate=1_000).events
    ordered = events.select("event_type", "dateTime").with_watermark("dateTime", "1s")
    kept = ordered.filter(col("event_type") == 1)
    g = push_filters_into_sources(push_down_filters(kept.graph, RewriteTrace()), RewriteTrace())
    assert shape(g) == ["source", "select", "watermark"]
    same_results(kept)
    times = pa.array([5_000, 1_000, 9_000, 7_000], pa.timestamp("ms"))
    unordered = sl.from_pydict({"t": times, "k": [1, 2, 1, 2]}).with_watermark("t", "1s")
    dropped = unordered.filter(col("k") == 2)
    assert shape(push_down_filters(dropped.graph, RewriteTrace()))[-1] == "filter"
    assert dropped.collect()["t"].to_pylist() == []  # both late behind 5 s and 9 s
    same_results(dropped)


def test_filters_are_copied_into_every_union_input() -> None:
    other = sl.from_pydict({"k": [7], "x": [26], "g": ["c"]})
    s = T.union(other.with_columns(x=col("x") + 5)).filter(col("x") > 25)
    g = push_down_filters(s.graph, RewriteTrace())
    assert shape(g)[-1] == "union"  # nothing left above it
    filters = [n for n in g if n.operator_type == OperatorType.FILTER]
    assert [repr(f.parameters["predicate"]) for f in filters] == [
        '(col("x") > 25)',
        '((col("x") + 5) > 25)',  # and further below the other input's with_columns
    ]
    same_results(s)


def test_parquet_source_skips_row_groups_by_statistics(tmp_path: Path) -> None:
    path = tmp_path / "sorted.parquet"
    table = pa.table({"id": list(range(10_000)), "v": [i % 7 for i in range(10_000)]})
    pq.write_table(table, path, row_group_size=1_000)
    s = sl.from_parquet(path).filter(col("id") >= 9_500).select("v")
    g = push_filters_into_sources(s.graph, trace := RewriteTrace())
    assert shape(g) == ["source", "select"]
    assert 'applies (col("id") >= 9500) while scanning' in trace.render()
    result = s.collect()
    source = next(n for n in s.optimize().graph if n.operator_type == OperatorType.SOURCE)
    stats = source.parameters["source"].last_scan
    assert (stats.row_groups_total, stats.row_groups_read) == (10, 1)
    assert stats.columns == ["v"]  # the filter column is not even decoded into the output
    assert result["v"].to_pylist() == [i % 7 for i in range(9_500, 10_000)]
    same_results(s)


def test_a_row_index_passes_only_the_columns_read_after_it(tmp_path: Path) -> None:
    """Numbering rows needs no column of theirs: the scan reads what is read downstream."""
    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"a": [3, 1, 2], "b": ["x", "y", "z"], "c": [0.5, 1.5, 2.5]}), path)
    s = sl.from_parquet(path).with_row_index("n").filter(col("n") > 0).select("n", "b")
    result = s.collect()
    source = next(n for n in s.optimize().graph if n.operator_type == OperatorType.SOURCE)
    assert source.parameters["source"].last_scan.columns == ["b"]
    assert result.to_pydict() == {"n": [1, 2], "b": ["y", "z"]}
    same_results(s)


def test_duckdb_source_gets_the_filter_in_sql() -> None:
    s = sl.from_duckdb("SELECT range AS id, range % 3 AS m FROM range(100)").filter(
        (col("m") == 1) & (col("id") < 10)
    )
    g = push_filters_into_sources(s.graph, RewriteTrace())
    assert shape(g) == ["source"]
    assert s.collect()["id"].to_pylist() == [1, 4, 7]
    same_results(s)


def test_statistics_come_from_metadata_the_duckdb_planner_and_samples(tmp_path: Path) -> None:
    table = pa.table({"id": list(range(5_000)), "m": [i % 13 for i in range(5_000)]})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=1_000)
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.register("source_table", table)
    con.sql("CREATE TABLE t AS SELECT * FROM source_table")
    con.close()
    streams = {
        "arrow": sl.from_arrow(table),
        "parquet": sl.from_parquet(tmp_path / "t.parquet"),  # row counts from the footer
        "duckdb": sl.from_duckdb("SELECT * FROM t", database=str(tmp_path / "t.duckdb")),
    }
    for kind, stream in streams.items():
        (source,) = stream.graph.sources()
        stats = source_statistics(source.parameters["source"])
        assert stats.rows == 5_000, kind
        assert stats.distinct("m") == pc.count_distinct(table["m"]).as_py() == 13, kind
        assert stats.distinct("id") == 5_000, kind  # distinct in the sample: a key
        estimates = estimate_rows(stream.filter(col("m") == 3).graph)
        assert max(estimates.values()) == 5_000 and min(estimates.values()) == 5_000 / 13, kind


def test_limit_moves_below_projections_into_sources_and_makes_top_n_sorts() -> None:
    s = T.select(y=col("x") * 2).limit(2)
    g = push_down_limits(s.graph, RewriteTrace())
    assert shape(g) == ["source", "limit", "select"]
    (source,) = g.sources()
    assert source.parameters["limit"] == 2
    same_results(s)
    top = T.sort("x", descending=True).limit(2, offset=1)
    g = push_down_limits(top.graph, RewriteTrace())
    (sort,) = [n for n in g if n.operator_type == OperatorType.SORT]
    assert sort.parameters["top_n"] == 3
    assert top.collect()["x"].to_pylist() == [30, 20]


def add_tag(batch: pa.RecordBatch) -> pa.RecordBatch:
    return batch.append_column("tag", pc.multiply(batch["x"], 10))


def test_fusion_makes_one_operator_of_each_stateless_chain() -> None:
    s = (
        T.filter(col("x") > 10)
        .with_columns(v=col("x") + 1)
        .map_batches(add_tag, schema=pa.schema([*T.schema, ("v", pa.int64()), ("tag", pa.int64())]))
        .select("k", "v", "tag")
    )
    g = fuse_operators(s.graph, trace := RewriteTrace())
    assert shape(g) == ["source", "fused"]
    (fused,) = [n for n in g if n.operator_type == OperatorType.FUSED]
    assert [m.name for m in fused.parameters["operators"]] == [
        "filter",
        "with_columns",
        "map_batches",
        "select",
    ]
    assert (
        "runs filter → with_columns → map_batches → select in one pass per batch" in trace.render()
    )
    text = s.explain()
    assert "P1: source → [filter → with_columns → map_batches → select]" in text, text
    same_results(s)
    back = JobGraph.from_json(s.optimize().graph.to_json())  # fused plans travel as data
    (output,) = back.sinks()
    rows = pa.Table.from_batches(list(Executor(back).run(output.operator_id)))
    assert_same_rows(rows, s.collect(optimize=False))


def test_fusion_merges_adjacent_projections_unless_that_repeats_work() -> None:
    s = T.with_columns(n=col("x") * 3).select("k", m=col("n") + 1)
    g = fuse_operators(s.graph, trace := RewriteTrace())
    assert shape(g) == ["source", "select"]
    (select,) = [n for n in g if n.operator_type == OperatorType.SELECT]
    assert [repr(e) for e in select.parameters["exprs"]] == [
        'col("k")',
        '((col("x") * 3) + 1).alias("m")',
    ]
    assert "merged with_columns → select into one projection" in trace.render()
    same_results(s)
    twice = T.with_columns(n=col("x") * 3).select(a=col("n") + 1, b=col("n") * 2)
    g = fuse_operators(twice.graph, RewriteTrace())
    (fused,) = [n for n in g if n.operator_type == OperatorType.FUSED]
    assert len(fused.parameters["operators"]) == 2  # n would be computed twice: kept apart
    same_results(twice)


def test_fusion_stops_where_an_operator_has_two_consumers() -> None:
    shared = T.filter(col("x") > 10).with_columns(v=col("x") + 1)
    s = shared.filter(col("v") > 25).union(shared.select("k", "x", "g", "v"))
    g = fuse_operators(s.graph, RewriteTrace())
    fused = [n for n in g if n.operator_type == OperatorType.FUSED]
    assert len(fused) == 1  # filter → with_columns; each branch above is a single operator
    assert [m.name for m in fused[0].parameters["operators"]] == ["filter", "with_columns"]
    same_results(s)


def test_every_rule_shows_in_the_trace_of_the_readme_query(tmp_path: Path) -> None:
    pq.write_table(quotes(20_000, n_securities=1000, seed=1), tmp_path / "q.parquet")
    secs = sl.from_arrow(securities(1000))
    sectors = sl.from_pydict({"name": ["energy", "tech", "health"], "region": ["EU", "US", "US"]})
    # the sectors that have securities: a semi join whose left input is the smaller
    sectors = sectors.join(secs, left_on="name", right_on="sector", how="semi")
    # the quotes of the securities quoted above 140: a semi join above a rename
    dear = sl.from_parquet(tmp_path / "q.parquet").filter(col("price") > 140).select("security_id")
    rows = (
        sl.from_parquet(tmp_path / "q.parquet")
        .rename({"size": "qty"})
        .join(dear, on="security_id", how="semi")
    )
    out = (
        rows.join(secs, left_on="security_id", right_on="id")
        .join(sectors, left_on="sector", right_on="name")
        .with_columns(notional=col("price") * col("qty"))
        .filter((col("region") == "EU") & (col("price") > 100) & (col("price") > 50))
        .group_by("ticker")  # ~7 K quotes of ~1 K securities: grouped before the joins
        .agg(col("notional").sum())
        .sort("notional", descending=True)
        .limit(5)
    )
    text = out.explain(trace=True)
    for rule in DEFAULT_RULES:
        assert f". {rule.__name__}: " in text, (rule.__name__, text)
    assert_same_rows(out.collect(), out.collect(optimize=False), ordered=True)


def test_explain_trace_shows_each_rewrite_with_row_estimates() -> None:
    s = (
        T.join(R, on="k")
        .with_columns(v=col("x") * 2)
        .filter((col("g") == "a") & (col("v") > 1) & (col("v") > 5))
        .select("name", "v")
        .sort("v")
        .limit(1)
    )
    text = s.explain(trace=True)
    for rule in (
        "simplify_predicates",
        "push_down_filters",
        "push_down_projections",
        "push_down_limits",
    ):
        assert rule in text, text
    assert "rows)" in text and "top_n=1" in text
    same_results(s)
