"""The low-level plan API on a two-agent cluster: the design document's Filter -> Join -> Sink
example, built by hand with parameters, optimized and submitted with ``submit_job`` (through
the LocalCluster and through ``sl.connect``), writes what DuckDB computes to its sink; its
tasks are listed by operator name and agent; a graph missing a parameter is refused before
anything runs; sinks on PostgreSQL and Kafka and a Kafka source come from their parameters."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab import JobGraph, OperatorType, PlanOptimizer, StreamOperatorNode
from sabot_lab.errors import PlanError
from tests.support.kafka_broker import Broker
from tests.support.plans_by_hand import example_graph, expected_example, write_example_files
from tests.support.postgres import query
from tests.support.reference import assert_same_rows, duckdb_table


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_example_files(tmp_path_factory.mktemp("plans_by_hand"))


def test_the_documents_example_runs_on_two_agents(
    two_agents: sl.LocalCluster, files: Path, tmp_path: Path
) -> None:
    graph = example_graph(files, sink={"path": str(tmp_path / "enriched")})
    optimized = PlanOptimizer().optimize(graph)
    job = two_agents.submit_job(optimized, partitions=2)  # (small: else one task would do)
    expected = expected_example()
    assert_same_rows(job.result(timeout=120), expected)
    assert_same_rows(pq.read_table(tmp_path / "enriched"), expected)  # the sink's rows
    assert job.info()["name"] == "example"
    tasks = job.tasks()
    agents = {a["uri"] for a in two_agents.agents()}
    assert {t["agent"] for t in tasks} == agents  # placed on both agents
    names = {n for t in tasks for n in t["operator_names"]}
    assert {"quotes", "securities", "enrich"} <= names
    assert all(t["operator_names"] for t in tasks)  # each task names what it ran


def test_a_graph_submitted_through_connect_as_written(
    two_agents: sl.LocalCluster, files: Path, tmp_path: Path
) -> None:
    graph = example_graph(files, sink={"path": str(tmp_path / "out")})
    cluster = sl.connect(two_agents.uri, token=two_agents.token)
    job = cluster.submit_job(graph, name="as written", partitions=2)
    assert_same_rows(job.result(timeout=120), expected_example())
    assert job.info()["name"] == "as written"


def test_a_missing_parameter_is_refused_before_anything_runs(
    two_agents: sl.LocalCluster, files: Path
) -> None:
    graph = example_graph(files)
    (join,) = [n for n in graph if n.name == "enrich"]
    graph.replace_operator(StreamOperatorNode(join.operator_id, OperatorType.HASH_JOIN, "enrich"))
    before = len(two_agents.jobs())
    with pytest.raises(
        PlanError,
        match=r"\(enrich\): a hash_join operator needs parameter on \(or left_on and right_on\)",
    ):
        two_agents.submit_job(graph)
    assert len(two_agents.jobs()) == before


def test_a_postgres_sink_from_its_parameters(
    two_agents: sl.LocalCluster, files: Path, postgres_server: Any
) -> None:
    url = postgres_server.new_database()
    graph = example_graph(files, sink={"postgres_url": url, "table": "enriched"})
    job = two_agents.submit_job(graph)
    job.result(timeout=120)
    rows = query(url, "SELECT symbol, price, qty, name, sector FROM enriched")
    written = pa.Table.from_pylist(
        [dict(zip(["symbol", "price", "qty", "name", "sector"], r, strict=True)) for r in rows]
    )
    assert_same_rows(written, expected_example())


def test_kafka_source_and_sink_from_their_parameters(
    two_agents: sl.LocalCluster, kafka: Broker
) -> None:
    source_topic, sink_topic = (f"t-{uuid.uuid4().hex[:10]}" for _ in range(2))
    kafka.create_topic(source_topic, 2)
    kafka.create_topic(sink_topic, 1)
    trades = pa.table(
        {
            "id": list(range(500)),
            "price": [None if i % 9 == 0 else float(i % 200) for i in range(500)],
        }
    )
    with pytest.warns(UserWarning, match="at-least-once"):  # tansu has no idempotent producer
        sl.from_arrow(trades).to_kafka(source_topic, kafka.bootstrap)
    graph = JobGraph(job_name="kafka")
    source = StreamOperatorNode(
        operator_type=OperatorType.SOURCE,
        name="trades",
        parameters={
            "kafka_topic": source_topic,
            "bootstrap_servers": kafka.bootstrap,
            "group_id": "my_consumer_group",
            "format": "json",
            "schema": trades.schema,
            "stop": "latest",
        },
    )
    big = StreamOperatorNode(
        operator_type=OperatorType.FILTER,
        name="big",
        parameters={"predicate": sl.col("price") > 150},
    )
    sink = StreamOperatorNode(
        operator_type=OperatorType.SINK,
        name="to_kafka",
        parameters={"kafka_topic": sink_topic, "bootstrap_servers": kafka.bootstrap, "key": "id"},
    )
    for node in (source, big, sink):
        graph.add_operator(node)
    graph.connect(source.operator_id, big.operator_id)
    graph.connect(big.operator_id, sink.operator_id)
    graph.validate()
    expected = duckdb_table("SELECT * FROM t WHERE price > 150", t=trades)
    assert_same_rows(sl.Stream.from_graph(graph).collect(), expected)  # in-process
    job = two_agents.submit_job(graph)
    assert_same_rows(job.result(timeout=120), expected)
    written = sl.from_kafka(sink_topic, kafka.bootstrap, schema=trades.schema, stop="latest")
    assert_same_rows(written.collect(), expected)
