"""The PostgreSQL sink against a real server: one transaction per commit, a commit done twice
writes nothing twice, rows upsert by key, and bad settings are clear errors."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
import pyarrow as pa
import pytest

import sabot_lab as sl
from tests.support.kafka_broker import Broker
from tests.support.polling import wait_for
from tests.support.postgres import PostgresServer, query
from tests.support.reference import duckdb_table, normalized_rows
from tests.support.tcp_proxy import TcpProxy


def test_commits_are_written_once_and_upsert_by_key(postgres_server: PostgresServer) -> None:
    url = postgres_server.new_database()
    sink = sl.PostgresSink(url, "totals", key=["symbol"])
    first = pa.table(
        {
            "symbol": ["A", "B"],
            "total": [1.5, 2.0],
            "at": pa.array([dt.datetime(2026, 1, 1)] * 2, pa.timestamp("ms")),
        }
    )
    assert sink.commit(first, "job1", 1)
    assert not sink.commit(first, "job1", 1)  # the same commit again: nothing written
    second = pa.table({"symbol": ["B", "C"], "total": [5.0, 7.0], "at": first["at"]})
    assert sink.commit(second, "job1", 2)
    assert sorted(query(url, "SELECT symbol, total FROM totals")) == [
        ("A", 1.5),
        ("B", 5.0),
        ("C", 7.0),
    ]
    assert query(url, "SELECT commit_id, rows FROM sabot_commits ORDER BY 1") == [(1, 2), (2, 2)]
    # a key updated twice in one commit: its last row is written (the commit is one step)
    third = pa.table({"symbol": ["C", "A", "C"], "total": [8.0, 3.0, 9.0], "at": [None] * 3})
    assert sink.commit(third.cast(first.schema), "job1", 3)
    assert sorted(query(url, "SELECT symbol, total FROM totals")) == [
        ("A", 3.0),
        ("B", 5.0),
        ("C", 9.0),
    ]
    assert query(url, "SELECT rows FROM sabot_commits WHERE commit_id = 3") == [(2,)]
    with pytest.raises(sl.SourceError, match=r"key \['name'\] is not among the columns"):
        sl.PostgresSink(url, "other", key=["name"]).commit(first, "job1", 4)
    with pytest.raises(sl.SourceError, match="plain"):
        sl.PostgresSink(url, "totals; DROP TABLE x")


HOSTILE_COLUMNS = [
    'x" text); DROP TABLE victims; --',
    "it's",
    "a;b",
    "-- c",
    "two  spaces ",
    '"',
    "Upper",
    "ünï©ødé 名前 😀",
]


def test_hostile_column_names_are_written_and_read_back_exactly(
    postgres_server: PostgresServer,
) -> None:
    """Column names (from a CSV header, say) are identifiers, never SQL: the sink creates,
    inserts and upserts them as they are, and runs nothing else."""
    url = postgres_server.new_database()
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE victims (id INTEGER)")
        conn.execute("INSERT INTO victims VALUES (1)")
    key = 'k"; DROP TABLE victims; --'
    names = [key, *HOSTILE_COLUMNS]
    rows = pa.table({name: [f"{i}-{name}" for i in range(3)] for name in names})
    for table, sink_key in [("Hostile", [key]), ("public.appended", [])]:
        sink = sl.PostgresSink(url, table, key=sink_key)
        assert sink.commit(rows, "job1", 1)
        assert sink.commit(rows.slice(1), "job1", 2)  # an upsert by the key, or appended
        with psycopg.connect(url) as conn:
            cursor = conn.execute(f"SELECT * FROM {table}")  # the name folded, as unquoted
            assert [c.name for c in cursor.description or []] == names
            stored = sorted(cursor.fetchall())
        expected = rows.to_pylist() if sink_key else rows.to_pylist() + rows.slice(1).to_pylist()
        assert stored == sorted(tuple(r.values()) for r in expected)
    assert query(url, "SELECT id FROM victims") == [(1,)]
    for name in ["", "a.b.c", "a..b", ".a", 'a"b', "a b", "totals; DROP TABLE x"]:
        with pytest.raises(sl.SourceError, match="plain"):
            sl.PostgresSink(url, name)


def test_an_unbounded_group_by_on_two_tasks_upserts_totals_that_reach_duckdbs(
    cluster: sl.LocalCluster, kafka: Broker, postgres_server: PostgresServer
) -> None:
    """A running aggregate over an endless Kafka read, on two tasks: each key's rows go to one
    task, whose updates replace that key's row in the table."""
    rng = np.random.default_rng(3)
    n = 4_000
    trades = pa.table({"k": rng.integers(0, 40, n), "x": rng.integers(0, 1_000, n)})
    topic = f"trades-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(topic, 2)
    records = [json.dumps(r).encode() for r in trades.to_pylist()]
    kafka.produce(topic, records[::2], partition=0)
    kafka.produce(topic, records[1::2], partition=1)
    url = postgres_server.new_database()
    source = sl.from_kafka(topic, kafka.bootstrap, schema=trades.schema)  # endless
    totals = source.group_by("k").agg(n=sl.count(), total=sl.col("x").sum())
    sink = sl.PostgresSink(url, "totals", key=["k"])
    job = totals.submit(cluster, partitions=2, checkpoint_interval=0.2, sink=sink)
    expected = sorted(
        normalized_rows(duckdb_table("SELECT k, count(*), sum(x) FROM t GROUP BY k", t=trades))
    )

    def stored() -> list[tuple[object, ...]]:
        if job.status() == "FAILED":
            raise AssertionError(job.info()["error"])
        try:
            return sorted(query(url, "SELECT k, n, total FROM totals"))
        except psycopg.errors.UndefinedTable:
            return []

    wait_for(lambda: stored() == expected, timeout=120)
    assert job.cancel() == "CANCELLED"


