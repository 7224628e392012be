"""The chaos jobs shared by the chaos and broker-restart tests: a three-agent LocalCluster
(module fixture), a PostgreSQL database (module fixture), ``run`` that sends q5 into a
PostgreSQL table and returns the table's rows, and ``run_sql`` that does the same for a
Nexmark Flink SQL text reading its ``bid`` table from a Kafka topic."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import urlsplit

import pytest

import sabot_lab as sl
from sabot_lab.client.job import ENDED
from sabot_lab.examples import nexmark_flink
from tests.support.polling import wait_for
from tests.support.postgres import PostgresServer, query
from tests.support.reference import timed_rows

EVENTS = 500_000  # 50 s of event time: about 2 s of work for the cluster


KEY = ["auction", "window_start"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sl.LocalCluster]:
    """Three agents of five slots: the two left after a kill run the 10 tasks of the Flink
    SQL q5 (its two HOP counts, their aggregate, the join, at 2 partitions each)."""
    with sl.LocalCluster(
        agents=3,
        slots=5,
        workdir=tmp_path_factory.mktemp("chaos"),
        heartbeat_timeout=2,
        heartbeat_interval=0.2,
    ) as c:
        yield c


@pytest.fixture(scope="module")
def database(postgres_server: PostgresServer) -> str:
    return postgres_server.new_database()


def timed(row: dict[str, object]) -> tuple[object, ...]:
    return millis(row.values())


def millis(values: Iterable[object]) -> tuple[object, ...]:
    """``values`` with each time as epoch milliseconds."""
    return tuple(int(v.timestamp() * 1000) if hasattr(v, "timestamp") else v for v in values)


def run(
    cluster: sl.LocalCluster,
    stream: sl.Stream,
    database: str,
    table: str,
    disturb: Callable[[sl.Job], None] | None = None,
) -> list[tuple[object, ...]]:
    """Run the job into a PostgreSQL table (``disturb(job)`` while it runs) and return the
    table's rows, sorted; the job's own result must hold the same rows."""
    sink = sl.PostgresSink(database, table, key=KEY)
    job = stream.submit(cluster, name=table, partitions=2, checkpoint_interval=0.2, sink=sink)
    with cancelled_unless_ended(job):
        if disturb is not None:
            disturb(job)
        result = job.result(timeout=180)
    stored = sorted(
        timed(dict(zip(("auction", "num", "window_start", "window_end"), r, strict=True)))
        for r in query(database, f"SELECT auction, num, window_start, window_end FROM {table}")
    )
    assert stored == sorted(timed_rows(result))
    return stored


BID_TABLE = """\
CREATE TABLE bid (
    auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
    `dateTime` TIMESTAMP(3), extra VARCHAR,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH (
    'connector' = 'kafka', 'topic' = '{topic}', 'properties.bootstrap.servers' = '{bootstrap}',
    'format' = 'json', 'scan.startup.mode' = 'earliest-offset',
    'scan.bounded.mode' = '{bounded}'
);
"""
"""The Nexmark texts' ``bid`` view as a table over a Kafka topic of bids, read to its end
(``latest-offset``) or on and on (``unbounded``)."""


def flink_script(
    name: str,
    topic: str,
    bootstrap: str,
    database: str,
    table: str,
    primary_key: tuple[str, ...] = (),
) -> str:
    """Nexmark query ``name``'s Flink SQL text reading the bids of ``topic``, its result
    table a jdbc table ``table`` of the PostgreSQL ``database``. With a ``primary_key``, an
    upsert on it, and the topic is read on past its end: the query runs as on an unbounded
    stream (a top-N gives an upsert changelog), and its job never ends."""
    url = urlsplit(database)
    jdbc = {
        "connector": "jdbc",
        "url": f"jdbc:postgresql://{url.hostname}:{url.port}{url.path}",
        "table-name": table,
        "username": url.username or "",
    }
    text = nexmark_flink.script(name, sink=jdbc, primary_key=primary_key)
    bounded = "unbounded" if primary_key else "latest-offset"
    return BID_TABLE.format(topic=topic, bootstrap=bootstrap, bounded=bounded) + text


def run_sql(
    cluster: sl.LocalCluster,
    script: str,
    database: str,
    table: str,
    disturb: Callable[[sl.Job], None] | None = None,
    until: tuple[int, Callable[[list[tuple[object, ...]]], bool]] | None = None,
) -> list[tuple[object, ...]]:
    """Run ``script`` (an ``INSERT INTO`` a jdbc table ``table``) as a job on ``cluster``
    (``disturb(job)`` while it runs) to its end, or, given ``until = (size, done)``, until the
    table has ``size`` rows of which ``done(rows)`` holds, then cancelled; the table's rows,
    sorted, times in epoch milliseconds."""

    def size() -> int:
        exists = query(database, "SELECT to_regclass(%s) IS NOT NULL", table)  # (first commit)
        return int(query(database, f"SELECT count(*) FROM {table}")[0][0]) if exists[0][0] else 0

    def stored() -> list[tuple[object, ...]]:
        return sorted(millis(r) for r in query(database, f"SELECT * FROM {table}"))

    job = sl.SQLContext().execute(script, cluster=cluster, checkpoint_interval=0.2, partitions=2)
    assert isinstance(job, sl.Job)
    with cancelled_unless_ended(job):
        if disturb is not None:
            disturb(job)
        if until is None:
            assert job.wait(timeout=180) == "FINISHED", job.info().get("error")
            return stored()
        rows, done = until
        wait_for(lambda: job.status() in ENDED or (size() == rows and done(stored())), 180)
        assert job.status() == "RUNNING", job.info().get("error")
    assert job.cancel() == "CANCELLED"
    return stored()


@contextlib.contextmanager
def cancelled_unless_ended(job: sl.Job) -> Iterator[None]:
    """Cancel ``job`` when the block fails while it runs: a stuck job would hold the
    slots of the runs after it."""
    try:
        yield
    except BaseException:
        if job.status() not in ENDED:
            job.cancel()
        raise
