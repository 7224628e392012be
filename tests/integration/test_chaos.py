"""Chaos: Nexmark queries read a Kafka topic on a three-agent LocalCluster and write to
PostgreSQL, while an agent (or the JobManager) is killed with SIGKILL at a random moment.
Every run's PostgreSQL table must equal the failure-free run's, row for row, and that one
an independent answer over the bids (an in-process run, or DuckDB).

The queries: q5 written with the Python API, and the official Flink SQL texts of q5, q7 and
q19 (the top 10 bids of each auction, an upsert changelog written as upserts by its key),
their ``bid`` view a table over the topic and their result table a jdbc one.

``SABOT_CHAOS_RUNS`` sets the number of agent-kill runs (15 by default), spread over the
queries in turn; the seed of each run's random choices is its number, so a failing run is
repeated by running it alone."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import random
import signal
import time
import types
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.engine.checkpoints import SHARED, shared_files
from sabot_lab.examples.nexmark_queries import DUCKDB_SQL, QUERIES
from sabot_lab.location import Location
from tests.support.agent_kills import kill_an_agent_running
from tests.support.chaos import EVENTS, KEY, flink_script, run, run_sql, timed
from tests.support.kafka_broker import Broker, S3Server
from tests.support.polling import wait_for
from tests.support.ports import free_port
from tests.support.postgres import query
from tests.support.reference import duckdb_table, timed_rows
from tests.support.tcp_proxy import TcpProxy

RUNS = int(os.environ.get("SABOT_CHAOS_RUNS", "15"))
JOBMANAGER_RUNS = 3

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {"q5": (), "q7": (), "q19": ("auction", "rank_number")}
"""The Flink SQL texts run here, each with its result table's primary key: q5 and q7 append
(a row written twice would show), q19's top 10 is an upsert changelog keyed by the auction
and the rank."""

KILLED = ["q5 (Python)", *PRIMARY_KEYS]
"""The queries of the agent-kill runs, in turn."""

SQL_REFERENCES: dict[str, tuple[slice | tuple[int, ...], str]] = {
    "q5": (slice(None), f"SELECT auction, num FROM ({DUCKDB_SQL['q5']})"),
    "q7": (
        slice(None),
        f"SELECT auction, bidder, price, dateTime, extra FROM ({DUCKDB_SQL['q7']})",
    ),
    "q19": (  # ties in price make the bid at a rank ambiguous: its price is not
        (0, 2, 7),  # auction, price, rank_number
        "SELECT auction, price, row_number() OVER (PARTITION BY auction ORDER BY price DESC) "
        "AS r FROM bids QUALIFY r <= 10",
    ),
}
"""Each Flink SQL text's columns checked against DuckDB, and DuckDB's query over the bids
(with ``ms``, the event time in epoch milliseconds)."""

TOP_N_EVENTS = 20_000
"""q19 reads a topic of its own with the bids of fewer events: its upsert changelog updates
the 10 rows of an auction at each higher bid, and the 500 000 events of the others make
250 000 rows, too many for a run of a few seconds."""


def bids_in(kafka: Broker, events: int = EVENTS) -> tuple[str, pa.Table]:
    """A new topic with the bids of ``events`` Nexmark events, on two partitions (one per
    source task), and the bids."""
    bids = sl.nexmark(events=events, event_rate=10_000, seed=21).bids
    topic = f"bids-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(topic, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the test broker writes at-least-once
        bids.to_kafka(topic, kafka.bootstrap, key="auction")
    return topic, bids.collect()


@pytest.fixture(scope="module")
def bids_topic(kafka: Broker) -> tuple[str, pa.Table]:
    return bids_in(kafka)


@pytest.fixture(scope="module")
def sql_topics(kafka: Broker, bids_topic: tuple[str, pa.Table]) -> dict[str, tuple[str, pa.Table]]:
    """The topic each Flink SQL text reads."""
    return {"q5": bids_topic, "q7": bids_topic, "q19": bids_in(kafka, TOP_N_EVENTS)}


def hot_items(
    kafka: Broker, topic: str, schema: pa.Schema, stop: str | None = "latest"
) -> sl.Stream:
    source = sl.from_kafka(topic, kafka.bootstrap, schema=schema, stop=stop)
    return QUERIES["q5"](types.SimpleNamespace(bids=source))


@pytest.fixture(scope="module")
def failure_free(
    cluster: sl.LocalCluster, kafka: Broker, bids_topic: tuple[str, pa.Table], database: str
) -> list[tuple[object, ...]]:
    """The sink's rows of a run nobody disturbs; they equal an in-process run over the bids."""
    topic, bids = bids_topic
    rows = run(cluster, hot_items(kafka, topic, bids.schema), database, "calm")
    expected = QUERIES["q5"](types.SimpleNamespace(bids=sl.from_arrow(bids))).collect()
    assert rows == sorted(timed(r) for r in expected.to_pylist())
    assert len(rows) > 30
    return rows


