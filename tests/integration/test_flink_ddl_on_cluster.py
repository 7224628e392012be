"""Flink SQL's ``INSERT INTO`` from an unbounded table runs as a job on a cluster, its rows
committed to the table's sink exactly once; Kafka tables read and write a topic."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from tests.support.kafka_broker import Broker
from tests.support.polling import wait_for
from tests.support.reference import duckdb_table, timed_rows

pytestmark = pytest.mark.slow

RATE = 10_000  # events per second of event time
GENERATOR = f"""
CREATE TABLE datagen (
    event_type INT,
    bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
            `dateTime` TIMESTAMP(3), extra VARCHAR>,
    `dateTime` TIMESTAMP(3),
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'first-event.rate' = '{RATE}', 'next-event.rate' = '{RATE}');
CREATE VIEW bid AS
SELECT bid.auction, bid.bidder, bid.price, `dateTime` FROM datagen WHERE event_type = 2;
"""
WINDOWS = """
INSERT INTO per_window
SELECT auction, window_start, COUNT(*) AS bids, MAX(price) AS top
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '1' SECOND))
GROUP BY auction, window_start, window_end
"""
REFERENCE = """
SELECT auction, ms // 1000 * 1000 AS ws, COUNT(*), MAX(price) FROM bids GROUP BY auction, ws
"""


def _written(path: Path) -> pa.Table | None:
    files = sorted(path.glob("*.parquet")) if path.exists() else []
    return pq.read_table(files) if files else None


def test_an_unbounded_insert_into_runs_as_a_job_committing_each_window_once(
    tmp_path: Path,
) -> None:
    ctx = sl.SQLContext()
    ctx.execute(
        GENERATOR
        + "CREATE TABLE per_window (auction BIGINT, window_start TIMESTAMP(3), bids BIGINT, "
        f"top BIGINT) WITH ('connector' = 'filesystem', 'path' = '{tmp_path / 'out'}', "
        "'format' = 'parquet')"
    )
    with sl.LocalCluster(agents=2, workdir=tmp_path / "cluster") as cluster:
        job = ctx.execute(WINDOWS, cluster=cluster, checkpoint_interval=0.5)
        assert isinstance(job, sl.Job)
        wait_for(lambda: _written(tmp_path / "out") is not None, timeout=120)
        assert job.status() == "RUNNING"  # it never ends by itself
        assert job.cancel() == "CANCELLED"
    written = _written(tmp_path / "out")
    assert written is not None and written.num_rows > 0
    keys = Counter(
        zip(written["auction"].to_pylist(), written["window_start"].to_pylist(), strict=True)
    )
    assert max(keys.values()) == 1  # each window's row committed once
    # the windows written had closed: DuckDB over a prefix of the events holding them whole
    gen = sl.nexmark(events=10, event_rate=RATE).bids.collect()
    first = gen["dateTime"].cast(pa.int64())[0].as_py()
    last = max(written["window_start"].cast(pa.int64()).to_pylist()) + 1_000
    prefix = math.ceil((last - first) / 1000 * RATE) + 1_000
    bids = sl.nexmark(events=prefix, event_rate=RATE).bids.collect()
    bids = bids.append_column("ms", bids["dateTime"].cast(pa.int64()))
    expected = set(timed_rows(duckdb_table(REFERENCE, bids=bids)))
    assert set(timed_rows(written)) <= expected


def test_kafka_tables_write_a_topic_and_read_it_back(kafka: Broker, tmp_path: Path) -> None:
    topic = f"flink-ddl-{tmp_path.name}"
    kafka.create_topic(topic, partitions=2)
    rows = pa.table(
        {
            "id": pa.array(range(200), pa.int64()),
            "name": pa.array([None if i % 7 == 0 else f"n{i}" for i in range(200)]),
            "price": pa.array([i * 0.5 for i in range(200)], pa.float64()),
        }
    )
    ctx = sl.SQLContext(rows=rows)
    options = (
        f"'connector' = 'kafka', 'topic' = '{topic}', "
        f"'properties.bootstrap.servers' = '{kafka.bootstrap}', 'format' = 'json', "
        "'scan.startup.mode' = 'earliest-offset', 'key.fields' = 'id'"
    )
    columns = "id BIGINT, name STRING, price DOUBLE"
    ctx.execute(
        f"CREATE TABLE topic_rows ({columns}) WITH ({options});"
        f"CREATE TABLE topic_snapshot ({columns}, cents AS price * 100) "
        f"WITH ({options}, 'scan.bounded.mode' = 'latest-offset')"
    )
    with pytest.warns(UserWarning, match="at-least-once"):  # tansu has no idempotent producer
        assert ctx.execute("INSERT INTO topic_rows SELECT id, name, price FROM rows") == 200
    back = ctx.execute("SELECT * FROM topic_snapshot")
    assert isinstance(back, sl.Stream)
    table = back.collect()
    expected = duckdb_table("SELECT *, price * 100 FROM rows", rows=rows)
    assert sorted(table.to_pylist(), key=repr) == sorted(
        [dict(zip(table.column_names, r.values(), strict=True)) for r in expected.to_pylist()],
        key=repr,
    )
    endless = ctx.execute("SELECT id FROM topic_rows LIMIT 5")  # unbounded: the first 5
    assert isinstance(endless, sl.Stream)
    assert set(endless.collect()["id"].to_pylist()) <= set(range(200))