def test_a_commit_that_fails_is_tried_again_and_the_job_ends_with_every_row(
    cluster: sl.LocalCluster, postgres_server: PostgresServer
) -> None:
    """The database cannot be reached when the job's rows are committed (a proxy refuses
    every connection); once the JobManager says it will try again, the proxy lets them
    through, and the job finishes with its rows written once."""
    url = postgres_server.new_database()
    parts = urlsplit(url)
    proxy = TcpProxy(f"127.0.0.1:{parts.port}")
    proxy.cut(3600)
    try:
        through = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
        sink = sl.PostgresSink(through, "later", key=["x"])
        job = sl.from_pydict({"x": [1, 2, 3]}).submit(cluster, sink=sink)
        log = cluster.workdir / "jobmanager.log"
        wait_for(lambda: f"job {job.job_id} to its postgres sink failed" in log.read_text())
        proxy.cut(0)
        assert job.wait(timeout=60) == "FINISHED"
    finally:
        proxy.close()
    assert sorted(query(url, "SELECT x FROM later")) == [(1,), (2,), (3,)]


def test_a_flink_sql_jdbc_table_takes_an_insert_into_run_here(
    postgres_server: PostgresServer,
) -> None:
    url = urlsplit(postgres_server.new_database())
    ctx = sl.SQLContext(t=pa.table({"k": [1, 2, 1], "v": ["a", "b", "c"]}))
    written = ctx.execute(
        "CREATE TABLE out (k BIGINT, v VARCHAR, PRIMARY KEY (k) NOT ENFORCED) WITH ("
        f"'connector' = 'jdbc', 'url' = 'jdbc:postgresql://{url.hostname}:{url.port}{url.path}', "
        f"'table-name' = 'out', 'username' = '{url.username}');\n"
        "INSERT INTO out SELECT k, v FROM t"
    )
    assert written == 3
    assert sorted(query(url.geturl(), "SELECT k, v FROM out")) == [(1, "c"), (2, "b")]