def columns(
    rows: list[tuple[object, ...]], which: slice | tuple[int, ...]
) -> list[tuple[object, ...]]:
    """The ``which`` columns of ``rows``, sorted."""
    if isinstance(which, slice):
        return sorted(r[which] for r in rows)
    return sorted(tuple(r[i] for i in which) for r in rows)


@pytest.fixture(scope="module")
def calm_sql(
    cluster: sl.LocalCluster,
    kafka: Broker,
    sql_topics: dict[str, tuple[str, pa.Table]],
    database: str,
) -> Callable[[str], list[tuple[object, ...]]]:
    """The table of a Flink SQL text's run nobody disturbs (run when first asked for); its
    rows equal DuckDB's answer over the bids. q19's job, on an unbounded stream, runs until
    they do."""

    @functools.cache
    def calm(name: str) -> list[tuple[object, ...]]:
        topic, bids = sql_topics[name]
        which, reference = SQL_REFERENCES[name]
        timed_bids = bids.append_column("ms", bids["dateTime"].cast(pa.int64()))
        expected = sorted(timed(r) for r in duckdb_table(reference, bids=timed_bids).to_pylist())
        table = f"calm_{name}"
        script = flink_script(name, topic, kafka.bootstrap, database, table, PRIMARY_KEYS[name])
        until = (len(expected), lambda rows: columns(rows, which) == expected)
        rows = run_sql(
            cluster, script, database, table, until=until if PRIMARY_KEYS[name] else None
        )
        assert columns(rows, which) == expected
        assert rows
        return rows

    return calm


def rows_read(job: sl.Job) -> int:
    """The rows the job's first stage (its sources) gave so far."""
    stages: dict[str, dict[str, int]] = job.metrics()["stages"]
    return stages.get("0", {}).get("rows_out", 0)


@pytest.mark.parametrize(
    ("name", "seed"), [(KILLED[seed % len(KILLED)], seed) for seed in range(RUNS)]
)
def test_an_agent_killed_at_a_random_moment_changes_nothing_in_the_sink(
    cluster: sl.LocalCluster,
    kafka: Broker,
    bids_topic: tuple[str, pa.Table],
    sql_topics: dict[str, tuple[str, pa.Table]],
    database: str,
    failure_free: list[tuple[object, ...]],
    calm_sql: Callable[[str], list[tuple[object, ...]]],
    name: str,
    seed: int,
) -> None:
    """The victim runs one of the job's tasks; it is killed once the sources have read a
    random share (0 to 80 %) of the bids."""
    rng = random.Random(seed)
    topic, bids = sql_topics.get(name, bids_topic)
    expected = failure_free if name not in PRIMARY_KEYS else calm_sql(name)
    cluster.scale(3)  # three agents, whatever the run before left

    def kill(job: sl.Job) -> None:
        share = rng.uniform(0, 0.8) * bids.num_rows
        wait_for(lambda: rows_read(job) >= share, timeout=60)
        kill_an_agent_running(job, cluster, rng)

    table = f"agent_{seed}"
    if name in PRIMARY_KEYS:
        script = flink_script(name, topic, kafka.bootstrap, database, table, PRIMARY_KEYS[name])
        until = (len(expected), expected.__eq__) if PRIMARY_KEYS[name] else None
        assert run_sql(cluster, script, database, table, kill, until) == expected
    else:
        stream = hot_items(kafka, topic, bids.schema)
        assert run(cluster, stream, database, table, kill) == expected


