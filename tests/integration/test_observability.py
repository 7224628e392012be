"""Traces, metrics and the Grafana dashboard of a two-agent cluster: a traced job is one
connected trace from the client's ``submit`` through the JobManager to the tasks on both
agents; ``/metrics`` exposes every listed metric once jobs ran; the dashboard uses only
metrics ``/metrics`` exposes."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

import sabot_lab as sl
from sabot_lab.examples.nexmark_queries import QUERIES
from sabot_lab.observability.tracing import TRACE_FILE, read_spans
from tests.support.browser_http import Browser
from tests.support.kafka_broker import Broker
from tests.support.polling import wait_for

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "sabot-lab.json"


@pytest.fixture(scope="module")
def client_spans() -> InMemorySpanExporter:
    """The spans this (client) process ends, in memory: the SDK's in-memory exporter on the
    process's tracer provider (installed here unless one is already)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": "test-client"}))
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[sl.LocalCluster, Path]]:
    """Two agents of two slots whose processes (and the JobManager's) write their spans as
    JSON lines to one file."""
    spans = tmp_path_factory.mktemp("traces") / "spans.jsonl"
    with pytest.MonkeyPatch.context() as env:
        env.setenv(TRACE_FILE, str(spans))
        with sl.LocalCluster(agents=2, slots=2, heartbeat_interval=0.3) as cluster:
            yield cluster, spans


def metrics_text(cluster: sl.LocalCluster) -> str:
    base = cluster.dashboard_link.split("/login?", 1)[0]
    status, text = Browser().get(f"{base}/metrics", cluster.token)
    assert status == 200
    return str(text)


