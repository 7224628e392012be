"""Hand-built plans (the low-level JobGraph API): nodes declared by operator type and
parameters with generated ids, the parameters each type takes (expressions or their JSON
form), clear errors at validate() for a missing or unknown parameter and for dangling edges,
sources and sinks from connector parameters, PlanOptimizer returning the optimized graph with
its trace, and Stream -> graph -> from_graph. Results are compared with DuckDB's on the same
rows (nulls included), run in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import sabot_lab as sl
from sabot_lab import JobGraph, OperatorType, PlanOptimizer, StreamOperatorNode
from sabot_lab.client.plan_submission import job_request
from sabot_lab.errors import PlanError, SchemaError
from sabot_lab.logical import Filter, HashJoin, Sink, accepted_parameters
from tests.support.plans_by_hand import (
    EXAMPLE_SQL,
    example_graph,
    expected_example,
    quotes,
    securities,
    write_example_files,
)
from tests.support.reference import assert_same_rows, duckdb_table


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return write_example_files(tmp_path)


def test_the_documents_example_runs_in_process_as_duckdb_computes_it(files: Path) -> None:
    graph = example_graph(files)
    graph.validate()
    assert_same_rows(sl.Stream.from_graph(graph).collect(), expected_example())
    optimized = PlanOptimizer().optimize(graph)
    assert isinstance(optimized, JobGraph) and optimized.job_name == "example"
    assert len(optimized.trace) > 0 and "filter" in optimized.trace.render()
    assert_same_rows(sl.Stream.from_graph(optimized).collect(), expected_example())
    # the sink stays the optimized plan's output, and the plan reads back from its JSON
    assert optimized.node(optimized.output).name == "output"
    again = JobGraph.from_json(optimized.to_json())
    assert again.to_dict() == optimized.to_dict()
    assert_same_rows(sl.Stream.from_graph(again).collect(), expected_example())


def test_node_ids_are_generated_and_add_operator_returns_them() -> None:
    a = StreamOperatorNode(operator_type=OperatorType.FILTER, name="a")
    b = StreamOperatorNode(operator_type=OperatorType.FILTER, name="b")
    assert a.operator_id != b.operator_id and a.operator_id.startswith("filter_")
    graph = JobGraph(job_name="ids")
    assert graph.add_operator(a) == a.operator_id and graph.job_name == "ids"
    with pytest.raises(PlanError, match="already in job graph 'ids'"):
        graph.add_operator(a)
    node = StreamOperatorNode(operator_type="limit", parameters={"n": 3}, parallelism=2)
    assert (node.op.n, node.parallelism, node.name) == (3, 2, "limit")
    with pytest.raises(PlanError, match="parallelism must be at least 1"):
        StreamOperatorNode(operator_type="limit", parameters={"n": 3}, parallelism=0)


def test_a_missing_parameter_is_named_with_its_node_at_validate(files: Path) -> None:
    graph = example_graph(files)
    (flt,) = [n for n in graph if n.name == "filter_price"]
    graph.replace_operator(StreamOperatorNode(flt.operator_id, OperatorType.FILTER, "filter_price"))
    with pytest.raises(
        PlanError,
        match=rf"operator '{flt.operator_id}' \(filter_price\): a filter operator needs parameter predicate",
    ):
        graph.validate()
    with pytest.raises(PlanError, match="is not built yet"):
        graph.node(flt.operator_id).op  # noqa: B018
    source = StreamOperatorNode(operator_type=OperatorType.SOURCE, name="nowhere")
    with pytest.raises(
        PlanError, match="needs parameter source \\(or where it goes: path, kafka_topic"
    ):
        JobGraph(job_name="j", nodes={source.operator_id: source}).validate()


def test_an_unknown_parameter_is_named_with_its_node() -> None:
    with pytest.raises(
        PlanError, match=r"\(filter_price\): a filter operator takes predicate; got predicat"
    ):
        StreamOperatorNode(
            operator_type=OperatorType.FILTER, name="filter_price", parameters={"predicat": 1}
        )
    with pytest.raises(PlanError, match="a sink with path takes path; got format"):
        StreamOperatorNode(operator_type="sink", parameters={"path": "/tmp/x", "format": "csv"})


def test_a_join_key_the_input_lacks_is_named_at_validate(files: Path) -> None:
    graph = example_graph(files)
    (join,) = [n for n in graph if n.name == "enrich"]
    graph.replace_operator(
        StreamOperatorNode(join.operator_id, "hash_join", "enrich", parameters={"on": "sym"})
    )
    with pytest.raises(SchemaError, match=r"\(enrich\): join key on the left side: column 'sym'"):
        graph.validate()


def test_dangling_edges_and_loose_operators_are_clear_errors(files: Path) -> None:
    graph = example_graph(files)
    with pytest.raises(PlanError, match="no operator 'nowhere' in job graph 'example'"):
        graph.connect("nowhere", graph.sources()[0].operator_id)
    data = graph.to_dict()
    data["nodes"][0]["downstream"].append("ghost")
    with pytest.raises(PlanError, match="is connected to unknown operator\\(s\\) 'ghost'"):
        JobGraph.from_dict(data)
    loose = example_graph(files)
    extra = loose.add_operator(
        StreamOperatorNode(
            operator_type="source", name="spare", parameters={"path": str(files / "quotes.parquet")}
        )
    )
    loose.validate()  # a loose operator is a valid graph, but not one job
    with pytest.raises(
        PlanError, match=rf"has 2 outputs \('.*' \(output\), '{extra}' \(spare\)\); a job has one"
    ):
        job_request(loose)
    # a join with one input
    one_sided = example_graph(files)
    (join,) = [n for n in one_sided if n.name == "enrich"]
    one_sided.disconnect(join.upstream[1], join.operator_id)
    with pytest.raises(PlanError, match=r"\(enrich\) needs at least 2 inputs, has 1"):
        one_sided.validate()


def test_a_sink_ends_the_graph(files: Path) -> None:
    graph = example_graph(files)
    (sink,) = [n for n in graph if n.name == "output"]
    after = graph.add_operator(StreamOperatorNode(operator_type="limit", parameters={"n": 1}))
    graph.connect(sink.operator_id, after)
    with pytest.raises(
        PlanError, match=r"sink '.*' \(output\) is read by .*: a sink ends a job graph"
    ):
        graph.validate()


def test_expressions_come_as_objects_or_their_json_forms() -> None:
    predicate = (sl.col("price") > 100) & sl.col("symbol").is_not_null()
    for given in (predicate, predicate.to_dict(), {"$expr": predicate.to_dict()}):
        node = StreamOperatorNode(operator_type="filter", parameters={"predicate": given})
        assert isinstance(node.op, Filter) and node.op.predicate.equals(predicate)
    with pytest.raises(PlanError, match="must be an expression"):
        StreamOperatorNode(operator_type="filter", parameters={"predicate": 3})
    # JSON text of a whole hand-built graph, expressions in their JSON form
    table = quotes()
    src = sl.from_arrow(table).graph.sources()[0]
    plan = {
        "job_name": "from_json",
        "nodes": [
            {**src.to_dict(), "downstream": ["f"]},
            {
                "operator_id": "f",
                "operator_type": "filter",
                "name": "f",
                "upstream": [src.operator_id],
                "parameters": {"predicate": {"$expr": predicate.to_dict()}},
            },
        ],
    }
    got = sl.Stream.from_graph(JobGraph.from_json(json.dumps(plan))).collect()
    expected = duckdb_table("SELECT * FROM t WHERE price > 100 AND symbol IS NOT NULL", t=table)
    assert_same_rows(got, expected)


def test_each_type_takes_its_documented_parameters() -> None:
    table = quotes()
    graph = JobGraph(job_name="verbs")
    src = graph.add_operator(
        StreamOperatorNode(
            operator_type="source",
            parameters={"source": sl.from_arrow(table).graph.sources()[0].op.source},
        )
    )
    steps = [
        ("select", {"columns": ["symbol", (sl.col("price") * sl.col("qty")).alias("notional")]}),
        ("group_by", {"keys": "symbol", "aggs": [sl.col("notional").sum().alias("total")]}),
        ("sort", {"by": ["total", "symbol"], "descending": True}),
        ("limit", {"n": 5}),
    ]
    last = src
    for kind, parameters in steps:
        node = graph.add_operator(StreamOperatorNode(operator_type=kind, parameters=parameters))
        graph.connect(last, node)
        last = node
    expected = duckdb_table(
        "SELECT symbol, sum(price * qty) AS total FROM t GROUP BY symbol "
        "ORDER BY total DESC NULLS LAST, symbol DESC NULLS LAST LIMIT 5",
        t=table,
    )
    assert sl.Stream.from_graph(graph).collect().equals(expected)
    assert "columns" in accepted_parameters("select") and "kafka_topic" in accepted_parameters(
        "source"
    )


def test_a_left_join_keeps_the_right_columns_but_its_keys(files: Path) -> None:
    graph = example_graph(files)
    (join,) = [n for n in graph if n.name == "enrich"]
    graph.replace_operator(
        StreamOperatorNode(
            join.operator_id, "hash_join", "enrich", parameters={"on": "symbol", "how": "left"}
        )
    )
    built = graph.resolved().node(join.operator_id)
    assert isinstance(built.op, HashJoin) and built.op.right_payload == ["name", "sector"]
    expected = duckdb_table(EXAMPLE_SQL.replace("JOIN", "LEFT JOIN"), q=quotes(), s=securities())
    assert_same_rows(sl.Stream.from_graph(graph).collect(), expected)


def test_sinks_from_their_parameters() -> None:
    sinks = {
        "path": ({"path": "/tmp/out"}, {"kind": "parquet", "location": "/tmp/out"}),
        "kafka": (
            {"kafka_topic": "enriched", "bootstrap_servers": "127.0.0.1:9092", "key": "symbol"},
            {"kind": "kafka", "topic": "enriched", "bootstrap": "127.0.0.1:9092", "key": "symbol",
             "format": "json", "schema_id": None},
        ),
        "postgres": (
            {"postgres_url": "postgresql://u@h/db", "table": "enriched"},
            {"kind": "postgres", "url": "postgresql://u@h/db", "table": "enriched", "key": []},
        ),
    }  # fmt: skip
    for parameters, target in sinks.values():
        node = StreamOperatorNode(operator_type=OperatorType.SINK, parameters=parameters)
        assert isinstance(node.op, Sink) and node.op.target == target
    with pytest.raises(PlanError, match="needs parameter bootstrap_servers"):
        StreamOperatorNode(operator_type="sink", parameters={"kafka_topic": "t"})
    assert (
        sl.ParquetSink("/tmp/o").to_dict()
        == StreamOperatorNode(
            operator_type="sink", parameters={"target": sl.ParquetSink("/tmp/o")}
        ).op.target
    )


def test_a_graph_with_a_sink_and_sink_given_too_is_refused(files: Path) -> None:
    with pytest.raises(PlanError, match="ends in sink 'output' and sink= was given too"):
        job_request(example_graph(files), sink=sl.ParquetSink(str(files / "other")))
    request, plan = job_request(example_graph(files))
    assert request.sink == {"kind": "parquet", "location": str(files / "out")}
    assert "output" not in [n.name for n in plan]


@pytest.mark.parametrize(
    "make",
    [
        lambda t: sl.from_arrow(t).filter(sl.col("price") > 50).select("symbol", "price"),
        lambda t: sl.from_arrow(t).group_by("symbol").agg(n=sl.count(), top=sl.col("price").max()),
        lambda t: sl.from_arrow(t).join(sl.from_arrow(securities()), on="symbol", how="left"),
        lambda t: sl.from_arrow(t).sort(["price", "symbol", "qty"]).head(7),
    ],
)
def test_stream_to_graph_and_back_gives_the_same_rows(make) -> None:  # type: ignore[no-untyped-def]
    stream = make(quotes())
    back = sl.Stream.from_graph(stream.graph)
    assert back.collect().equals(stream.collect())
    via_json = sl.Stream.from_graph(JobGraph.from_json(stream.graph.to_json()))
    assert via_json.collect().equals(stream.collect())
    assert (
        sl.Stream.from_graph(PlanOptimizer().optimize(stream.graph))
        .collect()
        .equals(stream.collect())
    )


def test_expressions_come_as_sql_text_read_over_the_input() -> None:
    table = quotes()
    graph = JobGraph(job_name="sql")
    src = graph.add_operator(
        StreamOperatorNode(
            operator_type="source",
            parameters={"source": sl.from_arrow(table).graph.sources()[0].op.source},
        )
    )
    steps = [
        ("filter", {"predicate": "price > 100 OR symbol IS NULL"}),
        ("select", {"columns": ["symbol", "price * qty AS notional"]}),
        ("group_by", {"keys": "symbol", "aggs": ["SUM(notional) AS total", "COUNT(*) AS n"]}),
    ]
    last = src
    for kind, parameters in steps:
        node = graph.add_operator(StreamOperatorNode(operator_type=kind, parameters=parameters))
        graph.connect(last, node)
        last = node
    graph.validate()
    expected = duckdb_table(
        "SELECT symbol, SUM(price * qty) AS total, COUNT(*) AS n FROM t "
        "WHERE price > 100 OR symbol IS NULL GROUP BY symbol",
        t=table,
    )
    assert_same_rows(sl.Stream.from_graph(graph).collect(), expected)
    graph.replace_operator(
        StreamOperatorNode(last, "group_by", parameters={"keys": "symbol", "aggs": ["SUM(nope)"]})
    )
    with pytest.raises(PlanError, match=r"an aggregate 'SUM\(nope\)': .*nope"):
        graph.validate()