@pytest.mark.parametrize("seed", [1000 + seed for seed in range(JOBMANAGER_RUNS)])
def test_the_jobmanager_killed_at_a_random_moment_changes_nothing_in_the_sink(
    cluster: sl.LocalCluster,
    kafka: Broker,
    bids_topic: tuple[str, pa.Table],
    database: str,
    failure_free: list[tuple[object, ...]],
    seed: int,
) -> None:
    rng = random.Random(seed)
    topic, bids = bids_topic
    cluster.scale(3)  # three agents, whatever the run before left

    def kill(job: sl.Job) -> None:
        time.sleep(rng.uniform(0.1, 1.5))
        assert cluster.jobmanager_process is not None
        cluster.jobmanager_process.send_signal(signal.SIGKILL)
        cluster.jobmanager_process.wait()
        cluster.start_jobmanager()  # same port and work directory: DBOS resumes the job

    stream = hot_items(kafka, topic, bids.schema)
    assert run(cluster, stream, database, f"jobmanager_{seed}", kill) == failure_free


def test_an_agent_killed_after_a_checkpoint_gives_an_attempt_that_restores_it_into_parquet(
    cluster: sl.LocalCluster,
    kafka: Broker,
    bids_topic: tuple[str, pa.Table],
    failure_free: list[tuple[object, ...]],
    tmp_path: Path,
) -> None:
    """A kill after the first checkpoint (the kills above may land before it, or after the
    job) gives a second attempt that restores it; the Parquet sink gets each row once, a file
    per checkpoint."""
    topic, bids = bids_topic
    stream = hot_items(kafka, topic, bids.schema)
    sink = sl.ParquetSink(tmp_path / "hot_items")
    job = stream.submit(cluster, partitions=2, checkpoint_interval=0.2, sink=sink)
    deadline = time.monotonic() + 60
    while not any(c["state"] == "COMPLETE" for c in job.checkpoints()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    victim = kill_an_agent_running(job, cluster)
    job.result(timeout=180)
    assert job.metrics()["attempts"] == 2
    restored = [t for t in job.tasks() if t["attempt"] == 1]
    assert restored and all(t["agent"] != cluster.agent_uris[victim] for t in restored)
    cluster.scale(3)
    files = sorted(p.name for p in (tmp_path / "hot_items").glob("*.parquet"))
    assert len(files) >= 2 and all(f.startswith(job.job_id) for f in files)
    written = pq.read_table(tmp_path / "hot_items")  # (the _staging directory is skipped)
    assert sorted(timed_rows(written.select(["auction", "num", "window_start", "window_end"]))) == (
        failure_free
    )


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server("sabot")
    yield server
    server.stop()


@pytest.mark.parametrize("filesystem", ["file", "s3"])
def test_checkpoints_under_a_uri_with_incremental_rocksdb_state_and_a_savepoint(
    kafka: Broker,
    bids_topic: tuple[str, pa.Table],
    failure_free: list[tuple[object, ...]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    filesystem: str,
) -> None:
    """Checkpoints and savepoints kept under a ``pyarrow.fs`` URI, window state in RocksDB
    snapshotted incrementally: an agent killed after a checkpoint, then the job stopped at a
    savepoint and resumed from it in a new job. The Parquet sink gets each row once; the
    retained checkpoints and the savepoint have every shared file they use."""
    monkeypatch.setenv("SABOT_STATE_BACKEND", "rocksdb")  # for the cluster's processes
    if filesystem == "s3":
        server: S3Server = request.getfixturevalue("s3")
        for name, value in server.credentials.items():
            monkeypatch.setenv(name, value)
        kept = server.uri(tmp_path.name)
    else:
        kept = f"file://{tmp_path}/kept"
    topic, bids = bids_topic
    endless = sl.from_kafka(topic, kafka.bootstrap, schema=bids.schema)  # stopped below
    sink = sl.ParquetSink(tmp_path / "hot_items")
    with sl.LocalCluster(
        agents=2, slots=4, workdir=tmp_path / "cluster", heartbeat_timeout=2,
        heartbeat_interval=0.2, checkpoint_location=kept,
    ) as cluster:  # fmt: skip
        first = QUERIES["q5"](types.SimpleNamespace(bids=endless)).submit(
            cluster, partitions=2, checkpoint_interval=0.2, sink=sink
        )
        wait_for(lambda: any(c["state"] == "COMPLETE" for c in first.checkpoints()), timeout=60)
        scratch = tmp_path / "cluster" / "agents" / "spill"  # each agent's, with its state
        assert list(scratch.glob("*/sabot-state-*"))
        killed = cluster.agent_processes[0]
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        cluster.scale(2)
        assert not list(scratch.glob(f"{killed.pid}-*"))  # removed by the agent started next
        wait_for(lambda: first.metrics()["attempts"] == 2, timeout=60)
        wait_for(lambda: first.metrics()["checkpoints"]["completed"] >= 5, timeout=60)
        savepoint = first.stop()
        assert savepoint == str(
            Location.of(kept) / "savepoints" / first.job_id / Location.of(savepoint).name
        )
        checkpoints = Location.of(kept) / "checkpoints" / first.job_id
        kept_ones = [c for c in checkpoints.children() if c.name.startswith("chk-")]
        assert 1 <= len(kept_ones) <= 3 + 1  # retained, and the one after the savepoint's
        used = {name for c in kept_ones for name in shared_files(c)}
        assert used <= {name for name, _ in (checkpoints / SHARED).files()}  # all restorable
        copied = {name for name, _ in (Location.of(savepoint) / SHARED).files()}
        assert copied and copied == set(shared_files(Location.of(savepoint)))  # stands alone
        assert first.metrics()["checkpoints"]["last_bytes"] > 0
        second = hot_items(kafka, topic, bids.schema).submit(  # the same, to the end
            cluster, partitions=2, checkpoint_interval=0.2, sink=sink, from_savepoint=savepoint
        )
        second.result(timeout=180)
    written = pq.read_table(tmp_path / "hot_items")
    rows = written.select(["auction", "num", "window_start", "window_end"])
    assert sorted(timed_rows(rows)) == failure_free


@pytest.fixture(scope="module")
def proxied_kafka() -> Iterator[tuple[Broker, TcpProxy]]:
    """A broker of its own that clients reach through a proxy, to cut them off."""
    port = free_port()
    proxy = TcpProxy(f"127.0.0.1:{port}")
    broker = Broker(port=port, advertised_port=proxy.port, own=True)
    yield broker, proxy
    proxy.close()
    broker.stop()


def test_a_broker_outage_mid_job_loses_and_repeats_nothing(
    cluster: sl.LocalCluster,
    proxied_kafka: tuple[Broker, TcpProxy],
    database: str,
    failure_free: list[tuple[object, ...]],
) -> None:
    """Every connection to the broker drops and new ones are refused for 3 s, as in a broker
    restart (tansu here keeps topics in memory only, so the broker itself stays up): the
    job's reads reconnect and go on from their offsets."""
    broker, proxy = proxied_kafka
    topic, bids = bids_in(broker)
    jobs: list[tuple[sl.Job, float]] = []

    def outage(job: sl.Job) -> None:
        deadline = time.monotonic() + 60
        while not any(c["state"] == "COMPLETE" for c in job.checkpoints()):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert job.status() == "RUNNING"
        proxy.cut(3)
        jobs.append((job, time.time()))

    rows = run(cluster, hot_items(broker, topic, bids.schema), database, "outage", outage)
    assert rows == failure_free
    [(job, cut_at)] = jobs
    assert job.info()["finished_at"] - cut_at > 2.5  # it waited for the broker
    assert job.metrics()["attempts"] == 1  # the reads reconnected: no task failed


def test_a_completed_checkpoint_commits_the_read_offsets_to_the_consumer_group(
    cluster: sl.LocalCluster, kafka: Broker, bids_topic: tuple[str, pa.Table]
) -> None:
    topic, bids = bids_topic
    group = f"g-{uuid.uuid4().hex[:6]}"
    source = sl.from_kafka(topic, kafka.bootstrap, group=group, schema=bids.schema)  # endless
    job = QUERIES["q5"](types.SimpleNamespace(bids=source)).submit(
        cluster, partitions=2, checkpoint_interval=0.2
    )
    wait_for(lambda: sum(c["state"] != "PENDING" for c in job.checkpoints()) >= 3, timeout=60)
    assert job.cancel() == "CANCELLED"
    last = max(c["checkpoint_id"] for c in job.checkpoints() if c["state"] == "COMPLETE")
    saved: dict[str, int] = {}
    for part in Path(cluster.workdir, "checkpoints", job.job_id, f"chk-{last}").glob("*source@*"):
        saved |= json.loads((part / "value.json").read_text())
    assert sorted(saved) == ["0", "1"] and all(o > 0 for o in saved.values())
    wait_for(lambda: kafka.committed(topic, group, 2) == saved, timeout=20)


def test_a_job_stopped_at_a_savepoint_goes_on_in_a_new_job_each_row_once(
    cluster: sl.LocalCluster,
    kafka: Broker,
    bids_topic: tuple[str, pa.Table],
    database: str,
    failure_free: list[tuple[object, ...]],
) -> None:
    topic, bids = bids_topic
    stream = hot_items(kafka, topic, bids.schema)
    sink = sl.PostgresSink(database, "resumed", key=KEY)
    # the first job reads on past the topic's end, so its last windows never close: however
    # slow the stop, the second job has rows left to write
    endless = hot_items(kafka, topic, bids.schema, stop=None)
    first = endless.submit(cluster, partitions=2, checkpoint_interval=0.2, sink=sink)
    # a checkpoint may complete before any window closes: wait until one has committed rows
    committed = "SELECT coalesce(sum(rows), 0) FROM sabot_commits WHERE job_id = %s"
    wait_for(lambda: query(database, committed, first.job_id) != [(0,)], timeout=60)
    savepoint = asyncio.run(first.stop_async())  # (what a notebook cell awaits)
    assert first.status() == "CANCELLED" and Path(savepoint, "savepoint.json").is_file()
    with pytest.raises(sl.ClusterError, match="is CANCELLED: a savepoint is taken of a running"):
        first.savepoint()
    second = stream.submit(
        cluster, partitions=2, checkpoint_interval=0.2, sink=sink, from_savepoint=savepoint
    )
    rest = second.result(timeout=180)
    stored = query(database, "SELECT auction, num, window_start, window_end FROM resumed")
    assert sorted(timed(dict(zip(("a", "n", "s", "e"), r, strict=True))) for r in stored) == (
        failure_free
    )
    # each row was written once: by the first job before its savepoint, or by the second
    written = query(database, "SELECT sum(rows) FROM sabot_commits WHERE sink = 'resumed'")
    assert written == [(len(failure_free),)]
    assert 0 < rest.num_rows < len(failure_free)
    with pytest.raises(sl.ClusterError, match="is not a savepoint"):
        stream.submit(cluster, checkpoint_interval=0.2, from_savepoint=str(cluster.workdir))


def test_a_job_sends_its_committed_rows_to_a_kafka_topic(
    cluster: sl.LocalCluster,
    kafka: Broker,
    bids_topic: tuple[str, pa.Table],
    failure_free: list[tuple[object, ...]],
) -> None:
    topic, bids = bids_topic
    out = f"hot-items-{uuid.uuid4().hex[:6]}"
    kafka.create_topic(out, 1)
    sink = sl.KafkaSink(out, kafka.bootstrap, key="auction")
    job = hot_items(kafka, topic, bids.schema).submit(
        cluster, partitions=2, checkpoint_interval=0.2, sink=sink
    )
    result = job.result(timeout=180)
    records = kafka.consume(out, result.num_rows + 1, timeout=10)
    sent = sl.from_arrow(pa.Table.from_pylist([json.loads(r.value) for r in records])).select(
        sl.col("auction"), sl.col("num"),
        sl.col("window_start").cast(pa.timestamp("ms")),
        sl.col("window_end").cast(pa.timestamp("ms")),
    ).collect()  # fmt: skip
    assert sorted(timed_rows(sent)) == failure_free  # no failure here: each row once
    assert {r.key for r in records} == {str(a).encode() for a in result["auction"].to_pylist()}