def samples_of(text: str) -> list[Any]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def test_a_traced_job_is_one_connected_trace_across_the_jobmanager_and_two_agents(
    traced: tuple[sl.LocalCluster, Path], client_spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    cluster, spans_file = traced

    def slow(batch: pa.RecordBatch) -> pa.RecordBatch:
        time.sleep(0.02)
        return batch

    rows = pa.table({"k": [i % 7 for i in range(4_000)], "v": list(range(4_000))})
    stream = (
        sl.from_iterable(rows.to_batches(max_chunksize=100), schema=rows.schema)
        .map_batches(slow, schema=rows.schema)
        .group_by("k")
        .agg(total=sl.col("v").sum())
    )
    sink = sl.ParquetSink(tmp_path / "totals")
    job = stream.submit(cluster, partitions=2, checkpoint_interval=0.1, sink=sink)
    result = job.result(timeout=120)
    assert sorted(result.to_pylist(), key=str) == sorted(stream.collect().to_pylist(), key=str)
    assert pq.read_table(tmp_path / "totals").num_rows == result.num_rows
    completed = [c for c in job.checkpoints() if c["state"] == "COMPLETE"]

    (submit,) = [
        s for s in client_spans.get_finished_spans()
        if s.name == "submit" and (s.attributes or {}).get("sabot.job_id") == job.job_id
    ]  # fmt: skip
    trace_id = format(submit.context.trace_id, "032x")
    submit_id = format(submit.context.span_id, "016x")
    assert submit.parent is None  # the root of the job's trace
    placed = {t["task_id"]: t["agent"] for t in job.tasks()}

    def job_spans() -> list[dict[str, Any]]:
        return [s for s in read_spans(spans_file) if s["trace_id"] == trace_id]

    def complete() -> bool:  # the job's span ends after the client saw the job finish
        names = [s["name"] for s in job_spans()]
        return "job" in names and names.count("task") == len(placed)

    wait_for(complete, timeout=60)
    spans = job_spans()
    by_id = {s["span_id"]: s for s in spans}
    names = sorted({s["name"] for s in spans})
    assert names == sorted(
        {"job", "accept", "stage", "task", "finish", "sink commit"}
        | ({"checkpoint"} if completed else set())
    )
    assert completed  # the slow job outlives several checkpoint intervals
    (root,) = [s for s in spans if s["name"] == "job"]
    assert root["parent_id"] == submit_id and root["service"] == "sabot-lab-jobmanager"
    for s in spans:  # every span's parent is in the trace, up to the client's submit
        seen = s
        while seen["parent_id"] != submit_id:
            assert seen["parent_id"] in by_id, f"{s['name']} is not connected"
            seen = by_id[seen["parent_id"]]
        assert s["attributes"]["sabot.job_id"] == job.job_id
    # no span of this job went to another trace
    others = [s for s in read_spans(spans_file) if s["trace_id"] != trace_id]
    assert not [s for s in others if s["attributes"].get("sabot.job_id") == job.job_id]
    tasks = [s for s in spans if s["name"] == "task"]
    assert {
        s["attributes"]["sabot.task_id"]: s["attributes"]["sabot.agent"] for s in tasks
    } == placed
    assert set(placed.values()) == set(cluster.agent_uris)  # both agents ran tasks
    assert {s["service"] for s in tasks} == {"sabot-lab-agent"}
    for s in tasks:  # a task's span is a child of the JobManager step that deployed it
        assert by_id[s["parent_id"]]["name"] in ("accept", "stage")
    checkpoints = sorted(
        s["attributes"]["sabot.checkpoint"] for s in spans if s["name"] == "checkpoint"
    )
    assert checkpoints == [c["checkpoint_id"] for c in completed]
    commits = [s for s in spans if s["name"] == "sink commit"]
    assert sum(s["attributes"]["sabot.rows"] for s in commits) == result.num_rows


LISTED = {  # each metric the cluster must expose once jobs ran, with a check of its samples
    "sabot_operator_rows_total": lambda v: v >= 0,
    "sabot_operator_seconds_total": lambda v: v >= 0,
    "sabot_task_state_bytes": lambda v: v > 0,
    "sabot_task_watermark_lag_seconds": lambda v: v > 0,
    "sabot_checkpoint_last_bytes": lambda v: v > 0,
    "sabot_checkpoint_last_duration_seconds": lambda v: v > 0,
    "sabot_agent_shuffle_bytes": lambda v: v >= 0,
    "sabot_agent_shuffle_sent_bytes_total": lambda v: v > 0,
    "sabot_agent_credit_wait_seconds_total": lambda v: v >= 0,
    "sabot_agent_cpu_percent": lambda v: 0 <= v <= 100,
    "sabot_agent_memory_percent": lambda v: 0 < v <= 100,
    "sabot_agent_rss_bytes": lambda v: v > 10_000_000,
    "sabot_agent_read_bytes_total": lambda v: v >= 0,
    "sabot_agent_write_bytes_total": lambda v: v >= 0,
    "sabot_agent_overloaded": lambda v: v in (0, 1),
    "sabot_workflow_step_seconds_sum": lambda v: v > 0,
    "sabot_workflow_step_seconds_count": lambda v: v >= 1,
}


PER_JOB = (
    "sabot_operator_rows_total",
    "sabot_task_state_bytes",
    "sabot_task_watermark_lag_seconds",
)


@pytest.fixture(scope="module")
def metrics_after_jobs(traced: tuple[sl.LocalCluster, Path]) -> tuple[str, dict[str, Any]]:
    """``/metrics`` while an endless Nexmark q5 job with checkpoints runs on two agents (a
    bounded job ran before it), once every listed metric has samples; and the job's tasks
    then."""
    cluster, _ = traced
    sl.from_pydict({"k": [1, 2, 1]}).group_by("k").agg(n=sl.count()).submit(cluster).result(
        timeout=60
    )
    endless = QUERIES["q5"](sl.nexmark(events=None, event_rate=20_000, seed=3))
    job = endless.submit(cluster, checkpoint_interval=0.2)  # (as wide as the slots allow)
    try:
        text, before = "", 0.0

        def exposed() -> bool:
            nonlocal text, before
            before = time.time()
            text = metrics_text(cluster)
            samples = samples_of(text)
            names = {s.name for s in samples}
            of_job = {s.name for s in samples if s.labels.get("job") == job.job_id}
            return set(LISTED) <= names and set(PER_JOB) <= of_job

        wait_for(exposed, timeout=90)
        tasks = {t["task_id"]: t for t in job.tasks()}
    finally:
        job.cancel()
    return text, {"job_id": job.job_id, "tasks": tasks, "read_before": before}


def test_metrics_expose_each_listed_metric_after_jobs_ran(
    traced: tuple[sl.LocalCluster, Path], metrics_after_jobs: tuple[str, dict[str, Any]]
) -> None:
    cluster, _ = traced
    text, seen = metrics_after_jobs
    samples = samples_of(text)
    for name, sane in LISTED.items():
        values = [s.value for s in samples if s.name == name]
        assert values, f"{name} has no samples"
        assert all(sane(v) for v in values), (name, values)
    assert "# TYPE sabot_kafka_consumer_lag gauge" in text  # (samples need a Kafka source)
    agents = {s.labels["agent"] for s in samples if s.name == "sabot_agent_cpu_percent"}
    assert agents == set(cluster.agent_uris)
    job = seen["job_id"]
    state = {
        s.labels["task"]: s.value
        for s in samples
        if s.name == "sabot_task_state_bytes" and s.labels["job"] == job
    }
    assert set(state) <= set(seen["tasks"]) and state
    lags = {
        s.labels["task"]: s.value
        for s in samples
        if s.name == "sabot_task_watermark_lag_seconds" and s.labels["job"] == job
    }
    assert lags
    for task, lag in lags.items():  # its watermark read later is at least as late
        watermark = seen["tasks"][task]["watermark"] / 1e6
        assert lag >= seen["read_before"] - watermark - 0.01 > 0
    operators = {
        s.labels["operator"]
        for s in samples
        if s.name == "sabot_operator_rows_total" and s.labels["job"] == job
    }
    reported = {op for t in seen["tasks"].values() for op in (t["operators"] or {})}
    assert operators and operators <= reported  # the operators the tasks reported
    steps = {s.labels["step"] for s in samples if s.name == "sabot_workflow_step_seconds_count"}
    assert {"accept", "stage", "finish"} <= steps


def test_the_grafana_dashboard_uses_only_metrics_the_cluster_exposes(
    metrics_after_jobs: tuple[str, dict[str, Any]],
) -> None:
    text, _ = metrics_after_jobs
    exposed = {s.name for s in samples_of(text)} | {
        f.name for f in text_string_to_metric_families(text)
    }
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    used = {name for expr in exprs for name in re.findall(r"\bsabot_[a-z0-9_]+", expr)}
    assert len(exprs) >= 10 and used
    assert used <= exposed, f"the dashboard uses metrics /metrics lacks: {used - exposed}"
    assert {"sabot_task_watermark_lag_seconds", "sabot_agent_cpu_percent"} <= used


async def end_offsets(bootstrap: str, topic: str, partitions: int, rows: int) -> dict[str, int]:
    """The offset after the last record of each partition, as reading them all finds it."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await consumer.seek_to_beginning()
        ends: dict[str, int] = {}
        seen, deadline = 0, time.monotonic() + 60
        while seen < rows and time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                seen += len(records)
                ends[str(tp.partition)] = max(r.offset for r in records) + 1
        return ends
    finally:
        await consumer.stop()


def test_kafka_consumer_lag_is_what_a_read_left_of_each_partition(
    traced: tuple[sl.LocalCluster, Path], kafka: Broker
) -> None:
    cluster, _ = traced
    name = f"lag-{uuid.uuid4().hex[:10]}"
    kafka.create_topic(name, 3)
    table = pa.table({"id": list(range(3_000)), "symbol": [f"S{i % 13}" for i in range(3_000)]})
    with pytest.warns(UserWarning, match="at-least-once"):  # tansu has no idempotent producer
        sl.from_arrow(table).to_kafka(name, kafka.bootstrap, key="symbol")
    ends = asyncio.run(end_offsets(kafka.bootstrap, name, 3, table.num_rows))
    assert all(end > 100 for end in ends.values())
    stop = {p: 100 for p in ends}  # the read leaves the rest behind
    read = sl.from_kafka(name, kafka.bootstrap, schema=table.schema, stop=stop, group="lag")
    result = read.submit(cluster).result(timeout=120)
    assert 0 < result.num_rows < table.num_rows
    expected = {p: float(ends[p] - stop[p]) for p in ends}

    def lags() -> dict[str, float]:
        return {
            s.labels["partition"]: s.value
            for s in samples_of(metrics_text(cluster))
            if s.name == "sabot_kafka_consumer_lag" and s.labels["topic"] == name
        }

    wait_for(lambda: lags() == expected, timeout=60)  # (the agents' next heartbeats)
    assert lags() == expected
